"""Baselines the paper compares genomic equations with: ridge regression (alpha chosen on valid)."""

from __future__ import annotations

import numpy as np

from geneqn.evaluate import pearson_r

DEFAULT_ALPHAS = tuple(float(a) for a in np.logspace(-3, 4, 15))


class RidgeBaseline:
    """Ridge regression on standardised features, alpha chosen by Pearson r on the valid genes.

    scikit-learn style: hyper-parameters in ``__init__``, learned state ends in ``_``.
    """

    def __init__(self, alphas: tuple[float, ...] = DEFAULT_ALPHAS):
        self.alphas = alphas

    def fit(self, X: np.ndarray, y: np.ndarray, X_valid: np.ndarray, y_valid: np.ndarray) -> "RidgeBaseline":
        from sklearn.linear_model import Ridge

        self.mean_ = X.mean(axis=0)
        sd = X.std(axis=0)
        self.scale_ = np.where(sd > 0, sd, 1.0)
        Z, Zv = (X - self.mean_) / self.scale_, (X_valid - self.mean_) / self.scale_
        self.valid_r_ = {}
        best = None
        for alpha in self.alphas:
            model = Ridge(alpha=alpha).fit(Z, y)
            r = pearson_r(y_valid, model.predict(Zv))
            self.valid_r_[alpha] = r
            if best is None or r > best[0]:
                best = (r, alpha, model)
        _, self.alpha_, self.model_ = best
        self.coef_ = self.model_.coef_ / self.scale_
        self.intercept_ = float(self.model_.intercept_ - (self.mean_ * self.coef_).sum())
        return self

    def predict(self, X: np.ndarray) -> np.ndarray:
        return np.asarray(X, dtype=np.float64) @ self.coef_ + self.intercept_
