"""Simple forms that start a search: the best linear combinations, products and power laws.

Evolution from random trees finds a law's structure by chance. Some structures can be computed
instead, and a search that starts from them spends its budget on what remains:

* **sums of terms** (a greedy orthogonal matching pursuit, Pati et al. 1993, over a library of
  the variables, their squares, inverses, pairwise products and ratios): ``x1*y1 + x2*y2``,
  ``4*L4 + HET6 - 2*PC3``;
* **power laws**, when the target and the variables keep one sign: least squares of
  ``log|y|`` on ``log|x_j|``, exponents rounded to integers (or halves, with sqrt): ``q*v*B/p``,
  ``G*m1*m2/r**2``;
* **exponential laws**, when the target keeps one sign: the sums of library terms that best fit
  ``log|y|``, inside an exp: ``exp(-0.5*theta**2)``.

Each seed is an ordinary tree over the search's operators and within its complexity limit; it
competes in the populations like any other member. The sums and the least squares use the same
bit-reproducible arithmetic as the search (:mod:`geneqn.numeric`).
"""

from __future__ import annotations

import math

import numpy as np

from geneqn import numeric
from geneqn.sr.operators import ADD, CONST, CUBE, DIV, EXP, INV, MUL, POW, SQRT, SQUARE, SUB, VAR

MAX_LIBRARY_VARIABLES = 16
"""Products and ratios are formed among the variables most correlated with the target (at most
this many), so the library stays small for 40 features."""


def _correlation(f: np.ndarray, rc: np.ndarray, rss: float) -> float:
    fc = f - numeric.total(f) / len(f)
    ss = numeric.dot(fc, fc)
    if not (ss > 0 and math.isfinite(ss)) or rss <= 0:
        return 0.0
    return numeric.dot(fc, rc) / math.sqrt(ss * rss)


def _lstsq(F: list[np.ndarray], y: np.ndarray) -> list[float] | None:
    """Coefficients of y ~ c0 + sum_k c_k F_k by the normal equations (pairwise sums, a Cholesky
    solve in Python floats)."""
    M = np.vstack([np.ones(len(y))] + list(F))
    G = np.array([numeric.row_dots(M, M[i]) for i in range(len(M))])
    G = G + np.diag(np.diag(G) * 1e-12 + 1e-300)
    return numeric.solve_spd(G, numeric.row_dots(M, y))


def _power(var: int, p: float, ops: set) -> tuple | None:
    """Tokens of x**p for a rounded exponent p > 0 with the operators at hand."""
    x = ((VAR, var),)
    if p == 1:
        return x
    if p == 2:
        return ((SQUARE, None),) + x if SQUARE in ops else ((MUL, None),) + x + x
    if p == 3:
        if CUBE in ops:
            return ((CUBE, None),) + x
        return ((MUL, None),) + x + (((SQUARE, None),) + x if SQUARE in ops else ((MUL, None),) + x + x)
    if p == 4 and SQUARE in ops:
        return ((SQUARE, None), (SQUARE, None)) + x
    if p == 0.5 and SQRT in ops:
        return ((SQRT, None),) + x
    if p == 1.5 and SQRT in ops and MUL in ops:
        return ((MUL, None),) + x + ((SQRT, None),) + x
    if POW in ops:
        return ((POW, None),) + x + ((CONST, float(p)),)
    return None


def _product(factors: list[tuple]) -> tuple:
    out = factors[0]
    for f in factors[1:]:
        out = ((MUL, None),) + out + f
    return out


def power_law(columns, y, ops: set, max_size: int, weights) -> list[tuple]:
    """Power-law seeds ``prod x_j**p_j`` from least squares of log|y| on log|x_j| (only when y
    and the variables keep one sign each); exponents rounded to integers (to halves with sqrt)."""
    if MUL not in ops or not (np.all(y > 0) or np.all(y < 0)):
        return []
    usable = [j for j, x in enumerate(columns) if np.all(x > 0) or np.all(x < 0)]
    if not usable:
        return []
    with np.errstate(all="ignore"):
        logs = [numeric.log(np.abs(columns[j])) for j in usable]
        ly = numeric.log(np.abs(y))
    keep = [k for k, v in enumerate(logs) if np.ptp(v) > 0]
    if not keep:
        return []
    coef = _lstsq([logs[k] for k in keep], ly)
    if coef is None:
        return []
    step = 0.5 if SQRT in ops or POW in ops else 1.0
    seeds = []
    for tolerance in (0.25, 0.5):  # exponents near their rounding, then every rounded one
        num, den = [], []
        for k, c in zip(keep, coef[1:]):
            p = round(c / step) * step
            if p == 0 or abs(c - p) > tolerance * step:
                continue
            t = _power(usable[k], abs(p), ops)
            if t is None:
                break
            (num if p > 0 else den).append(t)
        else:
            if not num and not den:
                continue
            if den and not (DIV in ops or INV in ops):
                continue
            if not den:
                tree = _product(num)
            elif not num:
                tree = ((INV, None),) + _product(den) if INV in ops else ((DIV, None), (CONST, 1.0)) + _product(den)
            elif DIV in ops:
                tree = ((DIV, None),) + _product(num) + _product(den)
            else:
                tree = ((MUL, None),) + _product(num) + ((INV, None),) + _product(den)
            if sum(weights[op] for op, _ in tree) <= max_size and tree not in seeds:
                seeds.append(tree)
    return seeds


