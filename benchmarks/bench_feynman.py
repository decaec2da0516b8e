"""SRBench's ground-truth Feynman problems: geneqn's symbolic regression against pyoperon at equal
evaluation budgets.

The problems are the AI Feynman list (``feynman_problems.py`` records its source). Data are made
the SRBench way (La Cava et al. 2021): 10,000 points drawn uniformly in each variable's listed
range, a seeded 75/25 train/test split, and Gaussian noise on the target of sd ``noise`` x the
target's root mean square (0, 0.001, 0.01). Each engine gets the same evaluation budget and the
same operators; a result counts as

* an **accuracy solution** when R^2 on the test points is above 0.999;
* a **symbolic solution** when, with the returned equation simplified by sympy and its constants
  then rounded to 3 significant digits, the difference with the true formula simplifies (sympy) to a constant, or
  their ratio to a non-zero constant; each simplification has a time limit (``--check-seconds``).

geneqn's row is ``SymbolicRegressor`` with its defaults but for the complexity limit and the
operators; pyoperon's is ``pyoperon.sklearn.SymbolicRegressor`` with its defaults, the same
operators, ``max_length`` = the complexity limit + 5 (Operon counts a weighted variable as one
node) and its own model selection. Both use 2 threads. Results are appended as JSON lines to
``--out``, so an interrupted run resumes where it stopped.

    python benchmarks/bench_feynman.py --operators paper --sample 22          # a seeded sample
    python benchmarks/bench_feynman.py --operators paper --noise 0,0.001,0.01  # all 67 expressible
    python benchmarks/bench_feynman.py --operators all                         # all 100, new operators
    python benchmarks/bench_feynman.py --summary --out feynman.jsonl           # the table of a run
"""

from __future__ import annotations

import argparse
import contextlib
import json
import signal
import sys
import time
from pathlib import Path

import numpy as np
import sympy as sp

sys.path.insert(0, str(Path(__file__).parent))
from feynman_problems import PROBLEMS  # noqa: E402

from geneqn.sr.export import to_sympy  # noqa: E402
from geneqn.sr.operators import PAPER_OPERATORS  # noqa: E402
from geneqn.sr.regressor import SymbolicRegressor  # noqa: E402

OPERATOR_SETS = {
    "paper": list(PAPER_OPERATORS),
    "all": ["+", "-", "*", "/", "square", "cube", "neg", "inv", "exp", "log", "sqrt", "sin", "cos", "tanh"],
}
# Operon's names of the operators it has (no cube, neg or inv of its own: sub and div take one
# argument for -x and 1/x)
OPERON = {"+": "add", "-": "sub", "*": "mul", "/": "div", "inv": "div", "neg": "sub", "square": "square",
          "exp": "exp", "log": "log", "sqrt": "sqrt", "sin": "sin", "cos": "cos", "tanh": "tanh"}


def needs(truth) -> set[str]:
    """Functions of the variables that a formula needs beyond + - * / and integer powers."""
    out = set()
    for a in sp.preorder_traversal(truth):
        if not a.free_symbols:
            continue
        if isinstance(a, sp.Pow) and not a.exp.is_integer:
            out.add("sqrt" if abs(a.exp) == sp.Rational(1, 2) else "pow")
        elif isinstance(a, sp.Function):
            out.add({"asin": "asin"}.get(type(a).__name__, type(a).__name__))
    return out


def problems(operators: str) -> list[tuple]:
    """(index, name, ranges, truth) of the problems expressible with an operator set (the paper's
    seven: no roots, logs or trigonometry; all: every problem)."""
    out = []
    for i, (name, ranges, f) in enumerate(PROBLEMS):
        syms = sp.symbols(list(ranges), positive=True)
        truth = f(*syms)
        if operators == "paper" and needs(truth) - {"exp"}:
            continue
        out.append((i, name, ranges, truth))
    return out


