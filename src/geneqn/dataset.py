"""Targets + features -> a dataset with one seeded gene split shared by every model of a run.

The split holds out ``test_fraction`` of the genes (paper: 20%) and then ``valid_fraction`` of
the rest (paper: 10%), i.e. 72/8/20 train/valid/test. It depends only on the sorted gene list and
the seed, and is saved (``split.parquet``) so that every model of a run sees the same genes.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from geneqn._io import read_parquet, write_parquet
from geneqn.errors import GeneqnError

log = logging.getLogger(__name__)

PARTS = ("train", "valid", "test")


def make_split(genes, seed: int = 0, test_fraction: float = 0.2,
               valid_fraction: float = 0.1) -> pd.Series:
    """Series indexed by gene with values 'train' / 'valid' / 'test'."""
    genes = np.array(sorted(map(str, genes)))
    if len(genes) != len(set(genes)):
        raise GeneqnError("make_split: gene ids must be unique.")
    n = len(genes)
    n_test = int(round(n * test_fraction))
    n_valid = int(round((n - n_test) * valid_fraction))
    if n - n_test - n_valid < 2 or n_valid < 3 or n_test < 3:
        raise GeneqnError(f"only {n} genes: too few to split into train/valid/test with at least 3 "
                          "genes in valid and test (Pearson r needs them).")
    order = np.random.default_rng(seed).permutation(n)
    labels = np.empty(n, dtype=object)
    labels[order[:n_test]] = "test"
    labels[order[n_test:n_test + n_valid]] = "valid"
    labels[order[n_test + n_valid:]] = "train"
    return pd.Series(labels, index=pd.Index(genes, name="gene"), name="split")


def save_split(split: pd.Series, path: str | Path) -> Path:
    return write_parquet(split.to_frame(), path)


def load_split(path: str | Path) -> pd.Series:
    return read_parquet(path)["split"]


@dataclass
class Arrays:
    """One cell type's arrays for one part of the split."""

    X: np.ndarray  # (n_genes, n_features) float64
    y: np.ndarray  # (n_genes,) float64
    genes: list[str]


class Dataset:
    """Features (genes x features) and targets (genes x cell types) joined on gene, with a split.

    >>> ds = Dataset(features, targets_g, split)       # doctest: +SKIP
    >>> ds.arrays("type B pancreatic cell", "train").X.shape   # doctest: +SKIP
    """

    def __init__(self, features: pd.DataFrame, targets: pd.DataFrame, split: pd.Series):
        genes = features.index.intersection(targets.index).intersection(split.index)
        if len(genes) == 0:
            raise GeneqnError("the feature table and the targets share no gene; check that both are "
                              "keyed the same way (the `tss` stage maps expression genes to TSS rows).")
        self.features = features.loc[genes].sort_index()
        self.targets = targets.loc[self.features.index]
        self.split = split.loc[self.features.index]
        if not np.isfinite(self.features.to_numpy(dtype=np.float64)).all():
            bad = self.features.columns[~np.isfinite(self.features.to_numpy(dtype=np.float64)).all(axis=0)]
            raise GeneqnError(f"features hold NaN or infinite values in column(s) {', '.join(bad[:5])}; "
                              "fill or drop those genes before building the dataset.")

    @property
    def feature_names(self) -> list[str]:
        return [str(c) for c in self.features.columns]

    @property
    def cell_types(self) -> list[str]:
        return [str(c) for c in self.targets.columns]

    def genes(self, part: str) -> list[str]:
        if part not in PARTS:
            raise ValueError(f"part must be one of {PARTS}, got {part!r}")
        return self.split.index[self.split == part].tolist()

    def arrays(self, cell_type: str, part: str) -> Arrays:
        if cell_type not in self.targets.columns:
            raise GeneqnError(f"cell type {cell_type!r} is not in the targets; present: "
                              f"{', '.join(self.cell_types)}.")
        genes = self.genes(part)
        return Arrays(X=self.features.loc[genes].to_numpy(dtype=np.float64),
                      y=self.targets.loc[genes, cell_type].to_numpy(dtype=np.float64), genes=genes)

    def xy(self, cell_type: str, part: str) -> tuple[pd.DataFrame, pd.Series]:
        """(features, targets g) of one cell type and part, as a DataFrame (columns named by
        feature) and a Series, both indexed by gene: ready for any estimator."""
        a = self.arrays(cell_type, part)
        X = pd.DataFrame(a.X, index=pd.Index(a.genes, name="gene"), columns=self.feature_names)
        return X, pd.Series(a.y, index=X.index, name=cell_type)

    def summary(self) -> dict:
        counts = self.split.value_counts().to_dict()
        return {"n_genes": len(self.features), "n_features": self.features.shape[1],
                "cell_types": self.cell_types, **{f"n_{p}": int(counts.get(p, 0)) for p in PARTS}}


def build_dataset(targets_long: pd.DataFrame, features: pd.DataFrame, *, seed: int = 0,
                  test_fraction: float = 0.2, valid_fraction: float = 0.1,
                  split: pd.Series | None = None) -> Dataset:
    """Join tidy targets (column ``g``, from :func:`geneqn.targets`) with a gene x feature table;
    make the seeded 72/8/20 split unless one is given.

    >>> ds = geneqn.dataset(targets, features, seed=0)               # doctest: +SKIP
    >>> X, y = ds.xy("type B pancreatic cell", "train")              # doctest: +SKIP
    """
    missing = [c for c in ("gene", "cell_type", "g") if c not in targets_long.columns]
    if missing:
        raise GeneqnError(f"the targets table lacks column(s) {', '.join(missing)}; make it with "
                          "geneqn.targets(...).")
    targets = targets_long.pivot(index="gene", columns="cell_type", values="g")
    targets.index = targets.index.astype(str)
    features = features.copy()
    features.index = features.index.astype(str)
    genes = features.index.intersection(targets.index)
    if split is None:
        split = make_split(genes, seed, test_fraction, valid_fraction)
    else:
        missing = genes.difference(split.index)
        if len(missing):
            raise GeneqnError(f"the saved split lacks {len(missing)} gene(s) of this dataset (e.g. "
                              f"{missing[0]}); the features or targets changed since it was made. "
                              "Re-run the dataset stage (geneqn dataset --force).")
    return Dataset(features, targets, split)
