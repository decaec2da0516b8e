"""The study's report: one self-contained ``report.html`` (no network and no script: images are
embedded as PNG data, equations are MathML that browsers render offline, cell types fold with
``<details>``), built from ``results.json``, ``predictions.csv``, ``tables/`` and the figures the
evaluate stage drew of each cell type (``downloads/figures/``; drawn here when a folder lacks them).

:func:`report_context` gathers what the report shows as plain data (names, numbers, figures as
PNG bytes); ``templates/report.html.j2`` lays it out. Every name that comes from the inputs
(cell types, features, gene symbols) is escaped by the template engine (autoescape).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
from markupsafe import Markup

from geneqn._io import read_csv, read_json, write_text
from geneqn.report import figures
from geneqn.report._render import render

TABLES = ("table1", "table2", "table3", "comparisons", "subsets", "residuals", "effects", "features_used")
CELL_TABLES = ("table2", "effects", "subsets", "residuals")
"""The tables whose rows of a cell type :func:`cell_figures` draws."""
CELL_FIGURES = ("scatter", "pareto", "effects", "history", "subsets", "residuals", "stability")
"""The figures :func:`cell_figures` draws (stability only for a cell with a stability record)."""


def build_report(run_dir: str | Path) -> Path:
    """Write ``report.html`` of a finished run folder and return its path."""
    from geneqn.run.layout import RunLayout

    return write_text(render("report.html.j2", **report_context(run_dir)), RunLayout(run_dir).report)


def report_context(run_dir: str | Path) -> dict:
    """Everything the report shows, as data: the run's results, its tables and its figures."""
    from geneqn.config import ReportConfig, from_dict
    from geneqn.run.layout import RunLayout
    from geneqn.sr.equation import GenomicEquation

    L = RunLayout(run_dir)
    res = read_json(L.results)
    limit = res["config"].get("report", {}).get("embed_figures", ReportConfig().embed_figures)
    link = len(res["cell_types"]) > int(limit)
    preds = read_csv(L.predictions_csv)
    if "split" in preds:  # every gene is there; the figures show the test genes, as Table 1
        preds = preds[preds["split"] == "test"]
    t = {n: read_csv(L.table(n)) for n in TABLES}
    cell_types, models = res["cell_types"], res["models"]
    t1 = t["table1"]

    def r_of(ct, m):
        x = t1[(t1.cell_type == ct) & (t1.model == m)]
        return None if not len(x) else {"r": x.pearson_r.iloc[0], "lo": x.pearson_r_ci_low.iloc[0],
                                        "hi": x.pearson_r_ci_high.iloc[0]}

    summary = []
    for ct in cell_types:
        c = res["cells"][ct]
        eq = GenomicEquation.from_dict(c["equation"], f"{ct}", cell_type=ct)
        summary.append({"cell_type": ct, "r": {m: r_of(ct, m) for m in ("SR(NAS|NN)", "NAS|NN", "Ridge")},
                        "complexity": c["equation"]["complexity"], "features": c["equation"]["features_used"],
                        "lines": [f"{lhs} = {rhs}" for lhs, rhs in eq.system(3)]})
    used = t["features_used"]
    feature_order = res["features"].get("features") or sorted(set(used.feature))
    try:
        toml = from_dict(res["config"]).to_toml()
    except Exception:  # a config of another version: show it as JSON
        toml = json.dumps(res["config"], indent=2)
    return {
        "res": res, "cell_types": cell_types, "models": models, "summary": summary,
        "significance": _significance(t["comparisons"], cell_types),
        "table1": {ct: list(t1[t1.cell_type == ct].itertuples()) for ct in cell_types},
        "table2": list(t["table2"].itertuples()), "has_valid": "valid_r" in t["table2"] and "knee" in t["table2"],
        "table3": [(ct, [r_of(ct, m) for m in models]) for ct in cell_types],
        "comparisons": list(t["comparisons"].itertuples()),
        "cells": [_cell(ct, res, preds, t, k == 0, _figures_of(L, ct, res, preds, t, link))
                  for k, ct in enumerate(cell_types)],
        "linked_figures": link, "embed_limit": int(limit),
        "features_png": figures.features_heatmap(used, feature_order, cell_types),
        "features_used": [(r.cell_type, r.model, r.feature, r.name if isinstance(r.name, str) else "",
                           r.group if isinstance(r.group, str) else "") for r in used.itertuples()],
        "config_text": toml, "stages": res.get("stages", {}), "versions": res["versions"], "brief": _brief,
    }


