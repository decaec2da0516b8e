"""Distil a bottleneck network into one genomic equation (paper, Methods), as an estimator.

Stage 1 fits, for each latent unit, an equation from the features to the unit's activation on
the training genes. Stage 2 fits an equation from the stage-1 *predicted* latents to the
expression target: the stage-1 equations are part of the final model, so stage 2 learns from
what they really output, not from the network's latents (``stage2_input="latent"`` does the
latter, for comparison). A latent unit that is constant on the training genes needs no search:
its equation is its mean.

Two defaults depart from the paper, measured on the demo and two planted composites (README):
``latent_targets="auto"`` (below: both kinds of stage-1 targets, the better kept) and
``share=True`` (the stage-1 fits exchange their best trees); ``latent_targets="network",
share=False`` is the paper's method. Other options measured against it: ``refit="joint"`` refits every
constant of the composed equation on the training genes; ``latent_prior="network"`` draws
stage-1 variables in proportion to the network's sensitivity of each latent unit to each
feature; ``latent_targets="gradient"`` gives stage 1 the network's *active directions* instead
of its latent units: the directions of feature space along which the network's prediction
changes (the leading eigenvectors of the covariance of its input gradient, an active subspace,
Constantine 2015), rotated by varimax (Kaiser 1958) so that each loads on few features. A
network may compute its whole function before the bottleneck (every latent unit then carries
the same, complex signal and each stage-1 equation must approximate all of it); its gradient
still shows which few combinations of features the prediction depends on (``"auto"`` distils
both ways and keeps the better on the valid genes). ``residual_latents=R`` (geneqn's default
2; the paper's 0) then distils what the two stages still miss of the network: each round fits
one more stage-1 equation, of the features, to the network's output minus the equation so far
(a *residual latent*), and the output becomes a linear combination of stage 2 and the residual
latents, its coefficients fitted by least squares on the network's output; of the equations
with 0 .. R rounds the one closest to the network on the valid genes (highest r with its
output) is kept (ties: fewer rounds).
``diagnostics_`` says where accuracy is lost: stage 1 (the network's head on the stage-1
latents), stage 2 (stage 2 on the network's latents) and the composition.

>>> from geneqn import BottleneckRegressor, GenomicEquationDistiller, SymbolicRegressor  # doctest: +SKIP
>>> d = GenomicEquationDistiller(net, sr=SymbolicRegressor(max_evaluations=100_000)).fit(X, y)
>>> d.equation_.latex(), d.stage1_fidelity_                                              # doctest: +SKIP
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, RegressorMixin, clone
from sklearn.utils.validation import check_is_fitted, validate_data

from geneqn import numeric
from geneqn.metrics import feature_scale, pearson_r
from geneqn.sr.equation import GenomicEquation
from geneqn.sr.expr import ADD, CONST, MUL, SUB, VAR, Expr, evaluate, evaluate_tokens, read_columns, subtree_end
from geneqn.sr.regressor import SymbolicRegressor, run_searches, select

log = logging.getLogger(__name__)

STAGE2_SEED = 1000
DIRECT_SEED = 2000
RESIDUAL_SEED = 3000
GRADIENT_ENERGY = 0.99
"""``latent_targets="gradient"``: keep the fewest directions that hold this share of the
network's squared input gradient (at most the latent width)."""


def varimax(loadings: np.ndarray, max_iter: int = 200, tol: float = 1e-10) -> np.ndarray:
    """Kaiser's varimax: the orthogonal rotation of ``loadings`` (p, k) that maximises the
    variance of the squared loadings of each column (so that each loads on few rows)."""
    p, k = loadings.shape
    R = np.eye(k)
    total = 0.0
    for _ in range(max_iter):
        L = loadings @ R
        u, s, vt = np.linalg.svd(loadings.T @ (L ** 3 - L @ np.diag((L ** 2).sum(axis=0)) / p))
        R = u @ vt
        previous, total = total, float(s.sum())
        if previous and total <= previous * (1 + tol):
            break
    return loadings @ R


def gradient_directions(G: np.ndarray, max_directions: int, energy: float = GRADIENT_ENERGY) -> np.ndarray:
    """Active directions of gradients ``G`` (n, p; in standardised feature units): (p, k) unit
    columns spanning the leading eigenvectors of E[g g^T] that hold ``energy`` of E[|g|^2]
    (k at most ``max_directions``), varimax-rotated, each with its largest loading positive,
    ordered by the gradient energy along them (largest first)."""
    G = np.asarray(G, dtype=np.float64)
    C = numeric.gram(G.T) / max(len(G), 1)  # E[g g^T], without BLAS
    w, V = np.linalg.eigh(C)
    w, V = w[::-1].clip(min=0), V[:, ::-1]
    share = np.cumsum(w) / w.sum() if w.sum() > 0 else np.ones_like(w)
    k = int(min(max(1, max_directions), np.searchsorted(share, energy - 1e-12) + 1, len(w)))
    W = varimax(V[:, :k]) if k > 1 else V[:, :1].copy()
    W /= np.linalg.norm(W, axis=0, keepdims=True)
    W *= np.sign(W[np.abs(W).argmax(axis=0), np.arange(k)])
    # LAPACK's last bits depend on the CPU and its kernels: rounded, the directions (and so the
    # targets the search fits) are the same bits on any machine
    W = np.round(W, DIRECTION_DECIMALS)
    order = np.argsort(-np.round((project(G, W) ** 2).mean(axis=0), 9), kind="stable")
    return W[:, order]


