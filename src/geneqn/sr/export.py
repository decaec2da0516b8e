"""Views and exports of an :class:`~geneqn.sr.expr.Expr`: text, LaTeX, MathML, sympy, Python
source, a torch module, and the parser that reads equation text back as data.

Every function here covers every operator of :mod:`geneqn.sr.operators`. Feature names are data
wherever they are rendered: escaped in LaTeX and MathML, written as string literals (``repr``)
in Python source, never spliced into code or markup as they are.
"""

from __future__ import annotations

import html
import re
from typing import Sequence

from geneqn.sr.expr import Expr
from geneqn.sr.operators import (ABS, ADD, ARITY, BY_NAME, CONST, COS, CUBE, DIV, EXP, INV, LOG, MUL, NEG,
                                 POW, SIN, SQRT, SQUARE, SUB, TANH, VAR, operator_codes)

_PRECEDENCE = {ADD: 1, SUB: 1, MUL: 2, DIV: 2}
_FUNCTIONS = {EXP: "exp", LOG: "log", SQRT: "sqrt", SIN: "sin", COS: "cos", TANH: "tanh", ABS: "abs"}
_ATOM, _NEGATIVE, _POWER = 9, 1.5, 3


def _fmt_number(v: float, digits: int | None) -> str:
    if digits is None:
        return repr(float(v))
    return f"{float(v):.{digits}g}"


def _subtree(tokens, i):
    from geneqn.sr.expr import subtree_end

    return tokens[i:subtree_end(tokens, i)]


def _factors(tokens, i, num=None, den=None, flip=False):
    """The factors of the product that starts at token ``i`` (MUL, DIV and INV flattened): start
    indices of the numerator's and the denominator's factors, in order."""
    from geneqn.sr.expr import subtree_end

    num = [] if num is None else num
    den = [] if den is None else den
    op = tokens[i][0]
    if op in (MUL, DIV):
        j = subtree_end(tokens, i + 1)
        _factors(tokens, i + 1, num, den, flip)
        _factors(tokens, j, num, den, flip if op == MUL else not flip)
    elif op == INV:
        _factors(tokens, i + 1, num, den, not flip)
    else:
        (den if flip else num).append(i)
    return num, den


def _is_product(tokens, i) -> bool:
    return tokens[i][0] in (MUL, DIV) or tokens[i][0] == INV


# ---------------------------------------------------------------------- text (Python / sympy notation)

def to_infix(expr: Expr, digits: int | None = 4) -> str:
    """Readable one-line form in Python/sympy notation, e.g.
    ``0.193*((TF4 - 1.16)*((E10 - 0.725)**2 + PC3)) - 0.0121``: ``x**2`` for square, ``1/x``
    for inv, ``a/b`` for ``a*inv(b)`` and div, ``exp(...)``. Parentheses appear only where
    precedence needs them; ``digits`` significant digits for constants (None: full precision).
    :func:`parse_equation` reads it back to the same values."""
    return _infix(expr.tokens, 0, digits)[0][0]


def _wrap(text: str) -> str:
    return f"({text})"


def _infix(tokens, i, digits):
    """Return ((text, precedence), next index)."""
    from geneqn.sr.expr import subtree_end

    op, arg = tokens[i]
    end = subtree_end(tokens, i)
    if op == VAR:
        return (str(arg), _ATOM), end
    if op == CONST:
        s = _fmt_number(arg, digits)
        return (s, _NEGATIVE if s.startswith("-") else _ATOM), end
    if _is_product(tokens, i):
        return (_infix_product(tokens, i, digits), 2), end
    if ARITY[op] == 1:
        (a, pa), _ = _infix(tokens, i + 1, digits)
        if op == NEG:
            return (f"-{a}" if pa >= 2 and not a.startswith("-") else f"-({a})", _NEGATIVE), end
        if op in (SQUARE, CUBE):
            base = a if pa == _ATOM else _wrap(a)
            return (f"{base}**{2 if op == SQUARE else 3}", _POWER), end
        return (f"{_FUNCTIONS[op]}({a})", _ATOM), end
    (a, pa), j = _infix(tokens, i + 1, digits)
    (b, pb), _ = _infix(tokens, j, digits)
    if op == POW:
        base = a if pa == _ATOM else _wrap(a)
        return (f"{base}**{b if pb == _ATOM and not b.startswith('-') else _wrap(b)}", _POWER), end
    p = _PRECEDENCE[op]
    if pa < p:
        a = _wrap(a)
    if pb < p or (op == SUB and pb == p) or b.startswith("-"):
        b = _wrap(b)
    return (f"{a}{' + ' if op == ADD else ' - '}{b}", p), end


