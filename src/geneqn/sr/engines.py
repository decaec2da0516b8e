"""Search engines behind :class:`geneqn.sr.SymbolicRegressor`.

Each engine turns (X, y) into candidate trees (engine tokens over column indices). The regressor
then refits their constants on all rows, adds the scale and offset terms where they pay off,
counts complexity on the trees and keeps the Pareto front within the limit.

* ``geneqn`` (default): :mod:`geneqn.sr.search`, PySR's regularized evolution over exactly the
  space the complexity limit describes; candidates are trees ``f`` scored as ``a*f + b``.
* ``operon`` (pyoperon, C++): NSGA-II over (R^2, length). Operon gives every variable a weight
  (``w*x`` is one node to Operon, three to PySR: ``w``, ``*``, ``x``), so its trees are counted on
  their nodes the PySR way: a weighted variable counts 3, a unit-weight one 1, and the scale and
  offset terms Operon adds are counted too. Its ``max_length`` is set to the limit; most of its
  front lies beyond the limit and is dropped (see ``benchmarks/bench_recovery.py``).
* ``pysr`` (optional): PySR itself, used only when ``import pysr`` works (it needs Julia); its
  equation strings are read by geneqn's own parser (:func:`parse_pysr`), never evaluated.

A job is one seeded run; a fit runs several (restarts) and merges their candidates, so the two
cores of a laptop run two restarts at once and the result does not depend on how many ran
together.
"""

from __future__ import annotations

import logging
import math
import warnings
from dataclasses import dataclass, field

import numpy as np

from geneqn.errors import GeneqnError
from geneqn.sr.export import parse_equation
from geneqn.sr.expr import simplify_tokens
from geneqn.sr.operators import (ABS, ADD, ARITY, CANONICAL, CONST, COS, CUBE, DIV, EXP, INV, LOG, MUL, NEG, POW,
                                 SIN, SQRT, SQUARE, SUB, TANH, VAR)
from geneqn.sr.search import Search, SearchSettings

log = logging.getLogger(__name__)

ENGINES = ("geneqn", "operon", "pysr")


@dataclass
class SearchJob:
    """One seeded search (or, for the geneqn engine, one epoch of it): inputs, budget, settings."""

    engine: str
    X: np.ndarray
    y: np.ndarray
    operators: tuple[int, ...]
    complexity_limit: int
    max_evaluations: int
    seed: int
    settings: dict = field(default_factory=dict)
    prior: np.ndarray | None = None
    tag: object = None
    weights: tuple | None = None
    """Complexity of each op code (None: 1 each)."""
    seeds: list | None = None
    """Trees that start the populations (geneqn engine)."""
    state: dict | None = None
    """A geneqn search to continue (:meth:`geneqn.sr.search.Search.snapshot`)."""
    migrants: list | None = None
    """Trees from the other restarts' halls of fame, migrated in before this epoch."""
    epochs: int = 1
    """geneqn: the fit's budget runs in this many epochs (the restarts meet after each)."""
    migration: bool = False
    """geneqn: whether the restarts receive each other's best trees when they meet."""


@dataclass
class Candidates:
    """What one job found: trees that still need the scale/offset terms (``scaled=False``) or
    complete models (``scaled=True``), and counts for the record."""

    trees: list[tuple]
    scaled: bool
    evaluations: int = 0
    front_size: int = 0          # candidates the engine returned
    within_limit: int = 0        # of those, how many are within the complexity limit
    tag: object = None
    state: dict | None = None    # geneqn: the search, to continue in the next epoch
    exact: bool = False          # geneqn: a tree fits the data to rounding error



def run_job(job: SearchJob) -> Candidates:
    """Run one search job (in this process)."""
    if job.engine == "geneqn":
        return _geneqn(job)
    if job.engine == "operon":
        return _operon(job)
    if job.engine == "pysr":
        return _pysr(job)
    raise GeneqnError(f"unknown SR engine {job.engine!r}; use one of {', '.join(ENGINES)}.")


