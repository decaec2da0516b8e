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

# Why a check is expected to fail (checked: each of these does fail, the rest pass).
TINY_BUDGET = ("with the tiny training/search budget of these checks (fast tests), the fit is not good enough "
               "for the check's score threshold; the same estimators at their default budgets recover "
               "planted functions (test_sr, test_nas)")


PEARSON_ALPHA = ("alpha is chosen by Pearson r on held-out genes (the paper's metric), which is blind to "
                 "scale: on this check's data it picks alpha 316, whose shrunk predictions have r 0.89 but "
                 "R^2 0.48 < the check's 0.5")


def expected_failures(est):
    name = type(est).__name__
    if name in ("GenomicEquationDistiller", "BottleneckRegressor"):
        return {"check_regressors_train": TINY_BUDGET}
    if name == "RidgeRegressor":
        return {"check_regressors_train": PEARSON_ALPHA}
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
