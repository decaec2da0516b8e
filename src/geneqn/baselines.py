"""Baselines the paper compares genomic equations with.

:class:`RidgeRegressor`: ridge regression on standardised features, fitted on the training
genes for each alpha and scored on the valid genes by MSE (default) or Pearson r
(``scoring="pearson"``, the paper's rule, which a run's ridge stage uses); the model is fitted on
the training genes only, as every model of a run is. :class:`ExPectoSC`: the same on ExPecto's
20,020 features with ExPectoSC's penalties (chosen by Pearson r) and gene weights (see
:mod:`geneqn.features.expecto`).
"""

from __future__ import annotations

from decimal import Decimal

import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.linear_model import Ridge
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.validation import check_is_fitted, validate_data

from geneqn import numeric
from geneqn.metrics import pearson_r

DEFAULT_ALPHAS = tuple(float(Decimal(10) ** (Decimal(e) / 2)) for e in range(-6, 9))
"""10^-3, 10^-2.5, ..., 10^4, each the double nearest the true power (decimal arithmetic, then one
correct rounding; numpy's logspace rounds by the CPU's vector code and gave 316.2277660168379
on one set-up and 316.22776601683796 on another)."""

EXACT_MAX_FEATURES = 256
"""Up to this many features, ridge is solved without BLAS (:func:`ridge_path`): the same bits on
every machine, so Table 1's ridge row is too. Above it (ExPectoSC's 20,020 features), scikit-learn's
Ridge, whose BLAS kernels sum in another order on another CPU (last bits only)."""


def _weighted_mean(rows: np.ndarray, w: np.ndarray | None) -> np.ndarray:
    """Mean of each row of a (k, n) array, weighted by ``w`` (n,), summed pairwise."""
    if w is None:
        return np.add.reduce(rows, axis=-1) / rows.shape[-1]
    return np.add.reduce(rows * w, axis=-1) / numeric.total(w)


def ridge_path(X: np.ndarray, y: np.ndarray, alphas, sample_weight=None) -> tuple[np.ndarray, np.ndarray, list]:
    """Ridge regression on standardised features for each alpha, without BLAS.

    Returns the features' (weighted) mean and sd (an sd of 0 counts as 1, as scikit-learn's
    StandardScaler has it) and, per alpha, ``(coef, intercept)`` in the raw features' units: the
    minimiser of sum_i w_i (y_i - c - z_i . b)^2 + alpha |b|^2 over the standardised rows z_i, as
    ``make_pipeline(StandardScaler(), Ridge(alpha))`` fits it. The normal equations are summed
    pairwise (numpy's order, fixed by the length) and solved by Cholesky in Python floats, so no
    step depends on the CPU's vector width or a BLAS kernel; for a few hundred features at most
    (the Cholesky is O(k^3) in Python)."""
    Xt = np.ascontiguousarray(np.asarray(X, dtype=np.float64).T)  # (k, n): each feature a row
    y = np.asarray(y, dtype=np.float64)
    w = None if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
    mean = _weighted_mean(Xt, w)
    Zt = Xt - mean[:, None]
    var = _weighted_mean(Zt * Zt, w)
    # StandardScaler's rule: a variance within rounding of 0 is a constant feature (sd 1)
    tiny = 10 * np.finfo(np.float64).eps * np.maximum(mean * mean, 1.0)
    constant = ~(var > tiny)
    scale = np.where(constant, 1.0, np.sqrt(var))
    Zt = Zt / scale[:, None]
    Zt[constant] = 0.0  # not the mean's rounding residue: a constant feature gets coefficient 0
    y_mean = float(_weighted_mean(y[None, :], w)[0])
    yc = y - y_mean
    G = numeric.gram(Zt, w)                                    # Z' W Z
    rhs = numeric.row_dots(Zt if w is None else Zt * w, yc)   # Z' W y
    out = []
    for a in alphas:
        b = numeric.solve_spd(G + float(a) * np.eye(len(G)), rhs)
        if b is None:
            raise ValueError(f"ridge: the normal equations are not positive definite at alpha {a} (non-finite "
                             "features?)")
        coef = np.asarray(b) / scale
        out.append((coef, y_mean - numeric.dot(mean, coef)))
    return mean, scale, out


SCORINGS = ("mse", "pearson")


