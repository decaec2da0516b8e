"""The headline figure of geneqn's symbolic regression: how often a planted law is found, over seeds.

Each set plants an equation of 40 class-like features (named and correlated like Sei's classes,
``bench_recovery.features``; 12,000 genes, noise at r 0.995 with the truth), splits the genes
72/8/20 (train/valid/test, seeded) and fits direct SR on the training genes, its equation chosen
on the valid genes, once per seed. A seed **succeeds** when the chosen equation reaches r >= 0.99
against the noise-free truth on the test genes *and* uses exactly the planted variables. pyoperon
runs on the same data at an equal evaluation budget (its own model selection; Operon's
``max_length`` = the limit + 5, since it counts a weighted variable as one node) for the
side-by-side figure. Results are appended as JSON lines to ``--out`` (resumable).

    python benchmarks/bench_sr_success.py --sets paper-direct --seeds 20          # the issue's goal
    python benchmarks/bench_sr_success.py --sets simple-5,simple-8,simple-12 --seeds 10
    python benchmarks/bench_sr_success.py --summary --out sr_success.jsonl
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).parent))
from bench_recovery import LABELS, PLANTED, features, truth_of  # noqa: E402

from geneqn.sr.expr import Expr, evaluate  # noqa: E402
from geneqn.sr.regressor import SymbolicRegressor  # noqa: E402


def planted_data(name: str, genes: int = 12_000):
    X = features(genes)
    truth, complexity = truth_of(name, X)
    y = truth + 0.1 * truth.std() * np.random.default_rng(100).normal(size=len(truth))
    order = np.random.default_rng(0).permutation(len(y))
    n_tr, n_va = int(0.72 * genes), int(0.08 * genes)
    parts = order[:n_tr], order[n_tr:n_tr + n_va], order[n_tr + n_va:]
    return X, y, truth, complexity, parts


def fit_geneqn(X, y, Xv, yv, seed, args):
    m = SymbolicRegressor(max_evaluations=args.evaluations, restarts=args.restarts, n_jobs=args.n_jobs,
                          random_state=seed, complexity_limit=args.complexity)
    m.fit(X, y, Xv, yv)
    return m.expr_, m.search_stats_["evaluations"]


def fit_operon(X, y, Xv, yv, seed, args):
    import warnings

    from pyoperon.sklearn import SymbolicRegressor as Operon

    from geneqn.sr.engines import operon_tokens
    from geneqn.sr.operators import PAPER_OPERATORS, operator_codes

    model = Operon(allowed_symbols="add,sub,mul,div,square,exp,constant,variable", max_length=args.complexity + 5,
                   max_evaluations=args.evaluations, random_state=seed, n_threads=max(1, args.n_jobs))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(np.vstack([X, Xv]), np.concatenate([y, yv]))
    tokens = operon_tokens(model.model_, list(model.variables_), operator_codes(PAPER_OPERATORS))
    return Expr.from_indexed(tokens, list(X.columns)), int(model.stats_.get("evaluation_count", 0))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sets", default="paper-direct")
    ap.add_argument("--seeds", type=int, default=20)
    ap.add_argument("--engines", default="geneqn")
    ap.add_argument("--evaluations", type=int, default=400_000)
    ap.add_argument("--restarts", type=int, default=16)
    ap.add_argument("--complexity", type=int, default=20)
    ap.add_argument("--n-jobs", type=int, default=2)
    ap.add_argument("--out", default="sr_success.jsonl")
    ap.add_argument("--summary", action="store_true")
    args = ap.parse_args(argv)
    out = Path(args.out)
    rows = [json.loads(line) for line in out.read_text().splitlines() if line.strip()] if out.exists() else []
    done = {(r["set"], r["engine"], r["seed"], r["evaluations"]) for r in rows}
    if not args.summary:
        for name in args.sets.split(","):
            X, y, truth, _, (tr, va, te) = planted_data(name)
            planted = set(Expr.parse(PLANTED[name], LABELS).variables)
            for engine in args.engines.split(","):
                for seed in range(args.seeds):
                    if (name, engine, seed, args.evaluations) in done:
                        continue
                    t0 = time.perf_counter()
                    fit = fit_geneqn if engine == "geneqn" else fit_operon
                    expr, evaluations = fit(X.iloc[tr], y[tr], X.iloc[va], y[va], seed, args)
                    seconds = time.perf_counter() - t0
                    r = float(np.corrcoef(evaluate(expr, X.iloc[te]), truth[te])[0, 1])
                    row = {"set": name, "engine": engine, "seed": seed, "evaluations": args.evaluations,
                           "r_truth": r, "planted_variables": set(expr.variables) == planted,
                           "success": bool(r >= 0.99 and set(expr.variables) == planted),
                           "complexity": expr.complexity, "equation": str(expr), "seconds": round(seconds, 1),
                           "evaluations_used": evaluations}
                    rows.append(row)
                    with out.open("a") as fh:
                        fh.write(json.dumps(row) + "\n")
                    print(f"{name} {engine} seed {seed:2d}: r {r:.4f} {'ok ' if row['planted_variables'] else 'BAD'} "
                          f"c {expr.complexity:2d} {seconds:6.1f} s {'SUCCESS' if row['success'] else 'miss'}  "
                          f"{row['equation'][:100]}", flush=True)
    if rows:
        df = pd.DataFrame(rows)
        t = df.groupby(["set", "evaluations", "engine"]).agg(
            seeds=("seed", "count"), successes=("success", "sum"), median_r=("r_truth", "median"),
            median_seconds=("seconds", "median"))
        print(t.to_string())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