def _library(columns, y, ops: set) -> list[tuple[tuple, np.ndarray]]:
    """(tokens, values) of the candidate terms: variables, squares, inverses, and the products and
    ratios of the variables most correlated with y."""
    yc = y - numeric.total(y) / len(y)
    yss = numeric.dot(yc, yc)
    terms = [(((VAR, j),), x) for j, x in enumerate(columns)]
    with np.errstate(all="ignore"):
        if SQUARE in ops or MUL in ops:
            terms += [((((SQUARE, None), (VAR, j)) if SQUARE in ops else ((MUL, None), (VAR, j), (VAR, j))), x * x)
                      for j, x in enumerate(columns)]
        if INV in ops or DIV in ops:
            terms += [((((INV, None), (VAR, j)) if INV in ops else ((DIV, None), (CONST, 1.0), (VAR, j))), 1.0 / x)
                      for j, x in enumerate(columns) if np.all(x != 0)]
        score = [abs(_correlation(x, yc, yss)) for x in columns]
        top = sorted(range(len(columns)), key=lambda j: -score[j])[:MAX_LIBRARY_VARIABLES]
        top.sort()
        if MUL in ops:
            for a in range(len(top)):
                for b in range(a + 1, len(top)):
                    i, j = top[a], top[b]
                    terms.append((((MUL, None), (VAR, i), (VAR, j)), columns[i] * columns[j]))
        if DIV in ops or INV in ops:
            for i in top:
                for j in top:
                    if i != j and np.all(columns[j] != 0):
                        t = ((DIV, None), (VAR, i), (VAR, j)) if DIV in ops else \
                            ((MUL, None), (VAR, i), (INV, None), (VAR, j))
                        terms.append((t, columns[i] / columns[j]))
    return [(t, v) for t, v in terms if np.isfinite(v).all() and np.ptp(v) > 0]


def sums_of_terms(columns, y, ops: set, max_size: int, weights, max_terms: int = 6,
                  absolute: bool = False) -> tuple[list[tuple], int]:
    """Seeds ``t1 + c2*t2 + ... + ck*tk`` for k = 1, 2, ...: the terms chosen one at a time from
    the library by orthogonal matching pursuit (the term most correlated with the residual of the
    least-squares fit on those already chosen)."""
    if ADD not in ops and SUB not in ops:
        return [], 0
    library = _library(columns, y, ops)
    if not library:
        return [], 0
    chosen: list[int] = []
    seeds = []
    cost = len(library)
    residual = y - numeric.total(y) / len(y)
    for _ in range(max_terms):
        rss = numeric.dot(residual, residual)
        if rss <= 1e-30 * len(y):
            break
        best, best_score = None, 0.0
        cost += len(library)
        for k, (_, v) in enumerate(library):
            if k in chosen:
                continue
            c = abs(_correlation(v, residual, rss))
            if c > best_score * (1 + 1e-12):
                best, best_score = k, c
        if best is None:
            break
        chosen.append(best)
        coef = _lstsq([library[k][1] for k in chosen], y)
        if coef is None:
            chosen.pop()
            break
        fit = coef[0] + sum(c * library[k][1] for c, k in zip(coef[1:], chosen))
        residual = y - fit
        tree = _sum_tree([library[k][0] for k in chosen], coef[1:], ops, absolute)
        if tree is None:
            continue
        if sum(weights[op] for op, _ in tree) > max_size:
            break
        seeds.append(tree)
    return seeds, cost


def _sum_tree(terms: list[tuple], coef: list[float], ops: set, absolute: bool = False) -> tuple | None:
    """t1 + (c2/c1)*t2 + ...: the overall scale and offset are the search's a*f + b (with
    ``absolute``, c1*t1 + c2*t2 + ...: for a sum inside a function, where nothing rescales it)."""
    c1 = coef[0]
    if c1 == 0 or not math.isfinite(c1):
        return None
    if absolute:
        out = ((MUL, None), (CONST, float(c1))) + terms[0]
        c1 = 1.0
    else:
        out = terms[0]
    for t, c in zip(terms[1:], coef[1:]):
        ratio = c / c1
        if not math.isfinite(ratio) or ratio == 0:
            continue
        sub = ratio < 0 and SUB in ops
        scaled = t if abs(ratio) == 1.0 else ((MUL, None), (CONST, abs(ratio) if sub else ratio)) + t
        if MUL not in ops and scaled is not t:
            return None
        op = SUB if sub else ADD
        if op not in ops:
            return None
        out = ((op, None),) + out + scaled
    return out


def exponential_laws(columns, y, ops: set, max_size: int, weights, max_terms: int = 2) -> tuple[list[tuple], int]:
    """Seeds ``exp(c1*t1 + c2*t2)``: the sums of library terms that best fit log|y| (only when y
    keeps one sign), e.g. ``exp(-0.5*theta**2)``."""
    if EXP not in ops or MUL not in ops or not (np.all(y > 0) or np.all(y < 0)):
        return [], 0
    with np.errstate(all="ignore"):
        ly = numeric.log(np.abs(y))
    if not np.isfinite(ly).all() or np.ptp(ly) == 0:
        return [], 0
    sums, cost = sums_of_terms(columns, ly, ops, max_size - weights[EXP] - weights[MUL] - weights[CONST], weights,
                               max_terms=max_terms, absolute=True)
    return [((EXP, None),) + t for t in sums if sum(weights[op] for op, _ in t) + weights[EXP] <= max_size], cost


def simple_forms(columns, y, operators, max_size: int, weights) -> tuple[list[tuple], int]:
    """All seeds for one search, without duplicates (sums of library terms, then power laws), and
    their cost in evaluations (each library term scored against each residual counts one, as a
    tree evaluation does)."""
    ops = set(operators)
    sums, cost = sums_of_terms(columns, y, ops, max_size, weights)
    exps, cost2 = exponential_laws(columns, y, ops, max_size, weights)
    cost += cost2
    out = []
    for t in sums + power_law(columns, y, ops, max_size, weights) + exps:
        if t not in out:
            out.append(t)
    return out, cost + 2 * len(columns)
