"""The search's arithmetic gives the same bits on every machine, and is accurate.

Truths: mpmath at 40 digits for the functions; numpy's BLAS for the sums (to rounding); and, for
reproducibility, the same fit run in separate processes whose numerical set-ups differ (OpenBLAS
kernel, numpy's SIMD dispatch, thread counts): the equations and losses must be identical to the
last bit. Before the search used these kernels, OPENBLAS_CORETYPE=Sandybridge alone changed the
equations of a seeded fit on an AVX2 machine.
"""

import json
import math
import os
import platform
import re
import subprocess
import sys

import mpmath
import numpy as np
import pytest

from geneqn import numeric

mpmath.mp.dps = 40

SAMPLES = {
    "exp": np.concatenate([np.linspace(-30, 30, 701), [-745.0, -740.3, 709.7, 1e-12, -1e-300, 0.0]]),
    "log": np.concatenate([np.geomspace(1e-300, 1e300, 601), np.linspace(0.5, 2, 301), [5e-324, 1e-310, 1.0]]),
    "sin": np.concatenate([np.linspace(-50, 50, 1001), [1e-9, -1e-20, 0.0, 1e4 + 0.3]]),
    "cos": np.concatenate([np.linspace(-50, 50, 1001), [1e-9, 0.0, 1e4 + 0.3]]),
    "tanh": np.concatenate([np.linspace(-25, 25, 1001), [1e-12, -3e-9, 0.1, 0.17, 0.18, 0.0]]),
}
REFERENCE = {"exp": mpmath.exp, "log": mpmath.log, "sin": mpmath.sin, "cos": mpmath.cos, "tanh": mpmath.tanh}


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_functions_are_within_two_ulp_of_the_exact_value(name):
    x = SAMPLES[name]
    exact = np.array([float(REFERENCE[name](mpmath.mpf(float(v)))) for v in x])
    got = getattr(numeric, name)(x)
    ok = exact != 0
    ulps = np.abs(got[ok] - exact[ok]) / np.spacing(np.abs(exact[ok]))
    assert ulps.max() <= 2, (name, x[ok][np.argmax(ulps)], ulps.max())
    assert np.all(got[~ok] == 0)


def test_special_values_follow_ieee():
    with np.errstate(all="ignore"):
        e = numeric.exp(np.array([np.inf, -np.inf, np.nan, 800.0, -800.0]))
        lg = numeric.log(np.array([np.inf, 0.0, -1.0, np.nan, -np.inf]))
        s = numeric.sin(np.array([np.inf, np.nan]))
        t = numeric.tanh(np.array([np.inf, -np.inf, np.nan, -0.0]))
    assert e[0] == np.inf and e[1] == 0 and np.isnan(e[2]) and e[3] == np.inf and e[4] == 0
    assert lg[0] == np.inf and lg[1] == -np.inf and np.isnan(lg[2:]).all()
    assert np.isnan(s).all()
    assert t[0] == 1 and t[1] == -1 and np.isnan(t[2]) and np.signbit(t[3])
    assert numeric.exp(0.0) == 1.0 and isinstance(numeric.exp(1.0), np.floating)


EDGES = [np.inf, -np.inf, np.nan, 800.0, -800.0, -745.13, -745.14, -744.4, -708.39, -708.4, 709.78, 709.79, 710.0,
         0.0, -0.0, 5e-324, -5e-324, 0.5 * math.log(2), -0.5 * math.log(2), 1e-300, 0.17328679513998632,
         0.173286795139986, 0.1732867951399864, 40.0, 41.0, math.pi / 4, 3 * math.pi / 4, 1e6 + 0.5, 1e15, -1e15,
         2.0 ** 62 * 3, 2.0 ** 63, -2.0 ** 64, 1e300, -1e300]


