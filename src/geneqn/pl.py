"""Plots of geneqn's results, scanpy-style: each draws on a matplotlib Axes (``ax``; the current
one when None) and returns it. Nothing here, or anywhere in geneqn, changes matplotlib's backend,
so ``plt.show()`` in a notebook works as usual. The report's figures are these functions.

>>> import matplotlib.pyplot as plt                                      # doctest: +SKIP
>>> r = geneqn.load_run("geneqn-run")                                    # doctest: +SKIP
>>> fig, axes = plt.subplots(1, 2)                                       # doctest: +SKIP
>>> geneqn.pl.pareto(r.results["cells"][ct]["direct_sr"]["front"], r.tables["table2"], ax=axes[0])  # doctest: +SKIP
>>> geneqn.pl.stability(r.results["cells"][ct]["stability"], ax=axes[1])  # doctest: +SKIP
"""

from __future__ import annotations

import numpy as np
import pandas as pd

NOT_EXPRESSED = -1 + 1e-9


def _ax(ax):
    if ax is None:
        import matplotlib.pyplot as plt

        ax = plt.gca()
    return ax


def predicted_vs_measured(y, yhat, ax=None, *, symbols=None, markers=(), title: str | None = None):
    """Predicted against measured g; genes not expressed in the cell type (g = -1) in grey,
    ``markers`` (gene symbols, looked up in ``symbols``) labelled in red; the title gives r."""
    ax = _ax(ax)
    y = np.asarray(y, dtype=float)
    yhat = np.asarray(yhat, dtype=float)
    off = y <= NOT_EXPRESSED
    r = np.corrcoef(y, yhat)[0, 1] if np.std(yhat) > 0 else 0.0
    ax.scatter(y[~off], yhat[~off], s=3, alpha=0.25, color="#1f77b4", rasterized=True, label="expressed")
    ax.scatter(y[off], yhat[off], s=3, alpha=0.25, color="#999999", rasterized=True,
               label=f"not expressed (g = -1, {off.mean():.0%})")
    ax.plot([-1.05, 1.05], [-1.05, 1.05], color="black", lw=0.6)
    sym = None if symbols is None else np.asarray(symbols, dtype=object)
    for m in markers:
        hit = [] if sym is None else np.flatnonzero(sym == m)
        if len(hit):
            i = hit[0]
            ax.scatter([y[i]], [yhat[i]], s=18, color="#d62728", zorder=3)
            ax.annotate(m, (y[i], yhat[i]), fontsize=7, color="#d62728", xytext=(3, 3), textcoords="offset points")
    ax.set_title(f"{title + '  ' if title else ''}r = {r:.3f}", fontsize=9)
    ax.set_xlabel("measured g", fontsize=8)
    ax.set_ylabel("predicted g", fontsize=8)
    ax.tick_params(labelsize=7)
    return ax


