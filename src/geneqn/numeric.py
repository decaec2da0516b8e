"""Floating point that gives the same bits on every x86 machine, for the symbolic-regression search.

A search makes millions of discrete choices (which tree wins a tournament, which child is kept)
by comparing losses. When two machines compute a loss with different last bits, a choice can
flip and the two searches part for good: the same seed then gives other equations. The last bits
differ where a library picks its code by CPU: numpy's ``exp``/``log``/``sin`` have AVX-512
versions (SVML) that round differently from the scalar ones; BLAS (``@``, ``np.dot``,
``np.linalg``) sums in a kernel-dependent order (OpenBLAS's Haswell and SkylakeX kernels differ,
and so do thread counts).

So the search uses only operations whose result IEEE 754 fixes to the bit:

* elementwise ``+ - * /`` and ``sqrt`` (correctly rounded, whatever the SIMD width), ``rint``,
  ``ldexp``, ``frexp``, ``abs``, comparisons and ``where``;
* sums by numpy's pairwise summation (:func:`total`, ``np.add.reduce``), whose order of
  additions is fixed by the length of the array, not by the CPU;
* ``exp``, ``log`` (and ``log2``), ``sin``, ``cos`` and ``tanh`` written here from those operations (range
  reduction by Cody and Waite, then the minimax polynomials of fdlibm, Sun Microsystems 1993;
  errors below 2 ulp, checked against numpy in the tests);
* small linear systems solved by a Cholesky factorisation in Python floats (:func:`solve_spd`).

Nothing here calls BLAS or LAPACK.
"""

from __future__ import annotations

import math
import os
import warnings

import numpy as np

# ---------------------------------------------------------------------- exp

_LN2_HI = 6.93147180369123816490e-01   # ln 2 to 32 bits: k * _LN2_HI is exact for |k| < 2**20
_LN2_LO = 1.90821492927058770002e-10   # ln 2 - _LN2_HI
_INV_LN2 = 1.44269504088896338700e+00
# fdlibm e_exp.c: the remez polynomial of R(r^2) with r*R(r^2) ~ r*(exp(r) + 1)/(exp(r) - 1) - 2
_P1 = 1.66666666666666019037e-01
_P2 = -2.77777777770155933842e-03
_P3 = 6.61375632143793436117e-05
_P4 = -1.65339022054652515390e-06
_P5 = 4.13813679705723846039e-08


def _expm1_small(r):
    """exp(r) - 1 for |r| <= ln(2)/2, to 1 ulp relative (fdlibm's kernel with no reduction)."""
    t = r * r
    c = r - t * (_P1 + t * (_P2 + t * (_P3 + t * (_P4 + t * _P5))))
    return r + (r * c) / (2.0 - c)


def _pow2(k):
    """2.0**k for integer-valued float64 ``k`` in [-1022, 1023], built from its bits."""
    return ((k.astype(np.int64) + 1023) << 52).view(np.float64)


def _exp_reduced(xc, k):
    """y with e**xc = y * 2**k, for k = rint(xc / ln 2) (fdlibm's reduction and kernel). Plain
    arithmetic: the numpy path runs it on arrays, the compiled one (:mod:`geneqn._numeric_jit`)
    on each element, with the same operations in the same order."""
    hi = xc - k * _LN2_HI
    lo = k * _LN2_LO
    r = hi - lo
    t = r * r
    c = r - t * (_P1 + t * (_P2 + t * (_P3 + t * (_P4 + t * _P5))))
    return 1.0 - ((lo - (r * c) / (2.0 - c)) - hi)


def exp(x):
    """e**x, identical bits on every machine; inf on overflow, 0 on underflow, nan for nan."""
    x = np.asarray(x, dtype=np.float64)
    loops = compiled()
    return _exp_numpy(x) if loops is None else _run(loops.exp, x)


def _run(loop, x):
    """A compiled elementwise ``loop(x, out)`` on a float64 array of any shape (0-d: a scalar)."""
    if x.ndim == 1 and x.flags.c_contiguous:
        out = np.empty(x.shape[0])
        loop(x, out)
        return out
    flat = np.ascontiguousarray(x).reshape(-1)
    out = np.empty_like(flat)
    loop(flat, out)
    out = out.reshape(x.shape)
    return out if out.ndim else out[()]


