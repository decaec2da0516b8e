"""Planted equations through the whole CLI flow: do the network, direct SR and the distilled
genomic equation recover what was planted?

Each set plants an expression function of 40 class-like features (named as Sei's classes,
correlated like them), adds noise (r 0.995 between truth and data), writes an averaged
expression table, a BED of TSSs and a feature table, and runs `geneqn run` on them. It prints,
per set, Pearson r on the test genes against the noise-free truth of NAS|NN, direct SR and
SR(NAS|NN) (the run's distillation: geneqn's default, ``latent_targets="auto"``, keeps the
better of latent units and active directions on the valid genes), the complexity found against
the planted one, the features used, and the wall time. It also distils the run's searched network with ``latent_targets="gradient"`` (stage 1 fits the
network's active directions instead of its latent units; same data, SR settings and seed) and
prints that equation's r against the truth ("SR(NAS|NN) grad").

Sets:
* paper-direct: the paper's direct-SR equation (6 classes, PySR complexity 20);
* paper-composite: the paper's Appendix B SR(NAS|NN) gonadotrope equation (latents x0, x2, x4,
  x6 of 16 classes, composed into g), of 0.3 x the features;
* simple-5, simple-8, simple-12: small equations of known PySR complexity (counted by hand:
  ``0.5*E10 - P`` is sub, mul, 0.5, E10, P);
* composite: our own two-level function (two latents, a product and a decay).

    python benchmarks/bench_recovery.py [--sets paper-direct,composite] [--budget quick|default]
        [--sr-evaluations N] [--seeds N: direct SR's success rate over seeds] [--operators +,-,*,...]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from geneqn.features.seqclass import class_labels
from geneqn.sr.engines import parse_pysr
from geneqn.sr.expr import Expr

LABELS = class_labels()


def features(n: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    A = rng.normal(size=(40, 40)) * 0.25
    C = A @ A.T + np.eye(40)
    d = np.sqrt(np.diag(C))
    X = rng.normal(size=(n, 40)) @ np.linalg.cholesky(C / np.outer(d, d)).T
    return pd.DataFrame(X, columns=LABELS)


def paper_composite(X: pd.DataFrame) -> np.ndarray:
    """Appendix B, SR(NAS|NN): x0, x2, x4, x6 of the classes, then g."""
    c = X
    x0 = 0.174 * (c.TN4 + c.E10 - c.PC4 + c.HET5 - c.E11 - c.E12) - 0.174 * (c.P - 0.206) ** 2
    x2 = (c.PC3 ** 4 + c.TN1 - c.E10 ** 2) * (1.42 * c.L6 ** 2 - c.E10 ** 2 + 1.12 * c.E1)
    x4 = 0.114 * (c.E10 - c.TF4 - c.E12 + c.HET6 - np.exp(c.L1 - c.P - c.E10)) + 0.0819
    x6 = 0.0753 * c.L4 - 0.151 * c.PC3 - 0.0753 * c.HET2 - 0.0753 * (c.E10 + c.HET6 - np.exp(c.E6)) ** 2
    return (x0 + x6 + (-x4 - 0.450) * (-1.43 * x0 * np.exp(x0) + x2 + x6 + 0.0639)).to_numpy()


PLANTED = {
    "paper-direct": "0.193*((TF4 - 1.16)*(square(E10 - 0.725) + PC3 + L6) + L4 + HET6) - 0.0121",
    "simple-5": "0.5*E10 - P",
    "simple-8": "exp(0.5*(E10 - P))*TF4",
    "simple-12": "square(E10 - 0.5)*(TF4 + 1.2) - 0.8*P",
}


def truth_of(name: str, X: pd.DataFrame) -> tuple[np.ndarray, int | None]:
    if name in PLANTED:
        e = Expr.from_indexed(parse_pysr(PLANTED[name], LABELS), LABELS)
        from geneqn.sr.expr import evaluate

        return evaluate(e, X), e.complexity
    if name == "paper-composite":
        # at 0.3 x the features: its degree-6 terms make the truth a few outliers at sd 1
        # (kurtosis 1.1e4) and a well-spread target at sd 0.3 (kurtosis 0.57)
        return paper_composite(0.3 * X), None
    if name == "composite":
        z0 = X.E10 - X.P + 0.5 * X.TF4
        z1 = (X.HET6 - X.L4) ** 2
        return (np.tanh(z0) * np.exp(-0.5 * z1) + 0.3 * X.PC3).to_numpy(), None
    raise SystemExit(f"unknown set {name}")


BUDGETS = {
    "quick": {"search": {"trials": 16, "group_size": 8, "retrain_seeds": 2, "retrain_top": 2},
              "train": {"max_epochs": 60, "patience": 8}, "sr": {"max_evaluations": 200000}},
    "default": {},
}


def write_inputs(folder: Path, X: pd.DataFrame, y: np.ndarray) -> None:
    genes = [f"ENSG{i:011d}" for i in range(len(y))]
    # expression whose targets g are an affine map of y: log2(g0 + 0.001) = y scaled to [0, 12]
    g0 = 2.0 ** (12 * (y - y.min()) / (y.max() - y.min())) - 0.001
    pd.DataFrame({"gene": genes, "planted": g0}).to_csv(folder / "expression.csv", index=False)
    with open(folder / "tss.bed", "w") as fh:
        for i, g in enumerate(genes):
            fh.write(f"chr1\t{10_000 + 50_000 * i}\t{10_001 + 50_000 * i}\t{g}\t0\t+\n")
    X.assign(gene=genes)[["gene"] + LABELS].to_csv(folder / "features.csv", index=False)


def config(folder: Path, budget: dict) -> Path:
    import tomli_w

    cfg = {"run": {"folder": str(folder / "run"), "seed": 0},
           "expression": {"path": str(folder / "expression.csv")}, "annotation": {"path": str(folder / "tss.bed")},
           "features": {"provider": "table", "table": str(folder / "features.csv")},
           "sr": {"sweep": ["accuracy"]}}
    for section, values in budget.items():
        cfg.setdefault(section, {}).update(values)
    path = folder / "config.toml"
    path.write_text(tomli_w.dumps(cfg))
    return path


def r_truth(run: Path, model_dir: str, truth: pd.Series) -> float:
    """Pearson r of a model's test predictions with the noise-free truth (the test genes only:
    the predictions file holds every split)."""
    p = pd.read_parquet(run / model_dir / "predictions.parquet")
    p = p[p["split"] == "test"]
    return float(np.corrcoef(p["yhat"], truth.loc[p["gene"]])[0, 1])


def direct_seeds(cfg_path: Path, truth: pd.Series, n: int) -> None:
    """Direct SR with the run's settings and seeds 0..n-1: how often it recovers the planted
    equation (r >= 0.99 against the truth on the test genes) and with which complexity."""
    from geneqn.config import load_config
    from geneqn.run import Runner
    from geneqn.run.common import sr_estimator

    cfg = load_config(cfg_path)
    ds = Runner(cfg).context().dataset()
    (X, y), (Xt, _) = ds.xy("planted", "train"), ds.xy("planted", "test")
    hits, found = 0, []
    t = time.perf_counter()
    for seed in range(n):
        reg = sr_estimator(cfg).set_params(random_state=seed).fit(X, y)
        r = float(np.corrcoef(reg.predict(Xt), truth.loc[Xt.index])[0, 1])
        hits += r >= 0.99
        found.append(f"{r:.3f}/{reg.expr_.complexity}")
    print(f"  direct SR over {n} seeds ({cfg.sr.max_evaluations:,} evaluations, {cfg.sr.restarts} restarts): "
          f"{hits}/{n} reach r >= 0.99 with the truth (r/complexity: {', '.join(found)}; "
          f"{(time.perf_counter() - t) / n:.0f} s per fit)", flush=True)


def gradient_distillation(cfg_path: Path, truth: pd.Series) -> tuple[float, int]:
    """SR(NAS|NN) with latent_targets="gradient" on the run's network: (r vs truth on the test
    genes, composed complexity)."""
    from geneqn import BottleneckRegressor, GenomicEquationDistiller
    from geneqn.config import load_config
    from geneqn.run import Runner
    from geneqn.run.common import sr_estimator

    cfg = load_config(cfg_path)
    runner = Runner(cfg)
    ds = runner.context().dataset()
    (X, y), (Xv, yv), (Xt, _) = (ds.xy("planted", p) for p in ("train", "valid", "test"))
    net = BottleneckRegressor.load(runner.context().layout.network("nas", "planted"))
    d = GenomicEquationDistiller(net, sr=sr_estimator(cfg), latent_targets="gradient",
                                 cell_type="planted").fit(X, y, Xv, yv)
    return float(np.corrcoef(d.predict(Xt), truth.loc[Xt.index])[0, 1]), int(d.equation_.complexity)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sets", default="paper-direct,simple-5,simple-8,simple-12,composite,paper-composite")
    ap.add_argument("--budget", default="quick", choices=list(BUDGETS))
    ap.add_argument("--genes", type=int, default=12000)
    ap.add_argument("--keep", default=None, help="keep the run folders under this folder")
    ap.add_argument("--seeds", type=int, default=0,
                    help="also refit direct SR of each planted equation with this many seeds (success rate)")
    ap.add_argument("--sr-evaluations", type=int, default=None, help="sr.max_evaluations instead of the budget's")
    ap.add_argument("--operators", default=None,
                    help="sr.operators instead of the paper's seven, comma-separated (e.g. +,-,*,square,neg,exp,inv,tanh)")
    args = ap.parse_args()
    base = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="geneqn-recovery-"))
    rows = []
    for name in args.sets.split(","):
        folder = base / name
        folder.mkdir(parents=True, exist_ok=True)
        X = features(args.genes)
        truth, planted_c = truth_of(name, X)
        rng = np.random.default_rng(100)
        y = truth + 0.1 * truth.std() * rng.normal(size=len(truth))
        write_inputs(folder, X, y)
        budget = {k: dict(v) for k, v in BUDGETS[args.budget].items()}
        if args.sr_evaluations:
            budget.setdefault("sr", {})["max_evaluations"] = args.sr_evaluations
        if args.operators:
            budget.setdefault("sr", {})["operators"] = args.operators.split(",")
        cfg = config(folder, budget)
        t = time.perf_counter()
        stages = ["targets", "tss", "features", "dataset", "ridge", "search", "distill", "sr"]
        for st in stages:
            r = subprocess.run([sys.executable, "-m", "geneqn.cli", "run", str(cfg), "--until", st, "--quiet"],
                               capture_output=True, text=True, check=False)
            if r.returncode:
                raise SystemExit(r.stdout + r.stderr)
        wall = time.perf_counter() - t
        run = folder / "run"
        truth_s = pd.Series(truth, index=[f"ENSG{i:011d}" for i in range(len(truth))])
        eq = json.loads((run / "distill" / "equations.json").read_text())["planted"]
        sr = json.loads((run / "sr" / "metrics.json").read_text())["planted"]
        row = {"set": name, "NAS|NN r": r_truth(run, "nas", truth_s), "SR r": r_truth(run, "sr", truth_s),
               "SR(NAS|NN) r": r_truth(run, "distill", truth_s), "Ridge r": r_truth(run, "ridge", truth_s),
               "SR(NAS|NN) grad r": float("nan"),
               "planted complexity": planted_c, "SR complexity": sr["complexity"],
               "SR(NAS|NN) complexity": eq["complexity"], "SR(NAS|NN) grad complexity": 0,
               "SR features": ",".join(sr["features_used"]), "minutes": wall / 60}
        t = time.perf_counter()
        row["SR(NAS|NN) grad r"], row["SR(NAS|NN) grad complexity"] = gradient_distillation(cfg, truth_s)
        row["minutes"] += (time.perf_counter() - t) / 60
        rows.append(row)
        print(json.dumps(row), flush=True)
        if args.seeds and planted_c is not None:
            direct_seeds(cfg, truth_s, args.seeds)
    t = pd.DataFrame(rows)
    with pd.option_context("display.width", 200, "display.max_columns", 20, "display.float_format", "{:.3f}".format):
        print(t.to_string(index=False))
    print(f"run folders: {base}")


if __name__ == "__main__":
    main()