def _infix_product(tokens, i, digits) -> str:
    """A product as ``c*a*b/(d*e)``: constant factors first, the denominator's after one ``/``."""
    num, den = _factors(tokens, i)
    num = sorted(num, key=lambda k: tokens[k][0] != CONST)

    def factor(k, first):
        text, p = _infix(tokens, k, digits)[0]
        if p == _NEGATIVE:
            return text if first else _wrap(text)
        return text if p >= 2 else _wrap(text)

    top = "*".join(factor(k, n == 0) for n, k in enumerate(num)) if num else "1"
    if not den:
        return top
    if len(den) == 1:
        text, p = _infix(tokens, den[0], digits)[0]
        return f"{top}/{text if p >= _POWER else _wrap(text)}"
    return f"{top}/({'*'.join(factor(k, False) for k in den)})"


# ---------------------------------------------------------------------- parsing text back

_TOKEN = re.compile(r"\s*(?:(?P<num>(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?)|"
                    r"(?P<name>[A-Za-z_][A-Za-z0-9_.]*)|(?P<op>\*\*|[-+*/^(),]))")
_PARSE_FUNCTIONS = {"exp": EXP, "log": LOG, "ln": LOG, "sqrt": SQRT, "sin": SIN, "cos": COS, "tanh": TANH,
                    "abs": ABS, "Abs": ABS, "square": SQUARE, "cube": CUBE, "neg": NEG, "inv": INV}
MAX_EQUATION_TEXT = 100_000
MAX_NESTING = 100


