"""Distil a bottleneck network into one genomic equation per cell type (paper, Methods).

Stage 1 fits, for each latent unit, an equation from the features to the unit's activation on
the training genes (one SR fit per unit, in parallel processes). Stage 2 fits an equation from
the stage-1 *predicted* latents to the expression target: the stage-1 equations are part of the
final model, so stage 2 learns from what they really output, not from the network's latents.
A latent unit that is constant on the training genes needs no search: its equation is its mean.
"""

from __future__ import annotations

import concurrent.futures as cf
import logging
import multiprocessing as mp
import os
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import sympy as sp

from geneqn import progress
from geneqn.config import SRConfig
from geneqn.errors import GeneqnError
from geneqn.sr.backend import SymbolicRegressor, pareto_table, select
from geneqn.sr.equation import GenomicEquation
from geneqn.sr.expr import evaluate

log = logging.getLogger(__name__)


# The knobs of every SR fit are the [sr] config section itself.
SRSettings = SRConfig


def make_regressor(settings: SRConfig, seed: int) -> SymbolicRegressor:
    return SymbolicRegressor(engine=settings.engine, operators=tuple(settings.operators),
                             complexity_limit=settings.complexity_limit, selection=settings.selection,
                             population_size=settings.population_size, generations=settings.generations,
                             max_evaluations=settings.max_evaluations,
                             optimizer_iterations=settings.optimizer_iterations,
                             clean_tolerance=settings.clean_tolerance, random_state=seed)


def n_workers(settings: SRConfig) -> int:
    return settings.n_jobs if settings.n_jobs > 0 else (os.cpu_count() or 1)


def _subsample(X, y, max_samples, seed):
    if max_samples and len(y) > max_samples:
        idx = np.sort(np.random.default_rng(seed).choice(len(y), max_samples, replace=False))
        return X[idx], y[idx]
    return X, y


def _fit_table(args) -> pd.DataFrame:
    """One SR fit (run in a worker process): the Pareto table on the full training rows."""
    settings, X, y, names, seed = args
    Xs, ys = _subsample(X, y, settings.max_samples, seed)
    reg = make_regressor(settings, seed).fit(Xs, ys, names)
    if len(ys) == len(y):
        return reg.equations_
    return pareto_table(list(reg.equations_.sympy_format), X, y, names, settings.complexity_limit,
                        settings.clean_tolerance)


def fit_tables(jobs: list[tuple], settings: SRSettings, description: str) -> list[pd.DataFrame]:
    """Run SR fits, in parallel processes when there is more than one."""
    n = min(n_workers(settings), len(jobs))
    with progress.task(description, total=len(jobs)) as bar:
        if n <= 1:
            out = []
            for j in jobs:
                out.append(_fit_table(j))
                bar.advance()
            return out
        results: list = [None] * len(jobs)
        # fork: workers inherit the data without pickling it and need no importable __main__;
        # they run only Operon (no torch), so the parent's thread pools do not matter
        ctx = mp.get_context("fork" if "fork" in mp.get_all_start_methods() else "spawn")
        with cf.ProcessPoolExecutor(n, mp_context=ctx) as pool:
            futures = {pool.submit(_fit_table, j): i for i, j in enumerate(jobs)}
            for f in cf.as_completed(futures):
                results[futures[f]] = f.result()
                bar.advance()
        return results


def latent_names(k: int, feature_names: list[str]) -> list[str]:
    prefix = "x" if not any(f.startswith("x") and f[1:].isdigit() for f in feature_names) else "z_latent"
    return [f"{prefix}{j}" for j in range(k)]


@dataclass
class Distillation:
    """Stage-1 Pareto tables (one per latent unit; None for a constant unit) and the equation."""

    stage1: list[pd.DataFrame | None]
    stage2: pd.DataFrame
    equation: GenomicEquation
    constant_units: list[int] = field(default_factory=list)


