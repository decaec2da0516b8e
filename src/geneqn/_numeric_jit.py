"""Compiled loops for :mod:`geneqn.numeric`'s exp, log, sin, cos and tanh: the same operations, one pass.

``numeric.exp`` in numpy makes about 25 passes over its array (one per operation of fdlibm's
algorithm), 10 times the cost of ``np.exp``; in a symbolic-regression search it took a quarter
of the time. Compiled with numba, the same operations run per element in one loop. The bits
stay those of the numpy path, on every machine:

* the arithmetic is numeric's own functions (``_exp_reduced``, ``_log_reduced``, ``_sin_kernel``,
  ``_cos_kernel``, ``_expm1_small``), compiled, so it is written once; only the per-element branches (special
  values, the quadrant, tanh's two ranges, log's split of x from ``frexp`` where numpy shifts
  bits) are written here as well as there;
* numba compiles without fast-math: no reassociation and no fused multiply-add (LLVM contracts
  ``a*b + c`` only when asked), so each ``+ - * /`` is one correctly rounded IEEE operation,
  whatever the vector width the loop is compiled to;
* ``2**k`` comes from a table of exact powers of two, ``rint`` rounds half to even, as numpy's,
  and the quadrant is ``k mod 4`` in exact float arithmetic (no float-to-int conversion, whose
  out-of-range result LLVM leaves undefined).

``tests/test_numeric.py`` compares the two paths bit for bit (edge cases included), checks the
compiled code for fused multiply-adds, and runs one fit with the loop compiled for another CPU.
This module imports numba; :mod:`geneqn.numeric` imports it at the first call and runs its
numpy path (slower, the same bits) when numba is missing or fails, when ``GENEQN_NO_JIT`` is set
to anything, or when :func:`verify` finds a loop that differs from it on its probe inputs. The
loops compile once per machine (about 3 s for the five) and are cached on disk (numba's
``cache=True``; a cache older than numeric's arithmetic is caught by :func:`verify`).
"""

from __future__ import annotations

import math

import numba
import numpy as np

from geneqn import numeric

_jit = numba.njit(cache=True, error_model="numpy", nogil=True)
# inlined into the loops (which lets them vectorise); nothing of theirs is cached on its own
_inline = numba.njit(error_model="numpy", nogil=True, inline="always")
_reduced = _inline(numeric._exp_reduced)
_sin_k = _inline(numeric._sin_kernel)
_cos_k = _inline(numeric._cos_kernel)
_expm1 = _inline(numeric._expm1_small)
_log_reduced = _inline(numeric._log_reduced)
_LOG_SPLIT = numeric._LOG_SPLIT
_INV_LN2 = numeric._INV_LN2
_TWO_OVER_PI, _PIO2_1, _PIO2_2, _PIO2_3 = numeric._TWO_OVER_PI, numeric._PIO2_1, numeric._PIO2_2, numeric._PIO2_3
_TANH_SMALL = numeric._TANH_SMALL
POW2 = np.ldexp(1.0, np.arange(-1075, 1024))
"""2**j for j in [-1075, 1023] at index j + 1075: every factor the numpy path builds from bits
(exact; those below 2**-1022 are subnormal, and 2**-1075 rounds to 0: never used). A global, so numba compiles it in as
a constant (an argument could alias the output, which keeps LLVM from vectorising the loops)."""


@_inline
def _exp1(v):
    if v != v:
        return v
    xc = min(max(v, -746.0), 710.0)
    k = np.rint(xc * _INV_LN2)
    y = _reduced(xc, k)
    if abs(k) <= 1022.0:
        return y * POW2[int(k) + 1075]
    k1 = np.floor(k * 0.5)  # overflow or a subnormal result: two exact factors, one rounding
    return y * POW2[int(k1) + 1075] * POW2[int(k - k1) + 1075]


@_jit
def _exp_loop(x, out):
    for i in range(x.shape[0]):
        out[i] = _exp1(x[i])


@_jit
def _trig_loop(x, out, shift):
    # numeric.sin (shift 0) and cos (shift 1: cos x = sin of the next quadrant's reduction)
    for i in range(x.shape[0]):
        v = x[i]
        if not np.isfinite(v):
            out[i] = np.nan
            continue
        k = np.rint(v * _TWO_OVER_PI)
        r = ((v - k * _PIO2_1) - k * _PIO2_2) - k * _PIO2_3
        # k mod 4 in exact float arithmetic: numpy's int64(k) & 3, also where int64 overflows
        q = k - 4.0 * np.floor(k * 0.25) + shift
        if q >= 4.0:
            q -= 4.0
        if q == 0.0:
            out[i] = _sin_k(r)
        elif q == 1.0:
            out[i] = _cos_k(r)
        elif q == 2.0:
            out[i] = -_sin_k(r)
        else:
            out[i] = -_cos_k(r)