DIRECTION_DECIMALS = 9


def project(X: np.ndarray, W: np.ndarray) -> np.ndarray:
    """``X @ W`` without BLAS: the features' terms added in their order, elementwise (the same
    bits on every machine, whatever BLAS kernel numpy would pick)."""
    X = np.asarray(X, dtype=np.float64)
    W = np.asarray(W, dtype=np.float64)
    out = np.zeros((X.shape[0], W.shape[1]))
    for i in range(W.shape[0]):
        out += X[:, i:i + 1] * W[i]
    return out


def target_values(network, X, meta: dict) -> np.ndarray:
    """Stage 1's targets on the rows of X, as an equation's ``meta`` records them: the network's
    latent units, or (``latent_targets = "gradient"``) the projections on its active directions."""
    if meta.get("latent_targets", "network") == "gradient":
        X = np.asarray(X, dtype=np.float64)
        W = np.asarray(meta["directions"], dtype=np.float64)
        return project((X - np.asarray(meta["center"])) / np.asarray(meta["scale"]), W)
    return np.asarray(network.latent(X), dtype=np.float64)


def residual_output(stage2: Expr, residual: list[str], latents: dict, X: np.ndarray, feature_names: list[str],
                    target: np.ndarray) -> tuple[Expr, dict] | None:
    """The output of an equation with residual latents, ``a * u + r1 + .. + c``, and its latents:
    u is stage 2 (of the other latents) without its outer scale and offset (stage 2 = k * u + m:
    the same span, 4 fewer nodes); each residual latent (named in ``residual``, its equation of
    the features in ``latents``) carries its own coefficient b (folded into its outer scale
    when it has one; a negative b stays in the output as a difference, so that the latent keeps
    the sign of its residual). a, b and c are fitted by least squares on ``target`` (the
    network's output on the rows of X): normal equations summed without BLAS and solved in
    Python floats, so the same bits on every machine. Returns (output, latents with the scaled
    residual latents), or None when the equations have no unique solution or a column is not
    finite."""
    units = [k for k in latents if k not in residual]
    core = _without_scale_and_offset(stage2)
    Zu = np.column_stack([evaluate(latents[k], X, feature_names) for k in units])
    columns = [evaluate(core, Zu, units)] + [evaluate(latents[k], X, feature_names) for k in residual]
    A = np.vstack([np.broadcast_to(np.asarray(c, dtype=np.float64), (len(X),)) for c in columns]
                  + [np.ones(len(X))])
    if not np.isfinite(A).all():
        return None
    coef = numeric.solve_spd(numeric.gram(A), numeric.row_dots(A, np.asarray(target, dtype=np.float64)))
    if coef is None or not all(np.isfinite(coef)):
        return None
    latents = dict(latents)
    tokens = [(MUL, None), (CONST, float(coef[0]))] + list(core.tokens)
    for name, b in zip(residual, coef[1:-1]):
        if b > 0:
            latents[name] = _times_constant(latents[name], float(b))
            tokens = [(ADD, None)] + tokens + [(VAR, name)]
        else:  # a negative coefficient is written as a difference
            tokens = [(SUB, None)] + tokens + [(MUL, None), (CONST, -float(b)), (VAR, name)]
    c = float(coef[-1])
    return Expr([(SUB if c < 0 else ADD, None)] + tokens + [(CONST, abs(c))]), latents


def _times_constant(e: Expr, b: float) -> Expr:
    """``b * e``, folded into e's outer constants when e is ``k*u``, ``u*k``, ``k*u + m`` or
    ``k*u - m`` (no node added), else ``b * e`` (two more)."""
    t = list(e.tokens)
    if _has_offset(t) and _scale_position(t[1:-1]) is not None:
        return Expr([t[0]] + list(_times_constant(Expr(t[1:-1]), b).tokens) + [(CONST, float(b * t[-1][1]))])
    at = _scale_position(t)
    if at is not None:
        t[at] = (CONST, float(b * t[at][1]))
        return Expr(t)
    return Expr([(MUL, None), (CONST, float(b))] + t)


def _has_offset(t) -> bool:
    """Whether tokens t are ``v + m`` or ``v - m`` (m a constant)."""
    return len(t) >= 3 and t[0][0] in (ADD, SUB) and t[-1][0] == CONST and subtree_end(t, 1) == len(t) - 1


def _scale_position(t) -> int | None:
    """Index of k in tokens of ``k*u`` or ``u*k`` (None for other forms)."""
    if len(t) > 2 and t[0][0] == MUL and t[1][0] == CONST:
        return 1
    if len(t) > 2 and t[0][0] == MUL and t[-1][0] == CONST and subtree_end(t, 1) == len(t) - 1:
        return len(t) - 1
    return None


def _without_scale_and_offset(e: Expr) -> Expr:
    """u of ``e = k * u + m`` (the forms ``k*u + m``, ``k*u - m``, ``m + k*u``, ``k*u``, ``u*k``),
    else e itself: a least-squares scale and offset of u make k and m redundant."""
    t = e.tokens
    if _has_offset(t):
        t = t[1:-1]  # k*u + m, k*u - m
    elif len(t) >= 3 and t[0][0] == ADD and t[1][0] == CONST:
        t = t[2:]  # m + k*u
    at = _scale_position(t)
    if at is not None:
        t = t[2:] if at == 1 else t[1:-1]
    return Expr(t) if not Expr(t).is_constant else e


