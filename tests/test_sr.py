import math

import numpy as np
import pandas as pd
import pytest
import sympy as sp
import torch

from geneqn.errors import GeneqnError
from geneqn.evaluate import pearson_r
from geneqn.nas.network import BottleneckMLP
from geneqn.nas.space import parse_architecture
from geneqn.sr.backend import SymbolicRegressor, pareto_table, select
from geneqn.sr.distill import SRSettings, direct_sr, distill
from geneqn.sr.equation import GenomicEquation
from geneqn.sr.expr import complexity, evaluate, prune

x, y, z = sp.symbols("x y z")


@pytest.mark.parametrize("expr, count", [
    (0.2 * (x - 1.1) ** 2 + sp.exp(y), 9),   # the example
    (x, 1), (sp.Float(2.5), 1), (x + y, 3), (x - y, 3), (-x, 2), (x * y, 3), (2 * x, 3),
    (-2 * x, 3),                               # a negative constant is one leaf
    (x / y, 4),                                # x * inv(y)
    (1 / x, 2), (x ** 2, 2), (x ** 4, 3), (x ** 3, 4), (x ** -2, 3),
    (sp.exp(-x), 3), (-x - y, 4), (x + y + z, 5), (2 * x - 3 * y + 1, 9),
    (sp.exp(x) * (y - 0.5), 6),
])
def test_complexity_hand_counts(expr, count):
    assert complexity(expr) == count


def planted(n=1500, seed=0, noise=0.01):
    rng = np.random.default_rng(seed)
    X = rng.uniform(-1, 1, size=(n, 6))
    y = np.exp(0.8 * X[:, 0]) - 1.5 * X[:, 1] * X[:, 2] + noise * rng.normal(size=n)
    return X, y


NAMES = [f"f{i}" for i in range(6)]
FAST = dict(population_size=300, generations=60, max_evaluations=60_000)


def test_planted_equation_is_recovered():
    X, yv = planted()
    Xt, yt = planted(seed=1, noise=0.0)
    m = SymbolicRegressor(random_state=0, **FAST).fit(X, yv, NAMES)
    assert pearson_r(yt, m.predict(Xt)) > 0.99
    best = m.equations_.sympy_format[select(m.equations_, "best")]
    assert sorted(map(str, best.free_symbols)) == ["f0", "f1", "f2"]
    assert {"f0", "f1", "f2"} <= {str(s) for s in m.expr_.free_symbols}
    t = m.equations_
    assert (t.complexity <= 20).all() and t.complexity.is_monotonic_increasing
    assert t.loss.is_monotonic_decreasing


def test_same_seed_same_equation():
    X, yv = planted(n=600)
    a = SymbolicRegressor(random_state=3, population_size=200, generations=20, max_evaluations=20_000).fit(X, yv, NAMES)
    b = SymbolicRegressor(random_state=3, population_size=200, generations=20, max_evaluations=20_000).fit(X, yv, NAMES)
    assert a.equations_.equation.tolist() == b.equations_.equation.tolist()
    assert a.expr_ == b.expr_


def test_pareto_table_and_scores_by_hand():
    X = np.linspace(-1, 1, 50)[:, None] * np.ones((1, 2))
    X[:, 1] = np.cos(3 * X[:, 0])
    yv = 2 * X[:, 0] + 0.1 * X[:, 1]
    a, b = sp.symbols("a b")
    # a + 5 (complexity 3) loses to 2*a; the constant anchor (mean of y) loses to a at complexity 1
    t = pareto_table([a, 2 * a, 2 * a + 0.1 * b, a + 5], X, yv, ["a", "b"], limit=20, clean_tolerance=0.0)
    assert t.equation.tolist() == ["a", "2*a", "2*a + 0.1*b"]
    assert t.complexity.tolist() == [1, 3, 7]
    loss_a = float(np.mean((X[:, 0] - yv) ** 2))
    loss_2a = float(np.mean((0.1 * X[:, 1]) ** 2))
    np.testing.assert_allclose(t.loss[:2], [loss_a, loss_2a])
    assert t.loss[2] < 1e-28
    assert t.score[0] == 0.0
    assert t.score[1] == pytest.approx(-(math.log(loss_2a) - math.log(loss_a)) / 2)
    assert pareto_table([a, 2 * a], X, yv, ["a", "b"], limit=2).equation.tolist() == ["a"]  # limit


def test_selection_rules():
    t = pd.DataFrame({"complexity": [1, 3, 5, 9], "loss": [1.0, 0.2, 0.13, 0.1], "score": [0, 0.8, 0.2, 0.066]})
    assert select(t, "accuracy") == 3
    assert select(t, "best") == 2          # loss <= 0.15: rows 2, 3; highest score: row 2
    assert select(t, "3") == 1 and select(t, 4) == 1
    with pytest.raises(GeneqnError, match="unknown selection"):
        select(t, "fastest")


