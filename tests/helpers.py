"""Independent computations that tests compare geneqn's results with (no geneqn code inside)."""

import numpy as np
import pandas as pd


def ridge_test_r_by_formula(run_dir, cell_type: str) -> float:
    """Test Pearson r of ridge regression for one cell type of a run folder, from the closed form:
    features standardised with the training genes' mean and (population) sd, b = (X'X + aI)^-1 X'y
    on centred y, the intercept the training mean; alpha from np.logspace(-3, 4, 15) (the grid of
    RidgeRegressor) by the Pearson r on the valid genes (the first of equal ones)."""
    from pathlib import Path

    run_dir = Path(run_dir)
    t = pd.read_parquet(run_dir / "targets.parquet")
    y_all = t[t["cell_type"] == cell_type].set_index("gene")["g"]
    X_all = pd.read_parquet(run_dir / "features.parquet")
    split = pd.read_parquet(run_dir / "split.parquet")
    part = (split.set_index("gene") if "gene" in split.columns else split)["split"]
    X = {s: X_all.loc[part.index[part == s]].to_numpy(float) for s in ("train", "valid", "test")}
    y = {s: y_all.loc[part.index[part == s]].to_numpy(float) for s in ("train", "valid", "test")}
    mu, sd = X["train"].mean(0), X["train"].std(0)
    sd[sd == 0] = 1.0
    Z = {s: (v - mu) / sd for s, v in X.items()}
    yc = y["train"] - y["train"].mean()

    def predict(alpha, where):
        b = np.linalg.solve(Z["train"].T @ Z["train"] + alpha * np.eye(Z["train"].shape[1]), Z["train"].T @ yc)
        return Z[where] @ b + y["train"].mean()

    alphas = np.logspace(-3, 4, 15)
    valid_r = [np.corrcoef(predict(a, "valid"), y["valid"])[0, 1] for a in alphas]
    best = alphas[int(np.argmax(valid_r))]
    return float(np.corrcoef(predict(best, "test"), y["test"])[0, 1])


def demo_subset(path, n: int = 1500, keep_symbols=(), keep_genes=(), seed: int = 0):
    """A seeded subset of the demo's averaged expression: ``n`` genes that have a TSS in the demo
    bundle (among them the genes of ``keep_symbols`` and ``keep_genes``), with its n_cells row;
    written to ``path`` (parquet) and returned. Small runs of the whole pipeline take seconds on it."""
    from geneqn.features.demo import demo_path

    e = pd.read_parquet(demo_path("expression.parquet"))
    ids = set(pd.read_parquet(demo_path("tss.parquet"))["gene_id"].dropna())
    has_tss = e["gene"].isin(ids)
    kept = e[has_tss & (e["symbol"].isin(list(keep_symbols)) | e["gene"].isin(list(keep_genes)))]
    genes = e[has_tss & ~e.index.isin(kept.index)].sample(n - len(kept), random_state=seed)
    pd.concat([e[e["gene"] == "n_cells"], kept, genes]).reset_index(drop=True).to_parquet(path)
    return path
