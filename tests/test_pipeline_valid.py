"""Validation data and scikit-learn Pipelines: ridge's alpha rules checked against sklearn's own
Ridge, an X_valid routed past a transformer refused, the internal split inside a Pipeline."""

import numpy as np
import pytest
from sklearn.linear_model import Ridge
from sklearn.model_selection import cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from geneqn import BottleneckRegressor, GenomicEquationDistiller, RidgeRegressor, SymbolicRegressor
from geneqn.baselines import holdout_rows
from geneqn.metrics import pearson_r

ALPHAS = (0.01, 1.0, 30.0, 1000.0)


def _data(seed=0, n=80, nv=40):
    rng = np.random.default_rng(seed)
    beta = np.array([2.0, -1.0, 0.5, 0.0, 0.0])
    scales = np.array([1.0, 10.0, 0.1, 3.0, 1.0])
    X, Xv = rng.normal(size=(n, 5)) * scales, rng.normal(size=(nv, 5)) * scales
    y = X / scales @ beta + rng.normal(size=n)
    yv = Xv / scales @ beta + rng.normal(size=nv)
    return X, y, Xv, yv


def _independent_scores(X, y, Xv, yv):
    mu, sd = X.mean(0), X.std(0)
    mse, r = [], []
    for a in ALPHAS:
        pred = Ridge(alpha=a).fit((X - mu) / sd, y).predict((Xv - mu) / sd)
        mse.append(np.mean((yv - pred) ** 2))
        r.append(pearson_r(yv, pred))
    return np.array(mse), np.array(r)


def _robust_pick(scores, best):
    """The index of the best score, asserting it wins by a margin (no last-bit ties)."""
    order = np.argsort(scores if best == "min" else -scores)
    assert abs(scores[order[0]] - scores[order[1]]) > 1e-6 * abs(scores[order[0]])
    return int(order[0])


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_mse_alpha_is_argmin_of_valid_mse(seed):
    X, y, Xv, yv = _data(seed)
    mse, _ = _independent_scores(X, y, Xv, yv)
    model = RidgeRegressor(alphas=ALPHAS).fit(X, y, Xv, yv)
    assert model.alpha_ == ALPHAS[_robust_pick(mse, "min")]
    np.testing.assert_allclose([model.valid_score_[a] for a in ALPHAS], mse, rtol=1e-9)


def test_pearson_alpha_is_argmax_of_valid_r():
    # a noisy target where shrinking hard keeps r but loses scale: the two rules disagree
    rng = np.random.default_rng(5)
    X, Xv = rng.normal(size=(30, 20)), rng.normal(size=(200, 20))
    beta = np.r_[1.0, np.zeros(19)]
    y, yv = X @ beta + 2 * rng.normal(size=30), Xv @ beta + 2 * rng.normal(size=200)
    mse, r = _independent_scores(X, y, Xv, yv)
    pearson = RidgeRegressor(alphas=ALPHAS, scoring="pearson").fit(X, y, Xv, yv)
    assert pearson.alpha_ == ALPHAS[_robust_pick(r, "max")]
    np.testing.assert_allclose([pearson.valid_score_[a] for a in ALPHAS], r, rtol=1e-9)
    np.testing.assert_allclose([pearson.valid_r_[a] for a in ALPHAS], r, rtol=1e-9)
    mse_model = RidgeRegressor(alphas=ALPHAS).fit(X, y, Xv, yv)
    assert mse_model.alpha_ == ALPHAS[_robust_pick(mse, "min")]


def test_unknown_scoring_is_refused():
    X, y, Xv, yv = _data()
    with pytest.raises(ValueError, match="scoring must be one of mse, pearson"):
        RidgeRegressor(scoring="r2").fit(X, y, Xv, yv)


def test_run_ridge_stage_keeps_the_papers_rule():
    import inspect

    from geneqn.run.stages import models
    from geneqn.baselines import ExPectoSC

    assert 'RidgeRegressor(scoring="pearson")' in inspect.getsource(models._ridge_cell_type)
    assert ExPectoSC().scoring == "pearson"


def test_holdout_is_invariant_to_repeating_rows():
    X, y, _, _ = _data(n=60)
    w = np.random.default_rng(1).integers(0, 4, size=60)
    valid = holdout_rows(X, y, 0.2, 0, w)
    rep = np.repeat(np.arange(60), w)
    assert np.array_equal(holdout_rows(X[rep], y[rep], 0.2, 0), valid[rep])
    assert not valid[w == 0].any()
    assert (valid[w > 0]).sum() == round(0.2 * (w > 0).sum())
    assert not np.array_equal(holdout_rows(X, y, 0.2, 1, w), valid)  # the seed matters


