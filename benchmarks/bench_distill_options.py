"""Distillation options side by side on the demo: which of them keep the network's accuracy?

For one cell type of the embedded demo (default beta cells), with the architecture that the
demo's search finds for it (seed 0) and the demo's SR budget, prints one row per option: the
network's test r, SR(NAS|NN)'s test r, the gap, the mean stage-1 fidelity (r of each latent's
equation with its unit), the composed complexity and the wall time.

Options (the first row is the paper's method; each row changes it as named; the last row is
geneqn's default):
* paper: stage 2 on the stage-1 predicted latents, no refit, uniform variable prior;
* refit joint: every constant of the composed equation refitted on the training genes;
* stage 2 on latents: stage 2 learns from the network's own latents (the paper argues against);
* prior network: stage-1 variables drawn in proportion to the network's sensitivity;
* active directions: stage 1 fits the network's active directions (its input gradient's leading
  eigenvectors, varimax-rotated) instead of its latent units;
* auto: both (latent units, active directions), keeping the equation with the higher valid r;
* share: the stage-1 fits (one per latent unit, all over the same features) send each other
  their best trees at every migration, as a fit's restarts do;
* L1 latent / L1 input: networks trained for distillability (Cranmer et al. 2020), L1 on the
  latent activations or on the first layer's weights, then the paper's distillation;
* residual latents 2: after stage 2, up to two rounds each fit one more equation of the
  features to the network's output minus the equation so far (the output becomes
  a * stage 2 + b1 * r1 + b2 * r2 + c, by least squares on the network's output).

    python benchmarks/bench_distill_options.py [--cell-type "type B pancreatic cell"]
    python benchmarks/bench_distill_options.py --config RUN_CONFIG.toml --cell-type CT   # any finished run
    python benchmarks/bench_distill_options.py --options "paper,active"                 # rows by name prefix

With --config (a run's config whose search has finished), the run's data, its searched
architecture for the cell type and its [train] and [sr] settings are used instead of the demo's.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np

# the architecture that the demo's 8-trial search (seed 0) retrains for beta and delta cells
ARCH = "256-relu|256-gelu|16-tanh|[8-tanh]|16-relu|32-tanh|64-tanh"

PAPER = {"latent_targets": "network", "share": False, "residual_latents": 0}
"""The paper's distillation; every row below starts from it (geneqn's defaults differ: last rows)."""

OPTIONS = [
    ("paper", {}, {}),
    ("refit joint", {"refit": "joint"}, {}),
    ("stage 2 on latents", {"stage2_input": "latent"}, {}),
    ("prior network", {"latent_prior": "network"}, {}),
    ("refit joint + prior network", {"refit": "joint", "latent_prior": "network"}, {}),
    ("active directions", {"latent_targets": "gradient"}, {}),
    ("active directions + refit", {"latent_targets": "gradient", "refit": "joint"}, {}),
    ("auto: the better on valid", {"latent_targets": "auto"}, {}),
    ("share stage 1", {"share": True}, {}),
    ("share + refit + prior", {"share": True, "refit": "joint", "latent_prior": "network"}, {}),
    ("L1 latent 0.01", {}, {"l1_latent": 0.01}),
    ("L1 latent 0.1", {}, {"l1_latent": 0.1}),
    ("L1 input 0.01", {}, {"l1_input": 0.01}),
    ("auto + share", {"latent_targets": "auto", "share": True}, {}),
    ("residual latents 2", {"residual_latents": 2}, {}),
    ("share + residual latents 2", {"share": True, "residual_latents": 2}, {}),
    ("default: auto + share + residual 2", {"latent_targets": "auto", "share": True, "residual_latents": 2}, {}),
]


def main() -> None:
    from geneqn import BottleneckRegressor, GenomicEquationDistiller
    from geneqn.metrics import pearson_r
    from geneqn.run import Runner, demo_config
    from geneqn.run.common import sr_estimator

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cell-type", default="type B pancreatic cell")
    ap.add_argument("--architecture", default=None, help=f"default: the demo's ({ARCH}) or the run's")
    ap.add_argument("--config", default=None, help="a finished run's config (default: the demo)")
    ap.add_argument("--options", default=None, help="comma-separated prefixes of the rows to run (default: all)")
    args = ap.parse_args()
    rows = [o for o in OPTIONS if args.options is None
            or any(o[0].startswith(p.strip()) for p in args.options.split(","))]
    ct = args.cell_type
    if args.config:
        from geneqn.config import load_config

        cfg = load_config(args.config)
        ds = Runner(cfg).context().dataset()
        metrics = json.loads((Path(cfg.run.folder) / "nas" / "metrics.json").read_text())
        args.architecture = args.architecture or metrics[ct]["architecture_text"]
    else:
        with tempfile.TemporaryDirectory() as tmp:
            cfg = demo_config(Path(tmp) / "run")
            runner = Runner(cfg)
            runner.run(["targets", "tss", "features", "dataset"])
            ds = runner.context().dataset()
        args.architecture = args.architecture or ARCH
    (X, y), (Xv, yv), (Xt, yt) = (ds.xy(ct, p) for p in ("train", "valid", "test"))
    sr = sr_estimator(cfg)
    print(f"{ct}: {args.architecture}, budget (train {cfg.train.max_epochs} epochs, patience "
          f"{cfg.train.patience}, {cfg.search.retrain_seeds} seeds; SR {cfg.sr.max_evaluations:,} evaluations x "
          f"{cfg.sr.restarts} restarts, complexity <= {cfg.sr.complexity_limit}), seed {cfg.run.seed}")
    print(f"{'option':<30} {'net r':>6} {'eq r':>6} {'gap':>6} {'fidelity':>8} {'cplx':>5} {'s':>5}")
    nets = {}
    for name, distill_kw, train_kw in rows:
        t = time.perf_counter()
        key = tuple(sorted(train_kw.items()))
        if key not in nets:
            nets[key] = BottleneckRegressor(args.architecture, dropout=0.1, max_epochs=cfg.train.max_epochs,
                                            patience=cfg.train.patience, n_seeds=cfg.search.retrain_seeds,
                                            random_state=cfg.run.seed, **train_kw).fit(X, y, Xv, yv)
        net = nets[key]
        d = GenomicEquationDistiller(net, sr=sr, cell_type=ct, **{**PAPER, **distill_kw}).fit(X, y, Xv, yv)
        rn, re = pearson_r(yt, net.predict(Xt)), pearson_r(yt, d.predict(Xt))
        fid = float(np.mean(list(d.stage1_fidelity_.values())))
        print(f"{name:<30} {rn:6.3f} {re:6.3f} {rn - re:6.3f} {fid:8.3f} {d.equation_.complexity:5d} "
              f"{time.perf_counter() - t:5.0f}", flush=True)


if __name__ == "__main__":
    main()
