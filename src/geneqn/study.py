"""The paper's tables and analyses, as pure functions over DataFrames (no files, no config).

A notebook user can call each on predictions they made themselves: a predictions frame has
columns ``gene``, ``cell_type``, ``y`` (measured g) and ``yhat`` (a model's prediction).

* :func:`table1` - every model on the test genes: Pearson r, Spearman r and MSE with 95%
  bootstrap intervals (the paper's Tables 1 and 3 are its rows).
* :func:`table3` - Pearson r of every cell type x model.
* :func:`compare` - each model against a reference (SR(NAS|NN)): paired bootstrap difference.
* :func:`subsets` - the linear / nonlinear gene subsets of section 4.3 and their t-test.
* :func:`residual_bins` - residuals binned by expression, paired tests with FDR q-values.
* :func:`effects` - what drives an equation: each feature moved from its 10th to 90th percentile.
"""

from __future__ import annotations

from typing import Callable, Mapping

import numpy as np
import pandas as pd

from geneqn import metrics, numeric

# (name, explainable): the paper's Table 1 rows, in its order
MODELS = [("ExPectoSC", True), ("Ridge", True), ("SR", True), ("NN", False), ("NAS|SR", False), ("NAS|NN", False),
          ("SR(NAS|SR)", True), ("SR(NAS|NN)", True)]
REFERENCE = "SR(NAS|NN)"


def long_predictions(wide: pd.DataFrame, split: str | None = "test") -> dict[str, pd.DataFrame]:
    """{model: gene, cell_type, y, yhat} from a wide table like a run's ``predictions.csv``
    (gene, cell_type, measured_g, one column per model; with a ``split`` column, only the rows of
    ``split``: Table 1 is on the test genes; None keeps every row)."""
    need = {"gene", "cell_type", "measured_g"}
    if not need <= set(wide.columns):
        raise ValueError(f"a wide predictions table needs the columns {sorted(need)}; it has {list(wide.columns)}")
    if split is not None and "split" in wide:
        wide = wide[wide["split"] == split]
    models = [c for c in wide.columns if c not in need | {"symbol", "split"}]
    return {m: pd.DataFrame({"gene": wide["gene"].to_numpy(), "cell_type": wide["cell_type"].to_numpy(),
                             "y": wide["measured_g"].to_numpy(dtype=float), "yhat": wide[m].to_numpy(dtype=float)})
            for m in models}


def _per_cell_type(predictions):
    if isinstance(predictions, pd.DataFrame):
        predictions = long_predictions(predictions)
    cell_types = list(dict.fromkeys(ct for df in predictions.values() for ct in df["cell_type"]))
    for ct in cell_types:
        yield ct, {name: df[df["cell_type"] == ct].set_index("gene") for name, df in predictions.items()
                   if (df["cell_type"] == ct).any()}


def table1(predictions: Mapping[str, pd.DataFrame], explainable: Mapping[str, bool] | None = None,
           seed: int = 0, n_boot: int = 1000) -> pd.DataFrame:
    """One row per (cell type, model): pearson_r, spearman_r and mse, each with a 95% percentile
    bootstrap interval over genes (``*_ci_low``, ``*_ci_high``), and n_genes. ``predictions``:
    {model: DataFrame of gene, cell_type, y, yhat}, or a wide table like ``predictions.csv``
    (its test rows; :func:`long_predictions`)."""
    explainable = dict(explainable or dict(MODELS))
    rows = []
    for ct, per in _per_cell_type(predictions):
        for name, d in per.items():
            sc = metrics.score_predictions(d["y"].to_numpy(), d["yhat"].to_numpy(), n_boot=n_boot, seed=seed)
            rows.append({"cell_type": ct, "model": name, "explainable": bool(explainable.get(name, False)),
                         "pearson_r": sc["pearson_r"], "pearson_r_ci_low": sc["pearson_r_ci"][0],
                         "pearson_r_ci_high": sc["pearson_r_ci"][1], "spearman_r": sc["spearman_r"],
                         "spearman_r_ci_low": sc["spearman_r_ci"][0], "spearman_r_ci_high": sc["spearman_r_ci"][1],
                         "mse": sc["mse"], "mse_ci_low": sc["mse_ci"][0], "mse_ci_high": sc["mse_ci"][1],
                         "n_genes": sc["n_genes"]})
    return pd.DataFrame(rows)