def parse_equation(text: str, names: Sequence[str], operators=None) -> tuple:
    """Engine tokens (variables as column indices into ``names``) of an equation in Python,
    sympy or PySR notation: numbers, the variables ``names``, ``+ - * / ** ^``, unary minus,
    parentheses and the functions exp, log (ln), sqrt, sin, cos, tanh, abs, square, cube, neg,
    inv. A recursive-descent parser with a fixed grammar: nothing in the text is executed.

    ``operators`` (names, default all) is the set the tree must stay in: ``a/b`` becomes
    ``a*inv(b)`` without ``/``, ``x**2`` square, ``x**3`` cube, ``x**-1`` inv, and a text
    that needs an operator outside the set raises ValueError, as does anything unknown.
    """
    if not isinstance(text, str) or len(text) > MAX_EQUATION_TEXT:
        raise ValueError("an equation must be a string of at most 100,000 characters")
    allowed = set(range(ADD, len(ARITY))) if operators is None else set(operator_codes(operators))
    toks = []
    pos = 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            if text[pos:].strip() == "":
                break
            raise ValueError(f"unexpected character at {pos} in {text[:80]!r}")
        pos = m.end()
        kind = m.lastgroup
        toks.append((kind, m.group(kind)))
    column = {n: i for i, n in enumerate(names)}
    k = 0
    depth = 0

    def need(code, what):
        if code not in allowed:
            raise ValueError(f"{what} needs the operator {_name(code)!r}, which is not among the operators")
        return code

    def peek():
        return toks[k] if k < len(toks) else (None, None)

    def take(expected=None):
        nonlocal k
        tok = peek()
        if tok[0] is None or (expected is not None and tok[1] != expected):
            raise ValueError(f"expected {expected or 'more'!r} in {text[:80]!r}")
        k += 1
        return tok

    def const_value(t):
        return t[0][1] if len(t) == 1 and t[0][0] == CONST else None

    def divide(a, b):
        if DIV in allowed:
            return ((DIV, None),) + a + b
        need(INV, "a division")
        if const_value(a) == 1.0:
            return ((INV, None),) + b
        return ((need(MUL, "a division"), None),) + a + ((INV, None),) + b

    def power(a, b):
        e = const_value(b)
        if e == 2.0 and SQUARE in allowed:
            return ((SQUARE, None),) + a
        if e == 3.0 and CUBE in allowed:
            return ((CUBE, None),) + a
        if e == -1.0 and INV in allowed:
            return ((INV, None),) + a
        if e == 0.5 and SQRT in allowed and POW not in allowed:
            return ((SQRT, None),) + a
        return ((need(POW, "a power"), None),) + a + b

    def negate(a):
        v = const_value(a)
        if v is not None:
            return ((CONST, -v),)
        if NEG in allowed:
            return ((NEG, None),) + a
        return ((need(MUL, "a minus sign"), None), (CONST, -1.0)) + a

    def expr():
        out = term()
        while peek()[1] in ("+", "-"):
            op = ADD if take()[1] == "+" else SUB
            out = ((need(op, "a sum"), None),) + out + term()
        return out

    def term():
        out = unary()
        while peek()[1] in ("*", "/"):
            if take()[1] == "*":
                out = ((need(MUL, "a product"), None),) + out + unary()
            else:
                out = divide(out, unary())
        return out

    def unary():
        nonlocal depth
        depth += 1
        if depth > MAX_NESTING:
            raise ValueError("the equation is nested too deeply")
        if peek()[1] == "-":
            take()
            out = negate(unary())
        elif peek()[1] == "+":
            take()
            out = unary()
        else:
            out = pow_()
        depth -= 1
        return out

    def pow_():
        base = atom()
        if peek()[1] in ("**", "^"):
            take()
            return power(base, unary())
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
            if value in _PARSE_FUNCTIONS and peek()[1] == "(":
                take("(")
                arg = expr()
                take(")")
                code = _PARSE_FUNCTIONS[value]
                if code == SQRT and SQRT not in allowed:
                    return power(arg, ((CONST, 0.5),))
                if code == SQUARE and SQUARE not in allowed or code == CUBE and CUBE not in allowed:
                    return power(arg, ((CONST, 2.0 if code == SQUARE else 3.0),))
                if code == NEG:
                    return negate(arg)
                if code == INV and INV not in allowed:
                    return divide(((CONST, 1.0),), arg)
                return ((need(code, f"{value}()"), None),) + arg
            if value == "pow" and peek()[1] == "(":
                take("(")
                a = expr()
                take(",")
                b = expr()
                take(")")
                return power(a, b)
        raise ValueError(f"unexpected {value!r} in {text[:80]!r}")

    if not toks:
        raise ValueError("an empty equation")
    out = expr()
    if k != len(toks):
        raise ValueError(f"trailing input in {text[:80]!r}")
    return out


def _name(code: int) -> str:
    return next(n for n, c in BY_NAME.items() if c == code)


# ---------------------------------------------------------------------- LaTeX

_LATEX_SPECIAL = {"\\": r"\textbackslash{}", "_": r"\_", "%": r"\%", "$": r"\$", "#": r"\#",
                  "&": r"\&", "{": r"\{", "}": r"\}", "^": r"\^{}", "~": r"\~{}"}


def latex_escape(text: str) -> str:
    """Text safe inside LaTeX ``\\mathrm{}`` / ``\\text{}``: specials escaped, line breaks and other
    control characters dropped (a name cannot end a comment or start a command)."""
    return "".join(_LATEX_SPECIAL.get(ch, ch) for ch in str(text) if ch.isprintable())


def latex_feature(feature: str) -> str:
    return r"X_{\mathrm{" + latex_escape(feature) + "}}"


def _latex_number(v: float, digits: int) -> str:
    s = f"{float(v):.{digits}g}"
    if "e" in s:
        mant, ex = s.split("e")
        return rf"{mant} \cdot 10^{{{int(ex)}}}"
    return s


def _simple_exponent(tokens) -> bool:
    """An exponent that stays legible as a superscript: a leaf, or a constant times a leaf / a
    leaf plus a constant (no powers, fractions or functions inside)."""
    return len(tokens) <= 3 and all(op in (CONST, VAR, NEG, MUL, ADD, SUB) for op, _ in tokens)


