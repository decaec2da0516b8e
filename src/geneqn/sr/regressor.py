"""The symbolic regressor: a scikit-learn estimator whose result is a PySR-style Pareto table.

>>> from geneqn import SymbolicRegressor                        # doctest: +SKIP
>>> sr = SymbolicRegressor(max_evaluations=50_000).fit(X, y)   # doctest: +SKIP
>>> sr.equations_[["complexity", "loss", "valid_loss", "equation"]]  # doctest: +SKIP
>>> sr.latex(), sr.sympy(), sr.pytorch()                         # doctest: +SKIP

After ``fit``: ``equations_`` (one row per complexity on the Pareto front: ``complexity``,
``loss`` (MSE on the rows searched), ``valid_loss`` and ``valid_se`` (MSE on the held-out rows
and the paired standard error of its difference with the lowest one; absent without held-out
rows), ``score`` (PySR's: -d log(loss) / d complexity), ``equation`` (readable text), ``expr``
(the :class:`~geneqn.sr.expr.Expr` tree that was counted) and ``sympy_format``),
``selected_`` (the row chosen), ``selection_`` (the rule that chose it), ``expr_``,
``n_features_in_``, ``feature_names_in_`` and ``search_stats_``.
"""

from __future__ import annotations

import logging
import math
from dataclasses import replace
from typing import Sequence

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.utils.validation import check_is_fitted, validate_data

from geneqn import progress
from geneqn._parallel import parallel_map
from geneqn.errors import GeneqnError
from geneqn import numeric
from geneqn.sr.engines import ENGINES, Candidates, SearchJob, run_job, scale_offset_cost
from geneqn.sr.expr import ADD, ARITY, CONST, MUL, SUB, VAR, Expr, evaluate_tokens, simplify_tokens
from geneqn.sr.operators import PAPER_OPERATORS, complexity_weights, operator_codes
from geneqn.sr.search import fit_constants

log = logging.getLogger(__name__)

OPERATORS = PAPER_OPERATORS
SELECTIONS = ("validation", "accuracy", "best")
MIGRATION_EPOCHS = 4
"""geneqn engine: a fit's restarts meet this many times (at equal shares of the budget): a fit
whose restarts found an exact fit stops there, and with ``MIGRATION`` they exchange their halls
of fame."""
MIGRATION = False
"""Whether the restarts exchange their best trees when they meet (measured: independent
restarts recover the planted paper-direct law as often or more often, see README)."""