def cell_figures(cell_type: str, cell: dict, predictions: pd.DataFrame, tables: dict[str, pd.DataFrame]) -> dict[str, bytes]:
    """The figures of one cell type's section, as PNG bytes by name (scatter, pareto, effects,
    history, subsets, residuals; stability when the cell has a stability record).

    ``cell``: the cell type's entry of ``results.json``'s ``cells``; ``predictions``: its test
    genes as ``predictions.csv`` has them (measured_g, symbol and a column per model);
    ``tables``: its rows of the tables named in :data:`CELL_TABLES`. The evaluate stage draws them
    for each cell type where it computes its tables (on a cluster's workers with ``--cluster``)."""
    ct = cell_type
    d = predictions.reset_index(drop=True)
    show = [m for m in ("Ridge", "NAS|NN", "SR", "SR(NAS|NN)") if m in d.columns]
    ds, se = cell["direct_sr"], cell["search"]
    out = {"scatter": figures.scatter_row(d, show, ct, cell["markers"]),
           "pareto": figures.pareto(ds["front"], tables["table2"], int(ds["complexity"]),
                                    f"{ct}: accuracy against complexity"),
           "effects": figures.effects(tables["effects"], f"{ct}: effects"),
           "history": figures.search_history(se["history"], f"{ct}: valid r over trials"),
           "subsets": figures.subset_boxplot(tables["subsets"], cell["subsets"]["t_test_g"], ct),
           "residuals": figures.residual_plot(tables["residuals"], ct)}
    if cell.get("stability"):
        out["stability"] = figures.stability(cell["stability"], f"{ct}: features over refits")
    return out


def _figures_of(L, ct: str, res: dict, preds: pd.DataFrame, t: dict, link: bool = False) -> dict:
    """The cell type's figures as the evaluate stage drew them (PNG bytes, or with ``link`` their
    paths relative to the report, :class:`geneqn.report._render.Linked`), or drawn now and
    embedded (a folder without them)."""
    from geneqn.report._render import Linked

    folder = L.figures(ct)
    names = CELL_FIGURES[:-1] + (("stability",) if res["cells"][ct].get("stability") else ())
    if all((folder / f"{n}.png").is_file() for n in names):
        if link:
            return {n: Linked((folder / f"{n}.png").relative_to(L.report.parent).as_posix()) for n in names}
        return {n: (folder / f"{n}.png").read_bytes() for n in names}
    return cell_figures(ct, res["cells"][ct], preds[preds.cell_type == ct],
                        {n: t[n][t[n].cell_type == ct] for n in CELL_TABLES})


def _brief(summary: dict) -> str:
    items = [f"{k}: {v}" for k, v in summary.items() if not isinstance(v, (dict, list))]
    return "; ".join(items)[:200]


def _significance(cmp: pd.DataFrame, cell_types: list[str]) -> list[tuple[str, list[dict]]]:
    """Per cell type: whether NAS|NN, Ridge and SR are above, below or not distinguishable from the equation."""
    out = []
    for ct in cell_types:
        parts = []
        for model in ("NAS|NN", "Ridge", "SR"):
            x = cmp[(cmp.cell_type == ct) & (cmp.model == model)]
            if not len(x):
                continue
            row = x.iloc[0]
            sig = row.ci_low > 0 or row.ci_high < 0
            word = ("above" if row.difference > 0 else "below") if sig else "not distinguishable from"
            parts.append({"model": model, "word": word, "difference": row.difference, "lo": row.ci_low,
                          "hi": row.ci_high})
        if parts:
            out.append((ct, parts))
    return out


def selection_rule(rule: str) -> str:
    """How a selection rule chose (for a sentence of the report)."""
    rule = str(rule)
    if rule == "validation":
        return ("the validation rule: the simplest equation whose mean squared error on the valid genes is within "
                "one paired standard error (or 1%) of the lowest (sr.selection = \"validation\")")
    if rule == "accuracy":
        return "the paper's rule: the lowest loss on the training genes (sr.selection = \"accuracy\")"
    if rule == "best":
        return ("PySR's rule: the highest score among equations with at most 1.5 x the lowest loss "
                "(sr.selection = \"best\")")
    return f"the lowest loss within complexity {rule} (sr.selection = {rule})"


def _stability(st: dict | None, png: bytes | None) -> dict | None:
    """Which features and terms of the equation recur over refits; its stable core; constants."""
    if not st:
        return None
    head = st["headline"]
    return {"st": st, "share": int(round(100 * st["core_share"])), "budget": st.get("budget", {}),
            "below": [(f, head["features"][f]) for f in head["below_core_share"]],
            "png": png,
            "features": [(f, v, f in head["features"]) for f, v in list(st["features"].items())[:15]],
            "terms": [(k, term, v) for k, ts in st["terms"].items() for term, v in list(ts.items())[:6]]}