def to_latex(expr: Expr, digits: int = 3, name=None) -> str:
    """LaTeX of the tree as searched (``square(a)`` as ``(a)^{2}``, ``inv(a)`` and ``/`` as
    fractions, ``exp`` as ``e^{a}`` for a simple exponent and ``\\exp(...)`` otherwise, so that
    nothing stacks superscripts past one level).

    ``name(feature) -> str`` gives the LaTeX of a variable (default: ``X_{name}`` with the name
    in upright text and special characters escaped).
    """
    name = name or latex_feature
    return _latex(expr.tokens, 0, digits, name)[0][0]


def _join_factors(ks, render, paren, sep: str) -> str:
    """Factors of a product, each rendered (text, precedence) and parenthesised where needed."""
    parts = []
    for n, k in enumerate(ks):
        text, p = render(k)
        wrap = (p < 2 and p != _NEGATIVE) or (p == _NEGATIVE and n > 0)
        parts.append(paren(text) if wrap else text)
    return sep.join(parts)


def _paren_tex(a: str) -> str:
    return f"\\left({a}\\right)"


def _latex(tokens, i, digits, name):
    from geneqn.sr.expr import subtree_end

    op, arg = tokens[i]
    end = subtree_end(tokens, i)
    if op == VAR:
        return (name(arg), _ATOM), end
    if op == CONST:
        s = _latex_number(arg, digits)
        return (s, _ATOM if not s.startswith("-") else _NEGATIVE), end
    if _is_product(tokens, i):
        num, den = _factors(tokens, i)
        num = sorted(num, key=lambda k: tokens[k][0] != CONST)

        def join(ks):
            return _join_factors(ks, lambda k: _latex(tokens, k, digits, name)[0], _paren_tex, " \\, ")

        top = join(num) if num else "1"
        if not den:
            return (top, 2), end
        bottom = _latex(tokens, den[0], digits, name)[0][0] if len(den) == 1 else join(den)
        return (f"\\frac{{{top}}}{{{bottom}}}", _ATOM), end
    if ARITY[op] == 1:
        (a, pa), _ = _latex(tokens, i + 1, digits, name)
        if op in (SQUARE, CUBE):
            base = a if pa == _ATOM and _atomic(a) else _paren_tex(a)
            return (f"{base}^{{{2 if op == SQUARE else 3}}}", _POWER), end
        if op == EXP:
            if _simple_exponent(_subtree(tokens, i + 1)):
                return (f"e^{{{a}}}", _POWER), end
            return (f"\\exp{_paren_tex(a)}", _ATOM), end
        if op == SQRT:
            return (f"\\sqrt{{{a}}}", _ATOM), end
        if op == ABS:
            return (f"\\left|{a}\\right|", _ATOM), end
        if op in (LOG, SIN, COS, TANH):
            return (f"\\{_FUNCTIONS[op]}{_paren_tex(a)}", _ATOM), end
        return ((f"-{a}" if pa >= 2 else f"-{_paren_tex(a)}"), _NEGATIVE), end
    (a, pa), j = _latex(tokens, i + 1, digits, name)
    (b, pb), _ = _latex(tokens, j, digits, name)
    if op == POW:
        base = a if pa == _ATOM and _atomic(a) else _paren_tex(a)
        return (f"{base}^{{{b}}}", _POWER), end
    p = _PRECEDENCE[op]
    if pa < p:
        a = _paren_tex(a)
    if pb < p or (op == SUB and pb == p) or b.startswith("-"):
        b = _paren_tex(b)
    return (f"{a}{' + ' if op == ADD else ' - '}{b}", p), end


def _atomic(text: str) -> bool:
    return not any(ch in text for ch in " +-^")


# ---------------------------------------------------------------------- MathML

def to_mathml(expr: Expr, digits: int = 3, name=None) -> str:
    """Presentation MathML (no ``<math>`` wrapper); feature names escaped, shown as X with the
    name as a subscript in upright text."""

    def default(feature: str) -> str:
        return f"<msub><mi>X</mi><mtext>{html.escape(str(feature))}</mtext></msub>"

    name = name or default
    return _mathml(expr.tokens, 0, digits, name)[0][0]


