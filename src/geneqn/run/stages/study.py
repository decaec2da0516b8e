"""Study stages: evaluate (the tables, analyses and downloads) and report (report.html)."""

from __future__ import annotations

import datetime as _dt
import json
from pathlib import Path

import pandas as pd

from geneqn import __version__
from geneqn._io import _json_default, read_csv, read_json, read_parquet, write_bytes, write_csv, write_json, write_text
from geneqn.config import Config
from geneqn.run.engine import STAGES, Part, StageContext, stage
from geneqn.run.layout import RunLayout, cell_type_key

# Table 1 rows: name, the model folder, the file with its predictions (every gene; Table 1 reads the test rows)
MODEL_FILES = [("ExPectoSC", "expectosc", "predictions"), ("Ridge", "ridge", "predictions"),
               ("NN", "nn", "predictions"), ("NAS|NN", "nas", "predictions"), ("SR", "sr", "predictions"),
               ("SR(NAS|NN)", "distill", "predictions"), ("NAS|SR", "nas_sr", "net"),
               ("SR(NAS|SR)", "nas_sr", "predictions")]


def _pred_path(L: RunLayout, folder: str, kind: str) -> Path:
    return L.nas_net_predictions if kind == "net" else L.predictions(folder)


def _models(cfg: Config) -> list[tuple[str, str, str]]:
    return [m for m in MODEL_FILES if m[1] != "expectosc" or "expectosc" in cfg.features.baselines]


def _evaluate_inputs(L: RunLayout, cfg: Config) -> list[Path]:
    files = [_pred_path(L, folder, kind) for _, folder, kind in _models(cfg)]
    return files + [L.targets, L.features, L.features_info, L.split, L.equations, L.table2,
                    L.metrics("ridge"), L.metrics("nn"), L.metrics("nas"), L.metrics("sr"), L.metrics("distill"),
                    L.metrics("nas_sr"), L.trials, L.pareto_root("sr"), L.pareto_root("distill")] + (
                        [L.stability] if cfg.stability.seeds + cfg.stability.bootstraps > 0 else [])


def _evaluate_outputs(L: RunLayout) -> list[Path]:
    return [L.results, L.predictions_csv, L.downloads] + [L.table(n) for n in
                                                          ("table1", "table2", "table3", "comparisons", "subsets",
                                                           "residuals", "effects", "features_used")]


@stage("evaluate", sections=("run", "features", "report", "stability"), inputs=_evaluate_inputs, outputs=_evaluate_outputs,
       help="Tables 1-3, model comparisons, gene subsets, residuals, effects, figures; results.json")