@_jit
def _tanh_loop(x, out):
    for i in range(x.shape[0]):
        v = x[i]
        if v != v:
            out[i] = v
            continue
        a = abs(v)
        if a < _TANH_SMALL:
            u = _expm1(2.0 * a)
            t = u / (u + 2.0)
        else:
            e = _exp1(-2.0 * min(a, 40.0))
            t = (1.0 - e) / (1.0 + e)
        out[i] = np.copysign(t, v)


@_jit
def _log_loop(x, out):
    for i in range(x.shape[0]):
        v = x[i]
        if not v > 0.0:   # 0, negative, nan
            out[i] = -np.inf if v == 0.0 else np.nan
        elif v == np.inf:
            out[i] = v
        else:
            # x = m * 2**e, m in [sqrt(1/2), sqrt(2)) as fdlibm splits it, from frexp (exact, and
            # for subnormals too) instead of the numpy path's bit shifts
            f, big_e = math.frexp(v)
            if f >= _LOG_SPLIT:
                out[i] = _log_reduced(f - 1.0, float(big_e))
            else:
                out[i] = _log_reduced(2.0 * f - 1.0, float(big_e - 1))


def exp(x: np.ndarray, out: np.ndarray) -> None:
    """numeric.exp of a 1-D contiguous float64 array into ``out``."""
    _exp_loop(x, out)


def sin(x: np.ndarray, out: np.ndarray) -> None:
    """numeric.sin, likewise."""
    _trig_loop(x, out, 0.0)


def cos(x: np.ndarray, out: np.ndarray) -> None:
    """numeric.cos, likewise."""
    _trig_loop(x, out, 1.0)


def log(x: np.ndarray, out: np.ndarray) -> None:
    """numeric.log, likewise."""
    _log_loop(x, out)


def tanh(x: np.ndarray, out: np.ndarray) -> None:
    """numeric.tanh, likewise."""
    _tanh_loop(x, out)


LOOPS = {"exp": (exp, _exp_loop), "log": (log, _log_loop), "sin": (sin, _trig_loop), "cos": (cos, _trig_loop),
         "tanh": (tanh, _tanh_loop)}
"""Each function of numeric's with its loop here and the numba dispatcher that compiles it."""
PROBE = np.concatenate([
    np.linspace(-750.0, 750.0, 1501), np.geomspace(5e-324, 1e308, 700), -np.geomspace(1e-300, 1e300, 61),
    _LOG_SPLIT * 2.0 ** np.arange(-1070.0, 1020.0, 30.0), np.nextafter(_LOG_SPLIT, [0.0, 1.0]),
    np.nextafter(_TANH_SMALL, [0.0, 1.0]), [np.inf, -np.inf, np.nan, 0.0, -0.0, 2.0 ** 63, -2.0 ** 64, 1e300]])
"""Inputs on which :func:`verify` compares each loop with the numpy path: every branch of each."""


def _same(a: np.ndarray, b: np.ndarray) -> bool:
    return bool(((a.view(np.int64) == b.view(np.int64)) | (np.isnan(a) & np.isnan(b))).all())


def verify() -> bool:
    """Run each loop on :data:`PROBE` against numeric's numpy path; a loop that differs (numba's
    disk cache keys on this file only, so a cache compiled before numeric's arithmetic changed
    would hold the old code) is compiled afresh and checked again. True when all agree. Running
    the loops here also compiles them in this process, so that forked workers inherit them."""
    with np.errstate(all="ignore"):
        for name, (loop, dispatcher) in LOOPS.items():
            want = getattr(numeric, f"_{name}_numpy")(PROBE)
            got = np.empty_like(PROBE)
            loop(PROBE, got)
            if not _same(got, want):
                dispatcher.recompile()
                loop(PROBE, got)
                if not _same(got, want):
                    return False
    return True


def asm() -> str:
    """The machine code of the loops and their arithmetic, compiled afresh with the same options
    (a loop loaded from numba's cache keeps no assembly), for the test that looks for fused
    multiply-adds."""
    fresh = numba.njit(error_model="numpy", nogil=True)
    x = np.linspace(-1.0, 1.0, 5)
    out = []
    for f, args in ((numeric._exp_reduced, (0.5, 1.0)), (numeric._sin_kernel, (0.5,)), (numeric._cos_kernel, (0.5,)),
                    (numeric._expm1_small, (0.1,)), (_exp1.py_func, (0.5,)),
                    (_exp_loop.py_func, (x, x.copy())), (_trig_loop.py_func, (x, x.copy(), 1.0)),
                    (_tanh_loop.py_func, (x, x.copy())),
                    (numeric._log_reduced, (0.1, 1.0)), (_log_loop.py_func, (x + 2.0, x.copy()))):
        g = fresh(f)
        g(*args)
        out.extend(g.inspect_asm().values())
    return "\n".join(out)