def table3(t1: pd.DataFrame, models: list[str] | None = None) -> pd.DataFrame:
    """Pearson r of every cell type (rows) x model (columns), from :func:`table1`."""
    cell_types = list(dict.fromkeys(t1["cell_type"]))
    models = [m for m in (models or [m for m, _ in MODELS]) if m in set(t1["model"])]
    return t1.pivot(index="cell_type", columns="model", values="pearson_r").loc[cell_types, models]


def compare(predictions: Mapping[str, pd.DataFrame], reference: str = REFERENCE, seed: int = 0,
            n_boot: int = 1000) -> pd.DataFrame:
    """Each model against ``reference`` on the same genes: difference in Pearson r (model -
    reference) with a paired bootstrap 95% interval and p-value, per cell type."""
    rows = []
    for ct, per in _per_cell_type(predictions):
        if reference not in per:
            continue
        ref = per[reference]
        for name, d in per.items():
            if name == reference:
                continue
            genes = ref.index.intersection(d.index)
            res = metrics.paired_bootstrap_difference(ref.loc[genes, "y"].to_numpy(), d.loc[genes, "yhat"].to_numpy(),
                                                      ref.loc[genes, "yhat"].to_numpy(), n_boot=n_boot, seed=seed)
            rows.append({"cell_type": ct, "model": name, "reference": reference, "difference": res["difference"],
                         "ci_low": res["ci"][0], "ci_high": res["ci"][1], "p": res["p"], "n_genes": res["n_genes"]})
    return pd.DataFrame(rows, columns=["cell_type", "model", "reference", "difference", "ci_low", "ci_high", "p",
                                       "n_genes"])


def subsets(y: pd.Series, equation: pd.Series, ridge: pd.Series, symbols: Mapping[str, str] | None = None,
            low: float = 25, high: float = 50) -> tuple[pd.DataFrame, dict]:
    """The paper's gene subsets (4.3): nonlinear = the equation's absolute error below its 25th
    percentile while ridge's is above its median; linear = the reverse. Series indexed by gene.

    Returns (a table gene, symbol, subset, g; the two-sample t-test of their mean g)."""
    genes = y.index
    sub = metrics.gene_subsets(genes, y.to_numpy(), equation.loc[genes].to_numpy(), ridge.loc[genes].to_numpy(), low, high)
    symbols = symbols or {}
    rows = [{"gene": g, "symbol": symbols.get(g), "subset": label, "g": float(y.loc[g])}
            for label, key in (("nonlinear", "a_only"), ("linear", "b_only")) for g in sub[key]]
    table = pd.DataFrame(rows, columns=["gene", "symbol", "subset", "g"])
    test = metrics.t_test(y.loc[sub["a_only"]], y.loc[sub["b_only"]])
    return table, test


def residual_bins(y, ridge, equation, width: float = 0.2, min_genes: int = 10) -> pd.DataFrame:
    """Residuals (measured - predicted) of ridge and the equation binned by measured g; per bin
    the mean residuals and a paired t-test of the absolute residuals, with Benjamini-Hochberg q
    over the bins tested. Bins with fewer than ``min_genes`` genes are kept but not tested
    (``tested`` False)."""
    rows = metrics.binned_residuals(np.asarray(y), np.asarray(ridge), np.asarray(equation), width)
    t = pd.DataFrame(rows).rename(columns={"mean_residual_a": "mean_residual_ridge",
                                           "mean_residual_b": "mean_residual_equation"})
    t["tested"] = t["n"] >= min_genes
    t.loc[~t["tested"], ["t", "p"]] = np.nan
    t["q"] = metrics.fdr_bh(t["p"].to_numpy())
    return t


