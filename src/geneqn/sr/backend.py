"""Symbolic regression with one interface over two engines.

:class:`SymbolicRegressor` (scikit-learn style) searches equations over the operators
{+, -, *, square, neg, exp, inv} and returns, like PySR, a Pareto table ``equations_`` with
columns ``complexity`` (measured by geneqn on the sympy expression, the PySR way, for both
engines), ``loss`` (MSE on the fitted data), ``score`` (-d log(loss) / d complexity between
neighbouring rows) and ``sympy_format``; ``selection`` picks a row: ``accuracy`` (lowest loss,
the paper's choice) or ``best`` (PySR's: highest score among rows with loss <= 1.5 x the lowest).

Engines:

* ``operon`` (default; pyoperon, C++): NSGA-II over (R^2, length) so the whole Pareto front comes
  back; Operon has no neg or inv node, so they map to sub and div; its leaves carry weights, so
  its length is not our complexity. Constants are tuned by Levenberg-Marquardt
  (``optimizer_iterations``; Operon's default of 0 leaves them untuned). One thread and a seed:
  the same seed gives the same equations.
* ``pysr`` (optional): used only when ``import pysr`` works (it needs Julia).

Every candidate is cleaned before it enters the table: factors of 1.0 dropped and additive terms
whose removal moves predictions by at most ``clean_tolerance`` x std(y) pruned.
"""

from __future__ import annotations

import logging
import math
import warnings

import numpy as np
import pandas as pd
import sympy as sp

from geneqn.errors import GeneqnError
from geneqn.sr.expr import complexity, evaluate, fold_constants, prune

log = logging.getLogger(__name__)

OPERATORS = ("+", "-", "*", "square", "neg", "exp", "inv")
_OPERON = {"+": "add", "-": "sub", "*": "mul", "square": "square", "neg": "sub", "exp": "exp", "inv": "div"}
_PYSR_BINARY = {"+": "+", "-": "-", "*": "*"}
_PYSR_UNARY = {"square": "square", "neg": "neg", "exp": "exp", "inv": "inv(x) = 1/x"}


def check_operators(operators) -> list[str]:
    unknown = [o for o in operators if o not in OPERATORS]
    if unknown:
        raise GeneqnError(f"config: sr.operators: unknown operator(s) {', '.join(map(repr, unknown))}; the operators are "
                          f"{', '.join(OPERATORS)}.")
    return list(operators)


def pysr_available() -> bool:
    try:
        import pysr  # noqa: F401
    except Exception:
        return False
    return True


def _operon_candidates(X, y, names, operators, limit, seed, budget) -> list[sp.Expr]:
    from pyoperon.sklearn import SymbolicRegressor as Operon

    symbols = sorted({_OPERON[o] for o in operators}) + ["constant", "variable"]
    model = Operon(allowed_symbols=",".join(symbols), objectives=["r2", "length"], max_length=limit,
                   max_depth=10, population_size=budget["population_size"], generations=budget["generations"],
                   max_evaluations=budget["max_evaluations"], optimizer_iterations=budget["optimizer_iterations"],
                   random_state=seed, n_threads=1)
    model.fit(X, y)
    out = []
    for p in model.pareto_front_:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "Model contains no variables" for constant models
            text = model.get_model_string(p["tree"], precision=12).replace("^", "**")
        # Operon names variables X1..Xn; names are mapped back to ours
        for i in range(len(names), 0, -1):
            text = text.replace(f"X{i}", f"__v{i}__")
        try:
            e = sp.parse_expr(text, local_dict={f"__v{i + 1}__": sp.Symbol(n) for i, n in enumerate(names)},
                              evaluate=True)
        except (sp.SympifyError, SyntaxError, TypeError) as err:  # pragma: no cover - defensive
            log.debug("unparsable Operon model %r: %s", text, err)
            continue
        out.append(e)
    return out