def evaluate_stage(ctx: StageContext) -> dict:
    """Each cell type's share (:func:`_evaluate_cell_type`: its rows of the tables, its entry of
    results.json, its figures) is a unit of :meth:`StageContext.map_cell_types`, so a cluster
    computes them on its workers; then the tables, predictions.csv, downloads and results.json."""
    from geneqn import study
    from geneqn.run.common import load_equations

    L, cfg = ctx.layout, ctx.config
    # a share is serial work (bootstrap intervals, figures): the shares run side by side, one per core
    parts = ctx.map_cell_types(_evaluate_cell_type, label="evaluate", processes=cfg.sr.n_jobs)
    cell_types = list(parts)
    models = _models(cfg)
    every = {name: _with_split(read_parquet(_pred_path(L, folder, kind))) for name, folder, kind in models}
    every = {name: df[df["cell_type"].isin(cell_types)] for name, df in every.items()}  # ridge has them all
    order = [m for m, _ in study.MODELS if m in every]
    t1 = pd.concat([parts[ct].frames["table1"] for ct in cell_types], ignore_index=True)
    t1["model"] = pd.Categorical(t1["model"], order, ordered=True)
    t1 = t1.sort_values(["cell_type", "model"], key=lambda s: s.map({c: i for i, c in enumerate(cell_types)})
                        if s.name == "cell_type" else s).reset_index(drop=True)
    t1["model"] = t1["model"].astype(str)
    t3 = study.table3(t1, order)

    def joined(name: str) -> pd.DataFrame:
        return pd.concat([parts[ct].frames[name] for ct in cell_types], ignore_index=True)

    residuals = joined("residuals")
    comparisons = joined("comparisons")
    table2 = read_csv(L.table2)
    tables = {"table1": t1, "table2": table2, "table3": t3.reset_index(), "comparisons": comparisons,
              "subsets": joined("subsets"), "residuals": residuals, "effects": joined("effects"),
              "features_used": joined("features_used")}
    for name, df in tables.items():
        write_csv(df, L.table(name))
    targets = read_parquet(L.targets)
    symbols = targets.drop_duplicates("gene").set_index("gene")["symbol"].astype("string")
    _write_predictions_csv(L, every, symbols, order)
    ds = ctx.dataset()
    _write_downloads(L, load_equations(L.equations), read_json(L.metrics("sr")), ds.feature_names)
    results = {
        "geneqn_version": __version__, "created": _dt.datetime.now().isoformat(timespec="seconds"),
        "config": cfg.to_dict(), "versions": versions(), "cell_types": cell_types, "models": order,
        "features": dict(read_json(L.features_info)), "dataset": ds.summary(),
        "not_expressed": study.not_expressed(targets[targets["gene"].isin(ds.features.index)]).to_dict(orient="records"),
        "table1": t1.to_dict(orient="records"), "table2": table2.to_dict(orient="records"),
        "table3": t3.reset_index().to_dict(orient="records"), "comparisons": comparisons.to_dict(orient="records"),
        "residuals": residuals.to_dict(orient="records"), "cells": {ct: parts[ct].data["cell"] for ct in cell_types},
        "stages": _stage_summaries(L),
    }
    write_json(results, L.results)
    return {ct: round(float(t3.loc[ct, "SR(NAS|NN)"]), 4) for ct in cell_types}