class SymbolicRegressor(RegressorMixin, BaseEstimator):
    """Symbolic regression with PySR's operators and complexity.

    Parameters
    ----------
    engine : "geneqn" (default; PySR's regularized evolution over exactly the counted space),
        "operon" (pyoperon) or "pysr" (only where ``import pysr`` works).
    operators : the operators allowed (PySR's names: ``+ - * / ^``, ``square``, ``cube``,
        ``neg``, ``inv``, ``exp``, ``log``, ``sqrt``, ``sin``, ``cos``, ``tanh``, ``abs``);
        the paper's seven (``+ - * square neg exp inv``) by default.
    complexity_limit : largest complexity kept (PySR's count: every operator, variable and
        constant counts 1, or its ``complexity_of_*`` weight; the paper's 20).
    selection : "validation" (default: the simplest equation whose MSE on held-out rows is
        within one paired standard error, or 1%, of the lowest), "accuracy" (lowest loss on the rows
        searched; the paper's), "best" (PySR's: highest score among equations with loss <= 1.5 x
        the lowest) or an integer complexity limit.
    max_evaluations : search budget of a fit, in tree evaluations (a Levenberg-Marquardt step
        counts one), shared by the restarts.
    restarts : independent seeded searches, merged into one table (16 by default: many short
        restarts find a planted law more often than a few long ones at an equal budget; README).
    max_samples : search on at most this many rows (a seeded subsample; 0: all); constants are
        refitted and the table scored on all rows.
    validation_fraction : with ``selection="validation"`` and no ``X_valid``, the share of the
        rows held out for selection (seeded); they are not searched.
    complexity_of_operators : PySR's per-operator complexity, e.g. ``{"exp": 2, "/": 2}``.
    complexity_of_constants, complexity_of_variables : PySR's (1 each by default).
    nested_constraints : PySR's, e.g. ``{"exp": {"exp": 0}}``: no exp inside an exp (geneqn
        engine).
    n_jobs : processes for the restarts (0: one per CPU core). Results do not depend on it.
    random_state : seed; the same seed gives the same table, on any machine.
    engine_options : extra settings of the engine (see :class:`geneqn.sr.search.SearchSettings`;
        ``seeding=False`` starts from random trees only; for operon: population_size,
        generations, optimizer_iterations, max_length).
    """

    def __init__(self, engine: str = "geneqn", operators: Sequence[str] = OPERATORS, complexity_limit: int = 20,
                 selection="validation", max_evaluations: int = 400_000, restarts: int = 16,
                 max_samples: int = 3000, validation_fraction: float = 0.2, complexity_of_operators=None,
                 complexity_of_constants: int = 1, complexity_of_variables: int = 1, nested_constraints=None,
                 n_jobs: int = 1, random_state: int = 0, engine_options: dict | None = None):
        self.engine = engine
        self.operators = operators
        self.complexity_limit = complexity_limit
        self.selection = selection
        self.max_evaluations = max_evaluations
        self.restarts = restarts
        self.max_samples = max_samples
        self.validation_fraction = validation_fraction
        self.complexity_of_operators = complexity_of_operators
        self.complexity_of_constants = complexity_of_constants
        self.complexity_of_variables = complexity_of_variables
        self.nested_constraints = nested_constraints
        self.n_jobs = n_jobs
        self.random_state = random_state
        self.engine_options = engine_options

    # ------------------------------------------------------------------ sklearn
    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = False
        return tags

    def _weights(self) -> tuple[int, ...]:
        return complexity_weights(self.operators, self.complexity_of_operators, self.complexity_of_constants,
                                  self.complexity_of_variables)

    def _validate_params(self) -> None:
        if self.engine not in ENGINES:
            raise ValueError(f"engine must be one of {', '.join(ENGINES)}, got {self.engine!r}")
        try:
            ops = operator_codes(self.operators)
            weights = self._weights()
        except GeneqnError as e:
            raise ValueError(str(e)) from None
        if not any(ARITY[o] == 2 for o in ops):
            raise ValueError("operators need at least one binary operator (+, -, *, / or ^)")
        for name in ("complexity_limit", "max_evaluations", "restarts"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
                raise ValueError(f"{name} must be a positive integer, got {v!r}")
        smallest = weights[MUL] + weights[CONST] + weights[VAR]
        if self.complexity_limit < smallest and self.engine == "geneqn":
            raise ValueError(f"complexity_limit must be at least {smallest} (a scaled variable, a*x, has "
                             f"complexity {smallest})")
        if isinstance(self.max_samples, bool) or not isinstance(self.max_samples, (int, np.integer)) \
                or self.max_samples < 0:
            raise ValueError(f"max_samples must be 0 (all rows) or a positive integer, got {self.max_samples!r}")
        f = self.validation_fraction
        if isinstance(f, bool) or not isinstance(f, (int, float)) or not 0 <= f < 1:
            raise ValueError(f"validation_fraction must be a number in [0, 1), got {f!r}")
        _check_selection(self.selection)
        try:
            nested_codes(self.nested_constraints)
        except GeneqnError as e:
            raise ValueError(str(e)) from None

    # ------------------------------------------------------------------ fitting
    def fit(self, X, y, X_valid=None, y_valid=None, variable_weights=None) -> "SymbolicRegressor":
        """Search equations of ``y`` in the columns of ``X`` (array or DataFrame).

        ``X_valid, y_valid``: held-out rows for ``selection="validation"`` (without them a
        ``validation_fraction`` of the rows is held out). ``variable_weights``: optional weight
        per feature for drawing variables (the geneqn engine; e.g. a network's sensitivities).
        Inside a Pipeline give no X_valid (it would bypass the transformers and is refused).
        Returns self.
        """
        from geneqn.baselines import refuse_valid_through_pipeline

        refuse_valid_through_pipeline(self, X_valid)
        jobs = self.search_jobs(X, y, X_valid, y_valid, variable_weights)
        results = run_searches([jobs], self.n_jobs, description="symbolic regression")[0]
        return self.finish(results)

    def search_jobs(self, X, y, X_valid=None, y_valid=None, variable_weights=None) -> list[SearchJob]:
        """Validate the data and return the search jobs of a fit (for running many fits' jobs in
        one process pool with :func:`run_searches`; complete the fit with :meth:`finish`)."""
        self._validate_params()
        X, y = validate_data(self, X, y, y_numeric=True, dtype=np.float64)
        if len(y) < 3:
            raise ValueError(f"symbolic regression needs at least 3 samples (n_samples = {len(y)})")
        names = [str(n) for n in getattr(self, "feature_names_in_", [f"x{i}" for i in range(X.shape[1])])]
        rng = np.random.default_rng(self.random_state)
        Xv = yv = None
        if X_valid is not None:
            if y_valid is None:
                raise ValueError("X_valid was given without y_valid")
            Xv = validate_data(self, X_valid, reset=False, dtype=np.float64)
            yv = np.asarray(y_valid, dtype=np.float64).ravel()
            if len(yv) != len(Xv):
                raise ValueError(f"X_valid has {len(Xv)} rows, y_valid {len(yv)}")
            if not np.isfinite(yv).all():
                raise ValueError("y_valid holds NaN or infinite values")
        elif self.selection == "validation" and self.validation_fraction > 0:
            n_valid = int(round(len(y) * self.validation_fraction))
            if n_valid >= 5 and len(y) - n_valid >= 3:
                order = rng.permutation(len(y))
                held, keep = np.sort(order[:n_valid]), np.sort(order[n_valid:])
                Xv, yv, X, y = X[held], y[held], X[keep], y[keep]
        self._data = (X, y, Xv, yv, names)
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
        weights = self._weights()
        options = dict(self.engine_options or {})
        if self.nested_constraints and self.engine == "geneqn":
            options["nested_constraints"] = nested_codes(self.nested_constraints)
        seeding = bool(options.pop("seeding", True))
        epochs = int(options.pop("epochs", MIGRATION_EPOCHS))
        migration = bool(options.pop("migration", MIGRATION))
        seeds, seed_cost = None, 0
        Xs, ys = X[rows], y[rows]
        if self.engine == "geneqn" and seeding:
            from geneqn.sr.seeds import simple_forms

            seeds, seed_cost = simple_forms([np.ascontiguousarray(Xs[:, j]) for j in range(Xs.shape[1])], ys, ops,
                                            self.complexity_limit - scale_offset_cost(weights), weights,
                                            budget=self.max_evaluations)
        self._seed_cost = seed_cost
        per = max(1, (self.max_evaluations - seed_cost) // self.restarts)
        return [SearchJob(self.engine, Xs, ys, ops, self.complexity_limit, per,
                          int(self.random_state) * 1000 + k, options, prior, weights=weights, seeds=seeds,
                          epochs=epochs, migration=migration) for k in range(self.restarts)]

    def finish(self, results: list[Candidates]) -> "SymbolicRegressor":
        X, y, Xv, yv, names = self._data
        del self._data
        weights = self._weights()
        columns = [X[:, j] for j in range(X.shape[1])]
        models: list[tuple] = []
        with np.errstate(all="ignore"):  # a tree whose values overflow is a poor model, not a warning
            for cand in results:
                for t in cand.trees:
                    models.extend(_models_of(t, cand.scaled, columns, y))
            models.extend(_baseline_models(columns, y))
        valid = None if Xv is None else ([Xv[:, j] for j in range(Xv.shape[1])], yv)
        self.equations_ = pareto_table(models, columns, y, names, self.complexity_limit, weights, valid,
                                       operator_codes(self.operators))
        rule = self.selection
        if rule == "validation" and "valid_loss" not in self.equations_:
            rule = "accuracy"
            log.info("symbolic regression: no held-out rows, so the equation is chosen by its loss (accuracy)")
        self.selected_ = select(self.equations_, rule)
        self.selection_ = str(rule)
        self.expr_ = self.equations_.expr[self.selected_]
        self.search_stats_ = {
            "engine": self.engine, "restarts": int(self.restarts), "searches": len(results),
            "evaluations": int(sum(c.evaluations for c in results)) + int(getattr(self, "_seed_cost", 0)),
            "seed_evaluations": int(getattr(self, "_seed_cost", 0)),
            "exact": bool(any(c.exact for c in results)),
            "engine_front": int(sum(c.front_size for c in results)),
            "engine_front_within_limit": int(sum(c.within_limit for c in results)),
            "held_out_rows": 0 if yv is None else int(len(yv)),
        }
        return self

    # ------------------------------------------------------------------ results
    @classmethod
    def from_pareto(cls, table, feature_names: Sequence[str], selection="validation", **params) -> "SymbolicRegressor":
        """A fitted regressor from a Pareto table: a DataFrame with ``complexity``, ``loss`` and
        ``expr`` (trees), or a Pareto CSV that geneqn wrote (its ``tokens`` column is read as data,
        never executed). ``equations_``, ``predict``, ``sympy(i)``, ``latex(i)`` work as after
        :meth:`fit`; the row is chosen again by ``selection`` (``validation`` needs the table's
        ``valid_loss``; without it, ``accuracy``)."""
        import json as _json
        from pathlib import Path as _Path

        from geneqn._io import read_csv

        names = [str(n) for n in feature_names]
        if isinstance(table, (str, _Path)):
            path = str(table)
            table = read_csv(table)
            if "tokens" not in table:
                raise GeneqnError(f"{path}: not a geneqn Pareto table (no tokens column)")
            try:
                table["expr"] = [Expr.from_json(_json.loads(x), names, path) for x in table["tokens"]]
            except (ValueError, TypeError) as e:
                raise GeneqnError(f"{path}: malformed tokens ({e})") from None
        if not {"complexity", "loss", "expr"} <= set(table.columns):
            raise GeneqnError("a Pareto table needs the columns complexity, loss and expr (or tokens)")
        est = cls(selection=selection, **params)
        est.equations_ = table.reset_index(drop=True)
        est.feature_names_in_ = np.asarray(names, dtype=object)
        est.n_features_in_ = len(names)
        rule = selection if selection != "validation" or "valid_loss" in est.equations_ else "accuracy"
        est.selected_ = select(est.equations_, rule)
        est.selection_ = str(rule)
        est.expr_ = est.equations_.expr[est.selected_]
        return est

    def _row(self, index):
        check_is_fitted(self, "equations_")
        if index is None:
            return self.selected_
        if not 0 <= index < len(self.equations_):
            raise IndexError(f"index {index} is outside the {len(self.equations_)} equations")
        return index

    def _names(self) -> list[str]:
        return [str(n) for n in getattr(self, "feature_names_in_", [f"x{i}" for i in range(self.n_features_in_)])]

    def predict(self, X, index: int | None = None) -> np.ndarray:
        """Values of the selected equation (or row ``index`` of ``equations_``)."""
        check_is_fitted(self, "equations_")
        X = validate_data(self, X, reset=False, dtype=np.float64)
        expr = self.equations_.expr[self._row(index)]
        return _values(expr.indexed(self._names()), [X[:, j] for j in range(X.shape[1])], len(X))

    def sympy(self, index: int | None = None):
        from geneqn.sr.export import to_sympy

        return to_sympy(self.equations_.expr[self._row(index)])

    def latex(self, index: int | None = None, digits: int = 3) -> str:
        from geneqn.sr.export import to_latex

        return to_latex(self.equations_.expr[self._row(index)], digits)

    def pytorch(self, index: int | None = None):
        """A torch module computing the equation from a (n, n_features) tensor."""
        from geneqn.sr.export import to_torch

        return to_torch(self.equations_.expr[self._row(index)], self._names())


def nested_codes(constraints) -> tuple:
    """PySR's ``nested_constraints`` ({outer: {inner: most}}, operator names) as (outer code,
    inner code, most) triples."""
    if not constraints:
        return ()
    if not isinstance(constraints, dict) or not all(isinstance(v, dict) for v in constraints.values()):
        raise GeneqnError(f"nested_constraints must map operators to {{operator: count}}, e.g. {{'exp': {{'exp': 0}}}}; "
                          f"got {constraints!r}.")
    out = []
    for outer, inner in constraints.items():
        (o,) = operator_codes([outer])
        for name, most in inner.items():
            (i,) = operator_codes([name])
            if isinstance(most, bool) or not isinstance(most, int) or most < 0:
                raise GeneqnError(f"nested_constraints[{outer!r}][{name!r}] must be a count >= 0, got {most!r}.")
            out.append((o, i, most))
    return tuple(out)


# ---------------------------------------------------------------------- running searches

def run_searches(job_lists: list[list[SearchJob]], n_jobs: int = 1, description: str | None = "",
                 share: bool = False) -> list[list[Candidates]]:
    """Run the jobs of several fits (one list per fit) in one process pool; return their results
    in the same shape. geneqn jobs run in epochs: after each, a fit's restarts receive the trees
    of each other's halls of fame (with ``share``, also those of the other fits, e.g. the
    stage-1 fits of one distillation, which search the same features; a fit that has stopped
    still sends its final trees), and a fit with an exact fit stops. Which job runs where, and
    how many processes there are, does not change any result."""
    results: list[list[Candidates | None]] = [[None] * len(jobs) for jobs in job_lists]
    epochs = {f: max(1, int(jobs[0].epochs)) if jobs[0].engine == "geneqn" else 1
              for f, jobs in enumerate(job_lists) if jobs}
    running = set(epochs)
    total = sum(len(job_lists[f]) * epochs[f] for f in running)
    with progress.task(description or "symbolic regression", total=total) if description is not None \
            else _nullcontext() as bar:
        numeric.compiled()   # the loops compiled (and checked) here: forked workers inherit them
        epoch = 0
        while running:
            batch, owners = [], []
            for f in sorted(running):
                for k, job in enumerate(job_lists[f]):
                    prev = results[f][k]
                    if job.engine == "geneqn":
                        target = -(-job.max_evaluations * (epoch + 1) // epochs[f])
                        migrants = None
                        if prev is not None and (job.migration or share):
                            migrants = [t for j, r in enumerate(results[f]) if j != k for t in r.trees] \
                                if job.migration else []
                            if share:   # every other fit's latest trees, a finished (exact) fit's too
                                migrants += [t for g, per_fit in enumerate(results) if g != f and job_lists[g]
                                             and job_lists[g][0].engine == "geneqn"
                                             for r in per_fit if r is not None for t in r.trees]
                        job = replace(job, max_evaluations=target, state=None if prev is None else prev.state,
                                      migrants=migrants)
                    batch.append(job)
                    owners.append((f, k))
            out = parallel_map(run_job, batch, n_jobs, description=None,
                               on_result=lambda i, r: bar.advance() if bar is not None else None)
            for (f, k), r in zip(owners, out):
                results[f][k] = r
            epoch += 1
            done = set()
            for f in running:
                if epoch >= epochs[f] or any(r.exact for r in results[f]):
                    done.add(f)
                    if bar is not None and epoch < epochs[f]:
                        bar.advance(len(job_lists[f]) * (epochs[f] - epoch))
            running -= done
    for per_fit in results:
        for r in per_fit:
            if r is not None:
                r.state = None
    return results


class _nullcontext:
    def __enter__(self):
        return None

    def __exit__(self, *exc):
        return False


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
        xx = numeric.dot(fv, fv)
        if xx > 0:
            out.append(((MUL, None), (CONST, numeric.dot(fv, y) / xx)) + tuple(f))     # a*f
        out.append(((ADD, None),) + tuple(f) + ((CONST, numeric.total(y - fv) / len(y)),))  # f + b
        out.append(tuple(f))                                                          # f
    return out


def _baseline_models(columns, y) -> list[tuple]:
    """The constant model and the best single-feature fits a*x and a*x + b: the low end of the
    front, exact."""
    out = [((CONST, numeric.total(y) / len(y)),)]
    ym = numeric.total(y) / len(y)
    yc = y - ym
    best_affine = best_prop = None
    for j, x in enumerate(columns):
        xm = numeric.total(x) / len(x)
        xc = x - xm
        sxx = numeric.dot(xc, xc)
        if sxx > 0:
            a = numeric.dot(xc, yc) / sxx
            r = yc - a * xc
            sse = numeric.dot(r, r)
            if best_affine is None or sse < best_affine[0]:
                best_affine = (sse, _scaled(((VAR, j),), a, ym - a * xm))
        xx = numeric.dot(x, x)
        if xx > 0:
            a = numeric.dot(x, y) / xx
            r = y - a * x
            sse = numeric.dot(r, r)
            if best_prop is None or sse < best_prop[0]:
                best_prop = (sse, ((MUL, None), (CONST, a), (VAR, j)))
    out += [b[1] for b in (best_affine, best_prop) if b is not None]
    return out


def tidy(tokens, operators=None) -> tuple:
    """Simplify, then write constants the readable way round (``x - 0.5`` rather than
    ``x + -0.5``, ``x - 0.5*y`` rather than ``x + (-0.5*y)``; ``0.5*x`` rather than ``x*0.5``);
    never longer, and within ``operators`` (op
    codes; default all) but for the scale and offset terms."""
    allowed = None if operators is None else set(operators) | {ADD, MUL}
    tokens = simplify_tokens(tokens, allowed)
    return _orient(tokens, allowed is None or SUB in allowed)


def _orient(tokens, subtract: bool = True) -> tuple:
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
        if op in (ADD, SUB) and len(b) == 1 and b[0][0] == CONST and b[0][1] < 0 and (subtract or op == SUB):
            op, b = (SUB if op == ADD else ADD), ((CONST, -b[0][1]),)
        elif op in (ADD, SUB) and len(b) > 2 and b[0][0] == MUL and b[1][0] == CONST and b[1][1] < 0 \
                and (subtract or op == SUB):  # a + (-0.6*x) -> a - 0.6*x (the same bits: negation is exact)
            op, b = (SUB if op == ADD else ADD), ((MUL, None), (CONST, -b[1][1])) + b[2:]
        return ((op, None),) + a + b, k

    out, _ = walk(0)
    return out


def pareto_table(models: list[tuple], columns, y: np.ndarray, names: list[str], limit: int, weights=None,
                 valid=None, operators=None) -> pd.DataFrame:
    """Keep, per complexity, the model of lowest MSE; then the models that beat every simpler one.

    Complexity is the weighted token count of each (tidied) tree (the number of tokens by
    default). Columns: complexity, loss, score, equation, expr, sympy_format; with ``valid``
    (columns, y of held-out rows) also valid_loss and valid_se.
    """
    best: dict[int, tuple[float, tuple]] = {}
    n = len(y)
    w = weights or (1,) * 32

    def mse(t):
        with np.errstate(all="ignore"):
            return numeric.total((_values(t, columns, n) - y) ** 2) / n

    for t in models:
        t = tidy(t, operators)
        loss = mse(t)
        if not math.isfinite(loss):
            continue
        t, loss = _drop_roundoff(t, loss, mse, operators)
        c = sum(w[op] for op, _ in t)
        if c > limit:
            continue
        if c not in best or loss < best[c][0] or (loss == best[c][0] and t < best[c][1]):
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
    from geneqn.sr.export import to_sympy

    table = pd.DataFrame({
        "complexity": [c for c, _, _ in front], "loss": [l for _, l, _ in front], "score": scores,
        "equation": [str(e) for e in exprs], "expr": exprs, "sympy_format": [to_sympy(e) for e in exprs],
    })
    if valid is not None and len(front):
        vcols, vy = valid
        sq = []
        for _, _, t in front:
            with np.errstate(all="ignore"):
                e = (_values(t, vcols, len(vy)) - vy) ** 2
            sq.append(np.where(np.isfinite(e), e, np.inf))
        vloss = [numeric.total(e) / len(vy) for e in sq]
        vc = vy - numeric.total(vy) / len(vy)
        floor = ROUNDING * numeric.dot(vc, vc) / len(vy)  # fits to rounding error all tie
        k = int(np.argmin(vloss))
        se = []
        for e in sq:
            d = e - sq[k]
            if not np.isfinite(d).all():
                se.append(math.inf)
                continue
            dm = numeric.total(d) / len(d)
            dc = d - dm
            se.append(max(math.sqrt(numeric.dot(dc, dc) / max(len(d) - 1, 1) / len(d)), floor))
        table.insert(2, "valid_loss", vloss)
        table.insert(3, "valid_se", se)
    return table


VALID_TIE = 0.01
"""Held-out losses within this share of the lowest are ties for the validation rule, whatever the
paired standard error says: that error is unreliable when a few genes carry the difference (a
spurious pole such as ``2e-05/(b + c)`` lowered one held-out loss by 1% through one gene), and a
1% lower MSE is no reason for a longer equation."""

ROUNDING = 1e-10
"""Held-out losses closer than this share of the target's variance are equal for the
validation rule (both fits are exact to rounding error; the simpler wins)."""


def _drop_roundoff(tokens, loss: float, mse, operators=None) -> tuple[tuple, float]:
    """Constants of rounding-error size (|c| < 1e-9) set to 0 and the tree simplified, when the
    loss stays within rounding error: ``r2 - 1.1e-16`` reads ``r2``."""
    for i, (op, arg) in enumerate(tokens):
        if op == CONST and 0 < abs(arg) < 1e-9:
            t = tidy(tokens[:i] + ((CONST, 0.0),) + tokens[i + 1:], operators)
            l2 = mse(t)
            if math.isfinite(l2) and l2 <= loss * (1 + 1e-9) + 1e-300:
                return _drop_roundoff(t, l2, mse, operators)
    return tokens, loss


def _check_selection(selection) -> None:
    if isinstance(selection, (int, np.integer)) and not isinstance(selection, bool):
        if selection < 1:
            raise ValueError(f"selection as a complexity limit must be >= 1, got {selection}")
        return
    if isinstance(selection, str) and (selection in SELECTIONS or (selection.isdigit() and int(selection) >= 1)):
        return
    raise ValueError(f"selection must be 'validation', 'accuracy', 'best' or a positive integer, got {selection!r}")


def select(table: pd.DataFrame, selection="validation") -> int:
    """Row chosen by ``validation`` (the simplest row whose held-out MSE exceeds the lowest by at
    most one paired standard error, or by 1% of the lowest (``VALID_TIE``), or by rounding error;
    ``accuracy`` when the table has no held-out losses),
    ``accuracy`` (lowest loss), ``best`` (PySR's rule) or an integer limit (the lowest loss
    within it; the simplest row when none is)."""
    if len(table) == 0:
        raise GeneqnError("symbolic regression found no equation within the complexity limit.")
    _check_selection(selection)
    if not isinstance(selection, str) or selection.isdigit():
        within = table[table.complexity <= int(selection)]
        return int((within if len(within) else table.iloc[:1]).loss.idxmin())
    if selection == "validation" and "valid_loss" in table:
        vl = table.valid_loss.to_numpy(dtype=float)
        k = int(np.argmin(vl))
        if math.isfinite(vl[k]):
            tie = np.maximum(table.valid_se.to_numpy(dtype=float), VALID_TIE * vl[k])
            ok = np.flatnonzero(vl - vl[k] <= tie)
            return int(table.index[ok.min()])
    if selection in ("accuracy", "validation"):
        return int(table.loss.idxmin())
    ok = table[table.loss <= 1.5 * table.loss.min()]
    return int(ok.score.idxmax())
