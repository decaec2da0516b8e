"""A gene x feature table that the user brings (CSV, TSV or parquet)."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd

from geneqn._io import require_file
from geneqn.errors import GeneqnError
from geneqn.targets import looks_like_ensembl, misplaced_ids, strip_version

log = logging.getLogger(__name__)


def read_feature_table(path: str | Path) -> pd.DataFrame:
    """Read a table whose first column is a gene id (Ensembl or symbol), the rest numeric features."""
    p = require_file(path, "feature table")
    try:
        if p.suffix == ".parquet":
            df = pd.read_parquet(p)
        else:
            sep = "\t" if p.name.endswith((".tsv", ".tsv.gz", ".txt", ".txt.gz")) else ","
            df = pd.read_csv(p, sep=sep)
    except (OSError, EOFError, ValueError, pd.errors.ParserError) as e:
        raise GeneqnError(f"cannot read {p} as a feature table ({str(e).splitlines()[0] if str(e) else type(e).__name__}); "
                          "it may be truncated or not a CSV/TSV/parquet file.") from None
    return feature_frame(df, str(p))


def feature_frame(df: pd.DataFrame, p: str = "DataFrame") -> pd.DataFrame:
    """Check a gene x feature DataFrame (gene ids in the index or the first column)."""
    if not isinstance(df.index, pd.RangeIndex):
        df = df.reset_index()
    df = df.copy()
    if df.shape[1] < 2:
        raise GeneqnError(f"{p}: a feature table needs a gene id column and at least one feature column.")
    if len(df) == 0:
        raise GeneqnError(f"{p}: the feature table has a header but no gene rows; is it the whole file?")
    id_col = df.columns[0]
    misplaced_ids(df, p, "feature")
    ids = df.pop(id_col).astype(str)
    bad = [c for c in df.columns if not pd.api.types.is_numeric_dtype(df[c])]
    if bad:
        raise GeneqnError(f"{p}: feature column(s) {', '.join(map(str, bad[:5]))} are not numeric; every column "
                          "after the first (the gene id) must hold numbers. Remove or convert the others.")
    if df.isna().any().any():
        cols = df.columns[df.isna().any()].tolist()
        raise GeneqnError(f"{p}: NaN in feature column(s) {', '.join(map(str, cols[:5]))}; fill or drop "
                          "those genes first.")
    values = df.to_numpy(dtype=np.float64)
    if not np.isfinite(values).all():
        cols = df.columns[~np.isfinite(values).all(axis=0)].tolist()
        raise GeneqnError(f"{p}: infinite values in feature column(s) {', '.join(map(str, cols[:5]))}; fix or "
                          "drop those genes first.")
    key = strip_version(ids.values) if looks_like_ensembl(ids) else pd.Series(ids.values, dtype="string")
    dup = key[key.duplicated()].unique()
    if len(dup):
        raise GeneqnError(f"{p}: gene(s) {', '.join(map(str, dup[:5]))} have more than one row.")
    df.index = pd.Index(key.values, name="gene")
    df.columns = [str(c) for c in df.columns]
    return df.astype(np.float64)


def align_to_tss(features: pd.DataFrame, tss: pd.DataFrame, source: str) -> pd.DataFrame:
    """Re-key a feature table (by Ensembl id or symbol) to the TSS table's ``gene`` column."""
    out = None
    for col in ("gene", "gene_id", "symbol"):
        if col not in tss.columns:
            continue
        keys = tss[col].astype("string")
        hit = keys.isin(features.index)
        if out is None or hit.sum() > out[1].sum():
            out = (col, hit)
    if out is None or out[1].sum() == 0:
        raise GeneqnError(f"{source}: no gene of the feature table matches the TSS table's genes "
                          "(tried expression key, Ensembl id and symbol).")
    col, hit = out
    sub = tss.loc[hit]
    result = features.loc[sub[col].astype(str).values].copy()
    result.index = pd.Index(sub["gene"].astype(str).values if "gene" in sub.columns
                            else sub[col].astype(str).values, name="gene")
    missing = int((~hit).sum())
    if missing:
        log.warning("%s: %d gene(s) of the TSS table have no features and are left out", source, missing)
    return result


class TableProvider:
    """Features from a user's table; genes are matched by expression key, Ensembl id or symbol."""

    name = "table"

    def __init__(self, path: str | Path | pd.DataFrame):
        self.path = path if isinstance(path, pd.DataFrame) else Path(path)

    @property
    def description(self) -> str:
        where = "a DataFrame" if isinstance(self.path, pd.DataFrame) else self.path.name
        return f"a feature table brought by the user ({where})"

    def compute(self, tss: pd.DataFrame, cache_dir: Path | None = None) -> pd.DataFrame:
        table = feature_frame(self.path, "DataFrame") if isinstance(self.path, pd.DataFrame) else read_feature_table(self.path)
        return align_to_tss(table, tss, "DataFrame" if isinstance(self.path, pd.DataFrame) else str(self.path))