def refuse_valid_through_pipeline(estimator, X_valid) -> None:
    """Raise ValueError when ``estimator.fit`` got ``X_valid`` from a scikit-learn Pipeline with a
    transformer before it (``Pipeline.fit(X, y, step__X_valid=Xv)``): the Pipeline transforms X
    but hands fit parameters on untouched, so the validation rows would reach the estimator in
    other units than X. The check is a heuristic: it looks up the call stack for a
    ``sklearn.pipeline`` frame whose Pipeline has this estimator as its final step and a
    transformer (not ``"passthrough"``/None) before it; a hand-written wrapper that transforms X
    but not X_valid cannot be detected."""
    if X_valid is None:
        return
    import sys

    frame = sys._getframe(1)
    while frame is not None:
        if frame.f_globals.get("__name__") == "sklearn.pipeline":
            pipe = frame.f_locals.get("self")
            steps = getattr(pipe, "steps", None)
            if steps and steps[-1][1] is estimator and any(t not in (None, "passthrough") for _, t in steps[:-1]):
                raise ValueError(
                    f"{type(estimator).__name__} got X_valid through a Pipeline: the Pipeline transforms X but "
                    "passes fit parameters such as X_valid on untransformed, so the validation rows would not "
                    "match X. Leave X_valid out and let the estimator hold out its own validation rows "
                    "(validation_fraction), or transform X_valid yourself and call fit on the last step.")
        frame = frame.f_back


def _row_keys(X: np.ndarray, y: np.ndarray, seed: int) -> np.ndarray:
    """A seeded 64-bit hash of each row's contents (X and y): identical rows get the same key."""
    import hashlib

    salt = np.int64(seed).tobytes()
    rows = np.column_stack([X, y]) + 0.0  # -0.0 -> 0.0
    keys = [int.from_bytes(hashlib.blake2b(salt + r.tobytes(), digest_size=8).digest(), "little") for r in rows]
    return np.array(keys, dtype=np.uint64)


def holdout_rows(X: np.ndarray, y: np.ndarray, fraction: float, seed: int, sample_weight=None) -> np.ndarray:
    """Boolean mask of the validation rows of a seeded internal split.

    Rows are grouped by content (a seeded hash of X and y) and the distinct rows with the
    smallest keys (``round(fraction * n_distinct)``, at least 1) are held out, so repeated rows
    always land on the same side and repeating a row (or giving it an integer weight) does not
    change the split. Rows of weight 0 never decide the split (they stay in training, where they
    count for nothing), so dropping them does not change it either."""
    keys = _row_keys(X, y, seed)
    active = np.ones(len(y), dtype=bool) if sample_weight is None else sample_weight > 0
    distinct = np.unique(keys[active])
    n_valid = max(1, int(round(len(distinct) * fraction)))
    if len(distinct) - n_valid < 2:
        raise ValueError(f"too few distinct samples (n_samples = {len(y)}, {len(distinct)} distinct) to hold out a "
                         "validation set")
    valid = np.isin(keys, distinct[:n_valid]) & active
    return valid