_COMPILED: list = []


def compiled():
    """:mod:`geneqn._numeric_jit` (the compiled loops, the same bits as the numpy code here,
    checked on probe inputs at the first call), or None: numba missing or failing (e.g. no
    writable cache folder), ``GENEQN_NO_JIT`` set to anything, or a loop that differs from the
    numpy path. Decided once per process."""
    if not _COMPILED:
        loops = None
        if not os.environ.get("GENEQN_NO_JIT"):
            try:
                from geneqn import _numeric_jit as loops
                if not loops.verify():
                    warnings.warn("geneqn.numeric: a compiled loop differs from the numpy path; using numpy",
                                  RuntimeWarning, stacklevel=2)
                    loops = None
            except Exception as e:   # numba absent, too old for this numpy, or unable to cache
                if not isinstance(e, ImportError):
                    warnings.warn(f"geneqn.numeric: numba failed ({type(e).__name__}: {e}); using numpy",
                                  RuntimeWarning, stacklevel=2)
                loops = None
        _COMPILED.append(loops)
    return _COMPILED[0]


def _exp_numpy(x):
    xc = np.minimum(np.maximum(x, -746.0), 710.0)   # nan stays nan
    k = np.rint(xc * _INV_LN2)
    y = _exp_reduced(xc, k)
    # y * 2**k; nan k (nan x, whose y is nan) becomes any finite k
    k = np.fmax(k, -1076.0)
    if (np.abs(k) <= 1022.0).all():
        out = y * _pow2(k)
    else:  # overflow or a subnormal result: two exact power-of-two factors, one rounding
        k1 = np.floor(k * 0.5)
        out = y * _pow2(k1) * _pow2(k - k1)
    return out if out.ndim else out[()]


# ---------------------------------------------------------------------- log

_SQRT_HALF = 0.70710678118654752440
# fdlibm e_log.c: log(1+f) = f - f^2/2 + s*(f^2/2 + R(z)), s = f/(2+f), z = s^2
_LG1 = 6.666666666666735130e-01
_LG2 = 3.999999999940941908e-01
_LG3 = 2.857142874366239149e-01
_LG4 = 2.222219843214978396e-01
_LG5 = 1.818357216161805012e-01
_LG6 = 1.531383769920937332e-01
_LG7 = 1.479819860511658591e-01


_LOG_SPLIT = 0.5 + 0x6a09e / 2.0 ** 21
"""frexp's mantissa f (x = f * 2**F, f in [0.5, 1)) from which fdlibm's reduction keeps m = f
(else m = 2f): its high-word test ``mantissa >= 0x6a09e`` of 2f, as a comparison of values."""


def _log_reduced(f, e):
    """log(x) for x = (1 + f) * 2**e, m = 1 + f in [sqrt(1/2), sqrt(2)) (fdlibm e_log.c's kernel;
    plain arithmetic, shared by the numpy path and the compiled loop)."""
    s = f / (2.0 + f)
    z = s * s
    w = z * z
    t1 = w * (_LG2 + w * (_LG4 + w * _LG6))
    t2 = z * (_LG1 + w * (_LG3 + w * (_LG5 + w * _LG7)))
    R = t2 + t1
    hfsq = 0.5 * f * f
    return e * _LN2_HI - ((hfsq - (s * (hfsq + R) + e * _LN2_LO)) - f)


def log(x):
    """Natural logarithm, identical bits on every machine: nan for x < 0 (and nan), -inf at 0."""
    x = np.asarray(x, dtype=np.float64)
    loops = compiled()
    return _log_numpy(x) if loops is None else _run(loops.log, x)


