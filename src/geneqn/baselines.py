"""Baselines the paper compares genomic equations with.

:class:`RidgeRegressor`: ridge regression on standardised features, its penalty chosen the
scikit-learn way (``GridSearchCV`` over a ``PredefinedSplit``: train on the training genes, score
Pearson r on the valid genes), then refitted on the training genes only, as every model of a run
is. :class:`ExPectoSC`: the same on ExPecto's 20,020 features with ExPectoSC's penalties and gene
weights (see :mod:`geneqn.features.expecto`).
"""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.linear_model import Ridge
from sklearn.model_selection import GridSearchCV, PredefinedSplit
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.validation import check_is_fitted, validate_data

from geneqn.metrics import pearson_r

DEFAULT_ALPHAS = tuple(float(a) for a in np.logspace(-3, 4, 15))


def _pearson_scorer(estimator, X, y) -> float:
    return pearson_r(y, estimator.predict(X))


class RidgeRegressor(RegressorMixin, BaseEstimator):
    """Ridge regression with alpha chosen by Pearson r on validation genes.

    ``fit(X, y, X_valid, y_valid)``: alpha from ``alphas`` by valid Pearson r, then refitted on
    (X, y). Without a valid set, a seeded ``validation_fraction`` of (X, y) is held out.

    After fit: ``alpha_``, ``valid_r_`` ({alpha: valid r}), ``coef_`` and ``intercept_`` in the
    units of the raw features (so ``X @ coef_ + intercept_`` is the prediction), ``pipeline_``.
    """

    def __init__(self, alphas=DEFAULT_ALPHAS, validation_fraction: float = 0.1, random_state: int = 0):
        self.alphas = alphas
        self.validation_fraction = validation_fraction
        self.random_state = random_state

    def fit(self, X, y, X_valid=None, y_valid=None, sample_weight=None) -> "RidgeRegressor":
        X, y = validate_data(self, X, y, y_numeric=True, dtype=np.float64)
        if sample_weight is not None:
            sample_weight = np.asarray(sample_weight, dtype=np.float64).ravel()
            if sample_weight.shape != y.shape or (sample_weight < 0).any() or not np.isfinite(sample_weight).all():
                raise ValueError(f"sample_weight must hold {len(y)} finite non-negative numbers")
        alphas = [float(a) for a in np.atleast_1d(self.alphas)]
        if not alphas or any(not np.isfinite(a) or a <= 0 for a in alphas):
            raise ValueError(f"alphas must be positive numbers, got {self.alphas!r}")
        if (X_valid is None) != (y_valid is None):
            raise ValueError("give both X_valid and y_valid, or neither")
        if X_valid is None:
            if not 0 < self.validation_fraction < 1:
                raise ValueError(f"validation_fraction must lie in (0, 1), got {self.validation_fraction!r}")
            order = np.random.default_rng(self.random_state).permutation(len(y))
            n_valid = max(2, int(round(len(y) * self.validation_fraction)))
            if len(y) - n_valid < 2:
                raise ValueError(f"too few samples (n_samples = {len(y)}) to hold out a validation set")
            valid, train = order[:n_valid], order[n_valid:]
            X, y, X_valid, y_valid = X[train], y[train], X[valid], y[valid]
            if sample_weight is not None:
                sample_weight = sample_weight[train]
        else:
            X_valid = validate_data(self, X_valid, reset=False, dtype=np.float64)
            y_valid = np.asarray(y_valid, dtype=np.float64).ravel()
        Xa = np.vstack([X, X_valid])
        ya = np.concatenate([y, y_valid])
        fold = np.r_[np.full(len(y), -1), np.zeros(len(y_valid), dtype=int)]
        search = GridSearchCV(make_pipeline(StandardScaler(), Ridge()), {"ridge__alpha": alphas},
                              cv=PredefinedSplit(fold), scoring=_pearson_scorer, refit=False)
        fit_params = {}
        if sample_weight is not None:
            w = np.r_[sample_weight, np.ones(len(y_valid))]
            fit_params = {"standardscaler__sample_weight": w, "ridge__sample_weight": w}
        search.fit(Xa, ya, **fit_params)
        scores = search.cv_results_["mean_test_score"]
        self.valid_r_ = {a: float(s) for a, s in zip(alphas, scores)}
        self.alpha_ = alphas[int(np.argmax(scores))]  # the first of equal scores, as before
        self.pipeline_ = make_pipeline(StandardScaler(), Ridge(alpha=self.alpha_))
        weights = {} if sample_weight is None else {"standardscaler__sample_weight": sample_weight,
                                                    "ridge__sample_weight": sample_weight}
        self.pipeline_.fit(X, y, **weights)
        scaler, ridge = self.pipeline_[0], self.pipeline_[1]
        scale = np.where(scaler.scale_ > 0, scaler.scale_, 1.0)
        self.coef_ = ridge.coef_ / scale
        self.intercept_ = float(ridge.intercept_ - (scaler.mean_ * self.coef_).sum())
        return self

    def predict(self, X) -> np.ndarray:
        check_is_fitted(self, "pipeline_")
        X = validate_data(self, X, reset=False, dtype=np.float64)
        return X @ self.coef_ + self.intercept_


EXPECTOSC_ALPHAS = (0.01, 0.1, 1.0, 10.0, 100.0)


class ExPectoSC(RidgeRegressor):
    """ExPectoSC's model (Sokolova et al. 2023): ridge on ExPecto's features, its penalty from
    ExPectoSC's grid {0.01, 0.1, 1, 10, 100} (chosen on valid genes), genes weighted by
    ``sample_weight`` (ExPectoSC: :func:`geneqn.features.expecto.expression_weights`)."""

    def __init__(self, alphas=EXPECTOSC_ALPHAS, validation_fraction: float = 0.1, random_state: int = 0):
        super().__init__(alphas=alphas, validation_fraction=validation_fraction, random_state=random_state)