@pytest.mark.parametrize("name", ["exp", "log", "sin", "cos", "tanh"])
def test_the_compiled_loops_give_the_numpy_paths_bits(name):
    """numeric's exp, log, sin, cos and tanh run numba loops (geneqn._numeric_jit); their bits must be
    those of the numpy path (which runs without numba or with GENEQN_NO_JIT=1), edge cases and
    every branch included (special values, overflow, subnormal results, the quadrants, tanh's
    two ranges, quadrants beyond int64, log's split around sqrt(1/2) and subnormal arguments)."""
    assert numeric.compiled() is not None, "numba is a dependency: the compiled loops must be in use"
    rng = np.random.default_rng(3)
    x = np.concatenate([rng.normal(size=20_000) * s for s in (0.01, 1.0, 30.0, 300.0)] + [
        np.linspace(-746.0, 710.0, 200_001), np.geomspace(5e-324, 1e308, 100_001),
        np.nextafter(numeric._LOG_SPLIT * 2.0 ** np.arange(-1070, 1020, 7.0), [[-np.inf], [0], [np.inf]]).ravel(),
        EDGES])
    strided = x[:280_000].reshape(4, -1)[:, ::3]   # 2-D, not contiguous: the same loop on a copy
    for a in (x, strided):
        with np.errstate(all="ignore"):
            compiled, plain = getattr(numeric, name)(a), getattr(numeric, f"_{name}_numpy")(a)
        assert compiled.shape == a.shape
        same = (compiled.view(np.int64) == plain.view(np.int64)) | (np.isnan(compiled) & np.isnan(plain))
        assert same.all(), a[~same][:5]
    with np.errstate(all="ignore"):
        one = getattr(numeric, name)(np.float64(0.7))
    assert one.shape == () and one == getattr(numeric, f"_{name}_numpy")(np.asarray(0.7))


def test_the_compiled_loops_fuse_no_multiply_add():
    """A fused multiply-add rounds once where the numpy path rounds twice: none may be in the
    compiled loops' machine code (numba without fast-math contracts nothing)."""
    asm = numeric.compiled().asm()
    if platform.machine().lower() in ("x86_64", "amd64"):
        fma, mul = r"\bv?f(n)?m(add|sub)\w*[sp]d\b", r"\bv?mul[sp]d\b"
    else:  # aarch64: fmadd/fmsub/fnmadd/fnmsub (scalar), fmla/fmls (vector)
        fma, mul = r"\bf(n)?m(add|sub|la|ls)\b", r"\bfmul\b"
    assert len(re.findall(mul, asm)) >= 10   # the search below reads real code
    assert not re.search(fma, asm), "a fused multiply-add in a compiled loop"


def test_a_compiled_loop_that_differs_from_the_numpy_path_is_caught(monkeypatch):
    """numba's disk cache keys on _numeric_jit.py alone, so a cache compiled before numeric's
    arithmetic changed would hold the old code: verify() compares every loop on probe inputs
    (here against a numpy path made to differ by one ulp at one input) and reports it."""
    loops = numeric.compiled()
    assert loops.verify()
    real = numeric._tanh_numpy

    def off_by_one_ulp(x):
        out = real(x)
        return np.where(x == 1.0, np.nextafter(out, 2.0), out)

    monkeypatch.setattr(numeric, "_tanh_numpy", off_by_one_ulp)
    assert not loops.verify()
    monkeypatch.setattr(numeric, "_tanh_numpy", real)
    assert loops.verify()


def test_numeric_falls_back_to_numpy_with_a_warning_when_numba_cannot_cache():
    """No writable cache folder (read-only install and HOME): the numpy path, the same values."""
    code = ("import warnings, numpy as np\nfrom geneqn import numeric\n"
            "with warnings.catch_warnings(record=True) as w:\n    warnings.simplefilter('always')\n"
            "    loops = numeric.compiled()\n"
            "print(loops is None, any('using numpy' in str(x.message) for x in w), numeric.exp(1.0).hex())")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                       env={**os.environ, "NUMBA_CACHE_LOCATOR_CLASSES": "IPythonCacheLocator"})
    assert r.stdout.split() == ["True", "True", numeric.exp(1.0).hex()], r.stderr[-2000:]


def test_log2_is_exact_at_powers_of_two_and_close_elsewhere():
    x = np.concatenate([np.geomspace(1e-300, 1e300, 5001), [0.001, 0.5, 1.0, 1.001, 3.0, 1e5 + 0.001]])
    got = numeric.log2(x)
    assert np.all(np.abs(got - np.log2(x)) <= 2 * np.spacing(np.abs(np.log2(x)) + 1e-300))
    for k in range(-1074, 1024, 7):
        assert numeric.log2(2.0 ** k) == k
    sp = numeric.log2(np.array([0.0, -1.0, np.inf, np.nan]))
    assert sp[0] == -np.inf and np.isnan(sp[1]) and sp[2] == np.inf and np.isnan(sp[3])


