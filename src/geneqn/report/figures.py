"""The report's figures, as PNG bytes (matplotlib, Agg backend; no display needed)."""

from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()


def scatter_grid(preds: dict[str, pd.DataFrame], title: str) -> bytes:
    """Predicted vs measured expression (test genes), one panel per model."""
    n = len(preds)
    cols = min(4, n)
    rows = int(np.ceil(n / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 3.0 * rows), squeeze=False)
    for ax, (name, d) in zip(axes.ravel(), preds.items()):
        r = np.corrcoef(d["y"], d["yhat"])[0, 1] if d["yhat"].std() > 0 else 0.0
        ax.scatter(d["y"], d["yhat"], s=3, alpha=0.3, color="#1f77b4", rasterized=True)
        lo, hi = float(d["y"].min()), float(d["y"].max())
        ax.plot([lo, hi], [lo, hi], color="grey", lw=0.8)
        ax.set_title(f"{name} (r = {r:.3f})", fontsize=9)
        ax.set_xlabel("measured g", fontsize=8)
        ax.set_ylabel("predicted g", fontsize=8)
        ax.tick_params(labelsize=7)
    for ax in axes.ravel()[n:]:
        ax.axis("off")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return _png(fig)


def subset_boxplot(subsets: pd.DataFrame, test: dict, title: str) -> bytes:
    fig, ax = plt.subplots(figsize=(4.2, 3.4))
    data = [subsets.loc[subsets.subset == s, "g"].to_numpy() for s in ("nonlinear", "linear")]
    ax.boxplot(data)
    ax.set_xticks([1, 2], [f"nonlinear\n(equation, n={len(data[0])})", f"linear\n(ridge, n={len(data[1])})"])
    ax.set_ylabel("measured expression g")
    ax.set_title(f"{title}\nt = {test['t']:.2f}, p = {test['p']:.3g}", fontsize=9)
    return _png(fig)


def residual_plot(residuals: pd.DataFrame, title: str) -> bytes:
    fig, ax = plt.subplots(figsize=(6.0, 3.4))
    x = np.arange(len(residuals))
    ax.bar(x - 0.2, residuals["mean_residual_ridge"], width=0.4, label="Ridge")
    ax.bar(x + 0.2, residuals["mean_residual_equation"], width=0.4, label="SR(NAS|NN)")
    for i, row in enumerate(residuals.itertuples()):
        if np.isfinite(row.p) and row.p < 0.05:
            ax.text(i, max(row.mean_residual_ridge, row.mean_residual_equation), "*", ha="center")
    ax.axhline(0, color="grey", lw=0.8)
    ax.set_xticks(x, residuals["bin"], rotation=45, fontsize=7)
    ax.set_xlabel("measured expression bin (width 0.2)")
    ax.set_ylabel("mean residual (measured - predicted)")
    ax.set_title(title + " (* paired t-test of |residual|, p < 0.05)", fontsize=9)
    ax.legend(fontsize=8)
    return _png(fig)


def class_heatmap(classes: pd.DataFrame, feature_order: list[str], cell_types: list[str]) -> bytes:
    """Which features (sequence classes) each cell type's equation uses."""
    used = classes[classes.model == "SR(NAS|NN)"]
    labels = [f for f in feature_order if f in set(used.label)] or feature_order[:1]
    M = np.zeros((len(labels), len(cell_types)))
    for j, ct in enumerate(cell_types):
        s = set(used.loc[used.cell_type == ct, "label"])
        for i, lab in enumerate(labels):
            M[i, j] = lab in s
    fig, ax = plt.subplots(figsize=(1.0 + 0.9 * len(cell_types), 0.8 + 0.28 * len(labels)))
    ax.imshow(M, cmap="Blues", vmin=0, vmax=1, aspect="auto")
    ax.set_yticks(range(len(labels)), labels, fontsize=8)
    ax.set_xticks(range(len(cell_types)), cell_types, rotation=45, ha="right", fontsize=8)
    ax.set_title("features used by each genomic equation", fontsize=9)
    return _png(fig)