def stage1_tables(Z: np.ndarray, X: np.ndarray, names: list[str], settings: SRSettings, seed: int,
                  label: str = "") -> tuple[list[pd.DataFrame | None], list[int]]:
    """SR tables for each latent unit (None where the unit is constant)."""
    jobs, where, constant = [], [], []
    for j in range(Z.shape[1]):
        z = Z[:, j]
        if np.ptp(z) <= 1e-6 * max(1.0, float(np.abs(z).max())):
            constant.append(j)
            continue
        jobs.append((settings, X, z, names, seed + j))
        where.append(j)
    tables: list[pd.DataFrame | None] = [None] * Z.shape[1]
    for j, t in zip(where, fit_tables(jobs, settings, f"SR stage 1 {label}".strip())):
        tables[j] = t
    if constant:
        log.info("%s: latent unit(s) %s are constant on the training genes: no SR needed", label or "stage 1",
                 ", ".join(f"x{j}" for j in constant))
    return tables, constant


def stage1_equations(tables, Z, selection, names_latent) -> dict[str, sp.Expr]:
    out = {}
    for j, t in enumerate(tables):
        if t is None:
            out[names_latent[j]] = sp.Float(float(Z[:, j].mean()))
        else:
            out[names_latent[j]] = t.sympy_format[select(t, selection)]
    return out


def stage2(latents: dict[str, sp.Expr], X, y, names, settings: SRSettings, seed: int,
           cell_type: str) -> tuple[pd.DataFrame, GenomicEquation]:
    Zhat = np.column_stack([evaluate(e, X, names) for e in latents.values()])
    (table,) = fit_tables([(settings, Zhat, y, list(latents), seed + 1000)], settings,
                          f"SR stage 2 {cell_type}")
    output = table.sympy_format[select(table, settings.selection)]
    return table, GenomicEquation(cell_type, list(names), dict(latents), output)


def distill(net, X: np.ndarray, y: np.ndarray, feature_names: list[str], settings: SRSettings,
            seed: int = 0, cell_type: str = "") -> Distillation:
    """Two-stage distillation of ``net`` on the training genes (X raw features, y targets)."""
    if not hasattr(net, "latent"):
        raise GeneqnError("the network has no latent layer to distil (expected a geneqn BottleneckMLP).")
    if not np.isfinite(X).all():
        raise GeneqnError("distill: the features hold NaN or infinite values.")
    Z = net.latent(X)
    names_latent = latent_names(Z.shape[1], feature_names)
    tables, constant = stage1_tables(Z, X, feature_names, settings, seed, cell_type)
    latents = stage1_equations(tables, Z, settings.selection, names_latent)
    table2, eq = stage2(latents, X, y, feature_names, settings, seed, cell_type)
    eq.meta.update({"selection": settings.selection, "complexity_limit": settings.complexity_limit,
                    "constant_units": constant, "engine": settings.engine})
    return Distillation(tables, table2, eq, constant)


def direct_sr(X, y, feature_names, settings: SRSettings, seed: int = 0) -> tuple[pd.DataFrame, sp.Expr]:
    """The paper's "SR" baseline: one SR fit from the features straight to expression."""
    (table,) = fit_tables([(settings, X, y, list(feature_names), seed + 2000)], settings, "direct SR")
    return table, table.sympy_format[select(table, settings.selection)]


SWEEP_DEFAULT = ("3", "5", "7", "9", "18", "best", "accuracy")


def complexity_sweep(d: Distillation, Z: np.ndarray, X, y, X_test, y_test, feature_names,
                     settings: SRSettings, seed: int, cell_type: str, limits=SWEEP_DEFAULT) -> pd.DataFrame:
    """Table 2 of the paper: per-latent complexity limit -> classes used and test r.

    Stage 1 rows are re-selected from the same Pareto tables; stage 2 is refitted on the new
    stage-1 predictions (limit 20, the configured selection).
    """
    from geneqn.evaluate import pearson_r

    names_latent = list(d.equation.latents)
    rows = []
    for limit in limits:
        latents = stage1_equations(d.stage1, Z, limit, names_latent)
        _, eq = stage2(latents, X, y, feature_names, settings, seed, f"{cell_type} ({limit})")
        rows.append({"cell_type": cell_type, "latent_limit": limit, "n_classes": len(eq.sequence_classes),
                     "complexity": eq.complexity, "test_r": pearson_r(y_test, eq.predict(X_test)),
                     "equation": str(eq.composed)})
    return pd.DataFrame(rows)