def _fit_named(reg: SymbolicRegressor, description: str, X, y, X_valid=None, y_valid=None) -> SymbolicRegressor:
    """``reg.fit(X, y, X_valid, y_valid)`` with its progress named (e.g. "SR stage 2 beta cell")."""
    return reg.finish(run_searches([reg.search_jobs(X, y, X_valid, y_valid)], reg.n_jobs,
                                   description=description.strip())[0])


def latent_names(k: int, feature_names: list[str]) -> list[str]:
    """``x0 .. x{k-1}`` (the paper's), or ``z_latent0 ..`` when features already use x<digits>."""
    prefix = "x" if not any(f.startswith("x") and f[1:].isdigit() for f in feature_names) else "z_latent"
    return [f"{prefix}{j}" for j in range(k)]


def _is_fitted_network(net) -> bool:
    return hasattr(net, "network_") or (hasattr(net, "latent") and not hasattr(net, "get_params"))


class GenomicEquationDistiller(RegressorMixin, BaseEstimator):
    """Two-stage symbolic distillation of a bottleneck network into a genomic equation.

    Parameters
    ----------
    network : a fitted :class:`~geneqn.nas.estimator.BottleneckRegressor` (distilled as it is),
        an unfitted one (a clone is fitted first), or None (the default network is fitted).
    sr : a :class:`SymbolicRegressor` whose settings every stage uses (default: its defaults).
    stage2_input : "predicted" (the paper's) or "latent".
    refit : "none" (the paper's) or "joint".
    latent_prior : "uniform" (the paper's) or "network".
    latent_targets : "auto" (the default: both of the following, the equation with the higher r
        on the valid genes kept; twice the time), "network" (the paper's: the latent units) or
        "gradient" (the network's active directions; the network needs ``output_gradient``).
    share : whether the stage-1 fits of the latent units (all over the same features, and
        correlated signals) send each other their best trees at every migration, as a fit's
        restarts do (the default; False: each fits alone, the paper's). Active directions never
        share: varimax makes them load on different features, and sharing lowered the composite's
        equation (``benchmarks/bench_distill_options.py``).
    residual_latents : at most this many rounds of residual distillation (module docstring; 0:
        the paper's two stages). The kept rounds' equations are latents after the network's
        (``x4``, ``x5`` for a 4-unit network), named in ``equation_.meta["residual_latents"]``;
        ``residual_scores_`` gives the r of the equation after 0, 1, .. rounds on the valid genes
        with the network's output (``network_r``, the criterion) and with y (``r``).
    cell_type : a label carried by the equation.

    After ``fit``: ``network_``, ``equation_`` (:class:`GenomicEquation`), ``stage1_tables_``
    ({latent: Pareto table, None for a constant unit}), ``stage2_table_``, ``stage1_fidelity_``
    ({latent: Pearson r between its equation and the unit}), ``constant_units_``, ``diagnostics_``;
    ``latent_targets_`` (what stage 1 fitted); with gradient targets also ``directions_``
    ((n_features, k) loadings on standardised features), ``center_`` and ``scale_``; with "auto"
    ``latent_targets_scores_`` ({targets: r on the valid genes}).
    """

    def __init__(self, network=None, sr=None, stage2_input: str = "predicted", refit: str = "none",
                 latent_prior: str = "uniform", latent_targets: str = "auto", share: bool = True,
                 residual_latents: int = 2, cell_type: str = ""):
        self.network = network
        self.sr = sr
        self.stage2_input = stage2_input
        self.refit = refit
        self.latent_prior = latent_prior
        self.latent_targets = latent_targets
        self.share = share
        self.residual_latents = residual_latents
        self.cell_type = cell_type

    def _sr(self) -> SymbolicRegressor:
        return clone(self.sr) if self.sr is not None else SymbolicRegressor()

    def fit(self, X, y, X_valid=None, y_valid=None) -> "GenomicEquationDistiller":
        """Fit the network (unless fitted) and distil it; (X_valid, y_valid) as the network's and
        the search's valid set, else each holds out its own ``validation_fraction``. Inside a
        Pipeline give no X_valid (it would bypass the transformers and is refused)."""
        from geneqn.baselines import refuse_valid_through_pipeline

        refuse_valid_through_pipeline(self, X_valid)
        for name, value, choices in (("stage2_input", self.stage2_input, ("predicted", "latent")),
                                     ("refit", self.refit, ("none", "joint")),
                                     ("latent_prior", self.latent_prior, ("uniform", "network")),
                                     ("latent_targets", self.latent_targets, ("network", "gradient", "auto"))):
            if value not in choices:
                raise ValueError(f"{name} must be one of {', '.join(choices)}, got {value!r}")
        if isinstance(self.residual_latents, bool) or not isinstance(self.residual_latents, (int, np.integer)) \
                or self.residual_latents < 0:
            raise ValueError(f"residual_latents must be an integer >= 0, got {self.residual_latents!r}")
        if self.network is not None and _is_fitted_network(self.network):
            net = self.network
            names_in = getattr(net, "feature_names_in_", None)
            if hasattr(X, "columns") and names_in is not None:
                missing = [n for n in names_in if n not in X.columns]
                if missing:
                    raise ValueError(f"X lacks the network's feature column(s) {missing[:5]}")
                X = X[list(names_in)]
        else:
            from geneqn.nas.estimator import BottleneckRegressor

            net = clone(self.network) if self.network is not None else BottleneckRegressor()
            net.fit(X, y, X_valid, y_valid)
        if self.latent_targets == "auto":
            return self._fit_auto(net, X, y, X_valid, y_valid)
        X, y = validate_data(self, X, y, y_numeric=True, dtype=np.float64)
        names = [str(n) for n in getattr(self, "feature_names_in_", [f"x{i}" for i in range(X.shape[1])])]
        n_in = getattr(net, "n_features_in_", X.shape[1])
        if n_in != X.shape[1]:
            raise ValueError(f"the network takes {n_in} features, X has {X.shape[1]}")
        self.network_ = net
        Z = np.asarray(net.latent(self._for_network(X)), dtype=np.float64)
        self.latent_targets_ = self.latent_targets
        self._targets_meta = {"latent_targets": self.latent_targets_}
        if self.latent_targets_ == "gradient":
            if not hasattr(net, "output_gradient"):
                raise ValueError("latent_targets='gradient' needs a network with output_gradient(X)")
            self.center_, self.scale_ = feature_scale(X)
            G = np.asarray(net.output_gradient(self._for_network(X)), dtype=np.float64) * self.scale_
            self.directions_ = gradient_directions(G, Z.shape[1])
            self._targets_meta.update(directions=self.directions_.tolist(), center=self.center_.tolist(),
                                      scale=self.scale_.tolist())
            Z = target_values(net, X, self._targets_meta)
        k = Z.shape[1]
        latent = latent_names(k, names)
        base = self._sr()
        seed = int(base.random_state)
        priors = None
        if self.latent_prior == "network" and self.latent_targets_ == "gradient":
            priors = np.abs(self.directions_.T)
        elif self.latent_prior == "network" and hasattr(net, "sensitivity"):
            priors = np.asarray(net.sensitivity(self._for_network(X)), dtype=np.float64)
        Xv = yv = Zv = None
        if X_valid is not None:
            Xv = validate_data(self, X_valid, reset=False, dtype=np.float64)
            yv = np.asarray(y_valid, dtype=np.float64).ravel()
            Zv = self._targets(Xv)

        # stage 1: one regressor per non-constant unit; all restarts of all units in one pool,
        # each unit's equation chosen on the valid genes' targets
        regs: dict[int, SymbolicRegressor] = {}
        job_lists = []
        constant = []
        Xdf = pd.DataFrame(X, columns=names)
        Xvdf = None if Xv is None else pd.DataFrame(Xv, columns=names)
        for j in range(k):
            z = Z[:, j]
            if np.ptp(z) <= 1e-6 * max(1.0, float(np.abs(z).max())):
                constant.append(j)
                continue
            reg = clone(base).set_params(random_state=seed + j)
            w = None if priors is None else priors[j] / max(priors[j].max(), 1e-300) + 0.02
            job_lists.append(reg.search_jobs(Xdf, z, Xvdf, None if Zv is None else Zv[:, j], w))
            regs[j] = reg
        results = run_searches(job_lists, base.n_jobs, description=f"SR stage 1 {self.cell_type}".strip(),
                               share=self.share and self.latent_targets_ == "network")
        for (j, reg), res in zip(regs.items(), results):
            reg.finish(res)
        if constant:
            log.info("%s: latent unit(s) %s are constant on the training genes: no SR needed",
                     self.cell_type or "stage 1", ", ".join(latent[j] for j in constant))
        tables = {latent[j]: (regs[j].equations_ if j in regs else None) for j in range(k)}
        exprs = {latent[j]: (regs[j].expr_ if j in regs else Expr.constant(float(Z[:, j].mean())))
                 for j in range(k)}
        self.stage1_tables_ = tables
        self.constant_units_ = [latent[j] for j in constant]
        self.stage1_fidelity_ = {latent[j]: (pearson_r(Z[:, j], evaluate(exprs[latent[j]], X, names))
                                             if j in regs else 1.0) for j in range(k)}
        self._fit_stage2(exprs, X, y, Z, names, latent, seed, valid=None if Xv is None else (Xv, yv, Zv))
        self._residual_steps, self.residual_scores_ = [], {}
        if self.residual_latents:
            self._fit_residuals(X, y, Xv, yv, names, seed)
        self.diagnostics_ = self._diagnostics(X, y, Z, names, X_valid, y_valid)
        return self

    def _network_output(self, X: np.ndarray) -> np.ndarray:
        return np.asarray(self.network_.predict(self._for_network(X)), dtype=np.float64).ravel()

    def _fit_residuals(self, X, y, Xv, yv, names, seed) -> None:
        """Rounds of residual distillation after stage 2 (module docstring): each fits one
        equation of the features to the network's output minus the equation so far (the search
        chooses its row on the valid genes' residual), then refits the output's coefficients;
        the equation after the round count with the highest r with the network's output on the
        valid genes (rounded to 4 decimals, so that last bits never decide; ties: fewer rounds)
        is kept: the distillation's object is the network, and its r with the network on
        held-out genes is a steadier criterion than r with the noisy expression."""
        first = self.equation_
        F = self._network_output(X)
        Fv = None if Xv is None else self._network_output(Xv)
        Xdf = pd.DataFrame(X, columns=names)
        Xvdf = None if Xv is None else pd.DataFrame(Xv, columns=names)
        new = latent_names(len(first.latents) + self.residual_latents, names)[len(first.latents):]
        steps, tables, fidelity, fitted = [first], {}, {}, {}
        for i, name in enumerate(new):
            before = steps[-1]
            target = F - before.predict(X)
            reg = clone(self._sr()).set_params(random_state=seed + RESIDUAL_SEED + i)
            _fit_named(reg, f"SR residual {i + 1} {self.cell_type}", Xdf, target, Xvdf,
                       None if Xv is None else Fv - before.predict(Xv))
            tables[name], fidelity[name] = reg.equations_, pearson_r(target, evaluate(reg.expr_, X, names))
            # the latents as fitted (earlier rounds unscaled), then each scaled by its coefficient
            fitted[name] = reg.expr_
            made = residual_output(first.output, new[:i + 1], {**first.latents, **fitted}, X, names, F)
            if made is None:  # the new equation adds nothing that least squares can use
                break
            meta = {**first.meta, "residual_latents": list(new[:i + 1])}
            steps.append(GenomicEquation(first.cell_type, names, made[1], made[0], meta))
        Xe, Fe, ye, on = (X, F, y, "train") if Xv is None else (Xv, Fv, yv, "valid")
        fid = [round(float(pearson_r(Fe, e.predict(Xe))), 4) for e in steps]
        fid = [r if np.isfinite(r) else -1.0 for r in fid]
        kept = int(np.argmax(fid))  # the first maximum: fewer rounds on ties
        scores = [round(float(pearson_r(ye, e.predict(Xe))), 4) for e in steps]
        eq = steps[kept]
        eq.meta.setdefault("residual_latents", [])  # none kept: said, not left out
        eq.meta["residual_scores"] = {"genes": on, "network_r": fid, "r": scores, "kept": kept}
        self.residual_scores_ = {"network_r": fid, "r": scores}
        self._residual_steps = steps[:kept + 1]
        for name in new[:kept]:
            self.stage1_tables_[name] = tables[name]
            self.stage1_fidelity_[name] = fidelity[name]
        self.equation_ = eq
        log.debug("%s: %d of %d round(s) of residual distillation kept (r with the network %s on the %s genes)",
                  self.cell_type or "distill", kept, len(steps) - 1, " -> ".join(f"{r:.4f}" for r in fid), on)

    def _fit_auto(self, net, X, y, X_valid, y_valid) -> "GenomicEquationDistiller":
        """Distil both ways (latent units, active directions) and keep the equation with the
        higher r on the valid genes (the training genes when none are given; a tie keeps the
        paper's). A network without ``output_gradient`` is distilled the paper's way only."""
        fits, scores = {}, {}
        kinds = ("network", "gradient") if hasattr(net, "output_gradient") else ("network",)
        if len(kinds) == 1:
            log.info("%s: the network has no output_gradient: stage 1 on its latent units only",
                     self.cell_type or "distill")
        for targets in kinds:
            params = {**self.get_params(deep=False), "network": net, "latent_targets": targets}
            fits[targets] = type(self)(**params).fit(X, y, X_valid, y_valid)
            r = fits[targets].diagnostics_["equation_r"]
            scores[targets] = float(r) if np.isfinite(r) else -1.0
        best = "gradient" if scores.get("gradient", -np.inf) > scores["network"] else "network"
        self.__dict__.update({k: v for k, v in vars(fits[best]).items()
                              if (k.endswith("_") and not k.startswith("__")) or k == "_targets_meta"})
        self.latent_targets_scores_ = scores
        self.equation_.meta["latent_targets_scores"] = dict(scores)
        if len(scores) == 2:
            log.info("%s: stage 1 on the network's %s (r %.3f vs %.3f on the %s genes)", self.cell_type or "distill",
                     "active directions" if best == "gradient" else "latent units", scores[best],
                     scores["network" if best == "gradient" else "gradient"], self.diagnostics_["genes"])
        return self

    def _for_network(self, X: np.ndarray):
        """X as the network was fitted: a DataFrame with its feature names, when it had them."""
        names = getattr(self.network_ if hasattr(self, "network_") else self.network, "feature_names_in_", None)
        return pd.DataFrame(X, columns=list(names)) if names is not None else X

    def _fit_stage2(self, exprs, X, y, Z, names, latent, seed, stage2=None, valid=None):
        Zhat = np.column_stack([evaluate(e, X, names) for e in exprs.values()])
        inputs = Zhat if self.stage2_input == "predicted" else Z
        reg = stage2 or clone(self._sr()).set_params(random_state=seed + STAGE2_SEED)
        fit_valid = {}
        if valid is not None:
            Xv, yv, Zv = valid
            Zv_in = np.column_stack([evaluate(e, Xv, names) for e in exprs.values()]) \
                if self.stage2_input == "predicted" else Zv
            fit_valid = {"X_valid": pd.DataFrame(Zv_in, columns=latent), "y_valid": yv}
        _fit_named(reg, f"SR stage 2 {self.cell_type}", pd.DataFrame(inputs, columns=latent), y,
                   fit_valid.get("X_valid"), fit_valid.get("y_valid"))
        eq = GenomicEquation(self.cell_type, list(names), dict(exprs), reg.expr_,
                             {"selection": str(reg.selection_), "complexity_limit": int(reg.complexity_limit),
                              "engine": reg.engine, "stage2_input": self.stage2_input, "refit": self.refit,
                              "latent_prior": self.latent_prior, "constant_units": list(self.constant_units_),
                              **self._targets_meta})
        if self.refit == "joint":
            eq = joint_refit(eq, X, y)
        self.stage2_table_ = reg.equations_
        self.equation_ = eq
        return eq

    def _diagnostics(self, X, y, Z, names, X_valid, y_valid) -> dict:
        """Pearson r of each step on the valid genes (the training genes when none are given)."""
        if X_valid is not None:
            Xe = validate_data(self, X_valid, reset=False, dtype=np.float64)
            ye = np.asarray(y_valid, dtype=np.float64).ravel()
            Ze = self._targets(Xe)
            on = "valid"
        else:
            Xe, ye, Ze, on = X, y, Z, "train"
        eq = self.equation_
        Zhat = eq.latent_values(Xe)
        k = Ze.shape[1]  # the network's units (or directions); residual latents come after them
        # a residual latent's target: the network's output minus the equation of the round before
        Fe = self._network_output(Xe) if len(self._residual_steps) > 1 else None
        targets = [Ze[:, j] for j in range(k)] + [Fe - before.predict(Xe) for before in self._residual_steps[:-1]]
        out = {"genes": on, "network_r": pearson_r(ye, self.network_.predict(self._for_network(Xe))),
               "equation_r": pearson_r(ye, eq.predict(Xe)),
               "stage2_on_network_latents_r": pearson_r(ye, evaluate(eq.output, np.column_stack([Ze, Zhat[:, k:]]),
                                                                     list(eq.latents))),
               "stage1_fidelity": {name: pearson_r(targets[j], Zhat[:, j]) for j, name in enumerate(eq.latents)}}
        if len(self._residual_steps) > 1:
            out["residual_network_r"] = [pearson_r(Fe, e.predict(Xe)) for e in self._residual_steps]
        net = getattr(self.network_, "network_", self.network_)
        if hasattr(net, "head") and self.latent_targets_ == "network":
            out["network_head_on_stage1_r"] = pearson_r(ye, net.head(Zhat[:, :k]))
        return out

    def _targets(self, X: np.ndarray) -> np.ndarray:
        """Stage 1's targets on the rows of X (latent units or active-direction projections)."""
        if self.latent_targets_ == "gradient":
            return target_values(self.network_, X, self._targets_meta)
        return np.asarray(self.network_.latent(self._for_network(X)), dtype=np.float64)

    def predict(self, X) -> np.ndarray:
        check_is_fitted(self, "equation_")
        X = validate_data(self, X, reset=False, dtype=np.float64)
        return self.equation_.predict(X)

    def stability(self, X, y, X_valid=None, y_valid=None, X_test=None, y_test=None, **options) -> dict:
        """Refit over SR seeds and bootstrap resamples of the training genes: how often each
        feature and stage-1 term appears, 95% intervals of the constants, the stable core and its
        accuracy (:func:`geneqn.sr.stability.equation_stability`; ``options``: n_seeds,
        n_bootstraps, constant_bootstraps, core_share, n_jobs, cache_dir). Sets ``stability_``."""
        from geneqn.sr.stability import equation_stability

        check_is_fitted(self, "equation_")
        self.stability_ = equation_stability(self, X, y, X_valid, y_valid, X_test, y_test, **options)
        return self.stability_

    def sweep(self, X, y, limits=("3", "5", "7", "9", "18", "validation", "accuracy"), X_test=None, y_test=None,
              X_valid=None, y_valid=None) -> pd.DataFrame:
        """The paper's Table 2 for this distillation (see :func:`complexity_sweep`)."""
        check_is_fitted(self, "equation_")
        X, y = validate_data(self, X, y, reset=False, y_numeric=True, dtype=np.float64)
        if X_test is not None:
            X_test = validate_data(self, X_test, reset=False, dtype=np.float64)
        Zv = None
        if X_valid is not None:
            X_valid = validate_data(self, X_valid, reset=False, dtype=np.float64)
            Zv = self._targets(X_valid)
        Z = self._targets(X)
        means = {k: float(Z[:, j].mean()) for j, k in enumerate(list(self.equation_.latents)[:Z.shape[1]])}
        residual = self.equation_.meta.get("residual_latents", [])
        return complexity_sweep(self.stage1_tables_, means, X, y, list(self.equation_.feature_names), self._sr(),
                                limits, X_test, y_test, stage2_input=self.stage2_input, Z=Z, X_valid=X_valid,
                                y_valid=y_valid, Z_valid=Zv, residual=residual,
                                network_output=self._network_output(X) if residual else None)


