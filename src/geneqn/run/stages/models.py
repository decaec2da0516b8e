"""Model stages: ridge, the hand-tuned NN, the architecture search (NAS|NN) and the NAS|SR
ablation. Each is a thin adapter: config sections -> estimator -> files."""

from __future__ import annotations

import logging
import time

import pandas as pd

from geneqn._io import write_csv, write_parquet
from geneqn.config import Config
from geneqn.metrics import pearson_r
from geneqn.run.common import (DATA, EquationMemo, distiller_options, model_outputs, split_predictions, target_scaling,
                               write_parts)
from geneqn.run.engine import Part, StageContext, stage
from geneqn.run.layout import RunLayout, cell_type_key

log = logging.getLogger(__name__)

def _ridge_cell_type(ctx: StageContext, ct: str) -> Part:
    from geneqn.baselines import RidgeRegressor

    ds = ctx.dataset()
    X, y = ds.xy(ct, "train")
    Xv, yv = ds.xy(ct, "valid")
    Xt, yt = ds.xy(ct, "test")
    model = RidgeRegressor(scoring="pearson").fit(X, y, Xv, yv)  # the paper's rule
    yhat = model.predict(Xt)
    metrics = {"alpha": model.alpha_, "valid_r": model.valid_r_[model.alpha_], "test_r": pearson_r(yt, yhat),
               "coef": dict(zip(ds.feature_names, map(float, model.coef_))), "intercept": model.intercept_}
    return Part(metrics, {"predictions": split_predictions(ds, ct, model.predict)})


@stage("ridge", sections=("run",), inputs=DATA, outputs=model_outputs("ridge"),
       help="ridge regression (alpha chosen on valid by Pearson r, the paper's rule)")
def ridge_stage(ctx: StageContext) -> dict:
    return write_parts(ctx, "ridge", ctx.map_cell_types(_ridge_cell_type, "ridge"))


def train_settings(cfg: Config) -> dict:
    t = cfg.train
    return {"learning_rate": t.learning_rate, "batch_size": t.batch_size, "max_epochs": t.max_epochs,
            "patience": t.patience, "l1_latent": t.l1_latent, "l1_input": t.l1_input, "n_jobs": t.n_jobs}


def retrain_seeds(cfg: Config, trial_seed: int | None = None) -> list[int]:
    """The search.retrain_seeds seeds an architecture is retrained with: the seed its search
    trial was trained with, when known (that network is read from the training memo where the
    trial trained alone, as each trial of a round of distinct layer widths does), then
    run.seed + 10000 + i (those of :class:`BottleneckRegressor`)."""
    fresh = [cfg.run.seed + 10_000 + i for i in range(cfg.search.retrain_seeds)]
    if trial_seed is None:
        return fresh
    return [int(trial_seed)] + [s for s in fresh if s != trial_seed][:cfg.search.retrain_seeds - 1]


def fit_best(ctx: StageContext, ct: str, architectures: list, model: str) -> tuple[dict, pd.DataFrame]:
    """Train each architecture with search.retrain_seeds seeds (:func:`retrain_seeds`; batch
    order run.seed; all of them in one pool of processes); keep the network of the best valid r,
    save it, and test it. ``architectures``: architectures, or (architecture, trial seed) pairs
    from :meth:`geneqn.nas.search.SearchResult.top_trials`."""
    from geneqn import progress
    from geneqn.errors import GeneqnError
    from geneqn.nas.estimator import BottleneckRegressor
    from geneqn.nas.train import FLOOR_REWARD, RETRAIN_SLOTS, Candidate, TrainData, TrainingMemo, train_best

    cfg = ctx.config
    ds = ctx.dataset()
    X, y = ds.xy(ct, "train")
    Xv, yv = ds.xy(ct, "valid")
    Xt, yt = ds.xy(ct, "test")
    pairs = [a if isinstance(a, tuple) else (a, None) for a in architectures]
    cands = [Candidate(arch, s) for arch, trial_seed in pairs for s in retrain_seeds(cfg, trial_seed)]
    data = TrainData(X.to_numpy(), y.to_numpy(), Xv.to_numpy(), yv.to_numpy())
    kw = train_settings(cfg)
    label = {"nn": "NN", "nas": "NAS|NN", "nas_sr": "NAS|SR"}.get(model, model)
    with progress.task(f"train {label} {ct}", total=len(cands) * kw["max_epochs"]) as bar:
        best, done = train_best(cands, data, slots=RETRAIN_SLOTS, data_seed=cfg.run.seed, on_epoch=bar.advance,
                                memo=TrainingMemo(ctx.layout.training_memo), **kw)
        cand, net, res = done[best]
        bar.note(f"{len(pairs)} architecture(s) x {cfg.search.retrain_seeds} seed(s), best valid r {res.valid_r:.3f}")
    if res.diverged or res.valid_r <= FLOOR_REWARD:
        raise GeneqnError(f"training of {cand.arch} for {ct} diverged or predicts a constant; lower "
                          f"train.learning_rate (now {cfg.train.learning_rate}) or check the features.")
    est = BottleneckRegressor.from_network(net, ds.feature_names)
    yhat = est.predict(Xt)
    est.save(ctx.layout.network(model, ct), cell_type=ct, target_scaling=target_scaling(ctx, ct))
    per_seed = [r.valid_r for c, _, r in done if c.arch == cand.arch]
    metrics = {"architecture": cand.arch.to_dict(), "architecture_text": str(cand.arch), "valid_r": res.valid_r,
               "valid_r_per_seed": per_seed, "seeds": [c.seed for c, _, _ in done if c.arch == cand.arch],
               "seed": cand.seed, "epochs": res.epochs, "test_r": pearson_r(yt, yhat)}
    return metrics, split_predictions(ds, ct, est.predict)