def _pysr_candidates(X, y, names, operators, limit, seed, budget) -> list[sp.Expr]:
    if not pysr_available():
        raise GeneqnError("the PySR engine was asked for, but `import pysr` fails here. Install Julia and "
                          "PySR (pip install pysr; python -c 'import pysr' installs its Julia packages), "
                          "or use the default engine: sr.engine = \"operon\".")
    from pysr import PySRRegressor

    safe = [f"x{i}" for i in range(len(names))]
    model = PySRRegressor(
        binary_operators=[_PYSR_BINARY[o] for o in operators if o in _PYSR_BINARY],
        unary_operators=[_PYSR_UNARY[o] for o in operators if o in _PYSR_UNARY],
        extra_sympy_mappings={"inv": lambda x: 1 / x}, maxsize=limit,
        niterations=budget["generations"], population_size=min(budget["population_size"], 1000),
        random_state=seed, deterministic=True, parallelism="serial", progress=False, verbosity=0)
    model.fit(X, y, variable_names=safe)
    back = {sp.Symbol(s): sp.Symbol(n) for s, n in zip(safe, names)}
    return [sp.sympify(e).xreplace(back) for e in model.equations_["sympy_format"]]


ENGINES = {"operon": _operon_candidates, "pysr": _pysr_candidates}


def linear_candidates(X: np.ndarray, y: np.ndarray, names: list[str]) -> list[sp.Expr]:
    """The best one-feature fits ``a*x`` and ``a*x + b`` (complexity 3 and 5), by least squares.

    Engines seldom keep such small equations on their fronts; adding them makes the low end of
    the Pareto table (and the complexity sweep's small limits) exact.
    """
    yc = y - y.mean()
    best_affine, best_prop = None, None
    for i, n in enumerate(names):
        x = X[:, i]
        xc = x - x.mean()
        sxx = float(xc @ xc)
        if sxx > 0:
            a = float(xc @ yc) / sxx
            sse = float(((yc - a * xc) ** 2).sum())
            if best_affine is None or sse < best_affine[0]:
                best_affine = (sse, a * sp.Symbol(n) + float(y.mean() - a * x.mean()))
        xx = float(x @ x)
        if xx > 0:
            a = float(x @ y) / xx
            sse = float(((y - a * x) ** 2).sum())
            if best_prop is None or sse < best_prop[0]:
                best_prop = (sse, a * sp.Symbol(n))
    return [b[1] for b in (best_affine, best_prop) if b is not None]


def pareto_table(candidates: list[sp.Expr], X: np.ndarray, y: np.ndarray, names: list[str],
                 limit: int, clean_tolerance: float = 1e-3) -> pd.DataFrame:
    """Clean candidates, measure them, keep those within ``limit`` on the Pareto front."""
    tol = clean_tolerance * float(np.std(y) or 1.0)
    rows = []
    const = float(np.mean(y))
    candidates = list(candidates) + [sp.Float(const)]  # the constant model anchors the front
    seen = set()
    for e in candidates:
        e = fold_constants(e)
        if e.free_symbols:
            e = prune(e, X, names, tol)
        if e in seen:
            continue
        seen.add(e)
        c = complexity(e)
        if c > limit:
            continue
        pred = evaluate(e, X, names)
        loss = float(np.mean((pred - y) ** 2))
        if not math.isfinite(loss):
            continue
        rows.append((c, loss, e))
    rows.sort(key=lambda r: (r[0], r[1]))
    front, best = [], math.inf
    for c, loss, e in rows:
        if loss < best * (1 - 1e-12):
            front.append((c, loss, e))
            best = loss
    table = pd.DataFrame(front, columns=["complexity", "loss", "sympy_format"])
    scores = [0.0]
    for i in range(1, len(table)):
        dl = math.log(max(table.loss[i], 1e-300)) - math.log(max(table.loss[i - 1], 1e-300))
        scores.append(-dl / (table.complexity[i] - table.complexity[i - 1]))
    table["score"] = scores
    table["equation"] = [str(e) for e in table["sympy_format"]]
    return table[["complexity", "loss", "score", "equation", "sympy_format"]]