def complexity_sweep(stage1_tables: dict, latent_means: dict, X, y, feature_names: list[str], sr,
                     limits=("3", "5", "7", "9", "18", "best", "accuracy"), X_test=None, y_test=None,
                     stage2_input: str = "predicted", Z=None, known: dict | None = None, X_valid=None,
                     y_valid=None, Z_valid=None, residual=(), network_output=None) -> pd.DataFrame:
    """The paper's Table 2: per-latent complexity limit -> features used, composed complexity
    and Pearson r (on the test genes when given, else the training genes).

    Stage-1 rows are re-selected from the same Pareto tables (``{latent: table or None}``; a
    None unit is its mean); stage 2 is refitted on the new stage-1 predictions (the ``sr``
    settings, seed offset as in the distillation; its equation chosen on ``X_valid, y_valid``
    when given, as in the distillation). ``known``: {limit: GenomicEquation} already fitted this
    way (the distillation's own selection), used instead of fitting again. ``residual``: the
    latents of residual distillation among the tables (re-selected at the same limit, not
    searched again), combined with the refitted stage 2 by least squares on ``network_output``
    (the network's output on the rows of X), as in the distillation."""
    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    residual = list(residual or [])
    if residual and network_output is None:
        raise ValueError("a sweep of residual latents needs the network's output (network_output)")
    latent = [k for k in stage1_tables if k not in residual]
    rows = []
    for limit in limits:
        if known and str(limit) in known:
            eq = known[str(limit)]
            Xe, ye = (X, y) if X_test is None else (np.asarray(X_test, dtype=np.float64), np.asarray(y_test, dtype=np.float64))
            rows.append(_sweep_row(limit, eq, Xe, ye, X_valid, y_valid))
            continue
        exprs = {}
        for name in latent:
            t = stage1_tables[name]
            exprs[name] = Expr.constant(latent_means[name]) if t is None else t.expr[select(t, limit)]
        Zhat = np.column_stack([evaluate(e, X, feature_names) for e in exprs.values()])
        reg = clone(sr).set_params(random_state=int(sr.random_state) + STAGE2_SEED)
        inputs = Zhat if stage2_input == "predicted" or Z is None else Z
        fit_valid = {}
        if X_valid is not None and y_valid is not None:
            Xv = np.asarray(X_valid, dtype=np.float64)
            Zv = np.column_stack([evaluate(e, Xv, feature_names) for e in exprs.values()]) \
                if stage2_input == "predicted" or Z_valid is None else np.asarray(Z_valid, dtype=np.float64)
            fit_valid = {"X_valid": pd.DataFrame(Zv, columns=latent), "y_valid": np.asarray(y_valid, dtype=np.float64)}
        reg.fit(pd.DataFrame(inputs, columns=latent), y, **fit_valid)
        output, meta = reg.expr_, {}
        if residual:
            for name in residual:
                exprs[name] = stage1_tables[name].expr[select(stage1_tables[name], limit)]
            made = residual_output(reg.expr_, residual, exprs, X, feature_names, network_output)
            if made is None:  # no unique least-squares combination: stage 2 alone
                exprs = {k: exprs[k] for k in latent}
            else:
                output, exprs, meta = made[0], made[1], {"residual_latents": residual}
        eq = GenomicEquation("", list(feature_names), exprs, output, meta)
        Xe, ye = (X, y) if X_test is None else (np.asarray(X_test, dtype=np.float64), np.asarray(y_test, dtype=np.float64))
        rows.append(_sweep_row(limit, eq, Xe, ye, X_valid, y_valid))
    table = pd.DataFrame(rows)
    if "valid_r" in table and len(table):
        table["knee"] = False
        table.loc[knee(table["complexity"], table["valid_r"]), "knee"] = True
    return table