def _knee(sweep: pd.DataFrame) -> list[dict]:
    """The knee of the composed front beside the most accurate equation (both with test r); one row
    when they are the same (no simpler equation is worth its loss in accuracy); none without a knee."""
    if "knee" not in sweep or "valid_r" not in sweep or not sweep["knee"].astype(bool).any():
        return []
    k = sweep[sweep["knee"].astype(bool)].iloc[0]
    top = sweep.sort_values(["valid_r", "complexity"], ascending=[False, True]).iloc[0]
    if k.latent_limit == top.latent_limit:
        return [{"label": "knee = the most accurate on the valid genes", "row": k}]
    return [{"label": "knee (Kneedle rule on valid r)", "row": k},
            {"label": "most accurate on the valid genes", "row": top}]


def _residual(meta: dict) -> dict | None:
    """The residual latents of an equation and the r of each round (None without them)."""
    names, sc = meta.get("residual_latents") or [], meta.get("residual_scores") or {}
    if not names or not sc:
        return None
    n = int(sc.get("kept", len(names))) + 1
    return {"names": list(names), "genes": sc.get("genes", "valid"), "network_r": list(sc.get("network_r", []))[:n],
            "r": list(sc.get("r", []))[:n]}


def _cell(ct: str, res: dict, preds: pd.DataFrame, t: dict, open_: bool, figs: dict[str, bytes]) -> dict:
    """One cell type's section (``figs``: its figures, :func:`cell_figures`)."""
    from geneqn.sr.equation import GenomicEquation

    c = res["cells"][ct]
    eq = GenomicEquation.from_dict(c["equation"], ct, cell_type=ct)
    directions = eq.meta.get("latent_targets") == "gradient"
    fid, comp = c["equation"]["stage1_fidelity"], c["equation"]["stage1_complexity"]
    W = np.asarray(eq.meta.get("directions", []), dtype=float) if directions else None
    latents = []
    residual = set(eq.meta.get("residual_latents", []))
    for j, k in enumerate(eq.latents):
        top = np.argsort(-np.abs(W[:, j]))[:4] if W is not None and W.ndim == 2 and W.shape[1] > j else []
        latents.append({"name": k, "complexity": comp.get(k, ""), "fidelity": fid.get(k),
                        "used": k in set(eq.used_latents), "residual": k in residual,
                        "loadings": ", ".join(f"{eq.feature_names[i]} {W[i, j]:+.2f}" for i in top)})
    dg = c["equation"]["diagnostics"]
    diagnostics = [("the network (NAS|NN)", dg.get("network_r"))]
    if "network_head_on_stage1_r" in dg:
        diagnostics.append(("the network's head on the stage-1 equations", dg.get("network_head_on_stage1_r")))
    diagnostics += [(f"stage 2 on the network's {'directions' if directions else 'latents'}"
                     + (" (residual latents as fitted)" if residual else ""), dg.get("stage2_on_network_latents_r")),
                    ("the genomic equation (stage 1 + stage 2" + (" + residual latents)" if residual else ")"),
                     dg.get("equation_r"))]
    sweep = t["table2"][t["table2"].cell_type == ct]
    ds = c["direct_sr"]
    eff = t["effects"][t["effects"].cell_type == ct]
    e = eff.pivot_table(index="feature", columns="model", values="effect", aggfunc="first")
    coef = pd.Series(c["ridge"]["coef"])
    e = e.reindex(e.abs().max(axis=1).sort_values(ascending=False).index[:12])
    effects = [(f, e.at[f, "SR(NAS|NN)"] if "SR(NAS|NN)" in e else None, e.at[f, "Ridge"] if "Ridge" in e else None,
                coef.get(f)) for f in e.index]
    se = c["search"]
    space = "; ".join(f"layer {i}: " + ", ".join(o[:3]) + (" ..." if len(o) > 3 else "") for i, o in enumerate(se["space"]))
    sub = t["subsets"][t["subsets"].cell_type == ct]
    resid = t["residuals"][t["residuals"].cell_type == ct]
    return {
        "name": ct, "open": open_, "c": c, "eq": eq, "directions": directions,
        "targets_scores": eq.meta.get("latent_targets_scores") or {},
        "residual": _residual(eq.meta),
        "selection": selection_rule(eq.meta.get("selection", "accuracy")),
        "mathml": [(Markup(lhs), Markup(rhs)) for lhs, rhs in eq.mathml()],  # geneqn's markup, names escaped
        "latents": latents, "diagnostics": diagnostics, "diagnostics_genes": dg.get("genes", "valid"),
        "stability": _stability(c.get("stability"), figs.get("stability")),
        "pareto_png": figs["pareto"], "knee": _knee(sweep), "direct": ds,
        "effects_png": figs["effects"], "effects": effects, "search": se, "space": space,
        "history_png": figs["history"], "scatter_png": figs["scatter"], "subsets_png": figs["subsets"],
        "subset_genes": {label: [r.symbol if isinstance(r.symbol, str) else r.gene
                                 for r in sub[sub.subset == label].itertuples()] for label in ("nonlinear", "linear")},
        "residuals_png": figs["residuals"], "residuals": list(resid.itertuples()),
    }