def _nn_cell_type(ctx: StageContext, ct: str) -> Part:
    from geneqn.nas.space import parse_architecture

    n = ctx.config.nn
    metrics, preds = fit_best(ctx, ct, [parse_architecture(n.layers, n.latent_layer, n.dropout)], "nn")
    return Part(metrics, {"predictions": preds}, [ctx.layout.network("nn", ct)])


@stage("nn", sections=("nn", "train", "run", "search"), inputs=DATA, outputs=model_outputs("nn", True),
       help="the hand-tuned network (config section nn)")
def nn_stage(ctx: StageContext) -> dict:
    return write_parts(ctx, "nn", ctx.map_cell_types(_nn_cell_type, "hand-tuned NN"))


def search_storage(ctx_config: Config, layout: RunLayout) -> tuple[str, bool]:
    """(storage URL, single worker?) of the run's search."""
    from geneqn.nas.search import default_storage

    url = ctx_config.search.storage
    return (url, False) if url else (default_storage(layout.root), True)


def search_study_name(cfg: Config, ct: str, fingerprint: str, ablation: bool = False) -> str:
    from geneqn.nas.search import study_name

    return study_name(cfg.search.study + ("-nassr" if ablation else ""), cell_type_key(ct), fingerprint)


def search_cell_type(ctx: StageContext, ct: str, fingerprint: str, *, reward=None, ablation: bool = False,
                     force: bool = False):
    """Run (or resume, or join) the search of one cell type in the study of this fingerprint."""
    from geneqn.nas.search import SearchSettings, delete_study, run_search
    from geneqn.nas.space import space_from_config
    from geneqn.nas.train import TrainData, TrainingMemo

    cfg = ctx.config
    sc = cfg.search
    storage, single = search_storage(cfg, ctx.layout)
    name = search_study_name(cfg, ct, fingerprint, ablation)
    if force and delete_study(storage, name):
        log.info("search %s: --force, the earlier study was deleted", name)
    ds = ctx.dataset()
    tr, va = ds.arrays(ct, "train"), ds.arrays(ct, "valid")
    settings = SearchSettings(trials=sc.nas_sr_trials if ablation else sc.trials, sampler=sc.sampler,
                              seed=cfg.run.seed, group_size=sc.group_size, timeout_s=sc.timeout_minutes * 60 or None,
                              single_worker=single, train_kw={**train_settings(cfg), "data_seed": cfg.run.seed,
                                                                        "memo": TrainingMemo(ctx.layout.training_memo)},
                              reward=reward, label=f"{'NAS|SR search' if ablation else 'search'} {ct}")
    return run_search(TrainData(tr.X, tr.y, va.X, va.y), space_from_config(sc), storage=storage, study_name=name,
                      settings=settings), name


def _search_cell_type(ctx: StageContext, ct: str) -> Part:
    from geneqn.nas.search import trials_table
    from geneqn.nas.space import space_from_config

    sc = ctx.config.search
    space = space_from_config(sc)
    res, name = search_cell_type(ctx, ct, ctx.fingerprint, force=ctx.force)
    top = res.top_trials(sc.retrain_top)
    m, p = fit_best(ctx, ct, top, "nas")
    m.update({"study": name, "search_best_valid_r": res.best_value, "space_size": space.size,
              "sampler": sc.sampler, "trials": sc.trials, "retrained": [str(a) for a, _ in top],
              "space": [space.choices(i) for i in range(len(space.layers))],
              "latent_layer": space.latent_layer})
    return Part(m, {"predictions": p, "trials": trials_table(res.study).assign(cell_type=ct)},
                [ctx.layout.network("nas", ct)])