def _sweep_row(limit, eq: GenomicEquation, Xe, ye, X_valid, y_valid) -> dict:
    row = {"latent_limit": str(limit), "n_features": len(eq.features_used), "complexity": eq.complexity,
           "r": pearson_r(ye, eq.predict(Xe)), "equation": str(eq.composed), "genomic_equation": eq}
    if X_valid is not None and y_valid is not None:
        row["valid_r"] = pearson_r(np.asarray(y_valid, dtype=np.float64), eq.predict(np.asarray(X_valid, dtype=np.float64)))
    return row


def knee(complexity, valid_r) -> int:
    """Index (label) of the knee of an accuracy-complexity front, chosen on held-out genes.

    The rows that no simpler row matches in valid r form the front; both axes are scaled to
    [0, 1] over it, and the knee is the front row farthest above the chord from the simplest to
    the most accurate row (the Kneedle rule: where more complexity stops buying accuracy). A
    front of one row, or one with no row above the chord, has the most accurate row as its knee.
    Ties go to the simpler row. Valid r is rounded to 4 decimals first, so that last-bit
    differences between machines never move the knee.
    """
    c = pd.Series(np.asarray(complexity, dtype=float), index=getattr(complexity, "index", None))
    r = pd.Series(np.round(np.asarray(valid_r, dtype=float), 4), index=c.index)
    order = sorted(c.index, key=lambda i: (c[i], -r[i]))
    front, best = [], -np.inf
    for i in order:
        if np.isfinite(r[i]) and r[i] > best:
            front.append(i)
            best = r[i]
    if not front:
        return order[0]
    top = front[-1]
    if len(front) < 2 or c[top] == c[front[0]] or r[top] == r[front[0]]:
        return top
    cn = (c[front] - c[front[0]]) / (c[top] - c[front[0]])
    rn = (r[front] - r[front[0]]) / (r[top] - r[front[0]])
    gain = np.round((rn - cn).to_numpy(), 9)
    k = int(np.argmax(gain))  # the first maximum: the simpler row on ties
    return front[k] if gain[k] > 0 else top


