"""The report's figures, as PNG bytes (matplotlib, Agg backend; no display needed)."""

from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

NOT_EXPRESSED = -1 + 1e-9


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()


def scatter_row(df: pd.DataFrame, models: list[str], title: str, markers: list[str]) -> bytes:
    """Predicted vs measured g on the test genes, one panel per model; genes not expressed in
    the cell type (g = -1) in grey, marker genes labelled."""
    n = len(models)
    fig, axes = plt.subplots(1, n, figsize=(2.9 * n, 2.9), squeeze=False)
    y = df["measured_g"].to_numpy()
    off = y <= NOT_EXPRESSED
    for ax, name in zip(axes[0], models):
        yhat = df[name].to_numpy()
        r = np.corrcoef(y, yhat)[0, 1] if np.std(yhat) > 0 else 0.0
        ax.scatter(y[~off], yhat[~off], s=3, alpha=0.25, color="#1f77b4", rasterized=True, label="expressed")
        ax.scatter(y[off], yhat[off], s=3, alpha=0.25, color="#999999", rasterized=True,
                   label=f"not expressed (g = -1, {off.mean():.0%})")
        lo, hi = -1.05, 1.05
        ax.plot([lo, hi], [lo, hi], color="black", lw=0.6)
        for m in markers:
            hit = df.index[df["symbol"] == m]
            if len(hit):
                i = hit[0]
                ax.scatter([df.at[i, "measured_g"]], [df.at[i, name]], s=18, color="#d62728", zorder=3)
                ax.annotate(m, (df.at[i, "measured_g"], df.at[i, name]), fontsize=7, color="#d62728",
                            xytext=(3, 3), textcoords="offset points")
        ax.set_title(f"{name}  r = {r:.3f}", fontsize=9)
        ax.set_xlabel("measured g", fontsize=8)
        ax.tick_params(labelsize=7)
    axes[0][0].set_ylabel("predicted g", fontsize=8)
    axes[0][0].legend(fontsize=6, loc="upper left", markerscale=3)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return _png(fig)


def pareto(front: list[dict], sweep: pd.DataFrame, chosen_direct: int, title: str) -> bytes:
    """Test r against complexity: the direct-SR Pareto front and the genomic equations of the
    complexity sweep (composed complexity); the chosen equations are circled."""
    fig, ax = plt.subplots(figsize=(5.2, 3.4))
    if front:
        c = [p["complexity"] for p in front]
        r = [p["test_r"] for p in front]
        ax.plot(c, r, "o-", ms=3, lw=1, color="#ff7f0e", label="direct SR (Pareto front)")
        pick = [p for p in front if p["complexity"] == chosen_direct]
        if pick:
            ax.scatter([pick[0]["complexity"]], [pick[0]["test_r"]], s=110, facecolors="none", edgecolors="#ff7f0e",
                       lw=1.5, label="SR: chosen")
    if len(sweep):
        ax.scatter(sweep["complexity"], sweep["test_r"], s=18, color="#2ca02c", zorder=3,
                   label="SR(NAS|NN): per-latent limits (Table 2)")
        for _, row in sweep.iterrows():
            ax.annotate(str(row["latent_limit"]), (row["complexity"], row["test_r"]), fontsize=6,
                        xytext=(3, -8), textcoords="offset points", color="#2ca02c")
        acc = sweep[sweep["latent_limit"] == "accuracy"]
        if len(acc):
            ax.scatter(acc["complexity"], acc["test_r"], s=110, facecolors="none", edgecolors="#2ca02c", lw=1.5,
                       label="SR(NAS|NN): chosen (accuracy)")
    ax.set_xscale("symlog", linthresh=30)
    ax.set_xlabel("complexity (PySR's count, composed equation)")
    ax.set_ylabel("test Pearson r")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=6, loc="lower right")
    ax.grid(alpha=0.3)
    return _png(fig)


def search_history(history: list, title: str) -> bytes:
    """Valid r of each finished trial, in order, with the best so far."""
    fig, ax = plt.subplots(figsize=(5.2, 2.8))
    v = np.array([np.nan if h is None else h for h in history], dtype=float)
    x = np.arange(1, len(v) + 1)
    ax.scatter(x, v, s=10, color="#1f77b4", label="trial")
    best = np.fmax.accumulate(np.where(np.isfinite(v), v, -np.inf))
    ax.step(x, np.where(np.isfinite(best), best, np.nan), where="post", color="#d62728", lw=1, label="best so far")
    ax.set_xlabel("trial")
    ax.set_ylabel("valid Pearson r")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7, loc="lower right")
    ax.grid(alpha=0.3)
    return _png(fig)


