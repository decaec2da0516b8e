"""Complexity, evaluation and cleaning of equations held as sympy expressions.

Complexity is counted the PySR way (its default: every variable, constant and operator counts 1)
over the operator set {+, -, *, square, neg, exp, inv}, whatever engine found the equation:

* an n-ary sum or product counts n - 1 binary operators; a term with a negative coefficient in a
  sum is a subtraction (no extra neg), unless every term is negative (one neg);
* ``-1 * x`` alone is ``neg(x)``; a negative number is one constant;
* ``x**2`` is ``square(x)``, ``x**-1`` is ``inv(x)``, ``x**4`` is ``square(square(x))``, ``x**3`` is
  ``square(x) * x``; ``exp(x)`` is one operator.

So ``0.2*(x - 1.1)**2 + exp(y)`` has complexity 9.
"""

from __future__ import annotations

import numpy as np
import sympy as sp


def complexity(e: sp.Expr) -> int:
    """PySR-default complexity of ``e`` over {+, -, *, square, neg, exp, inv}."""
    if e.is_Symbol or e.is_Number or e.is_NumberSymbol:
        return 1
    if isinstance(e, sp.Add):
        terms = e.args
        neg = [_is_negative_term(t) for t in terms]
        total = sum(_term_complexity(t, n) for t, n in zip(terms, neg))
        return total + len(terms) - 1 + (1 if all(neg) else 0)
    if isinstance(e, sp.Mul):
        coeff, rest = e.as_coeff_Mul()
        if coeff == -1:
            return 1 + complexity(rest)  # neg(rest)
        factors = e.args
        return sum(complexity(f) for f in factors) + len(factors) - 1
    if isinstance(e, sp.Pow):
        return _pow_complexity(e.base, e.exp)
    if isinstance(e, sp.exp):
        return 1 + complexity(e.args[0])
    # any other function: one operator plus its arguments
    return 1 + sum(complexity(a) for a in e.args)


def _is_negative_term(t: sp.Expr) -> bool:
    if t.is_Number:
        return bool(t < 0)
    coeff, _ = t.as_coeff_Mul()
    return bool(coeff.is_Number and coeff < 0)


def _term_complexity(t: sp.Expr, negative: bool) -> int:
    """Complexity of a sum's term written after a minus sign when ``negative``."""
    if not negative:
        return complexity(t)
    return complexity(-t)


def _pow_complexity(base: sp.Expr, exponent: sp.Expr) -> int:
    cb = complexity(base)
    if exponent.is_Integer:
        n = int(exponent)
        if n < 0:
            return 1 + _int_pow(cb, -n)  # inv(base ** -n)
        return _int_pow(cb, n)
    return 1 + cb + complexity(exponent)  # a general power: one binary operator


def _int_pow(cb: int, n: int) -> int:
    """Complexity of base**n (n >= 1) built from square and *, by repeated squaring."""
    if n == 1:
        return cb
    if n % 2 == 0:
        return 1 + _int_pow(cb, n // 2)
    return 1 + _int_pow(cb, n - 1) + cb  # base**(n-1) * base


def variables(e: sp.Expr) -> list[str]:
    return sorted(str(s) for s in e.free_symbols)


def evaluate(e: sp.Expr, X: np.ndarray, names: list[str]) -> np.ndarray:
    """Evaluate ``e`` on the columns of X (named ``names``); float64 (N,)."""
    symbols = [sp.Symbol(n) for n in names]
    f = sp.lambdify(symbols, e, modules="numpy")
    with np.errstate(all="ignore"):
        out = f(*[np.asarray(X[:, i], dtype=np.float64) for i in range(len(names))])
    return np.broadcast_to(np.asarray(out, dtype=np.float64), (X.shape[0],)).copy()


def fold_constants(e: sp.Expr) -> sp.Expr:
    """Drop factors of 1.0 and terms of 0.0 that engines leave behind, and merge products of
    exponentials (exp(a)*exp(b) -> exp(a + b)) where that lowers the complexity."""
    e = sp.sympify(e)
    e = e.xreplace({n: sp.Integer(int(n)) for n in e.atoms(sp.Float) if float(n) in (0.0, 1.0, -1.0)})
    merged = sp.powsimp(e, combine="exp")
    return merged if complexity(merged) < complexity(e) else e


def prune(e: sp.Expr, X: np.ndarray, names: list[str], tolerance: float) -> sp.Expr:
    """Remove additive terms whose removal changes predictions by at most ``tolerance`` (max abs
    over the rows of X), one at a time, largest saving first. Predictions never move by more
    than ``tolerance`` in total: each accepted removal is checked against the original."""
    base = evaluate(e, X, names)
    current = e
    changed = True
    while changed:
        changed = False
        for add in sorted(current.atoms(sp.Add), key=complexity, reverse=True):
            for term in add.args:
                trial = current.xreplace({add: add - term})
                if trial == current:
                    continue
                pred = evaluate(trial, X, names)
                if np.isfinite(pred).all() and np.max(np.abs(pred - base)) <= tolerance:
                    current, changed = trial, True
                    break
            if changed:
                break
    return current


def round_for_display(e: sp.Expr, digits: int = 3) -> sp.Expr:
    """Constants rounded to ``digits`` significant digits (display only); +-1.00 shown as +-1."""
    def rounded(n):
        v = float(f"{float(n):.{digits}g}")
        return sp.Integer(int(v)) if v in (1.0, -1.0) else sp.Float(v, digits)

    return e.xreplace({n: rounded(n) for n in e.atoms(sp.Float)})