@stage("search", sections=("search", "train", "run"), inputs=DATA,
       outputs=lambda L: model_outputs("nas", True)(L) + [L.trials],
       help="architecture search (NAS|NN) and the retrained best network")
def search_stage(ctx: StageContext) -> dict:
    parts = ctx.map_cell_types(_search_cell_type)
    write_csv(pd.concat([p.frames["trials"] for p in parts.values()], ignore_index=True), ctx.layout.trials)
    return write_parts(ctx, "nas", parts)


def _nas_sr_cell_type(ctx: StageContext, ct: str) -> Part:
    from geneqn.nas.estimator import BottleneckRegressor
    from geneqn.run.common import sr_estimator
    from geneqn.sr.distill import GenomicEquationDistiller

    ds = ctx.dataset()
    cfg = ctx.config
    sc = cfg.search
    full = sr_estimator(cfg)
    f = sc.nas_sr_budget
    small = full.__class__(**{**full.get_params(), "max_evaluations": max(2000, int(full.max_evaluations * f)),
                              "restarts": 1, "max_samples": min(full.max_samples or 2000, 2000)})
    X, y = ds.xy(ct, "train")
    Xv, yv = ds.xy(ct, "valid")
    Xt, yt = ds.xy(ct, "test")

    def equation_reward(net, result):
        est = BottleneckRegressor.from_network(net, ds.feature_names)
        d = GenomicEquationDistiller(est, sr=small, cell_type=ct, **distiller_options(cfg)).fit(X, y)
        return pearson_r(yv.to_numpy(), d.predict(Xv))

    t0 = time.perf_counter()
    res, name = search_cell_type(ctx, ct, ctx.fingerprint, reward=equation_reward, ablation=True, force=ctx.force)
    search_s = time.perf_counter() - t0
    # the architecture its equations' reward chose (not the search.retrain_top best, which the
    # retraining would rank by the network's valid r, the NAS|NN criterion), with
    # search.retrain_seeds seeds; distilled as the distill stage distils NAS|NN's network
    top = res.top_trials(1)
    m, p = fit_best(ctx, ct, top, "nas_sr")
    est = BottleneckRegressor.load(ctx.layout.network("nas_sr", ct))
    # an equation distilled before from this very network is read back (the distill stage's,
    # where NAS|SR retrained the network NAS|NN kept: the same architecture and seed); --force
    # distils it again
    d = GenomicEquationDistiller(est, sr=full, cell_type=ct, **distiller_options(cfg))
    memo = EquationMemo(ctx.layout.equation_memo)
    key = memo.key(d, X, y, Xv, yv)
    found = None if ctx.force else memo.get(key)
    reused = found is not None
    if found is None:
        d.fit(X, y, Xv, yv)
        found = {"equation": d.equation_, "diagnostics": d.diagnostics_}
        memo.put(key, d.equation_, d.diagnostics_)
    eq = found["equation"]
    yhat = eq.predict(Xt)
    m.update({"net_test_r": m.pop("test_r"), "test_r": pearson_r(yt, yhat), "equation": eq.to_dict(),
              "valid_r": pearson_r(yv, eq.predict(Xv)), "net_valid_r": m.pop("valid_r"),
              "diagnostics": found["diagnostics"], "equation_reused": reused,
              "retrained": [str(a) for a, _ in top],
              "search_best_valid_r": res.best_value, "search_seconds": search_s, "study": name,
              "trials": sc.nas_sr_trials, "sr_budget_inside_search": {
                  "max_evaluations": small.max_evaluations, "restarts": small.restarts,
                  "max_samples": small.max_samples}})
    return Part(m, {"predictions": split_predictions(ds, ct, eq.predict), "net": p},
                [ctx.layout.network("nas_sr", ct)])


@stage("nas_sr", sections=("search", "train", "sr", "run"), inputs=DATA,
       outputs=lambda L: model_outputs("nas_sr", True)(L) + [L.nas_net_predictions],
       help="the NAS|SR ablation: search rewarded by each candidate's equations")
def nas_sr_stage(ctx: StageContext) -> dict:
    """The ablation NAS|SR: the search's reward is the valid r of equations distilled from each
    candidate (with a small SR budget); the best architecture is retrained (search.retrain_seeds
    seeds) and distilled with the full budget, its equations chosen on the valid genes."""
    parts = ctx.map_cell_types(_nas_sr_cell_type)
    write_parquet(pd.concat([p.frames["net"] for p in parts.values()], ignore_index=True),
                  ctx.layout.nas_net_predictions)
    return write_parts(ctx, "nas_sr", parts)
