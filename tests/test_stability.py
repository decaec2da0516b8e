"""Stability of an equation: refits over seeds and bootstraps, checked on a planted law."""

import json

import numpy as np
import pandas as pd
import pytest

from geneqn import GenomicEquationDistiller, SymbolicRegressor
from geneqn.errors import GeneqnError
from geneqn.sr import stability
from geneqn.sr.expr import Expr


class PlantedNet:
    """A fitted-network double: latent units f0 and f1**2, prediction 0.8*(f0 - 0.625*f1**2)."""

    n_features_in_ = 4

    def predict(self, X):
        X = np.asarray(X, dtype=float)
        return 0.8 * (X[:, 0] - 0.625 * X[:, 1] ** 2)

    def latent(self, X):
        X = np.asarray(X, dtype=float)
        return np.column_stack([X[:, 0], X[:, 1] ** 2])


@pytest.fixture(scope="module")
def fitted():
    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.normal(size=(600, 4)), columns=["f0", "f1", "f2", "f3"])
    y = PlantedNet().predict(X) + 0.05 * rng.normal(size=600)
    sr = SymbolicRegressor(max_evaluations=4000, restarts=1, random_state=0)
    d = GenomicEquationDistiller(PlantedNet(), sr=sr).fit(X[:400], y[:400])
    return d, (X[:400], y[:400], X[400:500], y[400:500], X[500:], y[500:])


def test_terms_by_hand():
    names = ["f1", "f2"]
    assert stability.terms(Expr.parse("0.3*f1 + 2.1*f1*f2 - 0.7", names)) == ["f1", "f1*f2"]
    assert stability.terms(Expr.parse("-0.5*f1 - 2/f2 + exp(f1 - 0.3)", names)) == ["f1", "1/f2", "exp(f1 - c)"]
    assert stability.terms(Expr.parse("f2**2 - 1.5*f1**3", names)) == ["f2**2", "f1**3"]
    assert stability.terms(Expr.parse("1.25", names)) == []


def test_planted_law_is_stable_and_its_constants_covered(fitted, monkeypatch, tmp_path):
    d, data = fitted
    calls = []
    real = stability._refit
    monkeypatch.setattr(stability, "_refit", lambda job: calls.append(job[1:4]) or real(job))
    st = d.stability(*data, n_seeds=2, n_bootstraps=2, constant_bootstraps=8, cache_dir=tmp_path)
    assert d.stability_ is st and st["n_refits"] == 4 and len(calls) == 4
    # the planted features in every refit (shares are k / 4), the noise features in none
    assert st["features"]["f0"] == 1.0 and st["features"]["f1"] == 1.0
    assert all(st["features"].get(f, 0.0) in (0.0, 0.25, 0.5, 0.75, 1.0) for f in ("f2", "f3"))
    assert st["features"].get("f2", 0.0) == st["features"].get("f3", 0.0) == 0.0
    assert st["terms"]["x0"] == {"f0": 1.0} and st["terms"]["x1"] == {"f1**2": 1.0}
    assert st["core"]["features"] == ["f0", "f1"] and st["core"]["r"] > 0.99
    # the stable core as an equation (stored in the result): it gives the core r on the test genes
    from geneqn.metrics import pearson_r
    from geneqn.sr.equation import GenomicEquation

    core = GenomicEquation.from_dict(st["core"]["equation"])
    assert set(core.features_used) <= {"f0", "f1"}
    assert pearson_r(data[5], core.predict(data[4])) == pytest.approx(st["core"]["r"], abs=1e-9)
    assert st["headline"]["below_core_share"] == []
    # the constants of g = 0.8*(x0 - 0.625*x1): tight intervals near the planted values
    c = {round(k["value"], 1): k for k in st["constants"] if k["equation"] == "g"}
    assert set(c) == {0.8, 0.6}
    for planted, k in ((0.8, c[0.8]), (0.625, c[0.6])):
        assert k["lo"] <= k["hi"] and k["hi"] - k["lo"] < 0.02 and abs((k["lo"] + k["hi"]) / 2 - planted) < 0.01
    assert 0.99 < st["test_r"]["min"] <= st["test_r"]["max"] <= 1
    json.dumps(st)  # results.json takes it as it is
    # resume: a cached refit is reused; a deleted one is the only one fitted again
    files = sorted(tmp_path.glob("*.json"))
    assert len(files) == 4
    files[1].unlink()
    again = d.stability(*data, n_seeds=2, n_bootstraps=2, constant_bootstraps=8, cache_dir=tmp_path)
    assert len(calls) == 5 and again == st
    # other data (or another equation) reuses none of the cached refits
    X, y, *rest = data
    d.stability(X, y * 1.01, *rest, n_seeds=2, n_bootstraps=2, constant_bootstraps=8, cache_dir=tmp_path)
    assert len(calls) == 9


