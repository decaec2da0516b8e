"""Equations as the trees that were searched.

An :class:`Expr` is a tree over the operators of :mod:`geneqn.sr.operators` (the paper's
{+, -, *, square, neg, exp, inv} by default; also /, ^, cube, log, sqrt, sin, cos, tanh, abs),
with variables (named features) and constants as leaves, held as a tuple of tokens in prefix
order. This is the canonical form of every equation in geneqn: complexity is counted on it, it is
what a search returns, what is composed, stored and evaluated. sympy is only a view of it (for
display and export, :mod:`geneqn.sr.export`), never the form that is counted, so sympy's
automatic expansion of ``0.5*(x + y)`` into ``0.5*x + 0.5*y`` cannot change a complexity.

Complexity is PySR's default: every operator, variable and constant counts 1, i.e. the number
of tokens. ``0.5*(x + y + (z - 1.2)*(w + v)) - 0.1`` has 15. With PySR's
``complexity_of_operators`` (and of constants and variables) each token counts its weight:
:meth:`Expr.weighted_complexity`.

Tokens are ``(op, arg)`` pairs: ``(CONST, value)``, ``(VAR, name)`` (or a column index inside
the engines) and ``(op, None)`` for operators.

Evaluation uses :mod:`geneqn.numeric`, whose results are the same to the bit on every machine.
"""

from __future__ import annotations

import math
from typing import Iterable, Mapping, Sequence

import numpy as np

from geneqn.errors import GeneqnError
from geneqn import numeric
from geneqn.sr.operators import (ABS, ADD, ARITY, CONST, COS, CUBE, DIV, EXP, INV, LOG, MUL, NEG, OP_CODES,
                                 OP_NAMES, POW, SIN, SQRT, SQUARE, SUB, TANH, VAR, operator_codes)

__all__ = ["Expr", "evaluate", "evaluate_tokens", "evaluate_raw", "evaluate_with_gradient", "simplify",
           "simplify_tokens", "subtree_end", "check_tokens", "operator_codes", "CONST", "VAR", "ADD", "SUB",
           "MUL", "SQUARE", "NEG", "EXP", "INV", "DIV", "POW", "LOG", "SQRT", "SIN", "COS", "TANH", "ABS", "CUBE",
           "ARITY", "OP_NAMES"]

BINARY = (ADD, SUB, MUL, DIV, POW)
_ALL_CODES = frozenset(range(len(ARITY)))
UNARY = (SQUARE, NEG, EXP, INV, LOG, SQRT, SIN, COS, TANH, ABS, CUBE)

Token = tuple  # (op code, arg)


def subtree_end(tokens: Sequence[Token], i: int) -> int:
    """Index one past the subtree that starts at token ``i``."""
    need, j = 1, i
    while need:
        need += ARITY[tokens[j][0]] - 1
        j += 1
    return j


def check_tokens(tokens: Sequence[Token]) -> None:
    """Raise ValueError unless ``tokens`` is exactly one well-formed prefix tree."""
    if not tokens:
        raise ValueError("an expression needs at least one token")
    need = 1
    for k, tok in enumerate(tokens):
        if need == 0:
            raise ValueError(f"tokens continue after a complete tree (token {k})")
        op = tok[0]
        if not isinstance(op, (int, np.integer)) or not 0 <= op < len(ARITY):
            raise ValueError(f"unknown operator code {op!r}")
        need += ARITY[op] - 1
    if need != 0:
        raise ValueError("the tokens end before the tree is complete")