def joint_refit(eq: GenomicEquation, X: np.ndarray, y: np.ndarray, max_nfev: int = 50) -> GenomicEquation:
    """Refit every constant of the stage-1 and stage-2 equations together, on the composed
    prediction's squared error (structure kept; :func:`least_squares`, Levenberg-Marquardt with a
    forward-difference Jacobian, at most ``max_nfev`` x (constants + 1) iterations). Returns a new
    equation (the input when the refit does not lower the error). No step uses BLAS or LAPACK, so
    the refitted constants are the same bits on every machine (scipy's least_squares, used
    before, gave the demo's bootstrap intervals of the constants that differed in their second
    digit between two OpenBLAS kernels)."""
    names = list(eq.feature_names)
    latent = list(eq.latents)
    sizes = [len(eq.latents[k].constants) for k in latent]
    theta0 = np.array([c for k in latent for c in eq.latents[k].constants] + eq.output.constants)
    if theta0.size == 0:
        return eq

    def build(theta):
        out, i = {}, 0
        for k, s in zip(latent, sizes):
            out[k] = eq.latents[k].with_constants(theta[i:i + s])
            i += s
        return out, eq.output.with_constants(theta[i:])

    # the trees with their variables as column indices, and the columns they read, made once:
    # each residual only puts theta into the constants (the same arithmetic as evaluate())
    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    n = X.shape[0]
    trees = [eq.latents[k].indexed(names) for k in latent]
    columns = read_columns(X, trees)
    head = eq.output.indexed(latent)

    def values(tokens, theta, at: int, cols) -> tuple[np.ndarray, int]:
        """The tree's values with its constants from theta[at:], and where its constants end."""
        out = []
        for op, arg in tokens:
            if op == CONST:
                arg, at = float(theta[at]), at + 1
            out.append((op, arg))
        return np.broadcast_to(np.asarray(evaluate_tokens(out, cols), dtype=np.float64), (n,)).copy(), at

    def residual(theta):
        zs, at = [], 0
        for tree in trees:
            z, at = values(tree, theta, at, columns)
            zs.append(z)
        r = values(head, theta, at, zs)[0] - y
        return np.where(np.isfinite(r), r, 1e3)

    with np.errstate(all="ignore"):  # constants that overflow are a worse fit, not a warning
        theta, improved = least_squares(residual, theta0, max_iterations=max_nfev * (theta0.size + 1))
    if not improved:
        return eq
    lat, outp = build(theta)
    meta = dict(eq.meta, refit="joint")
    return GenomicEquation(eq.cell_type, names, lat, outp, meta)