def _log_numpy(x):
    ok = x > 0                                # False for nan
    xs = np.where(ok, x, 1.0)
    sub = xs < 2.2250738585072014e-308        # subnormal: scale into the normal range first
    if sub.any():
        xs = xs * np.where(sub, 18014398509481984.0, 1.0)   # 2**54
    bits = xs.view(np.int64)
    # xs = m * 2**e with m in [sqrt(1/2), sqrt(2)): shift the mantissa's bits by the
    # exponent of sqrt(1/2) (fdlibm's trick, on the high word 0x3fe6a09e)
    hx = (bits >> 32) + (0x3ff00000 - 0x3fe6a09e)
    e = ((hx >> 20) - 1023).astype(np.float64)
    if sub.any():
        e = e - np.where(sub, 54.0, 0.0)
    m = (((hx & 0x000fffff) + 0x3fe6a09e) << 32 | (bits & 0xffffffff)).view(np.float64)
    val = _log_reduced(m - 1.0, e)            # m - 1 is exact (Sterbenz)
    if not ok.all():
        val = np.where(ok, val, np.where(x == 0, -np.inf, np.nan))
    if (x == np.inf).any():
        val = np.where(x == np.inf, np.inf, val)
    return val if val.ndim else val[()]


def log2(x):
    """Base-2 logarithm, identical bits on every machine, exact at powers of two: with
    ``x = m * 2**e`` (``frexp``, exact), ``e - 1 + log(2*m) / ln 2``."""
    x = np.asarray(x, dtype=np.float64)
    m, e = np.frexp(x)
    val = (e - 1).astype(np.float64) + log(2.0 * m) * _INV_LN2
    val = np.where(np.isfinite(x), val, log(x))    # inf and nan as log gives them
    return val if val.ndim else val[()]


# ---------------------------------------------------------------------- sin, cos

_TWO_OVER_PI = 6.36619772367581382433e-01
# pi/2 in three parts of 33 bits (fdlibm e_rem_pio2.c): k * _PIO2_1 and k * _PIO2_2 are exact
# for |k| < 2**20, so the reduction is accurate for |x| up to about 1.6e6
_PIO2_1 = 1.57079632673412561417e+00
_PIO2_2 = 6.07710050630396597660e-11
_PIO2_3 = 2.02226624871116645580e-21
# fdlibm k_sin.c / k_cos.c on [-pi/4, pi/4]
_S1 = -1.66666666666666324348e-01
_S2 = 8.33333333332248946124e-03
_S3 = -1.98412698298579493134e-04
_S4 = 2.75573137070700676789e-06
_S5 = -2.50507602534068634195e-08
_S6 = 1.58969099521155010221e-10
_C1 = 4.16666666666666019037e-02
_C2 = -1.38888888888741095749e-03
_C3 = 2.48015872894767294178e-05
_C4 = -2.75573143513906633035e-07
_C5 = 2.08757232129817482790e-09
_C6 = -1.13596475577881948265e-11


def _reduce_pio2(x):
    """(r, quadrant) with x = r + quadrant*pi/2, |r| <= pi/4 (about)."""
    finite = np.isfinite(x)
    xs = np.where(finite, x, 0.0)
    k = np.rint(xs * _TWO_OVER_PI)
    r = ((xs - k * _PIO2_1) - k * _PIO2_2) - k * _PIO2_3
    q = k.astype(np.int64) & 3                # two's complement: the quadrant for k < 0 too
    return r, q, finite


def _sin_kernel(r):
    z = r * r
    return r + r * z * (_S1 + z * (_S2 + z * (_S3 + z * (_S4 + z * (_S5 + z * _S6)))))


def _cos_kernel(r):
    z = r * r
    hz = 0.5 * z
    tail = z * z * (_C1 + z * (_C2 + z * (_C3 + z * (_C4 + z * (_C5 + z * _C6)))))
    w = 1.0 - hz
    return w + (((1.0 - w) - hz) + tail)


def sin(x):
    """sin(x), identical bits on every machine (nan for +-inf and nan)."""
    x = np.asarray(x, dtype=np.float64)
    loops = compiled()
    return _sin_numpy(x) if loops is None else _run(loops.sin, x)


