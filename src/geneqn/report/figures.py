"""The report's figures as PNG bytes: :mod:`geneqn.pl`'s plots on matplotlib ``Figure`` objects
(no pyplot, no backend change: a notebook that imports this keeps its own backend)."""

from __future__ import annotations

import io

import pandas as pd
from matplotlib.figure import Figure

from geneqn import pl

NOT_EXPRESSED = pl.NOT_EXPRESSED


def _png(fig: Figure) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
    return buf.getvalue()


def _one(width: float, height: float):
    fig = Figure(figsize=(width, height))
    return fig, fig.add_subplot()


def scatter_row(df: pd.DataFrame, models: list[str], title: str, markers: list[str]) -> bytes:
    """Predicted vs measured g on the test genes, one panel per model; genes not expressed in
    the cell type (g = -1) in grey, marker genes labelled."""
    n = len(models)
    fig = Figure(figsize=(2.9 * n, 2.9))
    axes = fig.subplots(1, n, squeeze=False)[0]
    for k, (ax, name) in enumerate(zip(axes, models)):
        pl.predicted_vs_measured(df["measured_g"], df[name], ax, symbols=df["symbol"], markers=markers, title=name)
        if k:
            ax.set_ylabel("")
    axes[0].legend(fontsize=6, loc="upper left", markerscale=3)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return _png(fig)


def pareto(front: list[dict], sweep: pd.DataFrame, chosen_direct: int, title: str) -> bytes:
    """Test r against complexity: direct SR's front and the sweep's equations (:func:`geneqn.pl.pareto`)."""
    fig, ax = _one(5.2, 3.4)
    pl.pareto(front, sweep, chosen_direct, ax, title=title)
    return _png(fig)


def search_history(history: list, title: str) -> bytes:
    fig, ax = _one(5.2, 2.8)
    pl.search_history(history, ax, title=title)
    return _png(fig)


def effects(eff: pd.DataFrame, title: str, top: int = 10) -> bytes:
    fig, ax = _one(5.2, 0.4 + 0.3 * len(pl.effects_table(eff, top)))
    pl.effects(eff, ax, top=top, title=title)
    return _png(fig)


def stability(st: dict, title: str, top: int = 15) -> bytes:
    fig, ax = _one(5.2, 0.6 + 0.25 * min(top, len(st["features"])))
    pl.stability(st, ax, top=top, title=title)
    return _png(fig)


def subset_boxplot(subsets: pd.DataFrame, test: dict, title: str) -> bytes:
    fig, ax = _one(4.2, 3.2)
    pl.subsets(subsets, test, ax, title=title)
    return _png(fig)


def residual_plot(residuals: pd.DataFrame, title: str) -> bytes:
    fig, ax = _one(5.6, 3.0)
    pl.residuals(residuals, ax, title=title)
    return _png(fig)


def features_heatmap(used: pd.DataFrame, feature_order: list[str], cell_types: list[str]) -> bytes:
    labels = [f for f in feature_order if f in set(used.feature)] or feature_order[:1]
    fig, ax = _one(1.6 + 1.0 * len(cell_types), 0.9 + 0.26 * len(labels))
    pl.features_used(used, feature_order, cell_types, ax)
    return _png(fig)


def variant_waterfall(attributions: pd.DataFrame, g_ref: float, title: str) -> bytes:
    fig, ax = _one(6.0, 3.2)
    pl.variant_waterfall(attributions, g_ref, ax, title=title)
    return _png(fig)


def variant_scatter(effects: pd.DataFrame, x: str, y: str, title: str) -> bytes:
    fig, ax = _one(4.6, 3.6)
    pl.variant_effects(effects, ax, x=x, y=y, title=title)
    return _png(fig)