def pareto(front, sweep: pd.DataFrame | None = None, chosen_direct: int | None = None, ax=None, *,
           chosen_limit: str | None = None, title: str | None = None):
    """Test r against complexity: a direct-SR Pareto front (a list of {complexity, test_r} or a
    DataFrame with those columns) and the genomic equations of the complexity sweep (Table 2's
    rows: complexity, test_r, latent_limit, and knee when present). Circled: the chosen direct-SR
    row (``chosen_direct``: its complexity) and the sweep row of ``chosen_limit`` (the
    distillation's rule: validation when the sweep has it, else accuracy); a star: the knee."""
    ax = _ax(ax)
    front = pd.DataFrame(front) if front is not None else pd.DataFrame(columns=["complexity", "test_r"])
    if len(front):
        ax.plot(front["complexity"], front["test_r"], "o-", ms=3, lw=1, color="#ff7f0e", label="direct SR (Pareto front)")
        pick = front[front["complexity"] == chosen_direct]
        if len(pick):
            ax.scatter(pick["complexity"].iloc[:1], pick["test_r"].iloc[:1], s=110, facecolors="none",
                       edgecolors="#ff7f0e", lw=1.5, label="SR: chosen")
    if sweep is not None and len(sweep):
        ax.scatter(sweep["complexity"], sweep["test_r"], s=18, color="#2ca02c", zorder=3,
                   label="SR(NAS|NN): per-latent limits (Table 2)")
        for _, row in sweep.iterrows():
            ax.annotate(str(row["latent_limit"]), (row["complexity"], row["test_r"]), fontsize=6,
                        xytext=(3, -8), textcoords="offset points", color="#2ca02c")
        limits = set(sweep["latent_limit"].astype(str))
        chosen_limit = chosen_limit or ("validation" if "validation" in limits else "accuracy")
        acc = sweep[sweep["latent_limit"].astype(str) == chosen_limit]
        if len(acc):
            ax.scatter(acc["complexity"], acc["test_r"], s=110, facecolors="none", edgecolors="#2ca02c", lw=1.5,
                       label=f"SR(NAS|NN): chosen ({chosen_limit})")
        if "knee" in sweep:
            knee = sweep[sweep["knee"].astype(bool)]
            if len(knee):
                ax.scatter(knee["complexity"], knee["test_r"], s=90, marker="*", color="#9467bd", zorder=4,
                           label="SR(NAS|NN): knee (on valid r)")
    ax.set_xscale("symlog", linthresh=30)
    ax.set_xlabel("complexity (PySR's count, composed equation)")
    ax.set_ylabel("test Pearson r")
    if title:
        ax.set_title(title, fontsize=9)
    ax.legend(fontsize=6, loc="lower right")
    ax.grid(alpha=0.3)
    return ax


def search_history(history, ax=None, *, title: str | None = None):
    """Valid r of each finished trial of an architecture search, in order, with the best so far."""
    ax = _ax(ax)
    v = np.array([np.nan if h is None else h for h in history], dtype=float)
    x = np.arange(1, len(v) + 1)
    ax.scatter(x, v, s=10, color="#1f77b4", label="trial")
    best = np.fmax.accumulate(np.where(np.isfinite(v), v, -np.inf)) if len(v) else v
    ax.step(x, np.where(np.isfinite(best), best, np.nan), where="post", color="#d62728", lw=1, label="best so far")
    ax.set_xlabel("trial")
    ax.set_ylabel("valid Pearson r")
    if title:
        ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7, loc="lower right")
    ax.grid(alpha=0.3)
    return ax


def effects_table(eff: pd.DataFrame, top: int = 10) -> pd.DataFrame:
    """feature x model effects (effects.csv rows of one cell type), the ``top`` largest, smallest first."""
    e = eff.pivot_table(index="feature", columns="model", values="effect", aggfunc="first").fillna(0.0)
    keep = e.abs().max(axis=1).sort_values(ascending=False).index[:top]
    return e.loc[keep[::-1]]


def effects(eff: pd.DataFrame, ax=None, *, top: int = 10, title: str | None = None):
    """Change in predicted g when one feature goes from its 10th to 90th percentile (others at
    their median; :func:`geneqn.study.effects`): the equation beside ridge, for the ``top``
    features that matter most to either. ``eff``: rows feature, model, effect."""
    ax = _ax(ax)
    e = effects_table(eff, top)
    ypos = np.arange(len(e))
    colors = {"SR(NAS|NN)": "#2ca02c", "Ridge": "#7f7f7f"}
    models = [m for m in e.columns if m in colors] + [m for m in e.columns if m not in colors]
    width = 0.76 / max(len(models), 1)
    for k, model in enumerate(models):
        ax.barh(ypos + 0.38 - width * (k + 0.5), e[model], height=width * 0.95, color=colors.get(model), label=model)
    ax.set_yticks(ypos, e.index, fontsize=7)
    ax.axvline(0, color="black", lw=0.6)
    ax.set_xlabel("change in predicted g (10th -> 90th percentile)", fontsize=8)
    if title:
        ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7)
    return ax


