"""Equation stages: distill (SR(NAS|NN)), sr (direct SR) and sweep (the paper's Table 2)."""

from __future__ import annotations

import pandas as pd

from geneqn._io import write_csv, write_json, write_text
from geneqn.metrics import pearson_r
from geneqn.run.common import (DATA, EquationMemo, distiller_options, load_equations, model_outputs, read_pareto_csv,
                               split_predictions, sr_estimator, target_scaling, write_model, write_parts,
                               write_tables)
from geneqn.run.engine import Part, StageContext, stage
from geneqn.run.layout import RunLayout


def _distill_outputs(L: RunLayout):
    return model_outputs("distill")(L) + [L.equations, L.equations_tex, L.pareto_root("distill")]


def _distill_cell_type(ctx: StageContext, ct: str) -> Part:
    from geneqn.nas.estimator import BottleneckRegressor
    from geneqn.sr.distill import GenomicEquationDistiller

    ds = ctx.dataset()
    cfg = ctx.config
    net = BottleneckRegressor.load(ctx.layout.network("nas", ct))
    X, y = ds.xy(ct, "train")
    Xv, yv = ds.xy(ct, "valid")
    Xt, yt = ds.xy(ct, "test")
    d = GenomicEquationDistiller(net, sr=sr_estimator(cfg), cell_type=ct, **distiller_options(cfg)).fit(X, y, Xv, yv)
    memo = EquationMemo(ctx.layout.equation_memo)
    memo.put(memo.key(d, X, y, Xv, yv), d.equation_, d.diagnostics_)  # for NAS|SR
    eq = d.equation_
    eq.meta["target_scaling"] = target_scaling(ctx, ct)
    tables = ctx.layout.pareto_tables("distill", ct)
    write_tables(tables, {**{f"stage1_{k}": t for k, t in d.stage1_tables_.items()}, "stage2": d.stage2_table_})
    yhat = eq.predict(Xt)
    metrics = {"test_r": pearson_r(yt, yhat), "valid_r": pearson_r(yv, eq.predict(Xv)),
               "net_test_r": pearson_r(yt, net.predict(Xt)), "complexity": eq.complexity,
               "features_used": eq.features_used, "constant_units": d.constant_units_,
               "stage1_fidelity": d.stage1_fidelity_, "diagnostics": d.diagnostics_,
               "stage1_complexity": {k: v.complexity for k, v in eq.latents.items()},
               "stage2_complexity": eq.output.complexity}
    return Part({"metrics": metrics, "equation": eq.to_dict(), "tex": f"% {ct}\n\\[\n{eq.latex()}\n\\]\n"},
                {"predictions": split_predictions(ds, ct, eq.predict)}, [tables])


@stage("distill", sections=("sr", "run", "expression"), inputs=lambda L: DATA(L) + [L.networks("nas")],
       outputs=_distill_outputs, help="distil the searched network into genomic equations, SR(NAS|NN)")
def distill_stage(ctx: StageContext) -> dict:
    parts = ctx.map_cell_types(_distill_cell_type)
    write_json({ct: p.data["equation"] for ct, p in parts.items()}, ctx.layout.equations)
    write_text("\n".join(p.data["tex"] for p in parts.values()), ctx.layout.equations_tex)
    return write_model(ctx, "distill", {ct: p.data["metrics"] for ct, p in parts.items()},
                       [p.frames["predictions"] for p in parts.values()])


def _direct_sr_cell_type(ctx: StageContext, ct: str) -> Part:
    from geneqn.sr.distill import direct_sr

    ds = ctx.dataset()
    X, y = ds.xy(ct, "train")
    Xv, yv = ds.xy(ct, "valid")
    Xt, yt = ds.xy(ct, "test")
    reg = direct_sr(X, y, sr_estimator(ctx.config), Xv, yv)
    tables = ctx.layout.pareto_tables("sr", ct)
    write_tables(tables, {"pareto": reg.equations_})
    yhat = reg.predict(Xt)
    metrics = {"test_r": pearson_r(yt, yhat), "equation": str(reg.expr_), "tokens": reg.expr_.to_json(),
               "complexity": reg.expr_.complexity,
               "features_used": [f for f in ds.feature_names if f in set(reg.expr_.variables)],
               "search": reg.search_stats_}
    return Part(metrics, {"predictions": split_predictions(ds, ct, reg.predict)}, [tables])


@stage("sr", sections=("sr", "run"), inputs=DATA, outputs=lambda L: model_outputs("sr")(L) + [L.pareto_root("sr")],
       help="direct symbolic regression from features to expression (the SR row)")
def direct_sr_stage(ctx: StageContext) -> dict:
    return write_parts(ctx, "sr", ctx.map_cell_types(_direct_sr_cell_type))