def test_prune_removes_negligible_terms_within_tolerance():
    X = np.random.default_rng(0).uniform(-1, 1, (100, 2))
    e = 2 * x + 1e-6 * sp.exp(y) + 0.5
    p = prune(e, X, ["x", "y"], tolerance=1e-4)
    assert p == 2 * x + 0.5
    assert np.max(np.abs(evaluate(p, X, ["x", "y"]) - evaluate(e, X, ["x", "y"]))) <= 1e-4
    assert prune(2 * x + 0.1 * y, X, ["x", "y"], tolerance=1e-4) == 2 * x + 0.1 * y


def test_bad_inputs():
    X, yv = planted(n=50)
    with pytest.raises(GeneqnError, match="unknown operator.*'sin'"):
        SymbolicRegressor(operators=("+", "sin")).fit(X, yv)
    Xn = X.copy()
    Xn[3, 2] = np.nan
    with pytest.raises(GeneqnError, match="NaN"):
        SymbolicRegressor().fit(Xn, yv)
    from geneqn.sr.backend import pysr_available

    if not pysr_available():
        with pytest.raises(GeneqnError, match="install Julia and PySR|Install Julia and PySR"):
            SymbolicRegressor(engine="pysr").fit(X, yv)
    with pytest.raises(GeneqnError, match="no latent layer"):
        distill(object(), X, yv, NAMES, SRSettings())


def _genomic():
    feats = ["E10", "P", "TF4"]
    a, b, c = sp.symbols(feats)
    eq = GenomicEquation("beta", feats, {"x0": 0.5 * a - sp.exp(b), "x1": (c - 0.2) ** 2, "x2": sp.Float(0.3)},
                         1.2 * sp.Symbol("x0") * sp.Symbol("x1") - sp.Symbol("x0") + 0.1)
    return eq


def test_genomic_equation_composition_exports_and_round_trip():
    eq = _genomic()
    X = np.random.default_rng(0).normal(size=(40, 3))
    np.testing.assert_allclose(eq.predict(X), eq.predict_chained(X), rtol=1e-12, atol=1e-12)
    a, b, c = X.T
    hand = 1.2 * (0.5 * a - np.exp(b)) * (c - 0.2) ** 2 - (0.5 * a - np.exp(b)) + 0.1
    np.testing.assert_allclose(eq.predict(X), hand, rtol=1e-12)
    assert eq.sequence_classes == ["E10", "P", "TF4"]
    assert eq.used_latents == ["x0", "x1"]
    assert eq.classes_table().set_index("label").loc["E10", "name"] == "Brain"
    assert eq.classes_table().set_index("label").loc["TF4", "group"] == "TF"
    ns = {}
    exec(eq.to_python(), ns)
    np.testing.assert_allclose(ns["genomic_equation"](a, b, c), hand, rtol=1e-12)
    back = GenomicEquation.from_dict(eq.to_dict())
    assert back.composed == eq.composed and back.latents == eq.latents
    tex = eq.latex()
    assert r"X_{E10}" in tex and r"\hat{g}" in tex and "x_{0}" in tex
    df = pd.DataFrame(X, columns=["E10", "P", "TF4"])
    np.testing.assert_allclose(eq.predict(df), hand, rtol=1e-12)
    with pytest.raises(GeneqnError, match="lacks column"):
        eq.predict(df.drop(columns="P"))


def test_distill_two_stages_compose_and_constant_unit():
    X, yv = planted(n=800)
    arch = parse_architecture(["8-tanh", "8-tanh", "8-tanh", "3-tanh", "8-tanh", "8-tanh", "8-tanh"], 3, 0.0)
    torch.manual_seed(0)
    net = BottleneckMLP(6, arch, X.mean(0), X.std(0)).eval()
    with torch.no_grad():  # unit 2 of the latent layer: constant output
        net.layers[3].weight[2].zero_()
        net.layers[3].bias[2] = 0.7
    s = SRSettings(population_size=100, generations=10, max_evaluations=5000, n_jobs=2)
    d = distill(net, X, yv, NAMES, s, seed=0, cell_type="toy")
    eq = d.equation
    assert d.constant_units == [2] and d.stage1[2] is None
    assert float(eq.latents["x2"]) == pytest.approx(np.tanh(0.7), rel=1e-6)
    Xt, _ = planted(n=100, seed=5)
    np.testing.assert_allclose(eq.predict(Xt), eq.predict_chained(Xt), rtol=1e-9, atol=1e-9)
    # stage 2 was fitted on stage-1 predictions, not on the network's latents
    Zhat = eq.latent_values(X)
    assert not np.allclose(Zhat[:, :2], net.latent(X)[:, :2])
    assert d.stage2.equation.iloc[-1] == str(d.stage2.sympy_format.iloc[-1])
    table, expr = direct_sr(X, yv, NAMES, s)
    assert len(table) >= 2 and expr.free_symbols <= set(sp.symbols(NAMES))
