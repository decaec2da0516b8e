import numpy as np
import pandas as pd
import pytest

from geneqn.baselines import RidgeRegressor
from geneqn.dataset import build_dataset, make_split
from geneqn.errors import GeneqnError
from geneqn.metrics import pearson_r


def test_split_sizes_and_seed():
    genes = [f"g{i}" for i in range(1000)]
    s = make_split(genes, seed=3)
    assert s.value_counts().to_dict() == {"train": 720, "test": 200, "valid": 80}
    # same genes in another order and the same seed: the same split
    assert make_split(list(reversed(genes)), seed=3).equals(s)
    assert not make_split(genes, seed=4).equals(s)
    with pytest.raises(GeneqnError, match="too few"):
        make_split(["a", "b", "c"])


def test_dataset_join_and_arrays():
    genes = [f"g{i}" for i in range(50)]
    feats = pd.DataFrame({"f1": np.arange(50.0), "f2": np.ones(50)}, index=genes + [])
    targets = pd.DataFrame({"gene": genes[10:] * 2, "cell_type": ["a"] * 40 + ["b"] * 40,
                            "g": list(np.linspace(-1, 1, 40)) * 2})
    ds = build_dataset(targets, feats, seed=0)
    assert len(ds.features) == 40  # only genes with both
    tr = ds.arrays("a", "train")
    assert tr.X.shape == (len(tr.genes), 2)
    # each array row matches its gene's features and target
    i = int(tr.genes[0][1:])
    np.testing.assert_allclose(tr.X[0], [i, 1])
    with pytest.raises(GeneqnError, match="cell type 'c' is not in the targets"):
        ds.arrays("c", "train")
    bad = feats.copy()
    bad.iloc[15, 0] = np.nan
    with pytest.raises(GeneqnError, match="NaN"):
        build_dataset(targets, bad)


def test_pearson_r_hand_computed():
    assert pearson_r([1, 2, 3], [2, 4, 6]) == pytest.approx(1.0)
    assert pearson_r([1, 2, 3], [3, 2, 1]) == pytest.approx(-1.0)
    # r of (1,2,3,4) and (1,3,2,4): cov = 4/4... hand: dx = (-1.5,-.5,.5,1.5), dy = (-1.5,.5,-.5,1.5)
    assert pearson_r([1, 2, 3, 4], [1, 3, 2, 4]) == pytest.approx((2.25 - .25 - .25 + 2.25) / 5.0)
    assert pearson_r([1, 2, 3], [5, 5, 5]) == 0.0
    assert pearson_r([1, 2, 3], [1, np.nan, 2]) == 0.0


def test_a_constant_up_to_rounding_has_r_zero_everywhere():
    """A constant equation evaluated through a scaling varies in its last bits from gene to gene:
    its r (a correlation with rounding) is 0 by the constant rule, in every metric and interval."""
    from geneqn.metrics import paired_bootstrap_difference, score_predictions, spearman_r

    y = np.arange(50.0) % 7
    c = np.full(50, -0.4417951545040637)
    c[::3] = np.nextafter(c[::3], 0)  # one ulp apart, as a*x+b of a constant x can be
    assert np.ptp(c) > 0 and pearson_r(y, c) == 0.0 and spearman_r(y, c) == 0.0
    s = score_predictions(y, c, n_boot=50)
    assert s["pearson_r_ci"] == [0.0, 0.0] and s["spearman_r_ci"] == [0.0, 0.0]
    assert s["mse"] == pytest.approx(np.mean((y - c) ** 2))
    d = paired_bootstrap_difference(y, y + np.sin(np.arange(50.0)), c, n_boot=50)
    assert d["difference"] == pytest.approx(pearson_r(y, y + np.sin(np.arange(50.0)))) and d["ci"][0] > 0
    assert pearson_r([1.0, 2.0, 3.0], [1.0, 1.0 + 1e-9, 1.0 + 2e-9]) == pytest.approx(1.0)  # a real spread counts


def test_ridge_recovers_linear_model(rng):
    X = rng.normal(size=(500, 4)) * [1, 10, 0.1, 1]
    y = X @ np.array([0.5, -0.05, 3.0, 0.0]) + 0.2
    Xv = rng.normal(size=(100, 4)) * [1, 10, 0.1, 1]
    yv = Xv @ np.array([0.5, -0.05, 3.0, 0.0]) + 0.2
    m = RidgeRegressor().fit(X, y, Xv, yv)
    assert m.alpha_ == min(m.alphas)
    np.testing.assert_allclose(m.predict(Xv), Xv @ m.coef_ + m.intercept_)
    np.testing.assert_allclose(m.coef_, [0.5, -0.05, 3.0, 0.0], atol=2e-3)
    assert m.intercept_ == pytest.approx(0.2, abs=2e-3)


def test_ridge_alpha_is_the_best_valid_r_by_hand(rng):
    """With the paper's rule (scoring="pearson"), alpha chosen as an independent loop over Ridge
    fits would choose it (first of equal r); the default (MSE) is tested in test_pipeline_valid."""
    from sklearn.linear_model import Ridge

    X = rng.normal(size=(200, 6))
    y = X[:, 0] - 0.5 * X[:, 1] + rng.normal(size=200)
    Xv = rng.normal(size=(60, 6))
    yv = Xv[:, 0] - 0.5 * Xv[:, 1] + rng.normal(size=60)
    m = RidgeRegressor(alphas=(0.1, 10.0, 1000.0), scoring="pearson").fit(X, y, Xv, yv)
    mu, sd = X.mean(0), X.std(0)
    rs = {a: pearson_r(yv, Ridge(alpha=a).fit((X - mu) / sd, y).predict((Xv - mu) / sd)) for a in (0.1, 10.0, 1000.0)}
    assert m.alpha_ == max(rs, key=rs.get)
    for a, r in rs.items():
        assert m.valid_r_[a] == pytest.approx(r)


def test_dataset_xy_keeps_names():
    genes = [f"g{i}" for i in range(60)]
    feats = pd.DataFrame({"f1": np.arange(60.0), "f2": np.ones(60)}, index=genes)
    targets = pd.DataFrame({"gene": genes, "cell_type": "a", "g": np.linspace(-1, 1, 60)})
    X, y = build_dataset(targets, feats, seed=0).xy("a", "test")
    assert list(X.columns) == ["f1", "f2"] and X.index.equals(y.index)
    np.testing.assert_allclose(X["f1"], [int(g[1:]) for g in X.index])