def stability(st, ax=None, *, top: int = 15, title: str | None = None):
    """How often each feature appears over the stability refits (``results.json``'s
    ``cells[ct]["stability"]``, ``GenomicEquationDistiller.stability_``, or a DataFrame with
    columns term and frequency); the features of the chosen equation dark, the core-share line
    (80%) dashed."""
    ax = _ax(ax)
    if isinstance(st, pd.DataFrame):
        freq, chosen, line = st.set_index("term")["frequency"], set(), 0.8
    else:
        freq = pd.Series(st["features"], dtype=float)
        chosen, line = set(st["headline"]["features"]), float(st.get("core_share", 0.8))
    freq = freq.sort_values(ascending=False, kind="stable").iloc[:top][::-1]
    ypos = np.arange(len(freq))
    ax.barh(ypos, freq.to_numpy(), color=["#00441b" if f in chosen else "#a1d99b" for f in freq.index])
    ax.axvline(line, color="#d62728", lw=0.8, ls="--", label=f"{line:.0%} of refits")
    ax.set_yticks(ypos, freq.index, fontsize=7)
    ax.set_xlim(0, 1.02)
    ax.set_xlabel("share of refits using it", fontsize=8)
    if title:
        ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7, loc="lower right")
    return ax


def subsets(subsets: pd.DataFrame, test: dict | None = None, ax=None, *, title: str | None = None):
    """Measured g of the nonlinear and linear gene subsets (subsets.csv rows of one cell type)."""
    ax = _ax(ax)
    data = [subsets.loc[subsets.subset == s, "g"].to_numpy() for s in ("nonlinear", "linear")]
    ax.boxplot(data)
    ax.set_xticks([1, 2], [f"nonlinear\n(equation, n={len(data[0])})", f"linear\n(ridge, n={len(data[1])})"])
    ax.set_ylabel("measured g")
    p = (test or {}).get("p")
    text = title or ""
    if p is not None and p == p:
        text = f"{text}\nt = {test.get('t', float('nan')):.2f}, p = {p:.3g}".strip()
    ax.set_title(text, fontsize=9)
    return ax


def residuals(residuals: pd.DataFrame, ax=None, *, title: str | None = None):
    """Mean residuals per expression bin (residuals.csv rows of one cell type; tested bins);
    * marks FDR q < 0.05."""
    ax = _ax(ax)
    r = residuals[residuals["tested"].astype(bool)]
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
    ax.set_title((title or "") + " (* paired t-test of |residual|, FDR q < 0.05)", fontsize=9)
    ax.legend(fontsize=7)
    return ax


def features_used(used: pd.DataFrame, feature_order: list[str], cell_types: list[str], ax=None):
    """Which features each cell type's genomic equation (and direct SR) uses (features_used.csv)."""
    import matplotlib.colors
    from matplotlib.patches import Patch

    ax = _ax(ax)
    labels = [f for f in feature_order if f in set(used.feature)] or feature_order[:1]
    M = np.zeros((len(labels), len(cell_types)))
    for j, ct in enumerate(cell_types):
        eq = set(used.loc[(used.cell_type == ct) & (used.model == "SR(NAS|NN)"), "feature"])
        direct = set(used.loc[(used.cell_type == ct) & (used.model == "SR"), "feature"])
        for i, lab in enumerate(labels):
            M[i, j] = 2 if lab in eq and lab in direct else 1 if lab in eq else 0.5 if lab in direct else 0
    cmap = matplotlib.colors.ListedColormap(["#ffffff", "#c7e9c0", "#41ab5d", "#00441b"])
    norm = matplotlib.colors.BoundaryNorm([-0.1, 0.25, 0.75, 1.5, 2.5], cmap.N)
    ax.imshow(M, cmap=cmap, norm=norm, aspect="auto")
    ax.set_yticks(range(len(labels)), labels, fontsize=7)
    ax.set_xticks(range(len(cell_types)), cell_types, rotation=30, ha="right", fontsize=7)
    ax.legend(handles=[Patch(color="#c7e9c0", label="direct SR only"), Patch(color="#41ab5d", label="SR(NAS|NN) only"),
                       Patch(color="#00441b", label="both")], fontsize=6, loc="upper left",
              bbox_to_anchor=(1.01, 1.0))
    ax.set_title("features used by each equation", fontsize=9)
    return ax