def least_squares(residual, theta0, max_iterations: int = 100, ftol: float = 1e-8) -> tuple[np.ndarray, bool]:
    """Minimise ``sum(residual(theta)**2)`` by Levenberg-Marquardt from ``theta0``: the Jacobian by
    forward differences (steps of sqrt(eps) x max(1, |theta|), made exact), the normal equations
    summed pairwise (:func:`geneqn.numeric.dot`) and solved in Python floats
    (:func:`geneqn.numeric.solve_spd`), Marquardt's damping of the diagonal. Stops after
    ``max_iterations``, when no damping lowers the error, or when a step lowers it by less than
    ``ftol`` of itself (scipy's default). Returns (theta, whether the error went down). Every
    operation is elementwise or correctly rounded, so the result is the same bits on every
    machine, whatever BLAS numpy uses and however many threads it has."""
    theta = np.array(theta0, dtype=np.float64)
    p = theta.size
    r = residual(theta)
    sse0 = sse = numeric.dot(r, r)
    lam = 1e-3
    root_eps = float(np.sqrt(np.finfo(np.float64).eps))
    for _ in range(max_iterations):
        J = np.empty((p, len(r)))
        for j in range(p):
            t = theta.copy()
            t[j] += root_eps * max(1.0, abs(theta[j]))
            J[j] = (residual(t) - r) / (t[j] - theta[j])
        JJ = numeric.gram(J)
        g = numeric.row_dots(J, r)
        lowered = False
        for _ in range(8):
            step = numeric.solve_spd(JJ + lam * np.diag(np.diag(JJ) + 1e-12), -g)
            if step is None:
                lam *= 10
                continue
            tn = theta + np.asarray(step)
            rn = residual(tn)
            ssen = numeric.dot(rn, rn)
            if ssen < sse:
                lowered, small = True, sse - ssen <= ftol * sse
                theta, r, sse = tn, rn, ssen
                lam = max(lam / 10, 1e-12)
                break
            lam *= 10
        if not lowered or small:
            break
    return theta, sse < sse0


def direct_sr(X, y, sr: SymbolicRegressor | None = None, X_valid=None, y_valid=None) -> SymbolicRegressor:
    """The paper's "SR" baseline: one fit from the features straight to expression (its equation
    chosen on ``X_valid, y_valid`` when given)."""
    reg = clone(sr) if sr is not None else SymbolicRegressor()
    reg.set_params(random_state=int(reg.random_state) + DIRECT_SEED)
    return reg.fit(X, y, X_valid, y_valid)
