"""scikit-learn's common estimator checks on geneqn's estimators; every check that is expected
to fail is listed with its reason."""

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.utils.estimator_checks import parametrize_with_checks

from geneqn import BottleneckRegressor, GenomicEquationDistiller, RidgeRegressor, SymbolicRegressor

SMALL_NET = dict(architecture="8-tanh|[2-tanh]|8-tanh", max_epochs=15, patience=5)
SMALL_SR = dict(max_evaluations=1500, restarts=1)

ESTIMATORS = [
    RidgeRegressor(),
    BottleneckRegressor(**SMALL_NET),
    SymbolicRegressor(**SMALL_SR),
    GenomicEquationDistiller(network=BottleneckRegressor(**SMALL_NET), sr=SymbolicRegressor(**SMALL_SR)),
]

# Why a check is expected to fail (checked: each of these does fail, the rest pass). RidgeRegressor
# has no expected failure.
TINY_BUDGET = ("with the tiny training/search budget of these checks (fast tests), the fit is not good enough "
               "for the check's score threshold; the same estimators at their default budgets recover "
               "planted functions (test_sr, test_nas)")


def expected_failures(est):
    name = type(est).__name__
    if name in ("GenomicEquationDistiller", "BottleneckRegressor"):
        return {"check_regressors_train": TINY_BUDGET}
    return {}


@parametrize_with_checks(ESTIMATORS, expected_failed_checks=expected_failures)
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)


@pytest.mark.parametrize("est", ESTIMATORS, ids=lambda e: type(e).__name__)
def test_dataframes_are_matched_by_column_name(est):
    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.normal(size=(200, 3)), columns=["a", "b", "c"])
    y = X.a - 0.5 * X.b + 0.1 * rng.normal(size=200)
    fitted = clone(est).fit(X, y)
    assert list(fitted.feature_names_in_) == ["a", "b", "c"]
    with pytest.raises(ValueError, match="feature names"):
        fitted.predict(X[["c", "b", "a"]])
    with pytest.raises(NotFittedError):
        clone(est).predict(X)


def test_ridge_sample_weight_equals_repeated_rows():
    rng = np.random.default_rng(3)
    X, Xv = rng.normal(size=(60, 4)), rng.normal(size=(30, 4))
    beta = np.array([1.0, -2.0, 0.5, 0.0])
    y, yv = X @ beta + rng.normal(size=60), Xv @ beta + rng.normal(size=30)
    w = rng.integers(0, 4, size=60)
    weighted = RidgeRegressor().fit(X, y, Xv, yv, sample_weight=w)
    repeated = RidgeRegressor().fit(np.repeat(X, w, axis=0), np.repeat(y, w), Xv, yv)
    assert weighted.alpha_ == repeated.alpha_
    np.testing.assert_allclose(weighted.coef_, repeated.coef_, rtol=1e-8)
    np.testing.assert_allclose(weighted.predict(Xv), repeated.predict(Xv), rtol=1e-8)