def make_data(index: int, ranges: dict, truth, noise: float, seed: int):
    rng = np.random.default_rng(1000 * seed + index)
    n = 10_000
    X = np.column_stack([rng.uniform(lo, hi, n) for lo, hi in ranges.values()])
    f = sp.lambdify(sp.symbols(list(ranges), positive=True), truth, "numpy")
    y_true = np.asarray(f(*X.T), dtype=np.float64) * np.ones(n)
    y = y_true + noise * np.sqrt(np.mean(y_true ** 2)) * rng.normal(size=n)
    order = rng.permutation(n)
    tr, te = order[: 3 * n // 4], order[3 * n // 4:]
    return X[tr], y[tr], X[te], y[te], y_true[te]


def r2(y, yhat) -> float:
    yhat = np.asarray(yhat, dtype=np.float64)
    if not np.isfinite(yhat).all():
        return -np.inf
    return float(1 - np.sum((y - yhat) ** 2) / np.sum((y - y.mean()) ** 2))


class _Timeout(Exception):
    pass


@contextlib.contextmanager
def time_limit(seconds: float):
    def handler(signum, frame):
        raise _Timeout()

    old = signal.signal(signal.SIGALRM, handler)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def round_constants(e: sp.Expr) -> sp.Expr:
    """Every float of ``e`` to 3 significant digits."""
    reps = {a: sp.Float(float(f"{float(a):.3g}")) for a in e.atoms(sp.Float)}
    return e.xreplace(reps)


def is_symbolic_solution(model: sp.Expr, truth: sp.Expr, seconds: float) -> bool | None:
    """SRBench's test: (model - truth) or model / truth simplifies to a constant (the ratio not 0),
    constants rounded to 3 significant digits. None when every check ran out of time."""
    try:  # as SRBench: simplify first (combining constants such as 3.09*0.719/2.22), then round
        with time_limit(seconds):
            model = sp.simplify(model)
    except Exception:
        pass
    model = round_constants(model)
    timed_out = 0
    for kind in ("difference", "ratio"):
        try:
            with time_limit(seconds):
                e = sp.simplify(model - truth if kind == "difference" else model / truth)
        except _Timeout:
            timed_out += 1
            continue
        except Exception:  # sympy may fail on odd forms: not a solution
            continue
        if not e.free_symbols and (kind == "difference" or e != 0) and e.is_finite is not False:
            return True
    return None if timed_out == 2 else False


def run_geneqn(X, y, names, operators, args, seed):
    m = SymbolicRegressor(operators=operators, complexity_limit=args.complexity, max_evaluations=args.evaluations,
                          restarts=args.restarts, n_jobs=2, random_state=seed,
                          engine_options=json.loads(args.engine_options) if args.engine_options else None)
    import pandas as pd

    m.fit(pd.DataFrame(X, columns=names), y)
    return m.expr_, m.expr_.complexity


def run_operon(X, y, names, operators, args, seed):
    import warnings

    from pyoperon.sklearn import SymbolicRegressor as Operon

    from geneqn.sr.engines import operon_tokens
    from geneqn.sr.expr import Expr
    from geneqn.sr.operators import operator_codes

    symbols = sorted({OPERON[o] for o in operators if o in OPERON}) + ["constant", "variable"]
    model = Operon(allowed_symbols=",".join(symbols), max_length=args.complexity + 5,
                   max_evaluations=args.evaluations, random_state=seed, n_threads=2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(X, y)
    tokens = operon_tokens(model.model_, list(model.variables_), operator_codes(operators))
    e = Expr.from_indexed(tokens, names)
    return e, e.complexity


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--operators", choices=sorted(OPERATOR_SETS), default="paper",
                    help="paper: the 67 problems the paper's seven operators express; all: all 100")
    ap.add_argument("--noise", default="0", help="comma-separated noise levels (x the target's RMS)")
    ap.add_argument("--engines", default="geneqn,operon")
    ap.add_argument("--evaluations", type=int, default=400_000)
    ap.add_argument("--complexity", type=int, default=30)
    ap.add_argument("--restarts", type=int, default=16)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--sample", type=int, default=0, help="a seeded sample of this many problems (0: all)")
    ap.add_argument("--problems", default="", help="comma-separated names (default: the operator set's)")
    ap.add_argument("--check-seconds", type=float, default=10.0)
    ap.add_argument("--engine-options", default="", help="JSON of geneqn engine options (SymbolicRegressor's "
                    "engine_options), e.g. '{\"epochs\": 1}'")
    ap.add_argument("--out", default="feynman.jsonl")
    ap.add_argument("--summary", action="store_true", help="only print the table of --out")
    args = ap.parse_args(argv)

    out = Path(args.out)
    done = {}
    if out.exists():
        for line in out.read_text().splitlines():
            if line.strip():
                r = json.loads(line)
                done[(r["problem"], r["engine"], r["noise"], r["seed"], r["operators"], r["evaluations"])] = r
    if not args.summary:
        todo = problems(args.operators)
        if args.problems:
            wanted = set(args.problems.split(","))
            todo = [p for p in todo if p[1] in wanted]
        if args.sample:
            rng = np.random.default_rng(args.seed)
            todo = [todo[i] for i in sorted(rng.choice(len(todo), min(args.sample, len(todo)), replace=False))]
        operators = OPERATOR_SETS[args.operators]
        for noise in [float(v) for v in args.noise.split(",")]:
            for index, name, ranges, truth in todo:
                names = list(ranges)
                Xtr, ytr, Xte, yte, yte_true = make_data(index, ranges, truth, noise, args.seed)
                for engine in args.engines.split(","):
                    key = (name, engine, noise, args.seed, args.operators, args.evaluations)
                    if key in done:
                        continue
                    t0 = time.perf_counter()
                    fit = run_geneqn if engine == "geneqn" else run_operon
                    expr, complexity = fit(Xtr, ytr, names, operators, args, args.seed)
                    seconds = time.perf_counter() - t0
                    from geneqn.sr.expr import evaluate

                    pred = evaluate(expr, Xte, names)
                    syms = {s.name: s for s in sp.symbols(names, positive=True)}
                    model = to_sympy(expr).xreplace({sp.Symbol(k): v for k, v in syms.items()})
                    solved = is_symbolic_solution(model, truth, args.check_seconds)
                    row = {"problem": name, "engine": engine, "noise": noise, "seed": args.seed,
                           "operators": args.operators, "evaluations": args.evaluations,
                           "r2_test": r2(yte, pred), "r2_truth": r2(yte_true, pred), "symbolic": solved,
                           "complexity": complexity, "equation": str(expr), "seconds": round(seconds, 2),
                           "truth": str(truth), "needs": sorted(needs(truth))}
                    done[key] = row
                    with out.open("a") as fh:
                        fh.write(json.dumps(row) + "\n")
                    print(f"{name:10s} {engine:7s} noise {noise:<6g} R2 {row['r2_test']:.5f} "
                          f"symbolic {solved!s:5s} c{complexity:<3d} {seconds:6.1f} s  {row['equation'][:90]}",
                          flush=True)
    summarize(list(done.values()))
    return 0


def summarize(rows: list[dict]) -> None:
    import pandas as pd

    if not rows:
        print("no results")
        return
    df = pd.DataFrame(rows)
    df["accuracy"] = df["r2_test"] > 0.999
    df["symbolic"] = df["symbolic"].map(lambda v: v is True)   # None: the check ran out of time
    df["subset"] = np.where(df["needs"].apply(lambda n: not (set(n) - {"exp"})), "paper-expressible", "other")
    g = df.groupby(["operators", "evaluations", "noise", "subset", "engine"])
    t = g.agg(problems=("problem", "count"), symbolic=("symbolic", "sum"), accuracy=("accuracy", "sum"),
              median_seconds=("seconds", "median"))
    t["symbolic %"] = (100 * t.symbolic / t.problems).round(1)
    t["accuracy %"] = (100 * t.accuracy / t.problems).round(1)
    print(t.to_string())


if __name__ == "__main__":
    raise SystemExit(main())