def effects(eff: pd.DataFrame, title: str, top: int = 10) -> bytes:
    """Change in predicted g when one feature goes from its 10th to 90th percentile (others at
    their median): the equation beside ridge, for the features that matter most to either."""
    e = eff.pivot_table(index="feature", columns="model", values="effect", aggfunc="first").fillna(0.0)
    keep = e.abs().max(axis=1).sort_values(ascending=False).index[:top]
    e = e.loc[keep[::-1]]
    fig, ax = plt.subplots(figsize=(5.2, 0.4 + 0.3 * len(e)))
    ypos = np.arange(len(e))
    colors = {"SR(NAS|NN)": "#2ca02c", "Ridge": "#7f7f7f"}
    for k, model in enumerate([m for m in ("SR(NAS|NN)", "Ridge") if m in e.columns]):
        ax.barh(ypos + (0.2 if k == 0 else -0.2), e[model], height=0.38, color=colors[model], label=model)
    ax.set_yticks(ypos, e.index, fontsize=7)
    ax.axvline(0, color="black", lw=0.6)
    ax.set_xlabel("change in predicted g (10th -> 90th percentile)", fontsize=8)
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7)
    return _png(fig)


def subset_boxplot(subsets: pd.DataFrame, test: dict, title: str) -> bytes:
    fig, ax = plt.subplots(figsize=(4.2, 3.2))
    data = [subsets.loc[subsets.subset == s, "g"].to_numpy() for s in ("nonlinear", "linear")]
    ax.boxplot(data)
    ax.set_xticks([1, 2], [f"nonlinear\n(equation, n={len(data[0])})", f"linear\n(ridge, n={len(data[1])})"])
    ax.set_ylabel("measured g")
    p = test.get("p")
    ax.set_title(f"{title}\nt = {test.get('t', float('nan')):.2f}, p = {p:.3g}" if p == p else title, fontsize=9)
    return _png(fig)


def residual_plot(residuals: pd.DataFrame, title: str) -> bytes:
    """Mean residuals per expression bin (bins with enough genes to test); * marks FDR q < 0.05."""
    r = residuals[residuals["tested"]]
    fig, ax = plt.subplots(figsize=(5.6, 3.0))
    x = np.arange(len(r))
    ax.bar(x - 0.2, r["mean_residual_ridge"], width=0.4, label="Ridge", color="#7f7f7f")
    ax.bar(x + 0.2, r["mean_residual_equation"], width=0.4, label="SR(NAS|NN)", color="#2ca02c")
    for i, row in enumerate(r.itertuples()):
        if np.isfinite(row.q) and row.q < 0.05:
            ax.text(i, max(row.mean_residual_ridge, row.mean_residual_equation), "*", ha="center")
    ax.axhline(0, color="black", lw=0.6)
    ax.set_xticks(x, [f"{b}\nn={n}" for b, n in zip(r["bin"], r["n"])], fontsize=6)
    ax.set_xlabel("measured g bin (width 0.2; bins with >= 10 genes)", fontsize=8)
    ax.set_ylabel("mean residual\n(measured - predicted)", fontsize=8)
    ax.set_title(title + " (* paired t-test of |residual|, FDR q < 0.05)", fontsize=9)
    ax.legend(fontsize=7)
    return _png(fig)


def features_heatmap(used: pd.DataFrame, feature_order: list[str], cell_types: list[str]) -> bytes:
    """Which features each cell type's genomic equation (and direct SR) uses."""
    from matplotlib.patches import Patch

    labels = [f for f in feature_order if f in set(used.feature)] or feature_order[:1]
    M = np.zeros((len(labels), len(cell_types)))
    for j, ct in enumerate(cell_types):
        eq = set(used.loc[(used.cell_type == ct) & (used.model == "SR(NAS|NN)"), "feature"])
        direct = set(used.loc[(used.cell_type == ct) & (used.model == "SR"), "feature"])
        for i, lab in enumerate(labels):
            M[i, j] = 2 if lab in eq and lab in direct else 1 if lab in eq else 0.5 if lab in direct else 0
    fig, ax = plt.subplots(figsize=(1.6 + 1.0 * len(cell_types), 0.9 + 0.26 * len(labels)))
    cmap = matplotlib.colors.ListedColormap(["#ffffff", "#c7e9c0", "#41ab5d", "#00441b"])
    norm = matplotlib.colors.BoundaryNorm([-0.1, 0.25, 0.75, 1.5, 2.5], cmap.N)
    ax.imshow(M, cmap=cmap, norm=norm, aspect="auto")
    ax.set_yticks(range(len(labels)), labels, fontsize=7)
    ax.set_xticks(range(len(cell_types)), cell_types, rotation=30, ha="right", fontsize=7)
    ax.legend(handles=[Patch(color="#c7e9c0", label="direct SR only"), Patch(color="#41ab5d", label="SR(NAS|NN) only"),
                       Patch(color="#00441b", label="both")], fontsize=6, loc="upper left",
              bbox_to_anchor=(1.01, 1.0))
    ax.set_title("features used by each equation", fontsize=9)
    return _png(fig)