def test_sums_and_solves_agree_with_blas_to_rounding():
    rng = np.random.default_rng(0)
    A = rng.normal(size=(5, 3000))
    np.testing.assert_allclose(numeric.gram(A), A @ A.T, rtol=1e-12)
    np.testing.assert_allclose(numeric.row_dots(A, A[0]), A @ A[0], rtol=1e-12)
    assert numeric.dot(A[1], A[2]) == pytest.approx(float(A[1] @ A[2]), rel=1e-12, abs=1e-9)
    M = numeric.gram(A)
    b = rng.normal(size=5)
    np.testing.assert_allclose(numeric.solve_spd(M, b), np.linalg.solve(M, b), rtol=1e-10)
    assert numeric.solve_spd(np.array([[1.0, 2.0], [2.0, 1.0]]), [1.0, 1.0]) is None  # not positive definite


FIT = r"""
import json, sys
import numpy as np
from geneqn.sr.regressor import SymbolicRegressor
out = []
for path in sys.argv[2:]:
    data = np.load(path)
    X, y = data[:, :-1], data[:, -1]
    m = SymbolicRegressor(operators=["+", "-", "*", "/", "exp", "log", "sin", "square"], max_evaluations=12000,
                          restarts=2, n_jobs=int(sys.argv[1]), random_state=1).fit(X, y)
    out.append([[int(c), l.hex(), repr(e.to_json())] for c, l, e in
                zip(m.equations_.complexity, m.equations_.loss, m.equations_.expr)])
print(json.dumps(out))
"""


