"""A change of an equation's output split among its inputs: integrated gradients along the
straight path from the reference to the alternative input.

For f and inputs a (reference) and b (alternative), input i's share is

    (b_i - a_i) * integral_0^1 df/dx_i (a + t (b - a)) dt,

computed with Gauss-Legendre quadrature. The shares sum to f(b) - f(a) (completeness) up to the
quadrature error, which is reported. A term of one input (c * x_i, exp(x_i), ...) gets exactly
its own change (the integral of its derivative), so an additive equation is split exactly; a
term of several inputs (x_i * x_j, x_i / x_j) is split by the path, as integrated gradients do.
"""

from __future__ import annotations

import numpy as np

from geneqn.sr.expr import Expr

STEPS = 32
"""Gauss-Legendre nodes on [0, 1]: exact for polynomials of degree <= 63 along the path."""


def integrated_gradients(expr: Expr, names, a, b, steps: int = STEPS) -> tuple[np.ndarray, np.ndarray]:
    """Shares of each input of ``expr`` (columns ``names``) in ``expr(b) - expr(a)``, for rows of
    ``a`` and ``b`` (n, d). Returns ``(shares (n, d), completeness error (n,))``: the error is
    ``|sum(shares) - (expr(b) - expr(a))|``; NaN where the equation or its gradient is not finite
    on the path."""
    import torch

    from geneqn.sr.export import to_torch
    from geneqn.sr.expr import evaluate

    a = np.atleast_2d(np.asarray(a, dtype=np.float64))
    b = np.atleast_2d(np.asarray(b, dtype=np.float64))
    n, d = a.shape
    if n == 0:
        return np.zeros((0, d)), np.zeros(0)
    nodes, weights = np.polynomial.legendre.leggauss(steps)
    t, w = (nodes + 1) / 2, weights / 2
    f = to_torch(expr, list(names))
    delta = b - a
    path = torch.tensor((a[None] + t[:, None, None] * delta[None]).reshape(-1, d), requires_grad=True)
    with torch.enable_grad():
        out = f(path)
        if out.dim() == 0:  # an equation without variables
            return np.zeros((n, d)), np.zeros(n)
        (grad,) = torch.autograd.grad(out.sum(), path, allow_unused=True)
    g = np.zeros((steps, n, d)) if grad is None else grad.detach().numpy().reshape(steps, n, d)
    shares = delta * np.einsum("k,knd->nd", w, g)
    total = evaluate(expr, b, list(names)) - evaluate(expr, a, list(names))
    error = np.abs(shares.sum(axis=1) - total)
    bad = ~np.isfinite(shares).all(axis=1) | ~np.isfinite(total)
    shares[bad] = np.nan
    error[bad] = np.nan
    return shares, error
