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
import re
import warnings
from dataclasses import dataclass, field

import numpy as np

from geneqn.errors import GeneqnError
from geneqn.sr.expr import (ADD, ARITY, CONST, EXP, INV, MUL, NEG, SQUARE, SUB, VAR,
                            simplify_tokens)
from geneqn.sr.search import Search, SearchSettings

log = logging.getLogger(__name__)

ENGINES = ("geneqn", "operon", "pysr")


@dataclass
class SearchJob:
    """One seeded search: inputs, budget and engine settings."""

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

def _geneqn(job: SearchJob) -> Candidates:
    # the scale and offset terms of a*f + b take 4 of the complexity budget
    max_size = max(1, job.complexity_limit - 4)
    settings = SearchSettings(max_size=max_size, **job.settings)
    search = Search(job.X, job.y, job.operators, settings, seed=job.seed, prior=job.prior)
    hall = search.run(job.max_evaluations)
    trees = [t for _, (_, t) in sorted(hall.items())]
    return Candidates(trees, scaled=False, evaluations=search.evaluations, front_size=len(trees),
                      within_limit=len(trees), tag=job.tag)


# ---------------------------------------------------------------------- operon

_OPERON_SYMBOLS = {ADD: "add", SUB: "sub", MUL: "mul", SQUARE: "square", NEG: "sub", EXP: "exp", INV: "div"}


def _operon(job: SearchJob) -> Candidates:
    try:
        from pyoperon.sklearn import SymbolicRegressor as Operon
    except ImportError as e:  # pragma: no cover - pyoperon is a dependency
        raise GeneqnError(f"the operon engine needs pyoperon ({e}); pip install pyoperon.") from None
    symbols = sorted({_OPERON_SYMBOLS[o] for o in job.operators}) + ["constant", "variable"]
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
            trees.append(simplify_tokens(operon_tokens(p["tree"], inputs)))
        except ValueError as e:  # pragma: no cover - defensive
            log.debug("skipped an Operon tree: %s", e)
    within = sum(len(t) <= job.complexity_limit for t in trees)
    return Candidates(trees, scaled=True, evaluations=int(model.stats_.get("evaluation_count", 0)),
                      front_size=len(trees), within_limit=within, tag=job.tag)


def operon_tokens(tree, inputs: list) -> tuple:
    """geneqn tokens of an Operon tree; a variable of weight w != 1 becomes ``w * x``.

    Operon stores nodes in postfix order; a node's first child is the subtree that ends just
    before it, its second child the one before that.
    """
    import pyoperon as op

    column = {h: i for i, h in enumerate(inputs)}
    nodes = list(tree.Nodes)

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
        if t in (op.NodeType.Square, op.NodeType.Exp):
            if len(args) != 1:
                raise ValueError("unary node with several children")
            return (((SQUARE if t == op.NodeType.Square else EXP), None),) + args[0]
        code = {op.NodeType.Add: ADD, op.NodeType.Sub: SUB, op.NodeType.Mul: MUL, op.NodeType.Div: None}.get(t, -1)
        if code == -1:
            raise ValueError(f"unsupported Operon node {node.Name}")
        if len(args) == 1:  # Operon's unary sub / div: -a, 1/a
            return ((NEG if t == op.NodeType.Sub else INV, None),) + args[0] if code in (SUB, None) else args[0]
        out = args[0]
        for a in args[1:]:
            if code is None:  # division: a * inv(b)
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


_PYSR_UNARY = {SQUARE: "square", NEG: "neg", EXP: "exp", INV: "inv(x) = 1/x"}


def _pysr(job: SearchJob) -> Candidates:  # pragma: no cover - needs Julia, absent here
    if not pysr_available():
        raise GeneqnError("the PySR engine was asked for, but `import pysr` fails here. Install Julia and "
                          "PySR (pip install pysr; python -c 'import pysr' installs its Julia packages), "
                          "or use the default engine: sr.engine = \"geneqn\".")
    from pysr import PySRRegressor

    names = [f"x{i}" for i in range(job.X.shape[1])]
    model = PySRRegressor(
        binary_operators=[{ADD: "+", SUB: "-", MUL: "*"}[o] for o in job.operators if ARITY[o] == 2],
        unary_operators=[_PYSR_UNARY[o] for o in job.operators if ARITY[o] == 1],
        extra_sympy_mappings={"inv": lambda x: 1 / x}, maxsize=job.complexity_limit,
        niterations=int(job.settings.get("niterations", 100)), random_state=job.seed, deterministic=True,
        parallelism="serial", progress=False, verbosity=0)
    model.fit(job.X, job.y, variable_names=names)
    trees = [parse_pysr(text, names) for text in model.equations_["equation"]]
    return Candidates(trees, scaled=True, front_size=len(trees), within_limit=len(trees), tag=job.tag)


_TOKEN = re.compile(r"\s*(?:(?P<num>[0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)|(?P<name>[A-Za-z_][A-Za-z0-9_]*)|(?P<op>[-+*/^(),]))")


def parse_pysr(text: str, names: list[str]) -> tuple:
    """geneqn tokens of a PySR equation string such as ``(x0 * 2.1) + square(x1 - 0.5)``.

    A small recursive-descent parser over numbers, the variables ``names``, ``+ - * /``, unary
    minus, ``^2`` and the functions square, neg, exp, inv; anything else raises ValueError.
    """
    tokens = []
    pos = 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            if text[pos:].strip() == "":
                break
            raise ValueError(f"unexpected character at {pos} in {text!r}")
        pos = m.end()
        kind = m.lastgroup
        tokens.append((kind, m.group(kind)))
    column = {n: i for i, n in enumerate(names)}
    k = 0

    def peek():
        return tokens[k] if k < len(tokens) else (None, None)

    def take(expected=None):
        nonlocal k
        tok = peek()
        if expected is not None and tok[1] != expected:
            raise ValueError(f"expected {expected!r} in {text!r}")
        k += 1
        return tok

    def expr():
        out = term()
        while peek()[1] in ("+", "-"):
            op = ADD if take()[1] == "+" else SUB
            out = ((op, None),) + out + term()
        return out

    def term():
        out = factor()
        while peek()[1] in ("*", "/"):
            if take()[1] == "*":
                out = ((MUL, None),) + out + factor()
            else:
                out = ((MUL, None),) + out + ((INV, None),) + factor()
        return out

    def factor():
        if peek()[1] == "-":
            take()
            return ((NEG, None),) + factor()
        base = atom()
        if peek()[1] == "^":
            take()
            kind, value = take()
            if value not in ("2", "2.0"):
                raise ValueError(f"only ^2 is supported, in {text!r}")
            base = ((SQUARE, None),) + base
        return base

    def atom():
        kind, value = take()
        if kind == "num":
            return ((CONST, float(value)),)
        if value == "(":
            out = expr()
            take(")")
            return out
        if kind == "name":
            if value in column:
                return ((VAR, column[value]),)
            funcs = {"square": SQUARE, "neg": NEG, "exp": EXP, "inv": INV}
            if value in funcs:
                take("(")
                arg = expr()
                take(")")
                return ((funcs[value], None),) + arg
        raise ValueError(f"unexpected {value!r} in {text!r}")

    out = expr()
    if k != len(tokens):
        raise ValueError(f"trailing input in {text!r}")
    return out


def is_finite_number(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)