def variant_waterfall(attributions: pd.DataFrame, g_ref: float | None = None, ax=None, *, top: int = 8,
                      title: str | None = None):
    """One variant's change of g split into its terms (:func:`geneqn.variant_effects`'s
    ``attributions`` rows of one variant, gene and cell type, kind ``feature``): bars from the
    reference's g (``g_ref``, or 0) to the alternative's, the ``top`` largest shares by size and
    the rest as one bar; rises green, falls red, the total dark."""
    ax = _ax(ax)
    a = attributions[attributions["kind"] == "feature"] if "kind" in attributions else attributions
    a = a[a["share"] != 0]  # features the variant does not move
    a = a.assign(_abs=a["share"].abs()).sort_values("_abs", ascending=False, kind="stable")
    head, rest = a.iloc[:top], a.iloc[top:]
    labels = head["term"].astype(str).tolist() + (["other terms"] if len(rest) else [])
    values = head["share"].tolist() + ([float(rest["share"].sum())] if len(rest) else [])
    start = 0.0 if g_ref is None else float(g_ref)
    level, levels = start, [start]
    for i, v in enumerate(values):
        ax.bar(i, v, bottom=level, color="#2ca02c" if v >= 0 else "#d62728", width=0.7)
        level += v
        levels.append(level)
    total = level - start
    ax.bar(len(values), total, bottom=start, color="#333333", width=0.7)
    lo, hi = min(levels), max(levels)
    pad = 0.08 * (hi - lo) if hi > lo else 0.05 * max(abs(start), 1e-3)
    ax.set_ylim(lo - pad, hi + pad)  # bars drawn from a bottom other than 0 are not autoscaled
    ax.axhline(start, color="black", lw=0.6, ls=":")
    ax.set_xticks(range(len(values) + 1), labels + ["change of g"], rotation=45, ha="right", fontsize=7)
    ax.set_ylabel("g (from the reference allele)" if g_ref is not None else "share of the change of g", fontsize=8)
    ax.tick_params(axis="y", labelsize=7)
    if title:
        ax.set_title(title, fontsize=9)
    return ax


def variant_effects(effects: pd.DataFrame, ax=None, *, x: str = "delta_ridge", y: str = "delta_sr",
                    label: int = 5, title: str | None = None):
    """Each (variant, gene) pair's change of g through two models (columns ``x`` and ``y`` of
    :func:`geneqn.variant_effects`'s ``effects``, one cell type), the ``label`` largest by |y|
    named by variant id and gene symbol."""
    ax = _ax(ax)
    df = effects.dropna(subset=[x, y])
    ax.scatter(df[x], df[y], s=8, alpha=0.6, color="#1f77b4")
    ax.axhline(0, color="black", lw=0.5)
    ax.axvline(0, color="black", lw=0.5)
    for _, row in df.loc[df[y].abs().sort_values(ascending=False, kind="stable").index[:label]].iterrows():
        name = f"{row.get('id', row.get('variant', ''))} {row.get('symbol') or row.get('gene', '')}"
        ax.annotate(name, (row[x], row[y]), fontsize=6, xytext=(3, 3), textcoords="offset points")
    names = {"delta_sr": "SR(NAS|NN)", "delta_core": "stable core", "delta_nas": "NAS|NN", "delta_ridge": "Ridge",
             "delta_expectosc": "ExPectoSC"}
    ax.set_xlabel(f"change of g, {names.get(x, x)}", fontsize=8)
    ax.set_ylabel(f"change of g, {names.get(y, y)}", fontsize=8)
    ax.tick_params(labelsize=7)
    if title:
        ax.set_title(title, fontsize=9)
    return ax
