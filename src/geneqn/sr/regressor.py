"""The symbolic regressor: a scikit-learn estimator whose result is a PySR-style Pareto table.

>>> from geneqn import SymbolicRegressor                        # doctest: +SKIP
>>> sr = SymbolicRegressor(max_evaluations=50_000).fit(X, y)   # doctest: +SKIP
>>> sr.equations_[["complexity", "loss", "equation"]]           # doctest: +SKIP
>>> sr.latex(), sr.sympy(), sr.pytorch()                         # doctest: +SKIP

After ``fit``: ``equations_`` (one row per complexity on the Pareto front: ``complexity``,
``loss`` (MSE on the fitted genes), ``score`` (PySR's: -d log(loss) / d complexity), ``equation``
(readable text), ``expr`` (the :class:`~geneqn.sr.expr.Expr` tree that was counted) and
``sympy_format``), ``selected_`` (row chosen by ``selection``), ``expr_``, ``n_features_in_``,
``feature_names_in_`` and ``search_stats_``.
"""

from __future__ import annotations

import logging
import math
from typing import Sequence

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.utils.validation import check_is_fitted, validate_data

from geneqn._parallel import parallel_map
from geneqn.errors import GeneqnError
from geneqn.sr.engines import ENGINES, Candidates, SearchJob, run_job
from geneqn.sr.expr import (ADD, CONST, MUL, Expr, evaluate_tokens, operator_codes,
                            simplify_tokens, subtree_end)
from geneqn.sr.search import fit_constants

log = logging.getLogger(__name__)

OPERATORS = ("+", "-", "*", "square", "neg", "exp", "inv")
SELECTIONS = ("accuracy", "best")