def effects(predict: Callable[[pd.DataFrame], np.ndarray], X: pd.DataFrame, features: list[str] | None = None,
            low: float = 10, high: float = 90) -> pd.DataFrame:
    """What drives a model: the change in its prediction when one feature moves from its
    ``low``th to its ``high``th percentile over X, every other feature at its median.

    ``predict`` maps a DataFrame with X's columns to predictions. Returns feature, low, high,
    effect (prediction at high - at low), sorted by |effect|."""
    features = list(features or X.columns)
    base = X.median(axis=0)
    lo = X.quantile(low / 100)
    hi = X.quantile(high / 100)
    rows = []
    for f in features:
        pair = pd.DataFrame([base, base]).reset_index(drop=True)
        pair.loc[0, f] = lo[f]
        pair.loc[1, f] = hi[f]
        with np.errstate(all="ignore"):
            p = np.asarray(predict(pair[X.columns]), dtype=np.float64)
        rows.append({"feature": f, "low": float(lo[f]), "high": float(hi[f]), "effect": float(p[1] - p[0])})
    t = pd.DataFrame(rows, columns=["feature", "low", "high", "effect"])
    return t.reindex(t["effect"].abs().sort_values(ascending=False).index).reset_index(drop=True)


NOT_EXPRESSED = -1 + 1e-9  # g of a gene with zero mean expression (scaled to -1)


def cell_type_analyses(predictions: Mapping[str, pd.DataFrame], X: pd.DataFrame, equation,
                       ridge_coef: Mapping[str, float], symbols: Mapping[str, str] | None = None) -> dict:
    """The analyses of one cell type beside Table 1: ``predictions`` {model: frame of gene, y,
    yhat} on the test genes (Ridge and SR(NAS|NN) needed), ``X`` the training features (effects
    are measured over them), ``equation`` the GenomicEquation, ``ridge_coef`` feature -> coefficient.

    Returns ``subsets`` (:func:`subsets`), ``t_test_g`` (their mean g compared),
    ``subset_counts`` (nonlinear, linear, and of each how many are not expressed),
    ``residuals`` (:func:`residual_bins`), ``effects`` (:func:`effects` of the equation and of
    ridge, column ``model``) and ``test_not_expressed`` (n, share of the test genes at g = -1)."""
    per = {name: df.set_index("gene") if "gene" in df else df for name, df in predictions.items()}
    ridge, eq_pred = per["Ridge"], per["SR(NAS|NN)"]
    y = ridge["y"]
    sub, test = subsets(y, eq_pred["yhat"], ridge["yhat"], symbols)
    res = residual_bins(y.to_numpy(), ridge.loc[y.index, "yhat"].to_numpy(), eq_pred.loc[y.index, "yhat"].to_numpy())
    coef = pd.Series(dict(ridge_coef))
    eff = pd.concat([effects(equation.predict, X).assign(model="SR(NAS|NN)"),
                     # ridge's prediction as row sums, not BLAS: the same bits on any CPU
                     effects(lambda d: numeric.row_dots(np.ascontiguousarray(d.to_numpy(dtype=np.float64)),
                                                        coef.loc[d.columns].to_numpy(dtype=np.float64)),
                             X).assign(model="Ridge")])
    low = sub["g"] <= NOT_EXPRESSED
    counts = {"nonlinear": int((sub["subset"] == "nonlinear").sum()), "linear": int((sub["subset"] == "linear").sum()),
              "not_expressed_nonlinear": int(((sub["subset"] == "nonlinear") & low).sum()),
              "not_expressed_linear": int(((sub["subset"] == "linear") & low).sum())}
    return {"subsets": sub, "t_test_g": test, "subset_counts": counts, "residuals": res, "effects": eff,
            "test_not_expressed": {"n": int((y <= NOT_EXPRESSED).sum()), "share": float((y <= NOT_EXPRESSED).mean())}}


def not_expressed(targets: pd.DataFrame) -> pd.DataFrame:
    """Per cell type: genes with zero mean expression (they all sit at g = -1) and their share."""
    z = targets.assign(zero=targets["g0"] <= 0).groupby("cell_type", sort=False)["zero"].agg(["sum", "mean"])
    return z.rename(columns={"sum": "n_not_expressed", "mean": "share"}).reset_index()