def _evaluate_cell_type(ctx: StageContext, ct: str) -> Part:
    """One cell type's share of the evaluate stage: its rows of Table 1, the comparisons, subsets,
    residuals, effects and features used (frames), its entry of results.json's ``cells`` (data)
    and its figures (files in ``downloads/figures/<ct>/``). It reads only the cell type's rows of
    the prediction files, so that a worker's memory does not grow with the number of cell types."""
    from geneqn import study
    from geneqn.features.seqclass import describe
    from geneqn.metrics import pearson_r
    from geneqn.report import cell_figures
    from geneqn.run.common import load_equations, read_pareto_csv
    from geneqn.sr.expr import evaluate

    L, cfg = ctx.layout, ctx.config
    seed = cfg.run.seed
    every = {name: _with_split(read_parquet(_pred_path(L, folder, kind), filters=[("cell_type", "==", ct)]))
             for name, folder, kind in _models(cfg)}
    # the tables and analyses are on the test genes; predictions.csv keeps every gene
    preds = {name: df[df["split"] == "test"].drop(columns="split").reset_index(drop=True) for name, df in every.items()}
    targets = read_parquet(L.targets, filters=[("cell_type", "==", ct)])
    symbols = targets.drop_duplicates("gene").set_index("gene")["symbol"].astype("string")
    eq = load_equations(L.equations, [ct])[ct]
    t1 = study.table1(preds, dict(study.MODELS), seed=seed)
    comparisons = study.compare(preds, seed=seed)
    metrics = {folder: read_json(L.metrics(folder))[ct] for folder in ("ridge", "nn", "nas", "sr", "distill", "nas_sr")}
    ds = ctx.dataset()
    per = {name: df.set_index("gene") for name, df in preds.items()}
    X, _ = ds.xy(ct, "train")
    an = study.cell_type_analyses(per, X, eq, metrics["ridge"]["coef"], symbols.to_dict())
    used = []
    for model_name, feats in (("SR(NAS|NN)", eq.features_used), ("SR", metrics["sr"]["features_used"]),
                              ("SR(NAS|SR)", metrics["nas_sr"]["equation"]["features_used"])):
        for f in feats:
            name, group = describe(f)
            used.append({"cell_type": ct, "model": model_name, "feature": f, "name": name, "group": group})
    Xt, yt = ds.xy(ct, "test")
    direct = read_pareto_csv(L.pareto_tables("sr", ct) / "pareto.csv", ds.feature_names)
    direct_front = [{"complexity": int(c), "loss": float(l), "test_r": pearson_r(yt.to_numpy(), evaluate(e, Xt)),
                     "equation": str(e)} for c, l, e in zip(direct.complexity, direct.loss, direct.expr)]
    trials = read_csv(L.trials)
    tr = trials[trials["cell_type"] == ct]
    done = tr[tr["state"] == "COMPLETE"].sort_values(["round", "slot"] if tr["round"].notna().all() else "number")
    marker_present = [m for m in cfg.report.marker_genes if m in set(symbols.reindex(Xt.index).dropna())]
    stab = read_json(L.stability) if cfg.stability.seeds + cfg.stability.bootstraps > 0 else {}
    m_distill, m_nas = metrics["distill"], metrics["nas"]
    cell = {
        "equation": {**eq.to_dict(), "test_r": m_distill["test_r"], "stage1_fidelity": m_distill["stage1_fidelity"],
                     "diagnostics": m_distill["diagnostics"], "stage1_complexity": m_distill["stage1_complexity"],
                     "stage2_complexity": m_distill["stage2_complexity"]},
        "direct_sr": {**metrics["sr"], "front": direct_front},
        "nas_sr": {k: v for k, v in metrics["nas_sr"].items() if k != "equation"},
        "search": {"architecture": m_nas["architecture_text"], "valid_r": m_nas["valid_r"],
                   "space_size": m_nas["space_size"], "space": m_nas["space"], "sampler": m_nas["sampler"],
                   "trials": m_nas["trials"], "retrained": m_nas["retrained"],
                   "seeds": m_nas.get("seeds"), "seed": m_nas.get("seed"),
                   "history": [None if pd.isna(v) else float(v) for v in done["valid_r"]],
                   "history_architectures": [str(a) for a in done["architecture"]]},
        "nn": {"architecture": metrics["nn"]["architecture_text"], "valid_r": metrics["nn"]["valid_r"]},
        "ridge": {"alpha": metrics["ridge"]["alpha"], "coef": metrics["ridge"]["coef"],
                  "intercept": metrics["ridge"]["intercept"]},
        "subsets": {**{k: an["subset_counts"][k] for k in ("nonlinear", "linear")}, "t_test_g": an["t_test_g"],
                    **{k: an["subset_counts"][k] for k in ("not_expressed_nonlinear", "not_expressed_linear")}},
        "test_not_expressed": an["test_not_expressed"],
        "markers": marker_present,
        "stability": {k: v for k, v in stab[ct].items() if k != "refits"} if ct in stab else None,
    }
    frames = {"table1": t1, "comparisons": comparisons, "subsets": an["subsets"].assign(cell_type=ct),
              "residuals": an["residuals"].assign(cell_type=ct), "effects": an["effects"].assign(cell_type=ct),
              "features_used": pd.DataFrame(used, columns=["cell_type", "model", "feature", "name", "group"])}
    # the report's figures, drawn from what the report reads: results.json's cell (through JSON)
    # and the test rows of predictions.csv
    cell = json.loads(json.dumps(cell, default=_json_default))
    order = [m for m, _ in study.MODELS if m in preds]
    wide = _wide(preds, symbols, order).rename(columns={"y": "measured_g"})
    table2 = read_csv(L.table2)
    pngs = cell_figures(ct, cell, wide, {"table2": table2[table2["cell_type"] == ct], "effects": frames["effects"],
                                         "subsets": frames["subsets"], "residuals": frames["residuals"]})
    files = []
    for name, png in pngs.items():
        files.append(write_bytes(png, L.figures(ct) / f"{name}.png"))
    return Part({"cell": cell}, frames, files)


