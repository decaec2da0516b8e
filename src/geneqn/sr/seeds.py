"""Simple forms that start a search: the best linear combinations, products and power laws.

Evolution from random trees finds a law's structure by chance. Some structures can be computed
instead, and a search that starts from them spends its budget on what remains:

* **sums of terms** (a greedy orthogonal matching pursuit, Pati et al. 1993, over a library of
  the variables, their squares, inverses, pairwise products, ratios and squared differences):
  ``x1*y1 + x2*y2``,
  ``4*L4 + HET6 - 2*PC3``;
* **power laws**, when the target and the variables keep one sign: least squares of
  ``log|y|`` on ``log|x_j|``, exponents rounded to integers (or halves, with sqrt): ``q*v*B/p``,
  ``G*m1*m2/r**2``;
* **exponential laws**, when the target keeps one sign: the sums of library terms that best fit
  ``log|y|``, inside an exp: ``exp(-0.5*theta**2)``;
* **sparse sums** (a joint least-squares fit of the whole library, thresholded as SINDy does),
  where the greedy pursuit follows a term that correlates with the law's sum: ``u**2 + w**2``
  rather than ``u*w``;
* **factored sums**, when the target keeps one sign: the variables whose power-law exponents are
  near integers form a monomial F, and sums are fitted to y/F and F/y:
  ``m*(u**2 + v**2 + w**2)``, ``omega_0/(1 - v/c)``;
* **rational sums** ``P/Q`` by a linearised fit (``y*Q = P`` is linear in the coefficients):
  ``(m1*r1 + m2*r2)/(m1 + m2)``;
* **exponentials of a monomial** ``F*(exp(c*M) - k)**s`` (k in {0, 1, -1}, s = +-1), when the
  target keeps one sign: log|log((y/F)**s + k)| is linear in the log|x_j|, so the monomial M
  comes from one least-squares fit: ``n_0*exp(-m*g*x/(kb*T))``, ``1/(exp(h*omega/(kb*T)) - 1)``,
  ``exp(-(theta/sigma)**2/2)/sigma``.

The joint fits (sparse, factored, rational) are formed for small libraries only (about 9
variables: their normal equations cost one evaluation per pair of terms) and spend at most 5%
of a fit's budget; with 40 features they are not formed.

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


def _library(columns, y, ops: set, differences: bool = True) -> list[tuple[tuple, np.ndarray]]:
    """(tokens, values) of the candidate terms: variables, squares, inverses, and the products,
    ratios and (with ``differences``) squared differences ``(x_i - x_j)**2`` of the variables most
    correlated with y (distances: ``(x2 - x1)**2 + (y2 - y1)**2``)."""
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
        if differences and SUB in ops and (SQUARE in ops or MUL in ops):
            for a in range(len(top)):
                for b in range(a + 1, len(top)):
                    i, j = top[a], top[b]
                    d = ((SUB, None), (VAR, i), (VAR, j))
                    t = ((SQUARE, None),) + d if SQUARE in ops else ((MUL, None),) + d + d
                    terms.append((t, (columns[i] - columns[j]) ** 2))
    return [(t, v) for t, v in terms if np.isfinite(v).all() and np.ptp(v) > 0]


def _fit(values: list[np.ndarray], chosen: list[int], y: np.ndarray) -> tuple[list[float], float] | None:
    """Least-squares coefficients ``[c0, c1, ...]`` of y on the chosen terms, and the residual sum
    of squares."""
    coef = _lstsq([values[k] for k in chosen], y)
    if coef is None:
        return None
    residual = y - (coef[0] + sum(c * values[k] for c, k in zip(coef[1:], chosen)))
    return coef, numeric.dot(residual, residual)


def _pursuit(values: list[np.ndarray], y: np.ndarray, max_terms: int) -> tuple[list[tuple[list[int], list[float]]], int]:
    """Greedy orthogonal matching pursuit of y over ``values``: the terms chosen one at a time (the
    one most correlated with the residual of the least-squares fit on those already chosen), and
    after each step the chosen indices with the coefficients ``[c0, c1, ..., ck]`` of
    ``y ~ c0 + sum c_i values[chosen_i]``; and the cost (one evaluation per term scored)."""
    chosen: list[int] = []
    steps = []
    cost = len(values)
    residual = y - numeric.total(y) / len(y)
    for _ in range(max_terms):
        rss = numeric.dot(residual, residual)
        if rss <= 1e-30 * len(y):
            break
        best, best_score = None, 0.0
        cost += len(values)
        for k, v in enumerate(values):
            if k in chosen:
                continue
            c = abs(_correlation(v, residual, rss))
            if c > best_score * (1 + 1e-12):
                best, best_score = k, c
        if best is None:
            break
        fit = _fit(values, chosen + [best], y)
        if fit is None:
            break
        chosen.append(best)
        coef = fit[0]
        residual = y - (coef[0] + sum(c * values[k] for c, k in zip(coef[1:], chosen)))
        steps.append((list(chosen), list(coef)))
    return steps, cost


MAX_SPARSE_TERMS = 200
"""The joint least-squares fit of :func:`_sparse` is formed for libraries of at most this many
terms (about 9 variables): its normal equations cost one evaluation per pair of terms."""


class _Grams:
    """The libraries' normal equations of one set of seeds, each formed once (a library fitted
    to several targets, y, y/F and F/y, shares them) and only while their cost stays within
    ``allowance`` evaluations (None: no limit): a joint fit is worth a small share of a budget,
    never most of it."""

    def __init__(self, allowance: float | None = None):
        self.left = math.inf if allowance is None else float(allowance)
        self.formed: dict = {}

    def get(self, terms: list[tuple[tuple, np.ndarray]]) -> tuple[_Gram | None, int]:
        """The normal equations of ``terms`` ((tokens, values) pairs) and their cost now (0 when
        formed before); None above :data:`MAX_SPARSE_TERMS` terms or beyond the allowance."""
        key = tuple(t for t, _ in terms)
        if key in self.formed:
            return self.formed[key], 0
        cost = len(terms) * (len(terms) + 1) // 2
        if len(terms) > MAX_SPARSE_TERMS or cost > self.left:
            return None, 0
        self.left -= cost
        gram = self.formed[key] = _Gram([v for _, v in terms])
        return gram, cost


class _Gram:
    """The normal equations of a library (centred terms), formed once and shared by the targets
    that are fitted on the same library (y, y/F, F/y)."""

    def __init__(self, values: list[np.ndarray]):
        n = len(values[0])
        self.values = values
        self.centred = np.vstack([v - numeric.total(v) / n for v in values])
        self.G = np.vstack([numeric.row_dots(self.centred, row) for row in self.centred])


def _sparse(gram: _Gram, y: np.ndarray, max_terms: int,
            exclude: tuple = ()) -> tuple[list[tuple[list[int], list[float]]], int]:
    """Sparse sums by thresholded least squares (SINDy's sequential thresholding, Brunton et al.
    2016): the joint fit of y on every term; the larger half of the terms by standardised
    coefficient kept and refitted, again and again, then one term dropped at a time down to one.
    Where a greedy pursuit follows a term that correlates with the law's sum (``u*w`` for
    ``u**2 + w**2``), the joint fit gives each term its own share. Returns the fits of every
    size up to ``max_terms`` as :func:`_pursuit` does, and the cost."""
    n = len(y)
    yc = y - numeric.total(y) / n
    b = numeric.row_dots(gram.centred, yc)
    scale = np.sqrt(np.diag(gram.G))
    if not all(scale[k] > 0 for k in range(len(b)) if k not in exclude):
        return [], len(b)
    support = [k for k in range(len(b)) if k not in exclude]
    fits: dict[int, list[int]] = {}
    while support:
        sub = [[gram.G[i][j] / (scale[i] * scale[j]) + (1e-10 if i == j else 0.0) for j in support] for i in support]
        beta = numeric.solve_spd(sub, [b[i] / scale[i] for i in support])
        if beta is None:
            break
        order = sorted(range(len(support)), key=lambda k: (-abs(beta[k]), support[k]))
        if len(support) <= max_terms:
            fits[len(support)] = sorted(support)
        keep = len(support) // 2 if len(support) > 2 * max_terms else len(support) - 1
        support = sorted(support[k] for k in order[:keep])
    steps = []
    for size in sorted(fits):
        fit = _fit(gram.values, fits[size], y)
        if fit is not None:
            steps.append((fits[size], fit[0]))
    return steps, len(b) + sum(fits)


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
    steps, cost = _pursuit([v for _, v in library], y, max_terms)
    seeds = []
    for chosen, coef in steps:
        tree = _sum_tree([library[k][0] for k in chosen], coef[1:], ops, absolute)
        if tree is None:
            continue
        if _size(tree, weights) > max_size:
            break
        seeds.append(tree)
    return seeds, cost


def sparse_sums(columns, y, ops: set, max_size: int, weights, max_terms: int = 6,
                absolute: bool = False, grams: _Grams | None = None) -> tuple[list[tuple], int]:
    """Seeds ``t1 + c2*t2 + ... + ck*tk`` from the library's joint least-squares fit, thresholded
    (:func:`_sparse`), for libraries of at most :data:`MAX_SPARSE_TERMS` terms."""
    if ADD not in ops and SUB not in ops:
        return [], 0
    library = _library(columns, y, ops)
    if not library:
        return [], 0
    gram, cost = (grams or _Grams()).get(library)
    if gram is None:
        return [], 0
    steps, c = _sparse(gram, y, max_terms)
    return _trees(library, steps, ops, max_size, weights, absolute), cost + c


def _trees(library, steps, ops, max_size, weights, absolute=False, intercept_of=None,
           intercept: float = 0.0) -> list[tuple]:
    """The sum trees of a fit path, in order of size, up to the complexity limit (each with the
    fit's intercept where it is significant for ``intercept_of``, else ``intercept``)."""
    out = []
    for chosen, coef in steps:
        c0 = _significant(coef, intercept_of) if intercept_of is not None else intercept
        # the largest share first (the others are written relative to it), shares below 1e-9 of
        # it dropped (the rounding of a joint fit of an exact law)
        share = [abs(c) * float(np.std(library[k][1])) for c, k in zip(coef[1:], chosen)]
        top = max(share, default=0.0)
        order = [i for i in sorted(range(len(chosen)), key=lambda i: (-share[i], chosen[i])) if share[i] > 1e-9 * top]
        if not order:
            continue
        tree = _sum_tree([library[chosen[i]][0] for i in order], [coef[1 + i] for i in order], ops, absolute,
                         intercept=c0)
        if tree is not None and _size(tree, weights) <= max_size:
            out.append(tree)
    return out


def _size(tree: tuple, weights) -> int:
    return sum(weights[op] for op, _ in tree)


def _sum_tree(terms: list[tuple], coef: list[float], ops: set, absolute: bool = False,
              intercept: float = 0.0) -> tuple | None:
    """t1 + (c2/c1)*t2 + ...: the overall scale and offset are the search's a*f + b (with
    ``absolute``, c1*t1 + c2*t2 + ...: for a sum inside a function, where nothing rescales it).
    A non-zero ``intercept`` c0 is added as a constant (c0/c1, or c0 with ``absolute``): for a
    sum that a factor multiplies or divides, where the search's offset does not reach."""
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
        if abs(abs(ratio) - 1.0) < 1e-9:  # an exact law's unit ratio, up to the fit's rounding
            ratio = math.copysign(1.0, ratio)
        sub = ratio < 0 and SUB in ops
        scaled = t if abs(ratio) == 1.0 else ((MUL, None), (CONST, abs(ratio) if sub else ratio)) + t
        if MUL not in ops and scaled is not t:
            return None
        op = SUB if sub else ADD
        if op not in ops:
            return None
        out = ((op, None),) + out + scaled
    if intercept:
        c0 = intercept if absolute else intercept / coef[0]
        if not math.isfinite(c0):
            return None
        sub = c0 < 0 and SUB in ops
        op = SUB if sub else ADD
        if op not in ops:
            return None
        out = ((op, None),) + out + ((CONST, abs(c0) if sub else c0),)
    return out


def _significant(coef: list[float], target: np.ndarray) -> float:
    """The intercept c0 of a pursuit's fit, or 0 where it is below 1e-6 of the fit's scale (what
    a noise-free law leaves as rounding)."""
    scale = math.sqrt(numeric.dot(target, target) / len(target))
    return coef[0] if abs(coef[0]) > 1e-6 * scale else 0.0


def _one_signed(v: np.ndarray) -> bool:
    return bool(np.all(v > 0) or np.all(v < 0))


def _times(a: tuple, b: tuple, ops: set, inverse: bool = False) -> tuple | None:
    """Tokens of a*b, or a/b with ``inverse`` (``a * inv(b)`` without ``/``); a may be None (1)."""
    if inverse:
        if a is None:
            return ((INV, None),) + b if INV in ops else (((DIV, None), (CONST, 1.0)) + b if DIV in ops else None)
        if DIV in ops:
            return ((DIV, None),) + a + b
        return ((MUL, None),) + a + ((INV, None),) + b if INV in ops and MUL in ops else None
    if a is None:
        return b
    return ((MUL, None),) + a + b if MUL in ops else None


_COMPUTE = object()
"""The default ``factor`` of :func:`factored_sums` and :func:`exp_monomials`: :func:`power_factor`
of their data (:func:`simple_forms` computes it once for both)."""


def power_factor(columns, y, ops: set, tolerance: float = 0.1) -> tuple | None:
    """The separable monomial of y: least squares of log|y| on log|x_j| (y and the x_j keeping
    one sign each), and the product of the x_j whose exponents lie within ``tolerance`` of a
    non-zero integer of at most 3 in size (the other variables' exponents, of a sum or another
    function, are rarely near integers). (tokens, values), or None when there is none."""
    if MUL not in ops or not _one_signed(y):
        return None
    usable = [j for j, x in enumerate(columns) if _one_signed(x)]
    with np.errstate(all="ignore"):
        logs = [numeric.log(np.abs(columns[j])) for j in usable]
        ly = numeric.log(np.abs(y))
    keep = [k for k, v in enumerate(logs) if np.ptp(v) > 0]
    if not keep or not np.isfinite(ly).all():
        return None
    coef = _lstsq([logs[k] for k in keep], ly)
    if coef is None:
        return None
    num, den, values = [], [], np.ones(len(y))
    for k, c in zip(keep, coef[1:]):
        p = round(c)
        if p == 0 or abs(p) > 3 or abs(c - p) > tolerance:
            continue
        t = _power(usable[k], abs(p), ops)
        if t is None:
            continue
        (num if p > 0 else den).append(t)
        values = values * columns[usable[k]] ** p
    if not num and not den:
        return None
    tree = _times(_product(num) if num else None, _product(den), ops, inverse=True) if den else _product(num)
    if tree is None or not np.isfinite(values).all():
        return None
    return tree, values


def factored_sums(columns, y, ops: set, max_size: int, weights, max_terms: int = 6,
                  grams: _Grams | None = None, factor=_COMPUTE) -> tuple[list[tuple], int]:
    """Seeds ``F * (t1 + c2*t2 + ... + c0)`` and ``F / (t1 + ... + c0)``: F the separable monomial
    of y (:func:`power_factor`), the sums fitted to y/F and F/y by pursuit and by thresholded least
    squares: ``m*(u**2 + v**2 + w**2)``, ``omega_0/(1 - v/c)``."""
    if ADD not in ops and SUB not in ops:
        return [], 0
    if factor is _COMPUTE:
        factor = power_factor(columns, y, ops)
    if factor is None:
        return [], 0
    ftree, fvalues = factor
    grams = grams or _Grams()
    seeds, cost = [], 0
    for inverse in (False, True):
        with np.errstate(all="ignore"):
            target = fvalues / y if inverse else y / fvalues
        if not np.isfinite(target).all():
            continue
        library = _library(columns, target, ops)
        if not library:
            continue
        steps, c = _pursuit([v for _, v in library], target, max_terms)
        cost += c
        gram, c = grams.get(library)
        cost += c
        if gram is not None:
            more, c = _sparse(gram, target, max_terms)
            steps, cost = steps + more, cost + c
        for s in _trees(library, steps, ops, max_size, weights, intercept_of=target):
            tree = _times(ftree, s, ops, inverse)
            if tree is not None and _size(tree, weights) <= max_size and tree not in seeds:
                seeds.append(tree)
    return seeds, cost


def rational_sums(columns, y, ops: set, max_size: int, weights, max_terms: int = 6,
                  grams: _Grams | None = None) -> tuple[list[tuple], int]:
    """Seeds ``(t1 + c2*t2 + ... + c0) / (s0 + d1*s1 + ...)`` by a linearised fit: ``y*s0 = c0 +
    sum c_i t_i - sum d_j y*s_j`` is linear in the coefficients, so one thresholded least-squares
    fit over the library's terms and their products with y chooses both sums; s0 is 1 or a
    variable that keeps one sign: ``(m1*r1 + m2*r2)/(m1 + m2)``. Formed when the library and its
    products with y are at most :data:`MAX_SPARSE_TERMS` terms (about 7 variables); their normal
    equations serve every s0."""
    if (ADD not in ops and SUB not in ops) or not (INV in ops or DIV in ops):
        return [], 0
    library = _library(columns, y, ops, differences=False)
    if not library or 2 * len(library) > MAX_SPARSE_TERMS:
        return [], 0
    L = len(library)
    values = [v for _, v in library] + [y * v for _, v in library]
    if not all(np.isfinite(v).all() for v in values):
        return [], 0
    terms = [(t, v) for (t, _), v in zip(library, values)] + [((("y",),) + t, v) for (t, _), v in zip(library, values[L:])]
    gram, cost = (grams or _Grams()).get(terms)
    if gram is None:
        return [], 0
    leads = [(None, None)] + [(((VAR, j),), k) for k, (t, _) in enumerate(library)
                              for j in [t[0][1]] if len(t) == 1 and _one_signed(columns[j])]
    seeds = []
    for lead, k_lead in leads:
        target = y if lead is None else y * library[k_lead][1]
        # y*s0 itself is not a term of the denominator (it would fit y*s0 with s0 - s0)
        steps, c = _sparse(gram, target, max_terms, exclude=() if lead is None else (L + k_lead,))
        cost += c
        for chosen, coef in steps:
            num = [(k, a) for k, a in zip(chosen, coef[1:]) if k < L]
            den = [(k - L, -a) for k, a in zip(chosen, coef[1:]) if k >= L]
            if not den:
                continue
            c0 = _significant(coef, target)
            # s0 + sum d_j s_j, or with s0 = 1 its multiple s_1 + ... + 1/d_1 (a*f + b takes the scale)
            if lead is None:
                q = _trees(library, [([k for k, _ in den], [1.0] + [d for _, d in den])], ops, 10 ** 9, weights,
                           intercept=1.0)
            else:
                q = _trees(library, [([k_lead] + [k for k, _ in den], [0.0, 1.0] + [d for _, d in den])], ops,
                           10 ** 9, weights)
            if not q:
                continue
            if num:
                p = _trees(library, [([k for k, _ in num], [c0] + [a for _, a in num])], ops, 10 ** 9, weights,
                           intercept_of=target)
                if not p:
                    continue
                tree = _times(p[0], q[0], ops, inverse=True)
            else:
                tree = _times(None, q[0], ops, inverse=True) if c0 else None
            if tree is not None and _size(tree, weights) <= max_size and tree not in seeds:
                seeds.append(tree)
    return seeds, cost


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


def _monomial(columns, usable: list[int], logs: list[np.ndarray], v: np.ndarray, ops: set,
              tolerance: float) -> tuple[tuple, float] | None:
    """The monomial M = prod x_j**p_j (integer p_j, |p_j| <= 3) with log|M| + c0 closest to v by
    least squares on the log|x_j|, when every exponent lies within ``tolerance`` of its integer
    and the rounded fit leaves an RMS residual below ``tolerance`` (in log units): (tokens of M,
    c0 + the sign of M as a factor, i.e. sign(M)*exp(c0)), or None."""
    coef = _lstsq(logs, v)
    if coef is None:
        return None
    num, den, fitted, sign = [], [], np.zeros(len(v)), 1.0
    for j, l, c in zip(usable, logs, coef[1:]):
        p = round(c)
        if abs(c - p) > tolerance or abs(p) > 3:
            return None
        if p == 0:
            continue
        t = _power(j, abs(p), ops)
        if t is None:
            return None
        (num if p > 0 else den).append(t)
        fitted = fitted + p * l
        sign *= math.copysign(1.0, float(columns[j][0])) ** p
    if not num and not den:
        return None
    rest = v - fitted
    c0 = numeric.total(rest) / len(v)
    rest = rest - c0
    if not math.sqrt(numeric.dot(rest, rest) / len(v)) < tolerance:
        return None
    tree = _times(_product(num) if num else None, _product(den), ops, inverse=True) if den else _product(num)
    return (tree, sign * _exp(c0)) if tree is not None else None


MAX_FACTOR_VARIABLES = 10
""":func:`exp_monomials` tries each variable (and its inverse) as the factor F, and searches for a
constant factor of the law, for at most this many variables."""

MAX_PAIR_FACTOR_VARIABLES = 6
""":func:`exp_monomials` tries each product and ratio of two variables as the factor F for at most
this many variables (with k = 0 without the search for a constant factor)."""


def _exp(x: float) -> float:
    """exp of a float by numeric's kernel (libm's may differ in the last bit between CPUs)."""
    return float(numeric.exp(np.array([x]))[0])


def _unexplained(logs: list[np.ndarray], v: np.ndarray) -> float:
    """1 - R^2 of the least squares of v on the logs (1 where it cannot be formed)."""
    coef = _lstsq(logs, v)
    if coef is None:
        return 1.0
    rest = v - (coef[0] + sum(c * l for c, l in zip(coef[1:], logs)))
    vc = v - numeric.total(v) / len(v)
    ss = numeric.dot(vc, vc)
    return numeric.dot(rest, rest) / ss if ss > 0 else 1.0


def _golden(f, lo: float, hi: float, steps: int) -> float:
    """The argument of a minimum of f on [lo, hi] by golden-section search (steps + 2 calls)."""
    g = (math.sqrt(5) - 1) / 2
    a, b = hi - g * (hi - lo), lo + g * (hi - lo)
    fa, fb = f(a), f(b)
    for _ in range(steps):
        if fa <= fb:
            hi, b, fb = b, a, fa
            a = hi - g * (hi - lo)
            fa = f(a)
        else:
            lo, a, fa = a, b, fb
            b = lo + g * (hi - lo)
            fb = f(b)
    return a if fa <= fb else b


GOLDEN_STEPS = 30
"""Steps of the golden-section search for a law's constant factor in :func:`exp_monomials`."""


def exp_monomials(columns, y, ops: set, max_size: int, weights, tolerance: float = 0.05,
                  allowance: float | None = None, factor=_COMPUTE) -> tuple[list[tuple], int]:
    """Seeds ``F * (exp(c*M) - k)**s`` for a monomial M of the variables (integer exponents),
    k in {0, 1, -1} and s = 1 or -1, F = 1, the separable monomial of y (:func:`power_factor`) or
    (at most :data:`MAX_FACTOR_VARIABLES` variables) one variable or its inverse, or (at most
    :data:`MAX_PAIR_FACTOR_VARIABLES`) a product or ratio of two:
    ``n_0*exp(-m*g*x/(kb*T))``, ``1/(exp(h*omega/(kb*T)) - 1)``, ``I_0*(exp(q*V/(kb*T)) - 1)``;
    and ``F/(exp(c*M) + exp(-c*M))`` (acosh(F/y) = c*M). (y/F)**s + k = exp(c*M) makes
    log|log((y/F)**s + k)| linear in the log|x_j|, so each of the transforms is one least-squares fit; a seed is formed only where that fit's exponents round
    to integers and its residual is small (``tolerance``, in log units). Only when y and the
    variables it uses keep one sign (the scale and sign of y are the search's a*f + b)."""
    y = np.asarray(y, dtype=np.float64)
    if EXP not in ops or MUL not in ops or not _one_signed(y):
        return [], 0
    columns = [np.asarray(x, dtype=np.float64) for x in columns]
    usable = [j for j, x in enumerate(columns) if _one_signed(x) and np.ptp(x) > 0]
    if not usable:
        return [], 0
    with np.errstate(all="ignore"):
        logs = [numeric.log(np.abs(columns[j])) for j in usable]
    # F: none, the separable monomial, and (few variables) each variable and its inverse (the
    # separable monomial's exponents are blurred where exp(c*M) dominates log|y|) and each
    # product and ratio of two
    factors = [power_factor(columns, y, ops) if factor is _COMPUTE else factor]
    if len(usable) <= MAX_FACTOR_VARIABLES:
        factors += [(((VAR, j),), columns[j]) for j in usable]
        factors += [(t, 1.0 / columns[j]) for j in usable for t in [_times(None, ((VAR, j),), ops, inverse=True)]
                    if t is not None]
    singles = len(factors)
    if len(usable) <= MAX_PAIR_FACTOR_VARIABLES:
        for a in usable:
            for b in usable:
                if a < b:
                    factors.append((_times(((VAR, a),), ((VAR, b),), ops), columns[a] * columns[b]))
                if a != b:
                    factors.append((_times(((VAR, a),), ((VAR, b),), ops, inverse=True), columns[a] / columns[b]))
    bases = [(None, np.abs(y), True)]
    for i, f in enumerate(factors):
        if f is not None and f[0] is not None and all(f[0] != b[0] for b in bases):
            with np.errstate(all="ignore"):
                bases.append((f[0], np.abs(y / f[1]), i < singles))
    seeds, cost = [], len(bases)
    left = math.inf if allowance is None else float(allowance)
    forms = [(ftree, b, offset, s, k) for ftree, b, offset in bases
             for s, k in ((1, 0), (1, 1), (1, -1), (-1, 1), (-1, -1), (-1, COSH))
             if not (k and ADD not in ops and SUB not in ops) and not (s < 0 and INV not in ops and DIV not in ops)]
    missed = []
    for form in forms:  # every form as it is, then the searches for a constant factor while allowed
        cost += len(usable) + 4  # the transform (u, log u, log|log u|) and the least squares
        if not _exp_monomial_seed(form, None, columns, usable, logs, ops, max_size, weights, tolerance, seeds):
            missed.append(form)
    per = (GOLDEN_STEPS + 2) * (len(usable) + 4)
    for form in missed if len(usable) <= MAX_FACTOR_VARIABLES else []:
        ftree, b, offset, s, k = form
        if not (offset or k):
            continue
        # y = A*F*(exp(c*M) - k)**s with a constant A (the search's scale takes it): the A at which
        # log|t| is best fitted by the log|x_j| (exactly, for an exact law)
        with np.errstate(all="ignore"):
            lb = numeric.log(b)
        lo, hi = float(np.min(lb)), float(np.max(lb))
        # where the transform is defined: log b - z of one sign (k = 0), b/A > 1 (k = -1, s = 1),
        # A/b > 1 (k = -1, s = -1; COSH), anywhere (k = 1)
        below, above = (lo - 8.0, lo - 1e-9), (hi + 1e-9, hi + 8.0)
        ranges = {0: [below, above], 1: [(lo - 8.0, hi + 8.0)], -1: [below if s > 0 else above], COSH: [above]}[k]
        for zlo, zhi in ranges:
            if per > left:
                return seeds, cost
            left -= per
            cost += per

            def unexplained(z: float) -> float:
                tv = _exp_transform(b, s, k, z)
                return 1.0 if tv is None else _unexplained(logs, tv[1])

            z = _golden(unexplained, zlo, zhi, GOLDEN_STEPS)
            if _exp_monomial_seed(form, z, columns, usable, logs, ops, max_size, weights, tolerance, seeds):
                break
    return seeds, cost


COSH = 2
"""The k of the form ``F/(exp(c*M) + exp(-c*M))`` in :func:`exp_monomials` (a hyperbolic cosine)."""


def _exp_transform(b: np.ndarray, s: int, k: int, z: float | None):
    """(t, log|t|) with t = log((b/A)**s + k), A = exp(z) (1 for None); for k = 0, t = log b - z
    (z outside log b's range); for k = COSH, t = acosh((b/A)**s). None where a logarithm is not
    defined or t changes sign."""
    with np.errstate(all="ignore"):
        if k == 0:
            t = numeric.log(b)
            if z is not None:
                t = t - z
        elif k == COSH:
            u = b if z is None else b / _exp(z)
            u = u if s > 0 else 1.0 / u
            if not (np.isfinite(u).all() and np.all(u > 1)):
                return None
            t = numeric.log(u + np.sqrt((u - 1) * (u + 1)))
        else:
            u = b if z is None else b / _exp(z)
            u = (u if s > 0 else 1.0 / u) + k
            if not (np.isfinite(u).all() and np.all(u > 0)):
                return None
            t = numeric.log(u)
        if not (np.isfinite(t).all() and _one_signed(t)):
            return None
        v = numeric.log(np.abs(t))
    return (t, v) if np.isfinite(v).all() else None


def _exp_monomial_seed(form, z, columns, usable, logs, ops, max_size, weights, tolerance, seeds) -> bool:
    """Appends the seed of one form of :func:`exp_monomials` (at the constant factor exp(z)) to
    ``seeds`` when its monomial is found; True then."""
    ftree, b, _, s, k = form
    tv = _exp_transform(b, s, k, z)
    found = None if tv is None else _monomial(columns, usable, logs, tv[1], ops, tolerance)
    if found is None:
        return False
    mtree, scale = found  # |t| = |scale*M|: t = c*M
    c = math.copysign(1.0, float(tv[0][0])) * scale
    g = ((EXP, None), (MUL, None), (CONST, c)) + mtree
    if k == COSH:
        if ADD not in ops:
            return False
        g = ((ADD, None),) + g + ((EXP, None), (MUL, None), (CONST, -c)) + mtree
    elif k > 0:
        g = ((SUB, None),) + g + ((CONST, float(k)),) if SUB in ops else ((ADD, None),) + g + ((CONST, -float(k)),)
    elif k < 0:
        g = ((ADD, None),) + g + ((CONST, float(-k)),) if ADD in ops else ((SUB, None),) + g + ((CONST, float(k)),)
    tree = _times(ftree, g, ops, inverse=s < 0)
    if tree is not None and _size(tree, weights) <= max_size and tree not in seeds:
        seeds.append(tree)
    return True


GRAM_SHARE = 0.05
"""The share of a fit's evaluation budget that the joint least-squares fits of the seeds (sparse,
factored and rational sums) may spend on their normal equations."""

EXP_SHARE = 0.05
"""The share of a fit's evaluation budget that :func:`exp_monomials` may spend searching for the
constant factors of its forms."""


def simple_forms(columns, y, operators, max_size: int, weights,
                 budget: int | None = None) -> tuple[list[tuple], int]:
    """All seeds for one search, without duplicates (sums of library terms by pursuit and by
    thresholded least squares, power laws, exponential laws, factored and rational sums,
    exponentials of a monomial), and
    their cost in evaluations (each library term scored against each residual counts one, as a
    tree evaluation does; a pair of terms in normal equations one). The joint fits spend at most
    :data:`GRAM_SHARE` of ``budget`` and the searches for constant factors :data:`EXP_SHARE`
    (no limit without one). Overflow and invalid values in a candidate make it a poor seed,
    never a warning on the terminal."""
    with np.errstate(all="ignore"):
        return _simple_forms(columns, y, set(operators), max_size, weights, budget)


def _simple_forms(columns, y, ops: set, max_size: int, weights, budget: int | None) -> tuple[list[tuple], int]:
    sums, cost = sums_of_terms(columns, y, ops, max_size, weights)
    exps, cost2 = exponential_laws(columns, y, ops, max_size, weights)
    grams = _Grams(None if budget is None else GRAM_SHARE * budget)
    sparse, cost3 = sparse_sums(columns, y, ops, max_size, weights, grams=grams)
    factor = power_factor(columns, y, ops)
    factored, cost4 = factored_sums(columns, y, ops, max_size, weights, grams=grams, factor=factor)
    rational, cost5 = rational_sums(columns, y, ops, max_size, weights, grams=grams)
    monomials, cost6 = exp_monomials(columns, y, ops, max_size, weights,
                                     allowance=None if budget is None else EXP_SHARE * budget, factor=factor)
    cost += cost2 + cost3 + cost4 + cost5 + cost6
    out = []
    for t in sums + power_law(columns, y, ops, max_size, weights) + exps + sparse + factored + rational + monomials:
        if t not in out:
            out.append(t)
    return out, cost + 2 * len(columns)