def _sin_numpy(x):
    r, q, finite = _reduce_pio2(x)
    s, c = _sin_kernel(r), _cos_kernel(r)
    out = np.where(q == 0, s, np.where(q == 1, c, np.where(q == 2, -s, -c)))
    out = np.where(finite, out, np.nan)
    return out if out.ndim else out[()]


def cos(x):
    """cos(x), identical bits on every machine (nan for +-inf and nan)."""
    x = np.asarray(x, dtype=np.float64)
    loops = compiled()
    return _cos_numpy(x) if loops is None else _run(loops.cos, x)


def _cos_numpy(x):
    r, q, finite = _reduce_pio2(x)
    s, c = _sin_kernel(r), _cos_kernel(r)
    out = np.where(q == 0, c, np.where(q == 1, -s, np.where(q == 2, -c, s)))
    out = np.where(finite, out, np.nan)
    return out if out.ndim else out[()]


# ---------------------------------------------------------------------- tanh

_TANH_SMALL = 0.17328679513998632       # 2|x| <= ln(2)/2: expm1 without reduction


def tanh(x):
    """tanh(x), identical bits on every machine; relative error a few ulp, also near 0."""
    x = np.asarray(x, dtype=np.float64)
    loops = compiled()
    return _tanh_numpy(x) if loops is None else _run(loops.tanh, x)


def _tanh_numpy(x):
    a = np.abs(x)
    small = a < _TANH_SMALL
    u = _expm1_small(np.where(small, 2.0 * a, 0.0))
    t_small = u / (u + 2.0)
    e = _exp_numpy(-2.0 * np.where(small, 1.0, np.minimum(a, 40.0)))
    t_big = (1.0 - e) / (1.0 + e)
    t = np.where(small, t_small, t_big)
    out = np.where(np.isnan(x), np.nan, np.copysign(t, x))
    return out if out.ndim else out[()]


# ---------------------------------------------------------------------- reductions and solves

def total(a) -> float:
    """Sum of a 1-D array in numpy's pairwise order (fixed by the length, not by the CPU)."""
    return float(np.add.reduce(np.asarray(a, dtype=np.float64)))


def dot(a, b) -> float:
    """Sum of a*b without BLAS (elementwise products, then pairwise summation)."""
    return float(np.add.reduce(np.multiply(a, b)))


def row_dots(M, v) -> np.ndarray:
    """``M @ v`` for a C-contiguous (k, n) matrix, without BLAS: each row summed pairwise."""
    return np.add.reduce(M * v, axis=-1)


def gram(M, w=None) -> np.ndarray:
    """``M @ M.T`` (with ``w``: ``M @ diag(w) @ M.T``) for a (k, n) matrix, without BLAS: each entry
    a pairwise sum, computed row by row (k x n products at a time, not k x k x n), the lower
    triangle a copy of the upper, so the matrix is symmetric to the bit."""
    M = np.ascontiguousarray(M, dtype=np.float64)
    G = np.empty((len(M), len(M)))
    for j in range(len(M)):
        G[j, j:] = G[j:, j] = row_dots(M[j:], M[j] if w is None else M[j] * w)
    return G


def solve_spd(A, b) -> list[float] | None:
    """Solve A x = b for a small symmetric positive definite A by Cholesky in Python floats
    (each operation correctly rounded, so the same bits everywhere); None when A is not
    positive definite to working precision."""
    n = len(b)
    A = [[float(A[i][j]) for j in range(n)] for i in range(n)]
    L = [[0.0] * n for _ in range(n)]
    for i in range(n):
        for j in range(i + 1):
            s = A[i][j]
            for k in range(j):
                s -= L[i][k] * L[j][k]
            if i == j:
                if not s > 0 or not math.isfinite(s):
                    return None
                L[i][i] = math.sqrt(s)
            else:
                L[i][j] = s / L[j][j]
    y = [0.0] * n
    for i in range(n):
        s = float(b[i])
        for k in range(i):
            s -= L[i][k] * y[k]
        y[i] = s / L[i][i]
    x = [0.0] * n
    for i in range(n - 1, -1, -1):
        s = y[i]
        for k in range(i + 1, n):
            s -= L[k][i] * x[k]
        x[i] = s / L[i][i]
    return x