def _paren_ml(x: str) -> str:
    return f"<mrow><mo>(</mo>{x}<mo>)</mo></mrow>"


def _mathml(tokens, i, digits, name):
    from geneqn.sr.expr import subtree_end

    op, arg = tokens[i]
    end = subtree_end(tokens, i)
    if op == VAR:
        return (name(arg), _ATOM), end
    if op == CONST:
        s = _fmt_number(arg, digits)
        if s.startswith("-"):
            return (f"<mrow><mo>&#x2212;</mo><mn>{html.escape(s[1:])}</mn></mrow>", _NEGATIVE), end
        return (f"<mn>{html.escape(s)}</mn>", _ATOM), end
    if _is_product(tokens, i):
        num, den = _factors(tokens, i)
        num = sorted(num, key=lambda k: tokens[k][0] != CONST)

        def join(ks):
            return _join_factors(ks, lambda k: _mathml(tokens, k, digits, name)[0], _paren_ml, "<mo>&#x2062;</mo>")

        top = join(num) if num else "<mn>1</mn>"
        if not den:
            return (f"<mrow>{top}</mrow>", 2), end
        bottom = _mathml(tokens, den[0], digits, name)[0][0] if len(den) == 1 else join(den)
        return (f"<mfrac><mrow>{top}</mrow><mrow>{bottom}</mrow></mfrac>", _ATOM), end
    if ARITY[op] == 1:
        (a, pa), _ = _mathml(tokens, i + 1, digits, name)
        if op in (SQUARE, CUBE):
            return (f"<msup>{a if pa >= _ATOM else _paren_ml(a)}<mn>{2 if op == SQUARE else 3}</mn></msup>", _POWER), end
        if op == EXP:
            if _simple_exponent(_subtree(tokens, i + 1)):
                return (f"<msup><mi>e</mi><mrow>{a}</mrow></msup>", _POWER), end
            return (f"<mrow><mi>exp</mi><mo>&#x2061;</mo>{_paren_ml(a)}</mrow>", _ATOM), end
        if op == SQRT:
            return (f"<msqrt>{a}</msqrt>", _ATOM), end
        if op == ABS:
            return (f"<mrow><mo>|</mo>{a}<mo>|</mo></mrow>", _ATOM), end
        if op in (LOG, SIN, COS, TANH):
            return (f"<mrow><mi>{_FUNCTIONS[op]}</mi><mo>&#x2061;</mo>{_paren_ml(a)}</mrow>", _ATOM), end
        return (f"<mrow><mo>&#x2212;</mo>{a if pa >= 2 else _paren_ml(a)}</mrow>", _NEGATIVE), end
    (a, pa), j = _mathml(tokens, i + 1, digits, name)
    (b, pb), _ = _mathml(tokens, j, digits, name)
    if op == POW:
        return (f"<msup>{a if pa >= _ATOM else _paren_ml(a)}<mrow>{b}</mrow></msup>", _POWER), end
    p = _PRECEDENCE[op]
    if pa < p:
        a = _paren_ml(a)
    if pb < p or (op == SUB and pb == p) or pb == _NEGATIVE:
        b = _paren_ml(b)
    sym = "<mo>+</mo>" if op == ADD else "<mo>&#x2212;</mo>"
    return (f"<mrow>{a}{sym}{b}</mrow>", p), end


# ---------------------------------------------------------------------- sympy, Python, torch

def to_sympy(expr: Expr):
    """A sympy expression with the same value (sympy may reorder or expand it; its look is not
    the counted form). Built from sympy constructors, never by parsing text."""
    import sympy as sp

    unary = {SQUARE: lambda a: a ** 2, CUBE: lambda a: a ** 3, NEG: lambda a: -a, EXP: sp.exp, INV: lambda a: 1 / a,
             LOG: sp.log, SQRT: sp.sqrt, SIN: sp.sin, COS: sp.cos, TANH: sp.tanh, ABS: sp.Abs}
    binary = {ADD: lambda a, b: a + b, SUB: lambda a, b: a - b, MUL: lambda a, b: a * b, DIV: lambda a, b: a / b,
              POW: lambda a, b: a ** b}
    stack: list = []
    for op, arg in reversed(expr.tokens):
        if op == VAR:
            stack.append(sp.Symbol(str(arg)))
        elif op == CONST:
            stack.append(sp.Float(float(arg)))
        elif ARITY[op] == 2:
            a, b = stack.pop(), stack.pop()
            stack.append(binary[op](a, b))
        else:
            stack.append(unary[op](stack.pop()))
    return stack[0]