def test_internal_split_weights_equal_repeated_rows():
    X, y, _, _ = _data(n=60)
    w = np.random.default_rng(2).integers(0, 4, size=60)
    weighted = RidgeRegressor(alphas=ALPHAS, validation_fraction=0.25).fit(X, y, sample_weight=w)
    rep = np.repeat(np.arange(60), w)
    repeated = RidgeRegressor(alphas=ALPHAS, validation_fraction=0.25).fit(X[rep], y[rep])
    assert weighted.alpha_ == repeated.alpha_
    np.testing.assert_allclose(weighted.coef_, repeated.coef_, rtol=1e-7)
    np.testing.assert_allclose([weighted.valid_score_[a] for a in ALPHAS],
                               [repeated.valid_score_[a] for a in ALPHAS], rtol=1e-7)


SMALL = [RidgeRegressor(alphas=ALPHAS),
         BottleneckRegressor(architecture="4-tanh|[1-tanh]|4-tanh", max_epochs=2, patience=1),
         SymbolicRegressor(max_evaluations=200, restarts=1)]


@pytest.mark.parametrize("est", SMALL + [GenomicEquationDistiller(network=SMALL[1], sr=SMALL[2])],
                         ids=lambda e: type(e).__name__)
def test_x_valid_through_a_pipeline_is_refused(est):
    X, y, Xv, yv = _data()
    pipe = make_pipeline(StandardScaler(), est)
    step = pipe.steps[-1][0]
    with pytest.raises(ValueError, match="got X_valid through a Pipeline.*validation_fraction"):
        pipe.fit(X, y, **{f"{step}__X_valid": Xv, f"{step}__y_valid": yv})


def test_pipeline_uses_the_internal_split():
    X, y, Xv, yv = _data()
    pipe = make_pipeline(StandardScaler(), RidgeRegressor(alphas=ALPHAS)).fit(X, y)
    direct = RidgeRegressor(alphas=ALPHAS).fit(StandardScaler().fit_transform(X), y)
    assert pipe[-1].alpha_ == direct.alpha_
    np.testing.assert_allclose(pipe[-1].coef_, direct.coef_, rtol=1e-8)
    assert pearson_r(yv, pipe.predict(Xv)) > 0.8
    scores = cross_val_score(make_pipeline(StandardScaler(), RidgeRegressor(alphas=ALPHAS)), X, y, cv=3)
    assert scores.shape == (3,) and (scores > 0.5).all()


def test_direct_call_with_x_valid_still_works():
    X, y, Xv, yv = _data()
    assert RidgeRegressor(alphas=ALPHAS).fit(X, y, Xv, yv).alpha_ in ALPHAS


@pytest.mark.parametrize("weighted", [False, True])
def test_ridge_without_blas_is_scikit_learns_ridge(weighted, monkeypatch):
    """ridge_path (no BLAS: normal equations summed pairwise, Cholesky in Python floats) fits what
    make_pipeline(StandardScaler(), Ridge(alpha)) fits, constant and near-collinear features
    included; and the estimator's path for many features (scikit-learn's) gives the same model."""
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    import geneqn.baselines as baselines

    rng = np.random.default_rng(11)
    X = rng.normal(size=(400, 8)) * rng.uniform(0.1, 20, 8) + rng.normal(size=8)
    X[:, 3] = 7.0                                            # constant: sd counts as 1, coefficient 0
    X[:, 5] = 0.5 * X[:, 4] + 0.01 * rng.normal(size=400)    # nearly collinear with feature 4
    y = X[:, :3] @ np.array([1.0, -0.3, 0.05]) + rng.normal(size=400)
    w = rng.uniform(0.2, 3.0, size=400) if weighted else None
    mean, scale, fits = baselines.ridge_path(X, y, ALPHAS, w)
    assert scale[3] == 1.0
    for a, (coef, intercept) in zip(ALPHAS, fits):
        kw = {} if w is None else {"standardscaler__sample_weight": w, "ridge__sample_weight": w}
        ref = make_pipeline(StandardScaler(), Ridge(alpha=a)).fit(X, y, **kw)
        np.testing.assert_allclose(X @ coef + intercept, ref.predict(X), rtol=1e-9, atol=1e-9)
        assert coef[3] == 0.0
    Xv, yv = X[:100] + 0.1, y[:100]
    exact = RidgeRegressor(alphas=ALPHAS).fit(X, y, Xv, yv, sample_weight=w)
    monkeypatch.setattr(baselines, "EXACT_MAX_FEATURES", 0)
    through_sklearn = RidgeRegressor(alphas=ALPHAS).fit(X, y, Xv, yv, sample_weight=w)
    assert exact.alpha_ == through_sklearn.alpha_
    np.testing.assert_allclose(exact.predict(Xv), through_sklearn.predict(Xv), rtol=1e-9)
    np.testing.assert_allclose(exact.feature_scale_, through_sklearn.feature_scale_, rtol=1e-12)