def test_results_do_not_depend_on_the_number_of_processes(fitted):
    d, data = fitted
    one = stability.equation_stability(d, *data, n_seeds=1, n_bootstraps=1, constant_bootstraps=2, n_jobs=1)
    two = stability.equation_stability(d, *data, n_seeds=1, n_bootstraps=1, constant_bootstraps=2, n_jobs=2)
    assert one == two


def test_bad_settings(fitted):
    d, data = fitted
    with pytest.raises(GeneqnError, match="at least one refit"):
        d.stability(*data, n_seeds=0, n_bootstraps=0)
    with pytest.raises(GeneqnError, match="core_share"):
        d.stability(*data, n_seeds=1, n_bootstraps=0, core_share=1.5)


def test_refits_of_a_torch_network_in_two_processes_finish(tmp_path):
    """A BottleneckRegressor's refits in forked workers (a forked torch thread pool hangs unless
    the workers use one thread): run in a subprocess with a deadline."""
    import subprocess
    import sys

    code = """
import numpy as np, pandas as pd
from geneqn import BottleneckRegressor, GenomicEquationDistiller, SymbolicRegressor
rng = np.random.default_rng(0)
X = pd.DataFrame(rng.normal(size=(300, 3)), columns=["a", "b", "c"])
y = X["a"] - 0.5 * X["b"] + 0.05 * rng.normal(size=300)
net = BottleneckRegressor("8-tanh|[2-tanh]|8-tanh", max_epochs=5, patience=2).fit(X, y)
net.predict(X)  # torch used in the parent before the workers fork
d = GenomicEquationDistiller(net, sr=SymbolicRegressor(max_evaluations=1500, restarts=1)).fit(X, y)
st = d.stability(X, y, n_seeds=1, n_bootstraps=1, constant_bootstraps=2, n_jobs=2)
print(st["n_refits"])
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=240, cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == "2"


def test_core_only_fixes_the_other_features_at_their_medians():
    from geneqn.sr.equation import GenomicEquation

    names = ["f0", "f1", "f2"]
    eq = GenomicEquation("ct", names, {"x0": Expr.parse("f0 + 2*f2", names), "x1": Expr.parse("f1*f2", names)},
                         Expr.parse("3*x0 - x1", ["x0", "x1"]))
    core = stability.core_only(eq, {"f2": 0.5})
    X = np.array([[1.0, 2.0, 9.0], [-1.0, 4.0, -3.0]])
    # by hand: 3*(f0 + 1) - 0.5*f1, whatever f2 is
    np.testing.assert_allclose(core.predict(X), [3 * 2 - 1, 3 * 0 - 2], atol=1e-12)
    assert core.features_used == ["f0", "f1"] and core.meta["fixed_at_median"] == {"f2": 0.5}


def test_refits_distil_the_chosen_kind_of_targets_not_both_again(fitted, monkeypatch):
    """With latent_targets="auto" (the default) each refit distils the kind of stage-1 targets
    that the chosen equation has, once; a network without output_gradient is distilled the
    paper's way only."""
    d, data = fitted
    assert d.latent_targets == "auto" and d.latent_targets_ == "network"
    assert set(d.latent_targets_scores_) == {"network"} and d.equation_.meta["latent_targets"] == "network"
    seen = []
    real = GenomicEquationDistiller.fit
    monkeypatch.setattr(GenomicEquationDistiller, "fit",
                        lambda self, *a, **k: seen.append(self.latent_targets) or real(self, *a, **k))
    d.stability(*data, n_seeds=1, n_bootstraps=0, constant_bootstraps=2)
    assert seen == ["network"]