# ---------------------------------------------------------------------- geneqn

def scale_offset_cost(weights) -> int:
    """Complexity of the scale and offset terms of a*f + b (add, mul and two constants)."""
    w = weights or (1,) * 32
    return w[ADD] + w[MUL] + 2 * w[CONST]


def _geneqn(job: SearchJob) -> Candidates:
    max_size = max(1, job.complexity_limit - scale_offset_cost(job.weights))
    settings = SearchSettings(max_size=max_size, **job.settings)
    with np.errstate(all="ignore"):  # a tree that overflows is a poor tree, not a warning
        search = Search(job.X, job.y, job.operators, settings, seed=job.seed, prior=job.prior, weights=job.weights)
        if job.state is not None:
            search.restore(job.state)
            search.receive(job.migrants or [])
        hall = search.run(job.max_evaluations, seeds=job.seeds)
    trees = [t for _, (_, t) in sorted(hall.items())]
    return Candidates(trees, scaled=False, evaluations=search.evaluations, front_size=len(trees),
                      within_limit=len(trees), tag=job.tag, state=search.snapshot(), exact=search.exact)


# ---------------------------------------------------------------------- operon

_OPERON_SYMBOLS = {ADD: "add", SUB: "sub", MUL: "mul", DIV: "div", POW: "pow", SQUARE: "square", NEG: "sub",
                   EXP: "exp", INV: "div", LOG: "log", SQRT: "sqrt", SIN: "sin", COS: "cos", TANH: "tanh",
                   ABS: "abs"}  # no cube in Operon: a cube is found as x*square(x)


def _operon(job: SearchJob) -> Candidates:
    try:
        from pyoperon.sklearn import SymbolicRegressor as Operon
    except ImportError as e:  # pragma: no cover - pyoperon is a dependency
        raise GeneqnError(f"the operon engine needs pyoperon ({e}); pip install pyoperon.") from None
    symbols = sorted({_OPERON_SYMBOLS[o] for o in job.operators if o in _OPERON_SYMBOLS}) + ["constant", "variable"]
    opts = {"population_size": 500, "generations": 1000, "optimizer_iterations": 1, "max_depth": 10}
    opts.update({k: v for k, v in job.settings.items() if k in opts or k in ("max_length",)})
    max_length = opts.pop("max_length", job.complexity_limit)
    model = Operon(allowed_symbols=",".join(symbols), objectives=["r2", "length"], max_length=max_length,
                   max_evaluations=job.max_evaluations, random_state=job.seed, n_threads=1, **opts)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(job.X, job.y)
    inputs = list(model.variables_)  # variable hashes in column order
    trees = []
    for p in model.pareto_front_:
        try:
            trees.append(simplify_tokens(operon_tokens(p["tree"], inputs, job.operators)))
        except ValueError as e:  # pragma: no cover - defensive
            log.debug("skipped an Operon tree: %s", e)
    within = sum(len(t) <= job.complexity_limit for t in trees)
    return Candidates(trees, scaled=True, evaluations=int(model.stats_.get("evaluation_count", 0)),
                      front_size=len(trees), within_limit=within, tag=job.tag)