def _with_split(df: pd.DataFrame) -> pd.DataFrame:
    """Predictions of a model stage; folders written before geneqn kept every gene held only
    the test genes, without a split column."""
    return df if "split" in df else df.assign(split="test")


def _wide(preds: dict, symbols: pd.Series, order: list[str]) -> pd.DataFrame:
    """gene, symbol, cell_type, (split,) y and a column per model in ``order``."""
    wide = preds["Ridge"][[c for c in ("gene", "cell_type", "split", "y") if c in preds["Ridge"]]].copy()
    for name in order:
        d = preds[name][["gene", "cell_type", "yhat"]].rename(columns={"yhat": name})
        wide = wide.merge(d, on=["gene", "cell_type"], how="left")
    wide.insert(1, "symbol", wide["gene"].map(symbols).astype("string"))
    return wide


def _write_predictions_csv(L: RunLayout, preds: dict, symbols: pd.Series, order: list[str]) -> None:
    """predictions.csv: gene, symbol, cell type, split (train/valid/test), measured g and every
    model's prediction, for every gene of the dataset (Table 1 uses the test rows)."""
    write_csv(_wide(preds, symbols, order).rename(columns={"y": "measured_g"}), L.predictions_csv)


def _write_downloads(L: RunLayout, equations: dict, sr_metrics: dict, feature_names: list[str]) -> None:
    """downloads/: equations as LaTeX, Python and JSON per cell type, and the Pareto CSVs."""
    import shutil

    out = L.downloads
    for ct, eq in equations.items():
        key = cell_type_key(ct)
        write_text(f"% genomic equation of {ct}\n\\[\n{eq.latex()}\n\\]\n", out / f"{key}.equation.tex")
        write_text(eq.to_python(), out / f"{key}.equation.py")
        write_json(eq.to_dict(), out / f"{key}.equation.json")
    for folder in ("distill", "sr"):
        src = L.pareto_root(folder)
        if src.exists():
            for f in sorted(src.rglob("*.csv")):
                dest = out / "pareto" / folder / f.relative_to(src)
                dest.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(f, dest)


def _stage_summaries(L: RunLayout) -> dict:
    out = {}
    for name in STAGES:
        p = L.stamp(name)
        if p.exists():
            try:
                d = json.loads(p.read_text())
            except (OSError, json.JSONDecodeError):
                continue
            out[name] = {"summary": d.get("summary", {}), "seconds": d.get("seconds")}
    return out


def versions() -> dict:
    import importlib.metadata as md
    import platform

    from geneqn._reproducible import pinned_kernels

    v = {"python": platform.python_version(), "geneqn": __version__}
    for pkg in ("numpy", "pandas", "torch", "optuna", "pyoperon", "sympy", "scikit-learn", "scipy", "numba"):
        try:
            v[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            v[pkg] = None
    # what decides the networks' last bits besides the versions (README: the same seed, the same
    # equations): PyTorch's CPU kernels as geneqn pinned them, or a user's own settings
    v["torch CPU kernels"] = ", ".join(f"{k}={val}" for k, val in pinned_kernels().items() if val is not None) or "native"
    return v


@stage("report", sections=("report",), inputs=lambda L: [L.results, L.predictions_csv, L.downloads] + [
       L.table(n) for n in ("table1", "table2", "table3", "comparisons", "subsets", "residuals", "effects",
                            "features_used")],
       outputs=lambda L: [L.report], help="report.html (self-contained up to report.embed_figures cell types)")
def report_stage(ctx: StageContext) -> dict:
    from geneqn.report import build_report

    path = build_report(ctx.layout.root)
    return {"report": str(path)}