def select(table: pd.DataFrame, selection: str | int = "accuracy") -> int:
    """Row index chosen by ``accuracy`` (lowest loss), ``best`` (PySR's rule) or an int limit."""
    if len(table) == 0:
        raise GeneqnError("symbolic regression found no equation within the complexity limit.")
    if isinstance(selection, (int, np.integer)) or (isinstance(selection, str) and selection.isdigit()):
        within = table[table.complexity <= int(selection)]
        if len(within) == 0:
            within = table.iloc[:1]
        return int(within.loss.idxmin())
    if selection == "accuracy":
        return int(table.loss.idxmin())
    if selection == "best":
        ok = table[table.loss <= 1.5 * table.loss.min()]
        return int(ok.score.idxmax())
    raise GeneqnError(f"unknown selection {selection!r}; use accuracy, best or a complexity limit.")


class SymbolicRegressor:
    """Symbolic regression over {+, -, *, square, neg, exp, inv}; scikit-learn style.

    After ``fit``: ``equations_`` (the Pareto table), ``selected_`` (row index), ``expr_`` (the
    chosen sympy expression), ``feature_names_in_``.
    """

    def __init__(self, engine: str = "operon", operators=OPERATORS, complexity_limit: int = 20,
                 selection: str = "accuracy", population_size: int = 500, generations: int = 100,
                 max_evaluations: int = 100_000, optimizer_iterations: int = 10,
                 clean_tolerance: float = 1e-3, random_state: int = 0):
        self.engine = engine
        self.operators = operators
        self.complexity_limit = complexity_limit
        self.selection = selection
        self.population_size = population_size
        self.generations = generations
        self.max_evaluations = max_evaluations
        self.optimizer_iterations = optimizer_iterations
        self.clean_tolerance = clean_tolerance
        self.random_state = random_state

    def fit(self, X: np.ndarray, y: np.ndarray, feature_names: list[str] | None = None) -> "SymbolicRegressor":
        X = np.asarray(X, dtype=np.float64)
        y = np.asarray(y, dtype=np.float64).ravel()
        if X.ndim != 2 or len(X) != len(y):
            raise ValueError(f"fit: X must be (n, d) and y (n,), got {X.shape} and {y.shape}")
        if not (np.isfinite(X).all() and np.isfinite(y).all()):
            raise GeneqnError("symbolic regression: the inputs hold NaN or infinite values; clean the "
                              "features (or targets) first.")
        if self.engine not in ENGINES:
            raise GeneqnError(f"unknown SR engine {self.engine!r}; use operon or pysr.")
        ops = check_operators(self.operators)
        names = list(feature_names) if feature_names is not None else [f"x{i}" for i in range(X.shape[1])]
        budget = {"population_size": self.population_size, "generations": self.generations,
                  "max_evaluations": self.max_evaluations, "optimizer_iterations": self.optimizer_iterations}
        if np.ptp(y) == 0:
            candidates = []
        else:
            candidates = ENGINES[self.engine](X, y, names, ops, self.complexity_limit, self.random_state, budget)
        self.feature_names_in_ = names
        candidates = list(candidates) + linear_candidates(X, y, names)
        self.equations_ = pareto_table(candidates, X, y, names, self.complexity_limit, self.clean_tolerance)
        self.selected_ = select(self.equations_, self.selection)
        self.expr_ = self.equations_.sympy_format[self.selected_]
        return self

    def predict(self, X: np.ndarray) -> np.ndarray:
        return evaluate(self.expr_, np.asarray(X, dtype=np.float64), self.feature_names_in_)

    def sympy(self) -> sp.Expr:
        return self.expr_

    def latex(self) -> str:
        from geneqn.sr.expr import round_for_display

        return sp.latex(round_for_display(self.expr_))