def _sweep_cell_type(ctx: StageContext, ct: str) -> Part:
    from geneqn.nas.estimator import BottleneckRegressor
    from geneqn.sr.distill import complexity_sweep, target_values

    ds = ctx.dataset()
    cfg = ctx.config
    eq = load_equations(ctx.layout.equations, [ct])[ct]
    net = BottleneckRegressor.load(ctx.layout.network("nas", ct))
    X, y = ds.xy(ct, "train")
    Xt, yt = ds.xy(ct, "test")
    Z = target_values(net, X, eq.meta)
    folder = ctx.layout.pareto_tables("distill", ct)
    tables = {k: (None if k in eq.meta.get("constant_units", []) else
                  read_pareto_csv(folder / f"stage1_{k}.csv", ds.feature_names)) for k in eq.latents}
    means = {k: float(Z[:, j].mean()) for j, k in enumerate(list(eq.latents)[:Z.shape[1]])}
    residual = eq.meta.get("residual_latents", [])
    # the distillation's own selection is a row of the sweep: reused, not fitted twice
    known = {cfg.sr.selection: eq} if cfg.sr.refit == "none" else {}
    Xv, yv = ds.xy(ct, "valid")
    t = complexity_sweep(tables, means, X.to_numpy(), y.to_numpy(), ds.feature_names, sr_estimator(cfg), cfg.sr.sweep,
                         Xt.to_numpy(), yt.to_numpy(), stage2_input=cfg.sr.stage2_input, Z=Z, known=known,
                         X_valid=Xv.to_numpy(), y_valid=yv.to_numpy(), Z_valid=target_values(net, Xv, eq.meta),
                         residual=residual, network_output=net.predict(X) if residual else None)
    meta = {**eq.meta, "target_scaling": target_scaling(ctx, ct)}
    swept = {}
    for row in t.itertuples():
        e = row.genomic_equation
        e.cell_type, e.meta = ct, {**meta, "residual_latents": e.meta.get("residual_latents", []),
                                   "sweep_limit": row.latent_limit, "knee": bool(row.knee)}
        swept[row.latent_limit] = e.to_dict()
    table = t.drop(columns="genomic_equation").rename(columns={"r": "test_r"}).assign(cell_type=ct)
    return Part({"equations": swept}, {"table": table})


@stage("sweep", sections=("sr", "run"), inputs=lambda L: DATA(L) + [L.networks("nas"), L.equations,
                                                                    L.pareto_root("distill")],
       outputs=lambda L: [L.table2, L.sweep_equations], help="complexity sweep (the paper's Table 2) and its knee")
def sweep_stage(ctx: StageContext) -> dict:
    """Table 2: per-latent complexity limits, re-selected from the distill stage's stage-1
    Pareto tables, with stage 2 refitted."""
    parts = ctx.map_cell_types(_sweep_cell_type)
    table = pd.concat([p.frames["table"] for p in parts.values()], ignore_index=True)
    write_csv(table[["cell_type", "latent_limit", "n_features", "complexity", "valid_r", "test_r", "knee", "equation"]],
              ctx.layout.table2)
    write_json({ct: p.data["equations"] for ct, p in parts.items()}, ctx.layout.sweep_equations)
    knees = table[table["knee"]]
    return {"rows": len(table), "knee": {r.cell_type: f"limit {r.latent_limit}, complexity {r.complexity}, test r "
                                                   f"{r.test_r:.3f}" for r in knees.itertuples()}}


@stage("stability", sections=("stability", "sr", "run"), inputs=lambda L: DATA(L) + [L.networks("nas"), L.equations],
       outputs=lambda L: [L.stability, L.stability_refits_root],
       enabled=lambda cfg: cfg.stability.seeds + cfg.stability.bootstraps > 0,
       help="refits over SR seeds and bootstrap resamples: stable features, terms and constants")
def stability_stage(ctx: StageContext) -> dict:
    """Each equation refitted ([stability] seeds and bootstraps, at its budget share of the [sr]
    budget); every refit is kept as it finishes, so a killed run resumes."""
    parts = ctx.map_cell_types(_stability_cell_type)
    write_json({ct: p.data for ct, p in parts.items()}, ctx.layout.stability)
    return {ct: f"core {', '.join(p.data['core']['features']) or 'none'} (r {p.data['core']['r']:.3f})"
            for ct, p in parts.items()}


def _stability_cell_type(ctx: StageContext, ct: str) -> Part:
    from geneqn.nas.estimator import BottleneckRegressor
    from geneqn.sr.distill import GenomicEquationDistiller

    cfg = ctx.config
    s = cfg.stability
    ds = ctx.dataset()
    full = sr_estimator(cfg)
    sr = full.set_params(max_evaluations=max(1000, int(full.max_evaluations * s.budget)))
    net = BottleneckRegressor.load(ctx.layout.network("nas", ct))
    d = GenomicEquationDistiller(net, sr=sr, cell_type=ct, **distiller_options(cfg))
    d.equation_ = load_equations(ctx.layout.equations, [ct])[ct]  # the run's equation; the refits distil the network again
    X, y = ds.xy(ct, "train")
    Xv, yv = ds.xy(ct, "valid")
    Xt, yt = ds.xy(ct, "test")
    st = d.stability(X, y, Xv, yv, Xt, yt, n_seeds=s.seeds, n_bootstraps=s.bootstraps,
                     constant_bootstraps=s.constant_bootstraps, core_share=s.core_share, n_jobs=cfg.sr.n_jobs,
                     random_state=cfg.run.seed, cache_dir=ctx.layout.stability_refits(ct))
    st["budget"] = {"max_evaluations": sr.max_evaluations, "share": s.budget}
    return Part(st)