class SymbolicRegressor(RegressorMixin, BaseEstimator):
    """Symbolic regression over {+, -, *, square, neg, exp, inv} with PySR's complexity.

    Parameters
    ----------
    engine : "geneqn" (default; PySR's regularized evolution over exactly the counted space),
        "operon" (pyoperon) or "pysr" (only where ``import pysr`` works).
    operators : the operators allowed (the paper's seven by default).
    complexity_limit : largest complexity kept (PySR's count: every operator, variable and
        constant counts 1; the paper's 20).
    selection : "accuracy" (lowest loss; the paper's), "best" (PySR's: highest score among
        equations with loss <= 1.5 x the lowest) or an integer complexity limit.
    max_evaluations : search budget of a fit, in tree evaluations, shared by the restarts.
    restarts : independent seeded searches whose fronts are merged.
    max_samples : search on at most this many rows (a seeded subsample; 0: all); constants are
        refitted and the table scored on all rows.
    n_jobs : processes for the restarts (0: one per CPU core). Results do not depend on it.
    random_state : seed; the same seed gives the same table.
    engine_options : extra settings of the engine (see :class:`geneqn.sr.search.SearchSettings`;
        for operon: population_size, generations, optimizer_iterations, max_length).
    """

    def __init__(self, engine: str = "geneqn", operators: Sequence[str] = OPERATORS, complexity_limit: int = 20,
                 selection="accuracy", max_evaluations: int = 400_000, restarts: int = 4,
                 max_samples: int = 3000, n_jobs: int = 1, random_state: int = 0,
                 engine_options: dict | None = None):
        self.engine = engine
        self.operators = operators
        self.complexity_limit = complexity_limit
        self.selection = selection
        self.max_evaluations = max_evaluations
        self.restarts = restarts
        self.max_samples = max_samples
        self.n_jobs = n_jobs
        self.random_state = random_state
        self.engine_options = engine_options

    # ------------------------------------------------------------------ sklearn
    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = False
        return tags

    def _validate_params(self) -> None:
        if self.engine not in ENGINES:
            raise ValueError(f"engine must be one of {', '.join(ENGINES)}, got {self.engine!r}")
        try:
            operator_codes(self.operators)
        except GeneqnError as e:
            raise ValueError(str(e)) from None
        for name in ("complexity_limit", "max_evaluations", "restarts"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
                raise ValueError(f"{name} must be a positive integer, got {v!r}")
        if self.complexity_limit < 3 and self.engine == "geneqn":
            raise ValueError("complexity_limit must be at least 3 (a scaled variable, a*x, has complexity 3)")
        if isinstance(self.max_samples, bool) or not isinstance(self.max_samples, (int, np.integer)) \
                or self.max_samples < 0:
            raise ValueError(f"max_samples must be 0 (all rows) or a positive integer, got {self.max_samples!r}")
        _check_selection(self.selection)

    # ------------------------------------------------------------------ fitting
    def fit(self, X, y, variable_weights=None) -> "SymbolicRegressor":
        """Search equations of ``y`` in the columns of ``X`` (array or DataFrame).

        ``variable_weights``: optional weight per feature for drawing variables (the geneqn
        engine; e.g. a network's sensitivities). Returns self.
        """
        jobs = self.search_jobs(X, y, variable_weights)
        results = parallel_map(run_job, jobs, self.n_jobs, description="symbolic regression")
        return self.finish(results)

    def search_jobs(self, X, y, variable_weights=None) -> list[SearchJob]:
        """Validate the data and return the search jobs of a fit (for running many fits' jobs in
        one process pool; complete the fit with :meth:`finish`)."""
        self._validate_params()
        X, y = validate_data(self, X, y, y_numeric=True, dtype=np.float64)
        if len(y) < 3:
            raise ValueError(f"symbolic regression needs at least 3 samples (n_samples = {len(y)})")
        self._X, self._y = X, y
        names = list(getattr(self, "feature_names_in_", [f"x{i}" for i in range(X.shape[1])]))
        self._names = [str(n) for n in names]
        rng = np.random.default_rng(self.random_state)
        if self.max_samples and len(y) > self.max_samples:
            rows = np.sort(rng.choice(len(y), self.max_samples, replace=False))
        else:
            rows = np.arange(len(y))
        prior = None
        if variable_weights is not None:
            prior = np.asarray(variable_weights, dtype=np.float64).ravel()
            if prior.shape != (X.shape[1],) or not np.isfinite(prior).all() or (prior < 0).any():
                raise ValueError(f"variable_weights must hold {X.shape[1]} finite non-negative numbers")
        ops = operator_codes(self.operators)
        if np.ptp(y) == 0:
            return []
        per = max(1, self.max_evaluations // self.restarts)
        return [SearchJob(self.engine, X[rows], y[rows], ops, self.complexity_limit, per,
                          int(self.random_state) * 1000 + k, dict(self.engine_options or {}), prior)
                for k in range(self.restarts)]

    def finish(self, results: list[Candidates]) -> "SymbolicRegressor":
        X, y, names = self._X, self._y, self._names
        del self._X, self._y, self._names
        columns = [X[:, j] for j in range(X.shape[1])]
        models: list[tuple] = []
        for cand in results:
            for t in cand.trees:
                models.extend(_models_of(t, cand.scaled, columns, y))
        models.extend(_baseline_models(columns, y))
        self.equations_ = pareto_table(models, columns, y, names, self.complexity_limit)
        self.selected_ = select(self.equations_, self.selection)
        self.expr_ = self.equations_.expr[self.selected_]
        self.search_stats_ = {
            "engine": self.engine, "restarts": len(results),
            "evaluations": int(sum(c.evaluations for c in results)),
            "engine_front": int(sum(c.front_size for c in results)),
            "engine_front_within_limit": int(sum(c.within_limit for c in results)),
        }
        return self

    # ------------------------------------------------------------------ results
    def _row(self, index):
        check_is_fitted(self, "equations_")
        if index is None:
            return self.selected_
        if not 0 <= index < len(self.equations_):
            raise IndexError(f"index {index} is outside the {len(self.equations_)} equations")
        return index

    def predict(self, X, index: int | None = None) -> np.ndarray:
        """Values of the selected equation (or row ``index`` of ``equations_``)."""
        check_is_fitted(self, "equations_")
        X = validate_data(self, X, reset=False, dtype=np.float64)
        expr = self.equations_.expr[self._row(index)]
        names = [str(n) for n in getattr(self, "feature_names_in_", [f"x{i}" for i in range(X.shape[1])])]
        return _values(expr.indexed(names), [X[:, j] for j in range(X.shape[1])], len(X))

    def sympy(self, index: int | None = None):
        from geneqn.sr.expr import to_sympy

        return to_sympy(self.equations_.expr[self._row(index)])

    def latex(self, index: int | None = None, digits: int = 3) -> str:
        from geneqn.sr.expr import to_latex

        return to_latex(self.equations_.expr[self._row(index)], digits)

    def pytorch(self, index: int | None = None):
        """A torch module computing the equation from a (n, n_features) tensor."""
        from geneqn.sr.expr import to_torch

        names = [str(n) for n in getattr(self, "feature_names_in_", [f"x{i}" for i in range(self.n_features_in_)])]
        return to_torch(self.equations_.expr[self._row(index)], names)


# ---------------------------------------------------------------------- the table

def _values(tokens, columns, n) -> np.ndarray:
    out = evaluate_tokens(tokens, columns)
    return np.broadcast_to(np.asarray(out, dtype=np.float64), (n,)).copy()


def _scaled(tokens, a: float, b: float) -> tuple:
    """Tokens of a*f + b."""
    return ((ADD, None), (MUL, None), (CONST, a)) + tuple(tokens) + ((CONST, b),)


def _models_of(tokens, scaled: bool, columns, y) -> list[tuple]:
    """Complete models from one candidate, their constants fitted on all rows: for a tree f,
    a*f + b and the cheaper a*f, f + b and f; a complete model as it is."""
    out = []
    if scaled:
        t = tokens
        if any(op == CONST for op, _ in t):
            t2, _, sse = fit_constants(t, columns, y, iterations=20, scale=False)
            if sse is not None:
                t = t2
        out.append(t)
        return out
    f, ab, sse = fit_constants(tokens, columns, y, iterations=20, scale=True)
    if sse is None:
        return out
    a, b = ab
    out.append(_scaled(f, a, b))
    fv = _values(f, columns, len(y))
    if np.isfinite(fv).all():
        xx = float(fv @ fv)
        if xx > 0:
            out.append(((MUL, None), (CONST, float(fv @ y) / xx)) + tuple(f))          # a*f
        out.append(((ADD, None),) + tuple(f) + ((CONST, float(np.mean(y - fv))),))    # f + b
        out.append(tuple(f))                                                          # f
    return out


def _baseline_models(columns, y) -> list[tuple]:
    """The constant model and the best single-feature fits a*x and a*x + b: the low end of the
    front, exact."""
    from geneqn.sr.expr import VAR

    out = [((CONST, float(np.mean(y))),)]
    yc = y - y.mean()
    best_affine = best_prop = None
    for j, x in enumerate(columns):
        xc = x - x.mean()
        sxx = float(xc @ xc)
        if sxx > 0:
            a = float(xc @ yc) / sxx
            sse = float(((yc - a * xc) ** 2).sum())
            if best_affine is None or sse < best_affine[0]:
                best_affine = (sse, _scaled(((VAR, j),), a, float(y.mean() - a * x.mean())))
        xx = float(x @ x)
        if xx > 0:
            a = float(x @ y) / xx
            sse = float(((y - a * x) ** 2).sum())
            if best_prop is None or sse < best_prop[0]:
                best_prop = (sse, ((MUL, None), (CONST, a), (VAR, j)))
    out += [b[1] for b in (best_affine, best_prop) if b is not None]
    return out


def tidy(tokens) -> tuple:
    """Simplify, then write constants the readable way round (``x - 0.5`` rather than
    ``x + -0.5``; ``0.5*x`` rather than ``x*0.5``); never longer."""
    tokens = simplify_tokens(tokens)
    return _orient(tokens)


def _orient(tokens) -> tuple:
    from geneqn.sr.expr import ARITY, SUB

    out = []

    def walk(i):
        op, arg = tokens[i]
        if ARITY[op] == 0:
            return (tokens[i],), i + 1
        if ARITY[op] == 1:
            a, j = walk(i + 1)
            return ((op, None),) + a, j
        a, j = walk(i + 1)
        b, k = walk(j)
        if op == MUL and len(b) == 1 and b[0][0] == CONST and not (len(a) == 1 and a[0][0] == CONST):
            a, b = b, a
        if op == ADD and len(a) == 1 and a[0][0] == CONST and not (len(b) == 1 and b[0][0] == CONST):
            a, b = b, a
        if op in (ADD, SUB) and len(b) == 1 and b[0][0] == CONST and b[0][1] < 0:
            op, b = (SUB if op == ADD else ADD), ((CONST, -b[0][1]),)
        return ((op, None),) + a + b, k

    out, _ = walk(0)
    return out


def pareto_table(models: list[tuple], columns, y: np.ndarray, names: list[str], limit: int) -> pd.DataFrame:
    """Keep, per complexity, the model of lowest MSE; then the models that beat every simpler one.

    Complexity is the number of tokens of each (tidied) tree. Columns: complexity, loss, score,
    equation, expr, sympy_format.
    """
    best: dict[int, tuple[float, tuple]] = {}
    n = len(y)
    for t in models:
        t = tidy(t)
        c = len(t)
        if c > limit:
            continue
        pred = _values(t, columns, n)
        with np.errstate(all="ignore"):
            loss = float(np.mean((pred - y) ** 2))
        if not math.isfinite(loss):
            continue
        if c not in best or loss < best[c][0]:
            best[c] = (loss, t)
    front, lowest = [], math.inf
    for c in sorted(best):
        loss, t = best[c]
        if loss < lowest * (1 - 1e-12):
            front.append((c, loss, t))
            lowest = loss
    scores = [0.0]
    for i in range(1, len(front)):
        dl = math.log(max(front[i][1], 1e-300)) - math.log(max(front[i - 1][1], 1e-300))
        scores.append(-dl / (front[i][0] - front[i - 1][0]))
    exprs = [Expr.from_indexed(t, names) for _, _, t in front]
    from geneqn.sr.expr import to_sympy

    return pd.DataFrame({
        "complexity": [c for c, _, _ in front], "loss": [l for _, l, _ in front], "score": scores,
        "equation": [str(e) for e in exprs], "expr": exprs, "sympy_format": [to_sympy(e) for e in exprs],
    })


def _check_selection(selection) -> None:
    if isinstance(selection, (int, np.integer)) and not isinstance(selection, bool):
        if selection < 1:
            raise ValueError(f"selection as a complexity limit must be >= 1, got {selection}")
        return
    if isinstance(selection, str) and (selection in SELECTIONS or (selection.isdigit() and int(selection) >= 1)):
        return
    raise ValueError(f"selection must be 'accuracy', 'best' or a positive integer, got {selection!r}")


def select(table: pd.DataFrame, selection="accuracy") -> int:
    """Row chosen by ``accuracy`` (lowest loss), ``best`` (PySR's rule) or an integer limit (the
    lowest loss within it; the simplest row when none is)."""
    if len(table) == 0:
        raise GeneqnError("symbolic regression found no equation within the complexity limit.")
    _check_selection(selection)
    if not isinstance(selection, str) or selection.isdigit():
        within = table[table.complexity <= int(selection)]
        return int((within if len(within) else table.iloc[:1]).loss.idxmin())
    if selection == "accuracy":
        return int(table.loss.idxmin())
    ok = table[table.loss <= 1.5 * table.loss.min()]
    return int(ok.score.idxmax())


def _subtree(tokens, i):
    return tokens[i:subtree_end(tokens, i)]