class Expr:
    """An equation tree over named features (immutable, hashable).

    >>> e = Expr.from_json([["add"], ["var", "x"], ["const", 1.5]])
    >>> e.complexity, str(e)
    (3, 'x + 1.5')
    """

    __slots__ = ("tokens",)

    def __init__(self, tokens: Iterable[Token]):
        tokens = tuple((int(op), arg) for op, arg in tokens)
        check_tokens(tokens)
        object.__setattr__(self, "tokens", tokens)

    def __setattr__(self, name, value):
        raise AttributeError("Expr is immutable")

    def __reduce__(self):
        return (Expr, (self.tokens,))

    # ------------------------------------------------------------------ basics
    @property
    def complexity(self) -> int:
        """PySR's default complexity: the number of operators, variables and constants."""
        return len(self.tokens)

    def weighted_complexity(self, weights: Sequence[int] | None = None) -> int:
        """Complexity with a weight per op code (:func:`geneqn.sr.operators.complexity_weights`)."""
        if weights is None:
            return len(self.tokens)
        return int(sum(weights[op] for op, _ in self.tokens))

    def __len__(self) -> int:
        return len(self.tokens)

    def __eq__(self, other) -> bool:
        return isinstance(other, Expr) and self.tokens == other.tokens

    def __hash__(self) -> int:
        return hash(self.tokens)

    def __repr__(self) -> str:
        from geneqn.sr.export import to_infix

        return f"Expr({to_infix(self)!r})"

    def __str__(self) -> str:
        from geneqn.sr.export import to_infix

        return to_infix(self)

    @property
    def variables(self) -> list[str]:
        """Names of the variables, in order of first appearance."""
        return list(dict.fromkeys(arg for op, arg in self.tokens if op == VAR))

    @property
    def constants(self) -> list[float]:
        return [float(arg) for op, arg in self.tokens if op == CONST]

    @property
    def is_constant(self) -> bool:
        return not any(op == VAR for op, _ in self.tokens)

    @property
    def operators(self) -> list[str]:
        """Token names of the operators used (``add``, ``exp``, ...), in order of first appearance."""
        return list(dict.fromkeys(OP_NAMES[op] for op, _ in self.tokens if op not in (CONST, VAR)))

    # ------------------------------------------------------------------ construction
    @classmethod
    def constant(cls, value: float) -> "Expr":
        return cls([(CONST, float(value))])

    @classmethod
    def variable(cls, name: str) -> "Expr":
        return cls([(VAR, str(name))])

    @classmethod
    def from_indexed(cls, tokens: Iterable[Token], names: Sequence[str]) -> "Expr":
        """From engine tokens whose variables are column indices into ``names``."""
        return cls((op, names[arg] if op == VAR else arg) for op, arg in tokens)

    @classmethod
    def parse(cls, text: str, names: Sequence[str], operators=None) -> "Expr":
        """Read an equation written in Python/sympy/PySR notation (``0.5*x**2 + exp(-y)/z``)
        over the variables ``names``, as data (a parser with a fixed grammar; nothing is
        executed). ``operators``: the operator names the tree may use (default: all)."""
        from geneqn.sr.export import parse_equation

        return cls.from_indexed(parse_equation(text, list(names), operators), list(names))

    def indexed(self, names: Sequence[str]) -> tuple[Token, ...]:
        """Tokens with variables replaced by their column index in ``names``."""
        where = {n: i for i, n in enumerate(names)}
        missing = [v for v in self.variables if v not in where]
        if missing:
            raise GeneqnError(f"the equation uses feature(s) {', '.join(map(repr, missing[:5]))} that the "
                              "data lacks.")
        return tuple((op, where[arg] if op == VAR else arg) for op, arg in self.tokens)

    def substitute(self, mapping: Mapping[str, "Expr"]) -> "Expr":
        """Replace variables by expressions (composition of stage 2 with stage 1)."""
        out: list[Token] = []
        for op, arg in self.tokens:
            if op == VAR and arg in mapping:
                out.extend(mapping[arg].tokens)
            else:
                out.append((op, arg))
        return Expr(out)

    def with_constants(self, values: Sequence[float]) -> "Expr":
        """The same tree with its constants (in token order) replaced by ``values``."""
        it = iter(values)
        out = [(op, float(next(it)) if op == CONST else arg) for op, arg in self.tokens]
        return Expr(out)

    # ------------------------------------------------------------------ (de)serialisation
    def to_json(self) -> list:
        """A list of tokens: ``["add"]``, ``["var", name]``, ``["const", value]`` in prefix order."""
        out = []
        for op, arg in self.tokens:
            if op == CONST:
                out.append(["const", float(arg)])
            elif op == VAR:
                out.append(["var", str(arg)])
            else:
                out.append([OP_NAMES[op]])
        return out

    @classmethod
    def from_json(cls, data, allowed_names: Iterable[str] | None = None, where: str = "equation") -> "Expr":
        """Read :meth:`to_json` output from a file, as data: operators are looked up in a fixed
        table, variables must be among ``allowed_names`` (when given), constants finite numbers.
        Anything else raises :class:`GeneqnError`; nothing in the file is executed."""
        allowed = None if allowed_names is None else set(allowed_names)
        if not isinstance(data, list) or not data:
            raise GeneqnError(f"{where}: expected a non-empty list of tokens.")
        tokens = []
        for k, item in enumerate(data):
            if not isinstance(item, list) or not item or not isinstance(item[0], str):
                raise GeneqnError(f"{where}: token {k} is not a list starting with an operator name.")
            name = item[0]
            if name not in OP_CODES:
                raise GeneqnError(f"{where}: token {k}: unknown operator {name[:40]!r}; known: "
                                  f"{', '.join(OP_NAMES)}.")
            op = OP_CODES[name]
            if op == CONST:
                value = item[1] if len(item) == 2 else None
                if isinstance(value, bool) or not isinstance(value, (int, float)):
                    raise GeneqnError(f"{where}: token {k}: a constant needs one finite number.")
                try:
                    value = float(value)
                except OverflowError:  # a JSON integer of hundreds of digits
                    raise GeneqnError(f"{where}: token {k}: the constant {str(item[1])[:20]}... is too large for a "
                                      "floating-point number; the file is damaged or edited. Use the equations.json "
                                      "of a geneqn run.") from None
                if not math.isfinite(value):
                    raise GeneqnError(f"{where}: token {k}: a constant needs one finite number.")
                tokens.append((CONST, value))
            elif op == VAR:
                if len(item) != 2 or not isinstance(item[1], str):
                    raise GeneqnError(f"{where}: token {k}: a variable needs one name.")
                if allowed is not None and item[1] not in allowed:
                    raise GeneqnError(f"{where}: token {k}: variable {item[1][:80]!r} is not one of the "
                                      "equation's features.")
                tokens.append((VAR, item[1]))
            else:
                if len(item) != 1:
                    raise GeneqnError(f"{where}: token {k}: operator {name!r} takes no argument.")
                tokens.append((op, None))
        try:
            return cls(tokens)
        except ValueError as e:
            raise GeneqnError(f"{where}: not a well-formed expression ({e}).") from None