def operon_tokens(tree, inputs: list, operators=None) -> tuple:
    """geneqn tokens of an Operon tree; a variable of weight w != 1 becomes ``w * x``.

    Operon stores nodes in postfix order; a node's first child is the subtree that ends just
    before it, its second child the one before that. Operon's division becomes ``/`` when the
    operators hold it, else ``a * inv(b)``; its unary minus and inverse are neg and inv.
    """
    import pyoperon as op

    allowed = set(operators) if operators is not None else {DIV}
    column = {h: i for i, h in enumerate(inputs)}
    nodes = list(tree.Nodes)
    unary = {op.NodeType.Square: SQUARE, op.NodeType.Exp: EXP, op.NodeType.Log: LOG, op.NodeType.Sqrt: SQRT,
             op.NodeType.Sin: SIN, op.NodeType.Cos: COS, op.NodeType.Tanh: TANH, op.NodeType.Abs: ABS}
    nary = {op.NodeType.Add: ADD, op.NodeType.Sub: SUB, op.NodeType.Mul: MUL, op.NodeType.Div: DIV,
            op.NodeType.Pow: POW}

    def build(i: int) -> tuple:
        node = nodes[i]
        t = node.Type
        if t == op.NodeType.Variable:
            w = float(node.Value)
            var = ((VAR, column[node.HashValue]),)
            return var if w == 1.0 else ((MUL, None), (CONST, w)) + var
        if t == op.NodeType.Constant:
            return ((CONST, float(node.Value)),)
        kids, j = [], i - 1
        for _ in range(node.Arity):
            kids.append(j)
            j -= nodes[j].Length + 1
        args = [build(k) for k in kids]
        if t in unary:
            if len(args) != 1:
                raise ValueError("unary node with several children")
            return ((unary[t], None),) + args[0]
        if t not in nary:
            raise ValueError(f"unsupported Operon node {node.Name}")
        code = nary[t]
        if len(args) == 1:  # Operon's unary sub / div: -a, 1/a
            if code == SUB:
                return ((NEG, None),) + args[0]
            if code == DIV:
                return ((INV, None),) + args[0]
            return args[0]
        out = args[0]
        for a in args[1:]:
            if code == DIV and DIV not in allowed:
                out = ((INV, None),) + a if out == ((CONST, 1.0),) else ((MUL, None),) + out + ((INV, None),) + a
            else:
                out = ((code, None),) + out + a
        return out

    return build(len(nodes) - 1)


# ---------------------------------------------------------------------- pysr

def pysr_available() -> bool:
    try:
        import pysr  # noqa: F401
    except Exception:
        return False
    return True


_PYSR_UNARY = {SQUARE: "square", CUBE: "cube", NEG: "neg", EXP: "exp", INV: "inv(x) = 1/x", LOG: "log",
               SQRT: "sqrt", SIN: "sin", COS: "cos", TANH: "tanh", ABS: "abs"}
_PYSR_BINARY = {ADD: "+", SUB: "-", MUL: "*", DIV: "/", POW: "^"}


def _pysr(job: SearchJob) -> Candidates:  # pragma: no cover - needs Julia, absent here
    if not pysr_available():
        raise GeneqnError("the PySR engine was asked for, but `import pysr` fails here. Install Julia and "
                          "PySR (pip install pysr; python -c 'import pysr' installs its Julia packages), "
                          "or use the default engine: sr.engine = \"geneqn\".")
    from pysr import PySRRegressor

    names = [f"x{i}" for i in range(job.X.shape[1])]
    model = PySRRegressor(
        binary_operators=[_PYSR_BINARY[o] for o in job.operators if ARITY[o] == 2],
        unary_operators=[_PYSR_UNARY[o] for o in job.operators if ARITY[o] == 1],
        extra_sympy_mappings={"inv": lambda x: 1 / x}, maxsize=job.complexity_limit,
        niterations=int(job.settings.get("niterations", 100)), random_state=job.seed, deterministic=True,
        parallelism="serial", progress=False, verbosity=0)
    model.fit(job.X, job.y, variable_names=names)
    ops = [CANONICAL[o] for o in job.operators]
    trees = [parse_equation(text, names, ops) for text in model.equations_["equation"]]
    return Candidates(trees, scaled=True, front_size=len(trees), within_limit=len(trees), tag=job.tag)


def parse_pysr(text: str, names: list[str], operators=None) -> tuple:
    """geneqn tokens of a PySR (or Python/sympy) equation string such as
    ``(x0 * 2.1) + square(x1 - 0.5)``: :func:`geneqn.sr.export.parse_equation`."""
    return parse_equation(text, names, operators)


def is_finite_number(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)