def _fit_in(env: dict, n_jobs: int, data) -> list:
    full = {**os.environ, **env}
    r = subprocess.run([sys.executable, "-c", FIT, str(n_jobs), *map(str, data)], capture_output=True, text=True,
                       env=full, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    return json.loads(r.stdout.strip().splitlines()[-1])


def test_the_same_fit_gives_the_same_bits_under_other_numerical_set_ups(tmp_path):
    """The issue's check: one fit under set-ups whose floating point differs (OpenBLAS's kernel for
    another CPU generation, numpy's SIMD dispatch switched off, one thread vs two, processes)."""
    # the data are made here, once: numpy's own np.exp and np.sin round differently under these
    # set-ups (SVML on AVX-512), so data made in each child would differ before the search starts
    rng = np.random.default_rng(0)
    X = rng.uniform(-1, 1, size=(800, 5))
    y = np.exp(0.8 * X[:, 0]) - 1.5 * X[:, 1] * X[:, 2] + 0.3 * np.sin(X[:, 3]) + 0.01 * rng.normal(size=800)
    np.save(tmp_path / "data.npy", np.column_stack([X, y]))
    # and a one-signed law of positive variables (the seeds' logs, exponential monomials and the
    # golden-section search for a constant factor run on it)
    Z = 1 + np.abs(X[:, :4])
    y2 = Z[:, 0] * np.exp(-Z[:, 1] * Z[:, 2] / Z[:, 3]) * (1 + 0.01 * rng.normal(size=800))
    np.save(tmp_path / "data2.npy", np.column_stack([Z, y2]))
    data = [tmp_path / "data.npy", tmp_path / "data2.npy"]
    base = _fit_in({}, 1, data)
    other = _fit_in({"OPENBLAS_CORETYPE": "Sandybridge", "NPY_DISABLE_CPU_FEATURES": "X86_V3",
                     "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}, 2, data)
    # numeric's numpy path instead of its compiled loops, and the loops compiled for a CPU
    # without AVX (SSE2 vectors: another width than the machine's own)
    plain = _fit_in({"GENEQN_NO_JIT": "1"}, 1, data)
    narrow = _fit_in({"NUMBA_CPU_NAME": "generic", "NUMBA_CACHE_DIR": str(tmp_path / "numba")}, 1, data)
    assert len(base) == 2 and len(base[0]) > 3 and len(base[1]) > 3
    assert base == other == plain == narrow


REFIT = r"""
import numpy as np
from geneqn.sr.distill import joint_refit
from geneqn.sr.equation import GenomicEquation
from geneqn.sr.expr import Expr
rng = np.random.default_rng(5)
names = ["f0", "f1", "f2"]
X = rng.uniform(-1, 1, size=(3000, 3))
# products only: numpy's own exp, tanh and ** round differently under these set-ups
u = X[:, 0] * X[:, 2]
y = 1.3 * u - 0.5 * u * u * u + 0.4 * (1 + X[:, 1] + 0.5 * X[:, 1] * X[:, 1]) + 0.05 * rng.normal(size=3000)
eq = GenomicEquation("t", names, {"x0": Expr.parse("0.7*f0*f2 + 0.1", names), "x1": Expr.parse("exp(0.8*f1 - 0.2)", names)},
                     Expr.parse("0.9*x0 - 0.3*x0*x0*x0 + 0.5*x1 - 0.1", ["x0", "x1"]), {})
fit = joint_refit(eq, X, y)
print(" ".join(float(c).hex() for k in fit.latents for c in fit.latents[k].constants) + " " +
      " ".join(float(c).hex() for c in fit.output.constants))
"""


def test_joint_refit_gives_the_same_bits_under_other_numerical_set_ups():
    """The stability stage's bootstrap intervals of the constants and its core come from joint
    refits: under OpenBLAS's Haswell kernel and numpy without its AVX-512 loops (an AVX2 machine,
    emulated) scipy's least_squares gave the demo's intervals that differed in their second digit.
    The refit now uses no BLAS: the same constants to the bit under the set-ups of the fit test."""
    def refit(env):
        r = subprocess.run([sys.executable, "-c", REFIT], capture_output=True, text=True,
                           env={**os.environ, **env}, timeout=300)
        assert r.returncode == 0, r.stderr[-2000:]
        return r.stdout.split()

    base = refit({})
    assert len(base) == 8
    assert refit({"OPENBLAS_CORETYPE": "Haswell", "NPY_DISABLE_CPU_FEATURES": "X86_V4 AVX512_ICL AVX512_SPR"}) == base
    assert refit({"OPENBLAS_CORETYPE": "Sandybridge", "NPY_DISABLE_CPU_FEATURES": "X86_V3",
                  "OPENBLAS_NUM_THREADS": "2", "OMP_NUM_THREADS": "2"}) == base


RIDGE = r"""
import sys
import numpy as np
import geneqn.baselines as baselines
from geneqn.baselines import RidgeRegressor
baselines.EXACT_MAX_FEATURES = int(sys.argv[1])
rng = np.random.default_rng(2)
X = rng.normal(size=(3000, 40)) * rng.uniform(0.1, 5, 40) + rng.normal(size=40)
X[:, 7] = X[:, 6] + 0.05 * rng.normal(size=3000)
# the data without BLAS or numpy's own sin (they differ under these set-ups themselves)
y = np.add.reduce(X * rng.normal(size=40), axis=-1) * 0.1 + X[:, 0] * X[:, 1] + rng.normal(size=3000)
w = rng.uniform(0.5, 2, size=2400)
m = RidgeRegressor(scoring="pearson").fit(X[:2400], y[:2400], X[2400:], y[2400:], sample_weight=w)
print(m.alpha_, float(m.intercept_).hex(), " ".join(float(c).hex() for c in m.coef_),
      " ".join(float(v).hex() for v in m.predict(X[2400:])))
"""


def test_ridge_gives_the_same_bits_under_other_numerical_set_ups():
    """Table 1's ridge row: scikit-learn's Ridge (BLAS) gave the demo's ridge predictions that
    differed by up to 2e-14 under an emulated AVX2 machine. Ridge on up to EXACT_MAX_FEATURES
    features now uses no BLAS: the same alpha, coefficients and predictions to the bit under the
    set-ups of the fit test."""
    from geneqn.baselines import EXACT_MAX_FEATURES

    def fit(env):
        r = subprocess.run([sys.executable, "-c", RIDGE, str(EXACT_MAX_FEATURES)], capture_output=True, text=True,
                           env={**os.environ, **env}, timeout=300)
        assert r.returncode == 0, r.stderr[-2000:]
        return r.stdout.split()

    base = fit({})
    assert len(base) == 2 + 40 + 600
    assert fit({"OPENBLAS_CORETYPE": "Haswell", "NPY_DISABLE_CPU_FEATURES": "X86_V4 AVX512_ICL AVX512_SPR"}) == base
    assert fit({"OPENBLAS_CORETYPE": "Sandybridge", "NPY_DISABLE_CPU_FEATURES": "X86_V3",
                "OPENBLAS_NUM_THREADS": "2", "OMP_NUM_THREADS": "2"}) == base


PIN = r"""
import os, geneqn, torch
print(os.environ.get("ATEN_CPU_CAPABILITY"), os.environ.get("MKL_CBWR"), torch.backends.cpu.get_cpu_capability())
"""


def test_importing_geneqn_pins_torch_to_the_avx2_kernels_on_avx2_machines():
    """The same networks on AVX2 and AVX-512 machines: ATen's AVX2 kernels and MKL's COMPATIBLE code
    path (conditional numerical reproducibility), unless the user set them or opted out."""
    from geneqn._reproducible import _has_avx2

    env = {k: v for k, v in os.environ.items() if k not in ("ATEN_CPU_CAPABILITY", "MKL_CBWR", "GENEQN_NATIVE_KERNELS")}
    run = lambda extra: subprocess.run([sys.executable, "-c", PIN], capture_output=True, text=True,  # noqa: E731
                                       env={**env, **extra}, timeout=120).stdout.split()
    if platform.machine().lower() not in ("x86_64", "amd64"):
        assert run({})[:2] == ["None", "None"]
    elif _has_avx2():
        assert run({}) == ["avx2", "COMPATIBLE,STRICT", "AVX2"]
    else:  # MKL's COMPATIBLE branch runs on every x86-64 processor; ATen's AVX2 kernels need AVX2
        assert run({})[:2] == ["None", "COMPATIBLE,STRICT"]
    assert run({"GENEQN_NATIVE_KERNELS": "1"})[:2] == ["None", "None"]
    assert run({"MKL_CBWR": "COMPATIBLE"})[1] == "COMPATIBLE"   # a user's own setting is kept


def test_the_test_process_runs_the_pinned_kernels():
    """conftest.py imports geneqn before any test module imports torch, so every test runs with
    the pinned kernels, whichever test files are collected (test_nas.py imports torch first: the
    tiny study's networks then differed)."""
    import torch

    from geneqn._reproducible import PINNED, _has_avx2

    if os.environ.get("GENEQN_NATIVE_KERNELS") or platform.machine().lower() not in ("x86_64", "amd64"):
        return  # nothing is pinned there, by design
    assert os.environ.get("MKL_CBWR") is not None
    if _has_avx2() and os.environ.get("ATEN_CPU_CAPABILITY") == PINNED["ATEN_CPU_CAPABILITY"]:
        assert torch.backends.cpu.get_cpu_capability() == "AVX2"


TRAIN = r"""
import hashlib, sys
import numpy as np
import geneqn, torch
rng = np.random.default_rng(0)
X = rng.normal(size=(3000, 12))
y = np.tanh(X[:, 0] - 0.5 * X[:, 1] * X[:, 2]) + 0.3 * X[:, 3] + 0.1 * rng.normal(size=3000)
net = geneqn.BottleneckRegressor("48-relu|[3-tanh]|48-relu", max_epochs=4, random_state=0)
net.fit(X[:2400], y[:2400], X[2400:], y[2400:])
h = hashlib.sha256()
for v in net.network_.state_dict().values():
    h.update(v.numpy().tobytes())
h.update(np.ascontiguousarray(net.latent(X[2400:])).tobytes())
print(torch.get_num_threads(), h.hexdigest())
"""


@pytest.mark.skipif(platform.machine().lower() not in ("x86_64", "amd64"), reason="MKL's code branches are x86's")
def test_a_network_trains_to_the_same_bits_whatever_code_path_mkl_would_pick():
    """MKL runs its AVX2 branch on Intel processors only and silently takes its AUTO branch on AMD
    ones (Intel's CNR documentation): with ``MKL_CBWR=AVX2,STRICT`` the demo's networks, and so its
    equations, differed between an Intel and an AMD machine. A process limited to SSE4.2 shows the
    same fallback on any machine, so this compares a seeded training there, with one thread, and
    in a plain process: the weights and latents must be the same bits."""
    env = {k: v for k, v in os.environ.items() if k not in ("ATEN_CPU_CAPABILITY", "MKL_CBWR", "GENEQN_NATIVE_KERNELS",
                                                            "MKL_ENABLE_INSTRUCTIONS")}
    run = lambda extra: subprocess.run([sys.executable, "-c", TRAIN], capture_output=True, text=True,  # noqa: E731
                                       env={**env, **extra}, timeout=300).stdout.split()
    base = run({})
    assert len(base) == 2 and len(base[1]) == 64
    assert run({"MKL_ENABLE_INSTRUCTIONS": "SSE4_2"})[1] == base[1]
    one = run({"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"})
    assert one[0] == "1" and one[1] == base[1]