# ---------------------------------------------------------------------- evaluation

def evaluate_tokens(tokens: Sequence[Token], columns) -> np.ndarray | np.floating:
    """Evaluate prefix tokens whose variables index ``columns`` (a sequence of 1-D arrays).

    Returns an array, or a numpy scalar for a constant tree. Invalid operations give inf/nan
    (never an exception). The bits of the result do not depend on the machine.
    """
    with np.errstate(all="ignore"):
        return evaluate_raw(tokens, columns)


def _pow(a, b):
    """PySR's safe power: a**b; NaN for 0 to a negative integer power and for a <= 0 to a
    non-integer power (0 to a positive one is 0)."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    integer = b == np.rint(b)
    odd = integer & (np.rint(b * 0.5) != b * 0.5)
    mag = numeric.exp(b * numeric.log(np.abs(a)))
    out = np.where((a < 0) & odd, -mag, mag)
    out = np.where(b == 0, 1.0, out)
    bad = ((a == 0) & (b < 0)) | (~integer & (a < 0))
    out = np.where(bad, np.nan, out)
    return out if out.ndim else out[()]


COSTLY = frozenset((EXP, LOG, SIN, COS, TANH, POW))
"""Operators that cost tens of array operations each (:mod:`geneqn.numeric`'s polynomials): the
values of the subtrees they root are worth remembering during a search."""


def evaluate_raw(tokens: Sequence[Token], columns, memo: dict | None = None):
    """:func:`evaluate_tokens` without its floating-point error context (the caller sets one).

    ``memo``: a dict that keeps the values of subtrees rooted at a :data:`COSTLY` operator (keyed
    by their tokens; read-only arrays), read before such a subtree is computed. A search's trees
    share most subtrees with their parents, so a mutation elsewhere in the tree does not pay for
    its exponentials again. The values are the same bits as without it."""
    stack: list = []
    pop, push = stack.pop, stack.append
    f64 = np.float64
    ends: list = []  # with a memo: where each value's subtree ends, so a costly node knows its tokens
    key = None
    for i in range(len(tokens) - 1, -1, -1):
        op, arg = tokens[i]
        if memo is not None:
            arity = ARITY[op]
            # a binary node ends where its second (right) child ends, the lower of the two entries
            end = i + 1 if arity == 0 else ends.pop() if arity == 1 else (ends.pop(), ends.pop())[1]
            ends.append(end)
            if op in COSTLY:
                key = tokens[i:end]
                v = memo.get(key)
                if v is not None:
                    del stack[len(stack) - arity:]
                    push(v)
                    key = None
                    continue
        if op == VAR:
            push(columns[arg])
        elif op == CONST:
            push(f64(arg))
        elif op == ADD:
            a = pop()
            push(a + pop())
        elif op == SUB:
            a = pop()
            push(a - pop())
        elif op == MUL:
            a = pop()
            push(a * pop())
        elif op == SQUARE:
            a = pop()
            push(a * a)
        elif op == NEG:
            push(-pop())
        elif op == EXP:
            push(numeric.exp(pop()))
        elif op == INV:
            push(f64(1.0) / pop())
        elif op == DIV:
            a = pop()
            push(a / pop())
        elif op == POW:
            a = pop()
            push(_pow(a, pop()))
        elif op == LOG:
            push(numeric.log(pop()))
        elif op == SQRT:
            push(np.sqrt(pop()))
        elif op == SIN:
            push(numeric.sin(pop()))
        elif op == COS:
            push(numeric.cos(pop()))
        elif op == TANH:
            push(numeric.tanh(pop()))
        elif op == ABS:
            push(np.abs(pop()))
        elif op == CUBE:
            a = pop()
            push(a * a * a)
        else:  # pragma: no cover - check_tokens refuses unknown codes
            raise ValueError(f"unknown operator code {op}")
        if key is not None:
            v = stack[-1]
            if isinstance(v, np.ndarray):
                v.flags.writeable = False
            memo[key] = v
            key = None
    return stack[0]


def read_columns(X: np.ndarray, trees) -> list:
    """The columns of ``X`` that indexed ``trees`` read, contiguous, at their indices (None for
    the others: a copy of every column would cost more than evaluating a tree)."""
    columns: list = [None] * X.shape[1]
    for tree in trees:
        for op, j in tree:
            if op == VAR and columns[j] is None:
                columns[j] = np.ascontiguousarray(X[:, j])
    return columns


def evaluate(expr: Expr, X, names: Sequence[str] | None = None) -> np.ndarray:
    """Evaluate ``expr`` on a feature matrix (columns named ``names``) or a DataFrame; float64 (n,)."""
    if hasattr(X, "columns") and names is None:
        names = [str(c) for c in X.columns]
        X = X.to_numpy(dtype=np.float64)
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2:
        raise ValueError(f"evaluate: X must be 2-D (genes x features), got shape {X.shape}")
    if names is None:
        names = [f"x{i}" for i in range(X.shape[1])]
    tokens = expr.indexed(list(names))
    out = evaluate_tokens(tokens, read_columns(X, [tokens]))
    return np.broadcast_to(np.asarray(out, dtype=np.float64), (X.shape[0],)).copy()


def _unary_derivative(op, a, v):
    """d op(a) / d a, given a and v = op(a)."""
    if op == SQUARE:
        return 2.0 * a
    if op == NEG:
        return -1.0
    if op == EXP:
        return v
    if op == INV:
        return -(v * v)
    if op == LOG:
        return 1.0 / a
    if op == SQRT:
        return 0.5 / v
    if op == SIN:
        return numeric.cos(a)
    if op == COS:
        return -numeric.sin(a)
    if op == TANH:
        return 1.0 - v * v
    if op == ABS:
        return np.sign(a)
    if op == CUBE:
        return 3.0 * (a * a)
    raise AssertionError(op)


_UNARY_VALUE = {SQUARE: lambda a: a * a, NEG: lambda a: -a, EXP: numeric.exp, INV: lambda a: np.float64(1.0) / a,
                LOG: numeric.log, SQRT: np.sqrt, SIN: numeric.sin, COS: numeric.cos, TANH: numeric.tanh,
                ABS: np.abs, CUBE: lambda a: a * a * a}


def _scaled(g, d):
    return None if g is None else g * d


def _plus(g, h, sign: float = 1.0):
    if h is None:
        return g
    if g is None:
        return h if sign > 0 else -h
    return g + h if sign > 0 else g - h


def evaluate_with_gradient(tokens: Sequence[Token], columns, n: int):
    """Forward-mode derivatives: (f (n,), J (k, n)) with J[j] = df / d(j-th constant)."""
    consts = [i for i, (op, _) in enumerate(tokens) if op == CONST]
    k = len(consts)
    position = {i: j for j, i in enumerate(consts)}
    stack: list = []
    with np.errstate(all="ignore"):
        for i in range(len(tokens) - 1, -1, -1):
            op, arg = tokens[i]
            if op == VAR:
                stack.append((columns[arg], None))
            elif op == CONST:
                g = np.zeros((k, 1))
                g[position[i], 0] = 1.0
                stack.append((np.float64(arg), g))
            elif ARITY[op] == 2:
                a, ga = stack.pop()
                b, gb = stack.pop()
                if op == ADD:
                    stack.append((a + b, _plus(ga, gb)))
                elif op == SUB:
                    stack.append((a - b, _plus(ga, gb, -1.0)))
                elif op == MUL:
                    stack.append((a * b, _plus(_scaled(ga, b), _scaled(gb, a))))
                elif op == DIV:
                    v = a / b
                    stack.append((v, _plus(_scaled(ga, 1.0 / b), _scaled(gb, -v / b))))
                else:  # POW
                    v = _pow(a, b)
                    da = _scaled(ga, b * _pow(a, b - 1.0)) if ga is not None else None
                    db = _scaled(gb, v * numeric.log(a)) if gb is not None else None
                    stack.append((v, _plus(da, db)))
            else:
                a, ga = stack.pop()
                v = _UNARY_VALUE[op](a)
                stack.append((v, None if ga is None else ga * _unary_derivative(op, a, v)))
    f, g = stack[0]
    f = np.broadcast_to(np.asarray(f, dtype=np.float64), (n,))
    J = np.zeros((k, n)) if g is None else np.broadcast_to(g, (k, n))
    return f, J


# ---------------------------------------------------------------------- simplification

def simplify_tokens(tokens: Sequence[Token], operators=None, full: bool = True) -> tuple[Token, ...]:
    """Rewrites that never lengthen a tree and never change its values (a rule that brings in
    an operator applies only when it is among ``operators``, op codes; default all):

    * a subtree without variables becomes one constant (when finite);
    * ``neg(neg(a))`` -> ``a``; ``neg(c)`` -> ``-c``;
    * ``a + neg(b)`` -> ``a - b``; ``a - neg(b)`` -> ``a + b``;
    * ``a * 1``, ``1 * a``, ``a / 1`` and ``a ^ 1`` -> ``a``; ``a + 0``, ``0 + a``, ``a - 0`` -> ``a``;
      ``0 - a`` -> ``neg(a)``;
    * two constants across one associative step become one: ``(x + c1) - c2`` -> ``x + c``,
      ``c1*(c2*x)`` -> ``c*x``;
    * ``a - a`` -> 0, ``a / a`` and ``a * inv(a)`` -> 1, ``a + a`` -> ``2*a`` (values kept
      wherever ``a`` is finite); ``-1 * a`` -> ``neg(a)`` (these with ``full`` only: the search
      applies the cheap rules to every child and the full set to what it returns).
    """
    tokens = tuple(tokens)
    if not full and not _may_simplify(tokens):
        return tokens
    allowed = _ALL_CODES if operators is None else set(operators)
    while True:
        ends, has_var = _structure(tokens)
        out = _simplify_pass(tokens, ends, has_var, allowed, full)
        if out is None:
            return tokens
        tokens = out


def _structure(tokens) -> tuple[list[int], list[bool]]:
    """For each token, the index one past its subtree and whether the subtree holds a variable
    (one backward pass)."""
    n = len(tokens)
    ends = [0] * n
    flags = [False] * n
    stack: list[int] = []
    for i in range(n - 1, -1, -1):
        op = tokens[i][0]
        k = ARITY[op]
        if k == 0:
            ends[i] = i + 1
            flags[i] = op == VAR
            stack.append(i)
        elif k == 1:
            c = stack[-1]
            ends[i], flags[i] = ends[c], flags[c]
            stack[-1] = i
        else:
            left = stack.pop()
            right = stack[-1]
            ends[i] = ends[right]
            flags[i] = flags[left] or flags[right]
            stack[-1] = i
    return ends, flags


def _may_simplify(tokens) -> bool:
    """Cheap test: could a rule apply? (No rule applies to a tree with one constant that is not
    0 or +-1, no negation and no operator of a constant alone.)"""
    consts = 0
    previous = None
    for op, arg in tokens:
        if op == NEG:
            return True
        if op == CONST:
            consts += 1
            if consts > 1 or arg in (0.0, 1.0, -1.0) or (previous is not None and ARITY[previous] == 1):
                return True
        previous = op
    return False


def _simplify_pass(tokens, ends, has_var, allowed, full):
    """One left-to-right pass of the rules; None when no rule applies."""
    out: list[Token] = []
    changed = False
    i, n = 0, len(tokens)
    while i < n:
        op = tokens[i][0]
        k = ARITY[op]
        if k == 0:
            out.append(tokens[i])
            i += 1
            continue
        j = ends[i]
        if not has_var[i]:
            v = float(evaluate_tokens(tokens[i:j], ()))
            if math.isfinite(v):
                out.append((CONST, v))
                i, changed = j, True
                continue
        if op == NEG and tokens[i + 1][0] == NEG:
            i, changed = i + 2, True
            continue
        if k == 2:
            a1 = ends[i + 1]
            lop, rop = tokens[i + 1][0], tokens[a1][0]
            lconst, rconst = lop == CONST and a1 == i + 2, rop == CONST and j == a1 + 1
            if lconst != rconst:
                inner_op = rop if lconst else lop
                if (op in (ADD, SUB) and inner_op in (ADD, SUB)) or (op == MUL and inner_op == MUL):
                    merged = _merge_constants(op, tokens[i + 1:a1], tokens[a1:j])
                    if merged is not None:
                        out.extend(merged)
                        i, changed = j, True
                        continue
            if op in (ADD, SUB) and rop == NEG:
                out.append((SUB if op == ADD else ADD, None))
                out.extend(tokens[i + 1:a1])
                out.extend(tokens[a1 + 1:j])
                i, changed = j, True
                continue
            if full and (a1 - i - 1) == (j - a1):
                left, right = tokens[i + 1:a1], tokens[a1:j]
                if left == right and op in (SUB, DIV):  # a - a, a / a
                    out.append((CONST, 0.0 if op == SUB else 1.0))
                    i, changed = j, True
                    continue
                if left == right and op == ADD and len(left) > 1 and MUL in allowed:  # a + a -> 2*a
                    out.extend(((MUL, None), (CONST, 2.0)) + left)
                    i, changed = j, True
                    continue
            if full and op == MUL and (rop == INV and tokens[a1 + 1:j] == tokens[i + 1:a1]
                                       or lop == INV and tokens[i + 2:a1] == tokens[a1:j]):
                out.append((CONST, 1.0))  # a * inv(a)
                i, changed = j, True
                continue
            if full and op == MUL and NEG in allowed and (
                    lconst and tokens[i + 1][1] == -1.0 or rconst and tokens[a1][1] == -1.0):
                out.append((NEG, None))  # -1 * a -> neg(a)
                out.extend(tokens[a1:j] if lconst else tokens[i + 1:a1])
                i, changed = j, True
                continue
            if op == SUB and lconst and tokens[i + 1][1] == 0.0 and NEG in allowed:  # 0 - a -> neg(a)
                out.append((NEG, None))
                out.extend(tokens[a1:j])
                i, changed = j, True
                continue
            if rconst and (op in (MUL, DIV, POW) and tokens[a1][1] == 1.0 or op in (ADD, SUB) and tokens[a1][1] == 0.0):
                out.extend(tokens[i + 1:a1])
                i, changed = j, True
                continue
            if lconst and (op == MUL and tokens[i + 1][1] == 1.0 or op == ADD and tokens[i + 1][1] == 0.0):
                out.extend(tokens[a1:j])
                i, changed = j, True
                continue
        out.append(tokens[i])
        i += 1
    return tuple(out) if changed else None


def _split_constant(tokens):
    """(other operand, constant, constant is left) of a binary node with exactly one constant
    operand; None otherwise."""
    a1 = subtree_end(tokens, 1)
    left, right = tokens[1:a1], tokens[a1:]
    lc = len(left) == 1 and left[0][0] == CONST
    rc = len(right) == 1 and right[0][0] == CONST
    if lc == rc:
        return None
    return (right, float(left[0][1]), True) if lc else (left, float(right[0][1]), False)


def _merge_constants(op, left, right):
    """``(x + c1) - c2`` -> ``x + c``, ``c1 - (x - c2)`` -> ``c - x``, ``c1*(c2*x)`` -> ``c*x``:
    two constants across one associative step become one (shorter); None when not applicable."""
    tokens = ((op, None),) + left + right
    outer = _split_constant(tokens)
    if outer is None:
        return None
    inner, c, c_left = outer
    iop = inner[0][0]
    if op in (ADD, SUB) and iop in (ADD, SUB):
        split = _split_constant(inner)
        if split is None:
            return None
        x, c0, c0_left = split
        # inner = sx*x + k
        sx = -1.0 if (iop == SUB and c0_left) else 1.0
        k = c0 if (iop == ADD or c0_left) else -c0
        if op == ADD:
            sign, const = sx, k + c
        elif c_left:            # c - inner
            sign, const = -sx, c - k
        else:                   # inner - c
            sign, const = sx, k - c
        if not math.isfinite(const):
            return None
        if sign > 0:
            return ((ADD, None),) + x + ((CONST, const),)
        return ((SUB, None), (CONST, const)) + x
    if op == MUL and iop == MUL:
        split = _split_constant(inner)
        if split is None:
            return None
        x, c0, _ = split
        const = c * c0
        if not math.isfinite(const):
            return None
        return ((MUL, None), (CONST, const)) + x
    return None


def simplify(expr: Expr) -> Expr:
    """:func:`simplify_tokens` on an Expr; the result is never more complex."""
    return Expr(simplify_tokens(expr.tokens))


# views and exports live in geneqn.sr.export; re-exported here for existing callers
def __getattr__(name):
    if name in ("to_infix", "to_latex", "to_mathml", "to_sympy", "to_python", "to_torch", "latex_escape",
                "latex_feature"):
        from geneqn.sr import export

        return getattr(export, name)
    raise AttributeError(f"module 'geneqn.sr.expr' has no attribute {name!r}")
