"""Equations as the trees that were searched.

An :class:`Expr` is a tree over the operators {+, -, *, square, neg, exp, inv}, with variables
(named features) and constants as leaves, held as a tuple of tokens in prefix order. This is the
canonical form of every equation in geneqn: complexity is counted on it, it is what a search
returns, what is composed, stored and evaluated. sympy is only a view of it (for display and
export), never the form that is counted, so sympy's automatic expansion of ``0.5*(x + y)`` into
``0.5*x + 0.5*y`` cannot change a complexity.

Complexity is PySR's default: every operator, variable and constant counts 1, i.e. the number
of tokens. ``0.5*(x + y + (z - 1.2)*(w + v)) - 0.1`` has 15.

Tokens are ``(op, arg)`` pairs: ``(CONST, value)``, ``(VAR, name)`` (or a column index inside
the engines) and ``(op, None)`` for operators.
"""

from __future__ import annotations

import math
from typing import Iterable, Mapping, Sequence

import numpy as np

from geneqn.errors import GeneqnError

CONST, VAR, ADD, SUB, MUL, SQUARE, NEG, EXP, INV = range(9)
ARITY = (0, 0, 2, 2, 2, 1, 1, 1, 1)
OP_NAMES = ("const", "var", "add", "sub", "mul", "square", "neg", "exp", "inv")
OP_CODES = {name: code for code, name in enumerate(OP_NAMES)}
# the paper's operator names (config sr.operators) -> op codes
OPERATORS = {"+": ADD, "-": SUB, "*": MUL, "square": SQUARE, "neg": NEG, "exp": EXP, "inv": INV}
BINARY = (ADD, SUB, MUL)
UNARY = (SQUARE, NEG, EXP, INV)

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

    def __len__(self) -> int:
        return len(self.tokens)

    def __eq__(self, other) -> bool:
        return isinstance(other, Expr) and self.tokens == other.tokens

    def __hash__(self) -> int:
        return hash(self.tokens)

    def __repr__(self) -> str:
        return f"Expr({to_infix(self)!r})"

    def __str__(self) -> str:
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
                raise GeneqnError(f"{where}: token {k}: unknown operator {name!r}; known: "
                                  f"{', '.join(OP_NAMES)}.")
            op = OP_CODES[name]
            if op == CONST:
                if len(item) != 2 or isinstance(item[1], bool) or not isinstance(item[1], (int, float)) \
                        or not math.isfinite(item[1]):
                    raise GeneqnError(f"{where}: token {k}: a constant needs one finite number.")
                tokens.append((CONST, float(item[1])))
            elif op == VAR:
                if len(item) != 2 or not isinstance(item[1], str):
                    raise GeneqnError(f"{where}: token {k}: a variable needs one name.")
                if allowed is not None and item[1] not in allowed:
                    raise GeneqnError(f"{where}: token {k}: variable {item[1]!r} is not one of the "
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
    (never an exception).
    """
    with np.errstate(all="ignore"):
        return evaluate_raw(tokens, columns)


def evaluate_raw(tokens: Sequence[Token], columns):
    """:func:`evaluate_tokens` without its floating-point error context (the caller sets one)."""
    stack: list = []
    pop, push = stack.pop, stack.append
    f64, exp = np.float64, np.exp
    for op, arg in reversed(tokens):
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
            push(exp(pop()))
        else:  # INV
            push(f64(1.0) / pop())
    return stack[0]


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
    columns = [X[:, j] for j in range(X.shape[1])]
    out = evaluate_tokens(tokens, columns)
    return np.broadcast_to(np.asarray(out, dtype=np.float64), (X.shape[0],)).copy()


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
            elif op == ADD or op == SUB:
                a, ga = stack.pop()
                b, gb = stack.pop()
                if op == ADD:
                    v = a + b
                    g = ga if gb is None else (gb if ga is None else ga + gb)
                else:
                    v = a - b
                    g = ga if gb is None else (-gb if ga is None else ga - gb)
                stack.append((v, g))
            elif op == MUL:
                a, ga = stack.pop()
                b, gb = stack.pop()
                g = None if ga is None else ga * b
                if gb is not None:
                    g = gb * a if g is None else g + gb * a
                stack.append((a * b, g))
            elif op == SQUARE:
                a, ga = stack.pop()
                stack.append((a * a, None if ga is None else ga * (2.0 * a)))
            elif op == NEG:
                a, ga = stack.pop()
                stack.append((-a, None if ga is None else -ga))
            elif op == EXP:
                a, ga = stack.pop()
                e = np.exp(a)
                stack.append((e, None if ga is None else ga * e))
            elif op == INV:
                a, ga = stack.pop()
                v = np.float64(1.0) / a
                stack.append((v, None if ga is None else ga * (-(v * v))))
    f, g = stack[0]
    f = np.broadcast_to(np.asarray(f, dtype=np.float64), (n,))
    J = np.zeros((k, n)) if g is None else np.broadcast_to(g, (k, n))
    return f, J


# ---------------------------------------------------------------------- simplification

def simplify_tokens(tokens: Sequence[Token]) -> tuple[Token, ...]:
    """Rewrites that never lengthen a tree and never change its values:

    * a subtree without variables becomes one constant (when finite);
    * ``neg(neg(a))`` -> ``a``; ``neg(c)`` -> ``-c``;
    * ``a + neg(b)`` -> ``a - b``; ``a - neg(b)`` -> ``a + b``;
    * ``a * 1`` and ``1 * a`` -> ``a``; ``a + 0``, ``0 + a``, ``a - 0`` -> ``a``.
    """
    tokens = tuple(tokens)
    has_var = _has_var_flags(tokens)
    if not _may_simplify(tokens, has_var):
        return tokens
    changed, first = True, True
    while changed:
        changed = False
        if not first:
            has_var = _has_var_flags(tokens)
        first = False
        out: list[Token] = []
        i, n = 0, len(tokens)
        while i < n:
            op = tokens[i][0]
            if ARITY[op] == 0:
                out.append(tokens[i])
                i += 1
                continue
            j = subtree_end(tokens, i)
            if not has_var[i]:
                v = float(evaluate_tokens(tokens[i:j], ()))
                if math.isfinite(v):
                    out.append((CONST, v))
                    i, changed = j, True
                    continue
            if op == NEG and tokens[i + 1][0] == NEG:
                i, changed = i + 2, True
                continue
            if ARITY[op] == 2:
                a0 = i + 1
                a1 = subtree_end(tokens, a0)
                left, right = tokens[a0:a1], tokens[a1:j]
                if op in (ADD, SUB) and right[0][0] == NEG:
                    out.append((SUB if op == ADD else ADD, None))
                    out.extend(left)
                    out.extend(right[1:])
                    i, changed = j, True
                    continue
                if op == MUL and _is_const(right, 1.0) or op in (ADD, SUB) and _is_const(right, 0.0):
                    out.extend(left)
                    i, changed = j, True
                    continue
                if op in (MUL,) and _is_const(left, 1.0) or op == ADD and _is_const(left, 0.0):
                    out.extend(right)
                    i, changed = j, True
                    continue
            out.append(tokens[i])
            i += 1
        tokens = tuple(out)
    return tokens


def _may_simplify(tokens, has_var) -> bool:
    """Cheap test: could any rule of :func:`simplify_tokens` apply?"""
    for i, (op, arg) in enumerate(tokens):
        if op == NEG:
            return True
        if op == CONST:
            if arg == 0.0 or arg == 1.0:
                return True
        elif op != VAR and not has_var[i]:
            return True
    return False


def _is_const(tokens: Sequence[Token], value: float) -> bool:
    return len(tokens) == 1 and tokens[0][0] == CONST and float(tokens[0][1]) == value


def _has_var_flags(tokens: Sequence[Token]) -> list[bool]:
    """For each token, whether its subtree holds a variable (one backward pass)."""
    flags = [False] * len(tokens)
    stack: list[bool] = []
    for i in range(len(tokens) - 1, -1, -1):
        op = tokens[i][0]
        if op == VAR:
            v = True
        elif op == CONST:
            v = False
        else:
            v = False
            for _ in range(ARITY[op]):
                v = stack.pop() or v
        flags[i] = v
        stack.append(v)
    return flags


def simplify(expr: Expr) -> Expr:
    """:func:`simplify_tokens` on an Expr; the result is never more complex."""
    return Expr(simplify_tokens(expr.tokens))


# ---------------------------------------------------------------------- printing

_PRECEDENCE = {ADD: 1, SUB: 1, MUL: 2}


def _fmt_number(v: float, digits: int | None) -> str:
    if digits is None:
        return repr(float(v))
    s = f"{float(v):.{digits}g}"
    return s


def to_infix(expr: Expr, digits: int | None = 4) -> str:
    """Readable one-line form, e.g. ``0.193*((TF4 - 1.16)*(square(E10 - 0.725) + PC3)) - 0.0121``.

    Parentheses appear only where precedence needs them; ``digits`` significant digits for
    constants (None: full precision).
    """
    text, _ = _infix(expr.tokens, 0, digits)
    return text[0]


def _infix(tokens, i, digits):
    """Return ((text, precedence), next index); a text starting with "-" is a negation."""
    op, arg = tokens[i]
    if op == VAR:
        return (str(arg), 9), i + 1
    if op == CONST:
        s = _fmt_number(arg, digits)
        return (s, 1.5 if s.startswith("-") else 9), i + 1
    if ARITY[op] == 1:
        (a, pa), j = _infix(tokens, i + 1, digits)
        if op == NEG:
            return (f"-{a}" if pa >= 2 and not a.startswith("-") else f"-({a})", 1.5), j
        return (f"{OP_NAMES[op]}({a})", 9), j
    (a, pa), j = _infix(tokens, i + 1, digits)
    (b, pb), k = _infix(tokens, j, digits)
    p = _PRECEDENCE[op]
    if pa < p and not (op == MUL and pa == 1.5):  # -a*b reads as (-a)*b, the same value
        a = f"({a})"
    if pb < p or (op == SUB and pb == p) or b.startswith("-"):
        b = f"({b})"
    sym = {ADD: " + ", SUB: " - ", MUL: "*"}[op]
    return (f"{a}{sym}{b}", p), k


def to_latex(expr: Expr, digits: int = 3, name=None) -> str:
    """LaTeX of the tree as searched (``square(a)`` as ``(a)^2``, ``inv(a)`` as a fraction).

    ``name(feature) -> str`` gives the LaTeX of a variable (default: ``X_{name}`` with the name
    in upright text and special characters escaped).
    """
    name = name or latex_feature
    text, _ = _latex(expr.tokens, 0, digits, name)
    return text[0]


_LATEX_SPECIAL = {"\\": r"\textbackslash{}", "_": r"\_", "%": r"\%", "$": r"\$", "#": r"\#",
                  "&": r"\&", "{": r"\{", "}": r"\}", "^": r"\^{}", "~": r"\~{}"}


def latex_escape(text: str) -> str:
    return "".join(_LATEX_SPECIAL.get(ch, ch) for ch in str(text))


def latex_feature(feature: str) -> str:
    return r"X_{\mathrm{" + latex_escape(feature) + "}}"


def _latex_number(v: float, digits: int) -> str:
    s = f"{float(v):.{digits}g}"
    if "e" in s:
        mant, ex = s.split("e")
        return rf"{mant} \cdot 10^{{{int(ex)}}}"
    return s


def _latex(tokens, i, digits, name):
    op, arg = tokens[i]
    if op == VAR:
        return (name(arg), 9), i + 1
    if op == CONST:
        s = _latex_number(arg, digits)
        return (s, 9 if not s.startswith("-") else 1.5), i + 1
    if ARITY[op] == 1:
        (a, pa), j = _latex(tokens, i + 1, digits, name)
        if op == SQUARE:
            return ((f"\\left({a}\\right)^{{2}}" if pa < 9 or not _atomic(a) else f"{a}^{{2}}"), 8), j
        if op == EXP:
            return (f"e^{{{a}}}", 8), j
        if op == INV:
            return (f"\\frac{{1}}{{{a}}}", 9), j
        return ((f"-{a}" if pa >= 2 else f"-\\left({a}\\right)"), 1.5), j
    (a, pa), j = _latex(tokens, i + 1, digits, name)
    (b, pb), k = _latex(tokens, j, digits, name)
    p = _PRECEDENCE[op]
    if pa < p and not (op == MUL and pa == 1.5):
        a = f"\\left({a}\\right)"
    if pb < p or (op == SUB and pb == p) or b.startswith("-"):
        b = f"\\left({b}\\right)"
    sym = {ADD: " + ", SUB: " - ", MUL: " \\, "}[op]
    return (f"{a}{sym}{b}", p), k


def _atomic(text: str) -> bool:
    return not any(ch in text for ch in " +-")


# ---------------------------------------------------------------------- other forms

def to_sympy(expr: Expr):
    """A sympy expression with the same value (sympy may reorder or expand it; its look is not
    the counted form). Built from sympy constructors, never by parsing text."""
    import sympy as sp

    stack: list = []
    for op, arg in reversed(expr.tokens):
        if op == VAR:
            stack.append(sp.Symbol(str(arg)))
        elif op == CONST:
            stack.append(sp.Float(float(arg)))
        elif ARITY[op] == 2:
            a, b = stack.pop(), stack.pop()
            stack.append(a + b if op == ADD else a - b if op == SUB else a * b)
        else:
            a = stack.pop()
            stack.append(a ** 2 if op == SQUARE else -a if op == NEG else sp.exp(a) if op == EXP else 1 / a)
    return stack[0]


def to_python(expr: Expr, function_name: str = "equation") -> str:
    """Source of a numpy function ``f(X)`` taking a dict-like of feature columns (by name)."""
    if not function_name.isidentifier():
        raise ValueError(f"{function_name!r} is not a Python identifier")
    body = _python(expr.tokens, 0)[0]
    features = ", ".join(repr(v) for v in expr.variables)
    return (f"import numpy as np\n\n\ndef {function_name}(X):\n"
            f'    """X: mapping of feature name -> array; uses {features or "no feature"}."""\n'
            f"    return {body}\n")


def _python(tokens, i):
    op, arg = tokens[i]
    if op == VAR:
        return f"X[{str(arg)!r}]", i + 1
    if op == CONST:
        return f"({float(arg)!r})", i + 1
    if ARITY[op] == 1:
        a, j = _python(tokens, i + 1)
        return {SQUARE: f"({a})**2", NEG: f"(-{a})", EXP: f"np.exp({a})", INV: f"(1.0/{a})"}[op], j
    a, j = _python(tokens, i + 1)
    b, k = _python(tokens, j)
    return f"({a} {'+' if op == ADD else '-' if op == SUB else '*'} {b})", k


def to_mathml(expr: Expr, digits: int = 3, name=None) -> str:
    """Presentation MathML (no ``<math>`` wrapper); feature names escaped, shown as X with the
    name as a subscript in upright text."""
    import html

    def default(feature: str) -> str:
        return f"<msub><mi>X</mi><mtext>{html.escape(str(feature))}</mtext></msub>"

    name = name or default
    return _mathml(expr.tokens, 0, digits, name)[0][0]


def _mathml(tokens, i, digits, name):
    op, arg = tokens[i]
    if op == VAR:
        return (name(arg), 9), i + 1
    if op == CONST:
        s = _fmt_number(arg, digits)
        if s.startswith("-"):
            return (f"<mrow><mo>&#x2212;</mo><mn>{s[1:]}</mn></mrow>", 1.5), i + 1
        return (f"<mn>{s}</mn>", 9), i + 1

    def paren(x):
        return f"<mrow><mo>(</mo>{x}<mo>)</mo></mrow>"

    if ARITY[op] == 1:
        (a, pa), j = _mathml(tokens, i + 1, digits, name)
        if op == SQUARE:
            return (f"<msup>{a if pa >= 9 else paren(a)}<mn>2</mn></msup>", 8), j
        if op == EXP:
            return (f"<msup><mi>e</mi><mrow>{a}</mrow></msup>", 8), j
        if op == INV:
            return (f"<mfrac><mn>1</mn><mrow>{a}</mrow></mfrac>", 9), j
        return (f"<mrow><mo>&#x2212;</mo>{a if pa >= 2 else paren(a)}</mrow>", 1.5), j
    (a, pa), j = _mathml(tokens, i + 1, digits, name)
    (b, pb), k = _mathml(tokens, j, digits, name)
    p = _PRECEDENCE[op]
    if pa < p and not (op == MUL and pa == 1.5):
        a = paren(a)
    if pb < p or (op == SUB and pb == p) or pb == 1.5:
        b = paren(b)
    sym = {ADD: "<mo>+</mo>", SUB: "<mo>&#x2212;</mo>", MUL: "<mo>&#x2062;</mo>"}[op]
    return (f"<mrow>{a}{sym}{b}</mrow>", p), k


def to_torch(expr: Expr, feature_names: Sequence[str]):
    """A ``torch.nn.Module`` computing ``expr`` from a (n, d) tensor whose columns are
    ``feature_names``; its constants are trainable parameters."""
    import torch

    tokens = expr.indexed(list(feature_names))

    class EquationModule(torch.nn.Module):
        def __init__(self):
            super().__init__()
            consts = [float(arg) for op, arg in tokens if op == CONST]
            self.constants = torch.nn.Parameter(torch.tensor(consts, dtype=torch.float64))
            self.feature_names = list(feature_names)
            self.equation = to_infix(expr)

        def forward(self, X: torch.Tensor) -> torch.Tensor:
            stack: list = []
            c = len(tokens)
            k = self.constants.shape[0]
            for op, arg in reversed(tokens):
                c -= 1
                if op == VAR:
                    stack.append(X[:, arg])
                elif op == CONST:
                    k -= 1
                    stack.append(self.constants[k].to(X.dtype))
                elif ARITY[op] == 2:
                    a, b = stack.pop(), stack.pop()
                    stack.append(a + b if op == ADD else a - b if op == SUB else a * b)
                else:
                    a = stack.pop()
                    stack.append(a * a if op == SQUARE else -a if op == NEG else torch.exp(a) if op == EXP else 1.0 / a)
            out = stack[0]
            return out.expand(X.shape[0]) if out.dim() == 0 else out

    return EquationModule()


def operator_codes(operators: Iterable[str]) -> tuple[int, ...]:
    """Op codes of the paper's operator names (``+``, ``-``, ``*``, ``square``, ``neg``,
    ``exp``, ``inv``)."""
    unknown = [o for o in operators if o not in OPERATORS]
    if unknown:
        raise GeneqnError(f"unknown operator(s) {', '.join(map(repr, unknown))}; the operators are "
                          f"{', '.join(OPERATORS)}.")
    return tuple(OPERATORS[o] for o in operators)
