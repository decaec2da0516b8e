"""Symbolic regression, side by side in one run:

1. the wall time of a full two-stage distillation on the demo data with the default [sr] budget
   (2 processes), for a network with 8 latent units (goal: under 10 minutes on 2 cores), with
   SR(NAS|NN)'s and the network's test r;
2. on a planted 17,000 x 40 problem (y = exp(0.8 x0) - 1.5 x1 x2 + noise), the time to reach
   test R^2 >= 0.99 with pyoperon and with gplearn (pip install gplearn, or '.[bench]'),
   doubling each engine's generations until it gets there.

    python benchmarks/bench_sr.py [--skip-distill] [--skip-planted]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np


def r2(y, yhat) -> float:
    return float(1 - np.sum((y - yhat) ** 2) / np.sum((y - y.mean()) ** 2))


def planted(n, seed):
    rng = np.random.default_rng(seed)
    X = rng.uniform(-1, 1, size=(n, 40))
    y = np.exp(0.8 * X[:, 0]) - 1.5 * X[:, 1] * X[:, 2]
    return X, y + 0.01 * y.std() * rng.normal(size=n)


def time_to_r2(fit_predict, budgets, X, y, Xt, yt, target=0.99):
    total = 0.0
    for b in budgets:
        t = time.perf_counter()
        yhat = fit_predict(b, X, y, Xt)
        dt = time.perf_counter() - t
        total += dt
        score = r2(yt, yhat)
        print(f"    budget {b:>4}: test R^2 {score:.4f} in {dt:6.1f} s")
        if score >= target:
            return dt, b, score
    return None, budgets[-1], score


def operon_fit(generations, X, y, Xt):
    from geneqn.sr.backend import SymbolicRegressor

    m = SymbolicRegressor(generations=generations, max_evaluations=10 ** 9, population_size=500,
                          random_state=0).fit(X, y)
    return m.predict(Xt)


def gplearn_fit(generations, X, y, Xt):
    from gplearn.functions import make_function
    from gplearn.genetic import SymbolicRegressor as GP

    exp = make_function(function=lambda x: np.exp(np.clip(x, -50, 50)), name="exp", arity=1)
    square = make_function(function=lambda x: x * x, name="square", arity=1)
    m = GP(population_size=1000, generations=generations, function_set=("add", "sub", "mul", "neg", "inv", exp, square),
           parsimony_coefficient=0.001, random_state=0, n_jobs=1)
    m.fit(X, y)
    return m.predict(Xt)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--skip-distill", action="store_true")
    ap.add_argument("--skip-planted", action="store_true")
    args = ap.parse_args()
    if not args.skip_distill:
        from geneqn.evaluate import pearson_r
        from geneqn.nas.space import parse_architecture
        from geneqn.nas.train import TrainData, train_best
        from geneqn.pipeline import Run, config_replace, demo_config, load_dataset, run_all, sr_settings
        from geneqn.sr.distill import distill

        with tempfile.TemporaryDirectory() as tmp:
            cfg = demo_config(Path(tmp) / "run", quick=False)
            run_all(cfg, ["targets", "tss", "features", "dataset"])
            ds = load_dataset(Run(cfg))
            ct = "type B pancreatic cell"
            arch = parse_architecture(["64-gelu", "32-gelu", "64-gelu", "8-tanh", "64-relu", "64-gelu", "64-tanh"], 3, 0.1)
            net, _, _ = train_best(arch, TrainData.from_dataset(ds, ct), [0], max_epochs=60, patience=5)
            tr, te = ds.arrays(ct, "train"), ds.arrays(ct, "test")
            s = sr_settings(config_replace(cfg, sr={"n_jobs": 2}))
            t = time.perf_counter()
            d = distill(net, tr.X, tr.y, ds.feature_names, s, seed=0, cell_type=ct)
            dt = time.perf_counter() - t
            print(f"full distillation, default budget (population {s.population_size}, {s.generations} generations, "
                  f"{s.max_evaluations:,} evaluations per fit), 8 latent units, {len(tr.y):,} genes, 2 processes: "
                  f"{dt / 60:.1f} min (goal < 10 min)")
            print(f"  network test r {pearson_r(te.y, net.predict(te.X)):.3f}; SR(NAS|NN) test r "
                  f"{pearson_r(te.y, d.equation.predict(te.X)):.3f}; complexity {d.equation.complexity}; "
                  f"classes {', '.join(d.equation.sequence_classes)}")
    if not args.skip_planted:
        X, y = planted(17_000, 0)
        Xt, yt = planted(5_000, 1)
        print("planted 17,000 x 40: time to test R^2 >= 0.99 (the fit that first reached it)")
        print("  pyoperon (generations):")
        op = time_to_r2(operon_fit, [10, 20, 40, 80, 160], X, y, Xt, yt)
        try:
            import gplearn  # noqa: F401
        except ImportError:
            print("  gplearn: not installed (pip install gplearn)")
            return
        print("  gplearn (generations):")
        gp = time_to_r2(gplearn_fit, [10, 20, 40, 80, 160, 320], X, y, Xt, yt)
        fmt = lambda r: f"{r[0]:.1f} s at budget {r[1]}" if r[0] is not None else f"not reached (R^2 {r[2]:.3f} at budget {r[1]})"  # noqa: E731
        print(f"  pyoperon: {fmt(op)}")
        print(f"  gplearn:  {fmt(gp)}")
        if op[0] is not None and gp[0] is not None:
            print(f"  ratio gplearn / pyoperon: {gp[0] / op[0]:.1f}x")


if __name__ == "__main__":
    main()
