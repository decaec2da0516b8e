"""Model comparison statistics on held-out genes."""

from __future__ import annotations

import numpy as np


def pearson_r(y: np.ndarray, yhat: np.ndarray) -> float:
    """Pearson correlation; 0.0 when either side is constant (or has non-finite values)."""
    y = np.asarray(y, dtype=np.float64).ravel()
    yhat = np.asarray(yhat, dtype=np.float64).ravel()
    if y.shape != yhat.shape:
        raise ValueError(f"pearson_r: shapes differ: {y.shape} vs {yhat.shape}")
    if len(y) < 2 or not (np.isfinite(y).all() and np.isfinite(yhat).all()):
        return 0.0
    a, b = y - y.mean(), yhat - yhat.mean()
    den = np.sqrt((a * a).sum() * (b * b).sum())
    if den == 0 or not np.isfinite(den):
        return 0.0
    return float(np.clip((a * b).sum() / den, -1.0, 1.0))