class RidgeRegressor(RegressorMixin, BaseEstimator):
    """Ridge regression on standardised features, alpha chosen on validation genes.

    ``fit(X, y, X_valid, y_valid)``: for each alpha of ``alphas``, ridge on standardised (X, y),
    scored on the valid set by ``scoring``: ``"mse"`` (default; the alpha of least mean squared
    error) or ``"pearson"`` (the alpha of greatest Pearson r, the paper's rule; blind to scale, it
    can over-shrink). The model of the chosen alpha is the one fitted on (X, y). Without a valid
    set, a seeded ``validation_fraction`` of the distinct rows of (X, y) is held out (chosen by a
    hash of row contents, so repeated rows go to the same side; :func:`holdout_rows`) and the
    model is fitted on the rest. ``sample_weight`` weights the training rows and the valid rows'
    errors (internal split) the same way, so integer weights equal repeated rows. Inside a
    Pipeline, pass no X_valid (it would bypass the transformers and is refused).

    After fit: ``alpha_``, ``valid_score_`` ({alpha: valid MSE or r}), ``valid_r_`` ({alpha: valid
    r}), ``coef_`` and ``intercept_`` in the units of the raw features (so
    ``X @ coef_ + intercept_`` is the prediction), ``feature_mean_`` and ``feature_scale_`` (the
    standardisation). Up to :data:`EXACT_MAX_FEATURES` features the fit and the predictions use no
    BLAS (:func:`ridge_path`; predictions are each row's products summed pairwise), so they are the
    same bits on every machine; above it, scikit-learn's ``StandardScaler`` and ``Ridge``.
    """

    def __init__(self, alphas=DEFAULT_ALPHAS, scoring: str = "mse", validation_fraction: float = 0.1,
                 random_state: int = 0):
        self.alphas = alphas
        self.scoring = scoring
        self.validation_fraction = validation_fraction
        self.random_state = random_state

    def fit(self, X, y, X_valid=None, y_valid=None, sample_weight=None) -> "RidgeRegressor":
        refuse_valid_through_pipeline(self, X_valid)
        X, y = validate_data(self, X, y, y_numeric=True, dtype=np.float64)
        if self.scoring not in SCORINGS:
            raise ValueError(f"scoring must be one of {', '.join(SCORINGS)}, got {self.scoring!r}")
        if sample_weight is not None:
            sample_weight = np.asarray(sample_weight, dtype=np.float64).ravel()
            if sample_weight.shape != y.shape or (sample_weight < 0).any() or not np.isfinite(sample_weight).all():
                raise ValueError(f"sample_weight must hold {len(y)} finite non-negative numbers")
            if not (sample_weight > 0).any():
                raise ValueError("sample_weight is zero for every sample; at least one must be positive")
        alphas = [float(a) for a in np.atleast_1d(self.alphas)]
        if not alphas or any(not np.isfinite(a) or a <= 0 for a in alphas):
            raise ValueError(f"alphas must be positive numbers, got {self.alphas!r}")
        if (X_valid is None) != (y_valid is None):
            raise ValueError("give both X_valid and y_valid, or neither")
        w_valid = None
        if X_valid is None:
            if not 0 < self.validation_fraction < 1:
                raise ValueError(f"validation_fraction must lie in (0, 1), got {self.validation_fraction!r}")
            valid = holdout_rows(X, y, self.validation_fraction, self.random_state, sample_weight)
            X, y, X_valid, y_valid = X[~valid], y[~valid], X[valid], y[valid]
            if sample_weight is not None:
                sample_weight, w_valid = sample_weight[~valid], sample_weight[valid]
        else:
            X_valid = validate_data(self, X_valid, reset=False, dtype=np.float64)
            y_valid = np.asarray(y_valid, dtype=np.float64).ravel()
            if len(y_valid) != len(X_valid):
                raise ValueError(f"X_valid has {len(X_valid)} rows, y_valid {len(y_valid)}")
        if X.shape[1] <= EXACT_MAX_FEATURES:
            mean, scale, fits = ridge_path(X, y, alphas, sample_weight)
        else:
            mean, scale, fits = _sklearn_path(X, y, alphas, sample_weight)
        mse, r = [], []
        for coef, intercept in fits:
            pred = _linear(X_valid, coef, intercept)
            mse.append(float(np.average((y_valid - pred) ** 2, weights=w_valid)))
            r.append(float(pearson_r(y_valid, pred)))
        self.valid_r_ = dict(zip(alphas, r))
        if self.scoring == "mse":
            self.valid_score_ = dict(zip(alphas, mse))
            best = int(np.argmin(mse))  # the first of equal scores
        else:
            self.valid_score_ = dict(self.valid_r_)
            best = int(np.nanargmax(r)) if np.isfinite(r).any() else 0
        self.alpha_ = alphas[best]
        self.coef_, self.intercept_ = fits[best][0], float(fits[best][1])
        self.feature_mean_, self.feature_scale_ = mean, scale
        return self

    def predict(self, X) -> np.ndarray:
        check_is_fitted(self, "coef_")
        X = validate_data(self, X, reset=False, dtype=np.float64)
        return _linear(X, self.coef_, self.intercept_)


def _linear(X: np.ndarray, coef: np.ndarray, intercept: float) -> np.ndarray:
    """``X @ coef + intercept``; up to EXACT_MAX_FEATURES features without BLAS (each row's
    products summed pairwise)."""
    if len(coef) > EXACT_MAX_FEATURES:
        return X @ coef + intercept
    return numeric.row_dots(np.ascontiguousarray(X), coef) + intercept


def _sklearn_path(X, y, alphas, sample_weight) -> tuple[np.ndarray, np.ndarray, list]:
    """:func:`ridge_path` through scikit-learn (BLAS), for many features."""
    weights = {} if sample_weight is None else {"standardscaler__sample_weight": sample_weight,
                                                "ridge__sample_weight": sample_weight}
    out = []
    for a in alphas:
        scaler, ridge = make_pipeline(StandardScaler(), Ridge(alpha=a)).fit(X, y, **weights)
        scale = np.where(scaler.scale_ > 0, scaler.scale_, 1.0)
        coef = ridge.coef_ / scale
        out.append((coef, float(ridge.intercept_ - (scaler.mean_ * coef).sum())))
    return scaler.mean_, scale, out


EXPECTOSC_ALPHAS = (0.01, 0.1, 1.0, 10.0, 100.0)


class ExPectoSC(RidgeRegressor):
    """ExPectoSC's model (Sokolova et al. 2023): ridge on ExPecto's features, its penalty from
    ExPectoSC's grid {0.01, 0.1, 1, 10, 100} (chosen on valid genes by Pearson r, as before), genes weighted by
    ``sample_weight`` (ExPectoSC: :func:`geneqn.features.expecto.expression_weights`)."""

    def __init__(self, alphas=EXPECTOSC_ALPHAS, scoring: str = "pearson", validation_fraction: float = 0.1,
                 random_state: int = 0):
        super().__init__(alphas=alphas, scoring=scoring, validation_fraction=validation_fraction,
                         random_state=random_state)