def to_python(expr: Expr, function_name: str = "equation") -> str:
    """Source of a numpy function ``f(X)`` taking a dict-like of feature columns (by name).

    Feature names appear only as string literals (``repr``), in the ``FEATURES`` tuple and in
    ``X[...]`` lookups: a name holding quotes, newlines or code stays a string."""
    if not function_name.isidentifier():
        raise ValueError(f"{function_name!r} is not a Python identifier")
    body = _python(expr.tokens, 0)[0]
    features = "".join(f"{str(v)!r}, " for v in expr.variables)
    return (f"import numpy as np\n\nFEATURES = ({features})\n\n\ndef {function_name}(X):\n"
            f'    """X: mapping of feature name -> array (the names in FEATURES)."""\n'
            f"    return {body}\n")


_PY_UNARY = {SQUARE: "({})**2", CUBE: "({})**3", NEG: "(-{})", EXP: "np.exp({})", INV: "(1.0/{})",
             LOG: "np.log({})", SQRT: "np.sqrt({})", SIN: "np.sin({})", COS: "np.cos({})", TANH: "np.tanh({})",
             ABS: "np.abs({})"}
_PY_BINARY = {ADD: "({} + {})", SUB: "({} - {})", MUL: "({} * {})", DIV: "({} / {})", POW: "np.power({}, {})"}


def _python(tokens, i):
    op, arg = tokens[i]
    if op == VAR:
        return f"X[{str(arg)!r}]", i + 1
    if op == CONST:
        return f"({float(arg)!r})", i + 1
    if ARITY[op] == 1:
        a, j = _python(tokens, i + 1)
        return _PY_UNARY[op].format(a), j
    a, j = _python(tokens, i + 1)
    b, k = _python(tokens, j)
    return _PY_BINARY[op].format(a, b), k


def to_torch(expr: Expr, feature_names: Sequence[str]):
    """A ``torch.nn.Module`` computing ``expr`` from a (n, d) tensor whose columns are
    ``feature_names``; its constants are trainable parameters."""
    import torch

    tokens = expr.indexed(list(feature_names))
    unary = {SQUARE: lambda a: a * a, CUBE: lambda a: a * a * a, NEG: lambda a: -a, EXP: torch.exp,
             INV: lambda a: 1.0 / a, LOG: torch.log, SQRT: torch.sqrt, SIN: torch.sin, COS: torch.cos,
             TANH: torch.tanh, ABS: torch.abs}
    binary = {ADD: lambda a, b: a + b, SUB: lambda a, b: a - b, MUL: lambda a, b: a * b, DIV: lambda a, b: a / b,
              POW: torch.pow}

    class EquationModule(torch.nn.Module):
        def __init__(self):
            super().__init__()
            consts = [float(arg) for op, arg in tokens if op == CONST]
            self.constants = torch.nn.Parameter(torch.tensor(consts, dtype=torch.float64))
            self.feature_names = list(feature_names)
            self.equation = to_infix(expr)

        def forward(self, X: torch.Tensor) -> torch.Tensor:
            stack: list = []
            k = self.constants.shape[0]
            for op, arg in reversed(tokens):
                if op == VAR:
                    stack.append(X[:, arg])
                elif op == CONST:
                    k -= 1
                    stack.append(self.constants[k].to(X.dtype))
                elif ARITY[op] == 2:
                    a, b = stack.pop(), stack.pop()
                    stack.append(binary[op](a, b))
                else:
                    stack.append(unary[op](stack.pop()))
            out = stack[0]
            return out.expand(X.shape[0]) if out.dim() == 0 else out

    return EquationModule()
