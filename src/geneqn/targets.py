"""Expression input -> per-cell-type targets (paper, Methods: data preprocessing).

For each cell type: g0 = mean expression over its cells, g1 = log2(g0 + pseudocount) and
g = (g1 - min g1) / (max g1 - min g1) * 2 - 1, i.e. g1 min-max scaled to [-1, 1] over all genes
of the input. Genes are keyed by Ensembl gene ID (version stripped) when the input has one, else
by symbol.

Output is a tidy table with one row per (gene, cell type): ``gene, symbol, cell_type, n_cells,
g0, g1, g``. :func:`targets` is the entry point; it takes an AnnData object, a DataFrame of
means, or a path (h5ad, 10x folder, CellRanger ``.h5``, CSV/TSV/parquet).
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp

from geneqn._io import require_file
from geneqn.errors import GeneqnError, did_you_mean
from geneqn import numeric

log = logging.getLogger(__name__)

ENSEMBL_GENE = re.compile(r"^ENS[A-Z]*G\d{6,}(\.\d+)?$")
TARGET_COLUMNS = ["gene", "symbol", "cell_type", "n_cells", "g0", "g1", "g"]


def strip_version(ids: pd.Series | list[str]) -> pd.Series:
    """``ENSG00000121410.12`` -> ``ENSG00000121410``; other ids unchanged."""
    s = pd.Series(ids, dtype="string")
    return s.str.replace(r"^(ENS[A-Z]*G\d+)\.\d+$", r"\1", regex=True)


def looks_like_ensembl(ids: pd.Series) -> bool:
    ids = pd.Series(ids).dropna().astype(str)
    return len(ids) > 0 and ids.str.match(ENSEMBL_GENE).mean() > 0.9


def scale_targets(g0: np.ndarray, pseudocount: float = 0.001, where: str = "") -> tuple[np.ndarray, np.ndarray]:
    """Return (g1, g) for a vector of mean expression g0 (paper's transform). ``where`` names
    the cell type and input in messages."""
    g0 = np.asarray(g0, dtype=np.float64)
    # numpy's log2 rounds differently on AVX-512 machines (SVML); this one gives the same bits on
    # every machine, so the same data give the same targets, networks and equations everywhere
    g1 = numeric.log2(g0 + pseudocount)
    lo, hi = g1.min(), g1.max()
    if hi == lo:
        raise GeneqnError(f"every gene has the same mean expression ({g0[0]:g}) in {where or 'this cell type'}, "
                          "so the targets cannot be scaled to [-1, 1]. Check that this column (or these cells) "
                          "holds that cell type's expression, or leave the cell type out (--cell-types).")
    g = (g1 - lo) / (hi - lo) * 2 - 1
    return g1, g


# ----------------------------------------------------------------------------- reading

def g_to_log2(values, scaling, where: str) -> np.ndarray:
    """log2(expression + pseudocount) from g (the inverse of :func:`scale_targets`'s scaling):
    g1 = (g + 1) / 2 * (max g1 - min g1) + min g1, with the target scaling saved with a model
    (``{"g1_min", "g1_max"}``; checked: two finite numbers, max above min). ``where`` names the
    model in messages."""
    if not scaling:
        raise GeneqnError(f"{where} carries no target scaling, so --log2 cannot be applied; retrain it with "
                          "geneqn >= 0.2, or predict g (without --log2).")
    try:
        lo, hi = float(scaling["g1_min"]), float(scaling["g1_max"])
    except (KeyError, TypeError, ValueError, OverflowError):
        raise GeneqnError(f"{where}: its target scaling {str(scaling)[:120]} lacks numbers g1_min and g1_max, so "
                          "--log2 cannot be applied; the file is damaged or edited. Use the file of a geneqn "
                          "run, or predict g (without --log2).") from None
    if not (np.isfinite(lo) and np.isfinite(hi) and hi > lo):
        raise GeneqnError(f"{where}: its target scaling (g1_min {lo:g}, g1_max {hi:g}) is not a range of log2 "
                          "expression, so --log2 cannot be applied; the file is damaged or edited. Use the file of "
                          "a geneqn run, or predict g (without --log2).")
    return (np.asarray(values, dtype=np.float64) + 1) / 2 * (hi - lo) + lo


def _gene_keys(var: pd.DataFrame, var_names: pd.Index, source: str) -> tuple[pd.Series, pd.Series]:
    """Pick (key, symbol) for each gene from an AnnData-like ``var`` table."""
    index = pd.Series(var_names.astype(str), index=var_names)
    ensembl = None
    for col in ("gene_ids", "gene_id", "ensembl_id", "ensembl_gene_id"):
        if col in var.columns and looks_like_ensembl(var[col]):
            ensembl = var[col].astype(str)
            break
    if ensembl is None and looks_like_ensembl(index):
        ensembl = index
    symbol = None
    for col in ("feature_name", "gene_symbols", "gene_symbol", "symbol", "gene_name"):
        if col in var.columns:
            symbol = var[col].astype(str)
            break
    if symbol is None:
        symbol = index if ensembl is None or ensembl is not index else pd.Series(pd.NA, index=var_names)
    key = strip_version(ensembl.values) if ensembl is not None else pd.Series(symbol.values, dtype="string")
    key.index = range(len(key))
    symbol = pd.Series(symbol.values, dtype="string")
    dup = key[key.duplicated()].unique()
    if len(dup):
        raise GeneqnError(f"{source}: {len(dup)} gene id(s) occur more than once "
                          f"(e.g. {', '.join(map(str, dup[:5]))}). Make them unique or sum the "
                          "duplicates before running geneqn (scanpy: adata.var_names_make_unique()).")
    return key, symbol


def _check_values(x, source: str, what: str) -> None:
    data = x.data if sp.issparse(x) else np.asarray(x)
    if data.size and not np.isfinite(data).all():
        raise GeneqnError(f"{source}: {what} holds NaN or infinite values; geneqn needs finite "
                          "expression. Fill or drop them first.")
    if data.size and data.min() < 0 and what == "the table":
        raise GeneqnError(f"{source}: the table of means holds negative values (min {data.min():g}), so it is "
                          "scaled or centred (z-scores, log fold changes), not mean expression. Give the means "
                          "of normalised expression per cell type (non-negative), or the per-cell matrix.")
    if data.size and data.min() < 0:
        raise GeneqnError(f"{source}: {what} holds negative values (min {data.min():g}), so it is "
                          "scaled or centred, not counts or normalised expression. Point --values at "
                          "raw counts (cp10k, the default, reads .raw.X or layers['counts']), "
                          "log-normalised values (log1p) or a layer (layer:NAME).")


def looks_log_normalised(sample: np.ndarray) -> bool:
    """Non-integer, non-negative values whose maximum is small (< 30): log1p of normalised
    counts (scanpy's ``pp.log1p``), not counts."""
    sample = np.asarray(sample, dtype=np.float64)
    if sample.size == 0:
        return False
    non_integer = not np.allclose(sample, np.round(sample))
    return non_integer and float(sample.min()) >= 0 and float(sample.max()) < 30


def _log_base(rows: np.ndarray) -> str | None:
    """Which log the per-cell rows were taken in: "e" when expm1 of each row looks like counts
    (every cell sums to one library size, as after normalize_total, or its values are whole
    multiples of its smallest one, as counts are), "2" when 2**x - 1 does, else None."""
    rows = np.asarray(rows, dtype=np.float64)
    rows = rows[(rows > 0).sum(axis=1) >= 2]
    if len(rows) == 0:
        return "e"  # nothing to judge by
    for base, undo in (("e", np.expm1), ("2", lambda v: np.exp2(v) - 1)):
        with np.errstate(over="ignore", invalid="ignore"):
            c = undo(rows)
        if not np.isfinite(c).all():
            continue
        sums = c.sum(axis=1)
        if sums.mean() > 0 and sums.std() / sums.mean() < 0.01:
            return base
        smallest = np.where(c > 0, c, np.inf).min(axis=1, keepdims=True)
        ratio = c[c > 0] / np.broadcast_to(smallest, c.shape)[c > 0]
        if np.mean(np.abs(ratio - np.round(ratio)) < 0.02) > 0.95:
            return base
    return None


def _sample_rows(x, n: int = 100) -> np.ndarray:
    sample = x[: min(n, x.shape[0])]
    return sample.toarray() if sp.issparse(sample) else np.asarray(sample)


def _sample_values(x) -> np.ndarray:
    sample = x[: min(500, x.shape[0])]
    return sample.data if sp.issparse(sample) else np.asarray(sample).ravel()


def _expm1(x):
    if sp.issparse(x):
        x = x.astype(np.float64)
        x.data = np.expm1(x.data)  # expm1(0) = 0 keeps the sparsity
        return x
    return np.expm1(np.asarray(x, dtype=np.float64))


def _per_10k(x):
    totals = np.asarray(x.sum(axis=1)).ravel().astype(np.float64)
    scale = np.divide(1e4, totals, out=np.zeros_like(totals), where=totals > 0)
    if sp.issparse(x):
        return sp.diags(scale) @ x.astype(np.float64)
    return np.asarray(x, dtype=np.float64) * scale[:, None]


def _as_is(x):
    return x.astype(np.float64) if sp.issparse(x) else np.asarray(x, dtype=np.float64)


def _matrix_for(adata, values: str, source: str):
    """The cells x genes matrix to average, as asked by ``values``: ``(x, what, var, names,
    transform)``, where ``x`` is sliced by rows (in memory, or an h5ad element on disk) and
    ``transform`` turns a slice of rows into the values averaged (expm1 of log1p, counts per
    10,000 of each cell, or as they are)."""
    if values == "X":
        return adata.X, ".X", adata.var, adata.var_names, _as_is
    if values == "log1p":
        if adata.raw is not None:
            x, what, var, names = adata.raw.X, ".raw.X", adata.raw.var, adata.raw.var_names
        else:
            x, what, var, names = adata.X, ".X", adata.var, adata.var_names
        _check_values(x[: min(SAMPLE_ROWS, x.shape[0])], source, what)
        sample = _sample_values(x)
        if sample.size and np.allclose(sample, np.round(sample)) and sample.max() > 30:
            raise GeneqnError(f"{source}: {what} holds integer counts (max {sample.max():g}), not "
                              "log-normalised values; use --values cp10k (the default).")
        base = _log_base(_sample_rows(x))
        if base == "2":
            raise GeneqnError(f"{source}: {what} looks log2-transformed (log2(x + 1): 2^x - 1 of each cell gives "
                              "counts or one library size), not natural log1p; averaging it after expm1 would give "
                              "wrong means. Multiply it by ln 2 first (adata.X = adata.X * np.log(2)) to make it "
                              "log1p values, or point at raw counts (--values cp10k reads .raw.X or "
                              "layers['counts'], or layer:NAME).")
        if base is None:
            raise GeneqnError(f"{source}: {what} does not look like log1p of normalised counts: expm1 of a cell's "
                              "values neither sums to one library size in every cell nor gives whole multiples "
                              "of counts (nor does 2^x - 1). The values may be scaled, regressed out, "
                              "batch-corrected or another transform, whose means are not expression. Point at raw "
                              "counts (--values cp10k reads .raw.X or layers['counts'], or layer:NAME).")
        return x, f"{what} (log-normalised; averaged after expm1)", var, names, _expm1
    if values.startswith("layer:"):
        name = values.split(":", 1)[1]
        if name not in adata.layers:
            raise GeneqnError(f"{source}: no layer {name!r}; layers present: "
                              f"{', '.join(adata.layers.keys()) or 'none'}.")
        return adata.layers[name], f"layer {name!r}", adata.var, adata.var_names, _as_is
    # cp10k: raw counts from .raw.X, else layers['counts'], else .X
    if adata.raw is not None:
        x, what, var, names = adata.raw.X, ".raw.X", adata.raw.var, adata.raw.var_names
    elif "counts" in adata.layers:
        x, what, var, names = adata.layers["counts"], "layer 'counts'", adata.var, adata.var_names
    else:
        x, what, var, names = adata.X, ".X", adata.var, adata.var_names
    _check_values(x[: min(SAMPLE_ROWS, x.shape[0])], source, what)
    sample = _sample_values(x)
    if looks_log_normalised(sample):
        raise GeneqnError(f"{source}: {what} looks log-normalised, not raw counts (non-integer values, "
                          f"max {sample.max():.3g}); normalising it again as counts would be wrong. "
                          "Use --values log1p (expression.values = \"log1p\": geneqn undoes the log "
                          "with expm1 before averaging), or point at raw counts (layer:NAME).")
    if sample.size and not np.allclose(sample, np.round(sample)):
        log.warning("%s: %s does not look like raw counts (non-integer values, max %.3g); normalising "
                    "it to counts per 10,000 anyway. Use --values X to average it as it is.", source, what,
                    float(sample.max()))
    return x, f"{what} as counts per 10,000", var, names, _per_10k


SAMPLE_ROWS = 500
CHUNK_VALUES = 20_000_000
"""Cells are averaged in slices of about this many matrix entries (dense) or stored values
(sparse), so a matrix on disk is never loaded whole."""


def _group_means(x, labels: pd.Series, cell_types: list[str], transform=_as_is, source: str = "",
                 what: str = "") -> np.ndarray:
    """genes x cell types matrix of per-cell-type means, over slices of rows of ``x`` (each
    checked for finite, non-negative values, then ``transform``-ed)."""
    n, n_genes = x.shape
    code = pd.Categorical(labels, categories=cell_types).codes  # -1: a cell of no chosen type
    keep = code >= 0
    counts = np.bincount(code[keep], minlength=len(cell_types)).astype(np.float64)
    sums = np.zeros((len(cell_types), n_genes), dtype=np.float64)
    head = x[: min(SAMPLE_ROWS, n)]  # the share of stored values sizes the slices of a sparse matrix
    density = max(head.nnz / max(head.shape[0] * n_genes, 1), 1e-4) if sp.issparse(head) else 1.0
    step = max(1, int(CHUNK_VALUES / max(n_genes * density, 1)))
    for lo in range(0, n, step):
        hi = min(lo + step, n)
        rows = np.flatnonzero(keep[lo:hi])
        if not len(rows):
            continue
        part = x[lo:hi]
        _check_values(part, source, what)
        part = transform(part)[rows]
        onehot = sp.csr_matrix((np.ones(len(rows)), (code[lo:hi][rows], np.arange(len(rows)))),
                               shape=(len(cell_types), len(rows)))
        prod = onehot @ part
        sums += prod.toarray() if sp.issparse(prod) else np.asarray(prod)
    return (sums / np.maximum(counts, 1)[:, None]).T


def _choose_cell_types(counts: pd.Series, wanted: list[str], min_cells: int, source: str,
                       column: str) -> list[str]:
    present = counts.index.tolist()
    if wanted:
        missing = [c for c in wanted if c not in counts.index]
        if missing:
            raise GeneqnError(f"{source}: cell type(s) {', '.join(map(repr, missing))} not found in "
                              f"obs[{column!r}]{did_you_mean(missing, present)}; present: {', '.join(map(str, present))}.")
        few = [f"{c} ({counts[c]} cells)" for c in wanted if counts[c] < min_cells]
        if few:
            raise GeneqnError(f"{source}: too few cells for {', '.join(few)}; at least {min_cells} "
                              "are needed (lower --min-cells to accept fewer).")
        return list(wanted)
    chosen = [c for c in present if counts[c] >= min_cells]
    if not chosen:
        raise GeneqnError(f"{source}: no cell type has at least {min_cells} cells "
                          f"(largest: {counts.max()}). Lower --min-cells.")
    return chosen


def _from_anndata(adata, source: str, cell_type_column: str, cell_types: list[str],
                  min_cells: int, values: str) -> tuple[pd.DataFrame, pd.Series, pd.Series, pd.Series]:
    if cell_type_column not in adata.obs.columns:
        raise GeneqnError(f"{source}: no obs column {cell_type_column!r} with cell-type labels; obs "
                          f"columns are: {', '.join(map(str, adata.obs.columns))}. Name the right "
                          "one with --cell-type-column.")
    raw_labels = adata.obs[cell_type_column].reset_index(drop=True)
    missing = raw_labels.isna() | raw_labels.astype(str).str.strip().isin(["", "nan", "NaN", "None"])
    if missing.all():
        raise GeneqnError(f"{source}: obs[{cell_type_column!r}] has no cell-type label at all; name the "
                          "column that holds them with --cell-type-column.")
    if missing.any():
        log.warning("%s: %d of %d cells have no label in obs[%r]; they are left out", source,
                    int(missing.sum()), len(missing), cell_type_column)
    labels = raw_labels.astype(str).where(~missing, None)
    counts = labels[~missing].value_counts().sort_index()
    chosen = _choose_cell_types(counts, cell_types, min_cells, source, cell_type_column)
    x, what, var, names, transform = _matrix_for(adata, values, source)
    key, symbol = _gene_keys(var, names, source)
    means = _group_means(x, labels, chosen, transform, source, what)
    log.info("%s: averaged %s over %d cell types", source, what, len(chosen))
    g0 = pd.DataFrame(means, index=pd.Index(key, name="gene"), columns=chosen)
    return g0, pd.Series(symbol.values, index=g0.index), counts[chosen], key


class _Part:
    """The ``X`` and ``var`` of an h5ad's ``raw`` group, read lazily."""

    def __init__(self, X, var):
        self.X, self.var, self.var_names = X, var, var.index


class _H5ad:
    """An h5ad file opened without loading its matrices: ``obs`` and ``var`` are read, ``X``,
    ``raw.X`` and each layer stay on disk and are read by slices of rows (anndata's backed
    sparse datasets for CSR, h5py datasets for dense). Enough of AnnData for :func:`_from_anndata`."""

    def __init__(self, f):
        from anndata.io import read_elem

        self.obs = read_elem(f["obs"])
        self.var = read_elem(f["var"])
        self.var_names = self.var.index
        self.X = _on_disk(f["X"])
        self.raw = _Part(_on_disk(f["raw"]["X"]), read_elem(f["raw"]["var"])) if "raw" in f and "X" in f["raw"] else None
        self.layers = {k: _on_disk(f["layers"][k]) for k in f["layers"].keys()} if "layers" in f else {}


def _on_disk(node):
    """A matrix element of an h5ad, sliceable by rows without reading the rest."""
    import h5py

    if isinstance(node, h5py.Dataset):
        return node
    from anndata.io import sparse_dataset

    m = sparse_dataset(node)
    if m.format == "csc":  # rows of a CSC matrix are scattered over the file: read it once, as CSR
        log.warning("%s is stored column by column (CSC); reading it whole to average cells (store it as CSR "
                    "to stream it)", node.name)
        return m.to_memory().tocsr()
    return m


def read_h5ad(path: Path, **kw):
    """Per-cell-type means of an h5ad, streamed: the matrix is read by slices of rows
    (:data:`CHUNK_VALUES` values at a time), never loaded whole."""
    import h5py

    try:
        f = h5py.File(path, "r")
    except Exception as e:  # h5py raises many types
        raise GeneqnError(f"cannot read h5ad file {path}: {e}. Is it an AnnData .h5ad file?") from None
    with f:
        try:
            adata = _H5ad(f)
        except (KeyError, ValueError, TypeError, OSError) as e:
            raise GeneqnError(f"cannot read h5ad file {path}: {str(e) or type(e).__name__}. Is it an AnnData .h5ad "
                              "file (with obs, var and X)?") from None
        return _from_anndata(adata, str(path), **kw)


def _tenx_files(folder: Path):
    def find(*names):
        for n in names:
            for suffix in ("", ".gz"):
                p = folder / f"{n}{suffix}"
                if p.exists():
                    return p
        return None

    mtx, feats, bcs = find("matrix.mtx"), find("features.tsv", "genes.tsv"), find("barcodes.tsv")
    if mtx is None or feats is None or bcs is None:
        raise GeneqnError(f"{folder} is not a 10x matrix folder: it needs matrix.mtx, features.tsv "
                          "(or genes.tsv) and barcodes.tsv (optionally .gz).")
    return mtx, feats, bcs


def _unreadable_10x(folder: Path, e: Exception) -> GeneqnError:
    return GeneqnError(f"{folder}: cannot read the 10x matrix ({str(e).splitlines()[0] if str(e) else type(e).__name__}); "
                       "matrix.mtx, features.tsv or barcodes.tsv may be truncated or not 10x files. "
                       "Re-export or re-download them.")


def _row_slice(key, n: int, what: str) -> tuple[int, int]:
    """``(lo, hi)`` of a slice of rows (step 1; hi >= lo) of a matrix read from disk by rows."""
    if not isinstance(key, slice) or key.step not in (None, 1):
        raise TypeError(f"rows of {what} are read as a slice")
    lo, hi, _ = key.indices(n)
    return lo, max(hi, lo)


class _UnsortedMtx(Exception):
    """A matrix.mtx whose entries are not in cell order: it cannot be streamed."""


class _MtxCells:
    """Rows (cells) of a 10x ``matrix.mtx`` (genes x cells, Matrix Market coordinates), read in
    file order: CellRanger writes the entries cell by cell, so a slice of cells is a stretch of
    lines, read ``BLOCK`` entries at a time. A slice before the current position starts the file
    again; entries out of cell order raise :class:`_UnsortedMtx` (the file is then read whole)."""

    BLOCK = 4_000_000

    def __init__(self, path: Path):
        import gzip

        opener = gzip.open if path.name.endswith(".gz") else open
        with opener(path, "rt") as fh:
            first = fh.readline()
            if not first.startswith("%%MatrixMarket matrix coordinate"):
                raise ValueError("not a Matrix Market coordinate file")
            self._skip = 1
            line = fh.readline()
            while line.startswith("%"):
                self._skip += 1
                line = fh.readline()
            n_genes, n_cells, self.nnz = (int(v) for v in line.split())
        self._skip += 1
        self.path = path
        self.shape = (n_cells, n_genes)
        self._restart()

    def _restart(self) -> None:
        self._blocks = pd.read_csv(self.path, sep=r"\s+", header=None, skiprows=self._skip, chunksize=self.BLOCK,
                                   names=["gene", "cell", "value"], dtype={"gene": np.int64, "cell": np.int64,
                                                                            "value": np.float64})
        self._pending = np.zeros((0, 3))
        self._pos = 0  # cells below it were handed out
        self._done = False
        self._read = 0  # entries read so far

    def _fill(self, hi: int) -> None:
        """Read blocks until an entry of a cell >= hi (or the end) is pending."""
        while not self._done and (not len(self._pending) or self._pending[-1, 1] < hi):
            try:
                block = next(self._blocks).to_numpy(dtype=np.float64)
            except StopIteration:
                self._done = True
                if self._read != self.nnz:
                    raise ValueError(f"matrix.mtx ends after {self._read} of its {self.nnz} entries") from None
                break
            if np.isnan(block).any():
                raise ValueError(f"matrix.mtx has an incomplete line after entry {self._read}")
            self._read += len(block)
            block[:, :2] -= 1  # 1-based
            last = self._pending[-1, 1] if len(self._pending) else -1
            if (np.diff(block[:, 1]) < 0).any() or (len(block) and block[0, 1] < last):
                raise _UnsortedMtx
            self._pending = np.concatenate([self._pending, block])

    def __getitem__(self, key):
        lo, hi = _row_slice(key, self.shape[0], "a matrix.mtx")
        if lo < self._pos:
            self._restart()
        self._fill(hi)
        cells = self._pending[:, 1]
        a, b = np.searchsorted(cells, lo), np.searchsorted(cells, hi)
        part = self._pending[a:b]
        self._pending = self._pending[b:]
        self._pos = hi
        return sp.csr_matrix((part[:, 2].astype(np.float32), (part[:, 1].astype(np.int64) - lo,
                                                              part[:, 0].astype(np.int64))),
                             shape=(hi - lo, self.shape[1]))


class _TenX:
    """A 10x folder as enough of AnnData for :func:`_from_anndata`: barcodes and features read,
    the counts streamed by slices of cells (:class:`_MtxCells`)."""

    raw = None
    layers: dict = {}

    def __init__(self, x, feats: pd.DataFrame, barcodes: pd.DataFrame):
        self.X = x
        self.var = pd.DataFrame({"gene_ids": feats[0].astype(str).values,
                                 "gene_symbols": (feats[1] if feats.shape[1] > 1 else feats[0]).astype(str).values})
        self.var.index = pd.Index(self.var["gene_ids"].values)
        self.var_names = self.var.index
        self.obs = pd.DataFrame(index=pd.Index(barcodes[0].astype(str).values))
        self.obs_names = self.obs.index


def _read_10x(folder: Path, stream: bool = True):
    """A 10x Matrix Market folder (matrix.mtx[.gz], features/genes.tsv[.gz], barcodes.tsv[.gz]):
    its counts streamed by slices of cells, or (``stream`` False) read whole."""
    import scipy.io

    mtx, feats, bcs = _tenx_files(folder)
    try:
        f = pd.read_csv(feats, sep="\t", header=None)
        b = pd.read_csv(bcs, sep="\t", header=None)
        x = _MtxCells(mtx) if stream else scipy.io.mmread(mtx).T.tocsr()  # 10x stores genes x cells
    except (ValueError, OSError, EOFError, IndexError, pd.errors.ParserError) as e:
        raise _unreadable_10x(folder, e) from None
    if x.shape != (len(b), len(f)):
        raise GeneqnError(f"{folder}: matrix.mtx is {x.shape[1]} genes x {x.shape[0]} cells but features.tsv "
                          f"lists {len(f)} genes and barcodes.tsv {len(b)} cells; the files do not belong "
                          "together.")
    return _TenX(x, f, b)


class _CellRows:
    """Rows (cells) of a CellRanger matrix on disk: CellRanger stores genes x cells as CSC, which
    is cells x genes as CSR, so a slice of cells reads one stretch of ``data``/``indices``."""

    def __init__(self, group, shape):
        self.data, self.indices, self.indptr = group["data"], group["indices"], group["indptr"][:]
        self.shape = (int(shape[1]), int(shape[0]))

    def __getitem__(self, key):
        lo, hi = _row_slice(key, self.shape[0], "a CellRanger matrix")
        a, b = int(self.indptr[lo]), int(self.indptr[hi])
        return sp.csr_matrix((self.data[a:b].astype(np.float32), self.indices[a:b], self.indptr[lo:hi + 1] - a),
                             shape=(hi - lo, self.shape[1]))


class _CellRanger:
    """A CellRanger ``.h5`` as enough of AnnData for :func:`_from_anndata`: barcodes and features
    read, the counts streamed by slices of cells (:class:`_CellRows`)."""

    raw = None
    layers: dict = {}

    def __init__(self, f):
        group = f["matrix"] if "matrix" in f else f[next(iter(f.keys()))]
        shape = tuple(group["shape"][:])
        barcodes = [b.decode() for b in group["barcodes"][:]]
        if "features" in group:
            ids = [b.decode() for b in group["features"]["id"][:]]
            names = [b.decode() for b in group["features"]["name"][:]]
        else:
            ids = [b.decode() for b in group["genes"][:]]
            names = [b.decode() for b in group["gene_names"][:]]
        self.X = _CellRows(group, shape)
        self.var = pd.DataFrame({"gene_ids": ids, "gene_symbols": names}, index=pd.Index(ids))
        self.var_names = self.var.index
        self.obs = pd.DataFrame(index=pd.Index(barcodes))
        self.obs_names = self.obs.index


class _SomaCells:
    """Rows (cells) of one X layer of a SOMA measurement, read by slices of obs ``soma_joinid``
    (a slice of cells is one range read of the sparse array)."""

    def __init__(self, array, obs_ids: np.ndarray, var_ids: np.ndarray):
        self.array, self.obs_ids, self.var_ids = array, obs_ids, var_ids
        self.shape = (len(obs_ids), len(var_ids))

    def __getitem__(self, key):
        lo, hi = _row_slice(key, self.shape[0], "a SOMA array")
        ids = self.obs_ids[lo:hi]
        if not len(ids):
            return sp.csr_matrix((0, self.shape[1]), dtype=np.float32)
        contiguous = int(ids[-1]) - int(ids[0]) == len(ids) - 1
        coords = slice(int(ids[0]), int(ids[-1])) if contiguous else ids  # a range, or the cells an obs filter kept
        t = self.array.read(coords=(coords,)).tables().concat()
        d0, d1 = t["soma_dim_0"].to_numpy(), t["soma_dim_1"].to_numpy()
        rows, cols = np.searchsorted(ids, d0), np.searchsorted(self.var_ids, d1)
        ok = (rows < len(ids)) & (ids[np.minimum(rows, len(ids) - 1)] == d0)  # cells of this slice only
        ok &= (cols < len(self.var_ids)) & (self.var_ids[np.minimum(cols, len(self.var_ids) - 1)] == d1)
        return sp.csr_matrix((t["soma_data"].to_numpy()[ok].astype(np.float32), (rows[ok], cols[ok])),
                             shape=(len(ids), self.shape[1]))


class _Soma:
    """A SOMA experiment (CELLxGENE Census format) as enough of AnnData for :func:`_from_anndata`:
    ``obs`` (the label column) and ``var`` read, each X layer streamed by slices of cells. ``X``
    is the layer ``raw`` (the Census's counts) when there is one, else ``data``, else the first."""

    raw = None

    def __init__(self, exp, measurement: str, cell_type_column: str, source: str, obs_filter: str | None = None):
        names = list(exp.ms.keys())
        if measurement not in names:
            if len(names) != 1:
                raise GeneqnError(f"{source}: no measurement {measurement!r}; measurements: {', '.join(names)}.")
            measurement = names[0]
        ms = exp.ms[measurement]
        columns = [c for c in exp.obs.schema.names if c in ("soma_joinid", cell_type_column)]
        try:
            obs = exp.obs.read(column_names=columns, value_filter=obs_filter or None).concat().to_pandas()
        except Exception as e:  # tiledbsoma's own types: a bad filter
            raise GeneqnError(f"{source}: the obs filter {obs_filter!r} cannot be applied ({str(e).splitlines()[0]}); "
                              f"obs columns: {', '.join(exp.obs.schema.names)}.") from None
        if not len(obs):
            raise GeneqnError(f"{source}: the obs filter {obs_filter!r} keeps no cell.")
        obs = obs.sort_values("soma_joinid")
        var = ms.var.read().concat().to_pandas().sort_values("soma_joinid")
        id_col = next((c for c in ("feature_id", "var_id", "gene_ids") if c in var.columns), None)
        self.var = var.set_index(var[id_col].astype(str).values if id_col else var["soma_joinid"].astype(str).values)
        self.var_names = self.var.index
        self.obs = obs.drop(columns="soma_joinid").set_index(obs["soma_joinid"].astype(str).values)
        self.obs_names = self.obs.index
        obs_ids, var_ids = obs["soma_joinid"].to_numpy(), var["soma_joinid"].to_numpy()
        self.layers = {k: _SomaCells(ms.X[k], obs_ids, var_ids) for k in ms.X.keys()}
        if not self.layers:
            raise GeneqnError(f"{source}: measurement {measurement!r} has no X layer.")
        main = next((k for k in ("raw", "data") if k in self.layers), next(iter(self.layers)))
        self.X = self.layers[main]


def read_soma(uri: str, *, measurement: str = "RNA", obs_filter: str | None = None, **kw):
    """Per-cell-type means of a local SOMA experiment (tiledbsoma; the CELLxGENE Census format),
    streamed by slices of cells: labels from ``obs[cell_type_column]``, counts from X layer
    ``raw`` (else ``data``; ``values="layer:NAME"`` names another); ``obs_filter`` (tiledbsoma's
    value filter of obs) keeps only some cells."""
    try:
        import tiledbsoma
    except ImportError:
        raise GeneqnError("reading a SOMA experiment needs tiledbsoma: pip install 'geneqn[soma]'.") from None
    try:
        exp = tiledbsoma.Experiment.open(str(uri))
    except Exception as e:  # tiledbsoma raises its own types
        raise GeneqnError(f"cannot open {uri} as a SOMA experiment ({str(e).splitlines()[0] if str(e) else type(e).__name__}). "
                          "Is it a tiledbsoma Experiment (e.g. written by tiledbsoma.io.from_h5ad)?") from None
    with exp:
        return _from_anndata(_Soma(exp, measurement, kw["cell_type_column"], str(uri), obs_filter), str(uri), **kw)


def _read_10x_h5(f, path: Path):
    """A CellRanger ``filtered_feature_bc_matrix.h5`` (v3: ``/matrix``; v2: one group per genome),
    opened from the h5py file ``f``; its counts stay on disk."""
    try:
        return _CellRanger(f)
    except (OSError, KeyError, StopIteration, ValueError) as e:
        raise GeneqnError(f"cannot read {path} as a CellRanger .h5 matrix ({e}). Is it CellRanger's "
                          "filtered_feature_bc_matrix.h5, complete and not corrupt?") from None


def _attach_labels(adata, label_path: Path, column: str, source: str):
    try:
        lab = pd.read_csv(label_path)
    except (OSError, UnicodeDecodeError, ValueError, pd.errors.ParserError) as e:
        raise GeneqnError(f"cannot read {label_path} as a CSV of barcode,{column} labels "
                          f"({str(e).splitlines()[0] if str(e) else type(e).__name__}). Is it the labels file?"
                          ) from None
    if column not in lab.columns:
        raise GeneqnError(f"{label_path}: no column {column!r}; columns: {', '.join(map(str, lab.columns))}. "
                          "Name the label column with --cell-type-column.")
    lab = lab.set_index(lab.columns[0])
    lab.index = lab.index.astype(str)
    missing = adata.obs_names.difference(lab.index)
    if len(missing):
        raise GeneqnError(f"{label_path}: {len(missing)} barcodes of {source} have no label "
                          f"(e.g. {missing[0]}).")
    adata.obs[column] = lab.loc[adata.obs_names, column].values
    return adata


def read_10x_h5(path: Path, *, labels: str | None = None, **kw):
    """CellRanger .h5, streamed by slices of cells; cell-type labels from ``labels`` (CSV of
    barcode,label) or a ``cell_types.csv`` beside the file."""
    import h5py

    label_path = require_file(labels, "labels file (--labels / expression.labels)") if labels else \
        path.parent / "cell_types.csv"
    try:
        f = h5py.File(path, "r")
    except OSError as e:
        raise GeneqnError(f"cannot read {path} as a CellRanger .h5 matrix ({e}). Is it CellRanger's "
                          "filtered_feature_bc_matrix.h5, complete and not corrupt?") from None
    with f:
        adata = _read_10x_h5(f, path)
        if not label_path.exists():
            raise GeneqnError(f"{label_path}: no cell-type labels for {path.name}; pass a CSV of "
                              "barcode,cell_type with --labels (expression.labels).")
        return _from_anndata(_attach_labels(adata, label_path, kw["cell_type_column"], str(path)), str(path), **kw)


def read_10x(folder: Path, *, labels: str | None = None, **kw):
    """10x folder; cell-type labels come from a ``cell_types.csv`` (barcode, label) inside it or
    from ``labels`` (a CSV of barcode,label)."""
    adata = _read_10x(folder, True)  # the files and their shapes are checked before the labels
    label_path = require_file(labels, "labels file (--labels / expression.labels)") if labels else \
        folder / "cell_types.csv"
    if not label_path.exists():
        raise GeneqnError(f"{label_path if labels else folder}: no cell-type labels for the 10x matrix; "
                          "put a CSV of barcode,cell_type named cell_types.csv in the folder, or pass "
                          "its path with --labels (expression.labels).")
    for stream in (True, False):
        adata = adata if stream else _read_10x(folder, False)
        try:
            return _from_anndata(_attach_labels(adata, label_path, kw["cell_type_column"], "the matrix"),
                                 str(folder), **kw)
        except _UnsortedMtx:
            log.warning("%s: matrix.mtx is not in cell order (as CellRanger writes it); reading it whole", folder)
        except (ValueError, pd.errors.ParserError) as e:
            raise _unreadable_10x(folder, e) from None
    raise AssertionError("unreachable")  # pragma: no cover


def read_mean_table(path: Path, cell_types: list[str]):
    """A table of genes x cell types that is already averaged (CSV/TSV/parquet).

    First column: gene id; an optional ``symbol`` column; every other column a cell type.
    Optionally a row named ``n_cells`` gives the number of cells of each cell type.
    """
    try:
        if path.suffix == ".parquet":
            df = pd.read_parquet(path)
        else:
            sep = "\t" if path.suffix in (".tsv", ".txt") or path.name.endswith((".tsv.gz", ".txt.gz")) else ","
            df = pd.read_csv(path, sep=sep)
    except (OSError, EOFError, ValueError, pd.errors.ParserError) as e:
        raise GeneqnError(f"cannot read {path} as a table of mean expression ({str(e).splitlines()[0]}); it "
                          "may be truncated or not a CSV/TSV/parquet file.") from None
    return means_from_frame(df, cell_types, str(path))


def means_from_frame(df: pd.DataFrame, cell_types: list[str], path: str = "DataFrame"):
    """(g0, symbol, n_cells, key) of a genes x cell types table of means (see read_mean_table)."""
    if df.index.name or not isinstance(df.index, pd.RangeIndex):
        df = df.reset_index()
    df = df.copy()
    if df.shape[1] < 2:
        raise GeneqnError(f"{path}: an averaged expression table needs a gene id column and at least "
                          "one cell-type column.")
    if len(df) == 0:
        raise GeneqnError(f"{path}: the table of means has a header but no gene rows; is it the whole file?")
    id_col = df.columns[0]
    misplaced_ids(df.drop(columns=["symbol"]) if "symbol" in df.columns and id_col != "symbol" else df, path,
                  "mean expression")
    df[id_col] = df[id_col].astype(str)
    n_cells = None
    is_n = df[id_col] == "n_cells"
    if is_n.any():
        n_cells = df.loc[is_n].iloc[0]
        df = df.loc[~is_n]
    symbol = df.pop("symbol").astype("string") if "symbol" in df.columns else None
    ids = df[id_col]
    ens = looks_like_ensembl(ids)
    key = strip_version(ids.values) if ens else pd.Series(ids.values, dtype="string")
    if symbol is None:
        symbol = pd.Series(pd.NA if ens else ids.values, index=range(len(ids)), dtype="string")
    dup = key[key.duplicated()].unique()
    if len(dup):
        raise GeneqnError(f"{path}: {len(dup)} gene id(s) occur more than once "
                          f"(e.g. {', '.join(map(str, dup[:5]))}); each gene needs one row.")
    values = df.drop(columns=[id_col])
    non_numeric = [c for c in values.columns if not pd.api.types.is_numeric_dtype(values[c])]
    if non_numeric:
        raise GeneqnError(f"{path}: column(s) {', '.join(non_numeric)} are not numeric; every column "
                          "after the gene id (and an optional 'symbol') must be a cell type's mean.")
    values = values.astype(np.float64)
    _check_values(values.to_numpy(), str(path), "the table")
    if cell_types:
        missing = [c for c in cell_types if c not in values.columns]
        if missing:
            raise GeneqnError(f"{path}: cell type(s) {', '.join(map(repr, missing))} are not columns"
                              f"{did_you_mean(missing, values.columns)}; columns: {', '.join(map(str, values.columns))}.")
        values = values[cell_types]
    g0 = pd.DataFrame(values.to_numpy(), index=pd.Index(key.values, name="gene"), columns=values.columns)
    counts = pd.Series(pd.NA, index=g0.columns, dtype="Int64")
    if n_cells is not None:
        counts = pd.to_numeric(n_cells[g0.columns], errors="coerce").round().astype("Int64")
    return g0, pd.Series(symbol.values, index=g0.index), counts, key


ID_COLUMNS = ("gene", "gene_id", "gene_ids", "ensembl_id", "ensembl_gene_id", "symbol", "gene_symbol",
              "gene_name", "feature_name")


def misplaced_ids(df: pd.DataFrame, p: str, kind: str) -> None:
    """Refuse a table whose gene ids are not in its first column (it would be read as numbers)."""
    first = df.columns[0]
    if not pd.api.types.is_numeric_dtype(df[first]):
        return
    named = [c for c in df.columns[1:] if str(c).lower() in ID_COLUMNS
             or not pd.api.types.is_numeric_dtype(df[c])]
    if named:
        where = list(df.columns).index(named[0]) + 1
        raise GeneqnError(f"{p}: the first column ({first!r}) holds numbers, but the gene ids seem to be in column "
                          f"{where} ({named[0]!r}); a {kind} table has the gene id as its first column. Move that "
                          "column first (pandas: df[[id] + other columns]).")


def detect_format(path: Path) -> str:
    if path.is_dir():
        return "soma" if (path / "__tiledb_group.tdb").exists() or (path / "__group").is_dir() else "10x"
    name = path.name.lower()
    if name.endswith(".h5ad"):
        return "h5ad"
    if name.endswith(".h5"):
        return "10x_h5"
    if name.endswith((".csv", ".tsv", ".txt", ".csv.gz", ".tsv.gz", ".txt.gz", ".parquet")):
        return "table"
    raise GeneqnError(f"cannot tell the format of {path}: expected .h5ad, a 10x folder, a CellRanger "
                      ".h5, or a .csv/.tsv/.parquet table of genes x cell types. Set --format "
                      "(h5ad, 10x, 10x_h5 or table).")


def targets(expression, *, format: str = "auto", cell_type_column: str = "cell_type",
            cell_types: list[str] | None = None, min_cells: int = 20, values: str = "cp10k",
            pseudocount: float = 0.001, labels: str | None = None, obs_filter: str | None = None) -> pd.DataFrame:
    """Per-cell-type targets of an expression input; tidy table with columns :data:`TARGET_COLUMNS`.

    ``expression``: an AnnData object (cells x genes, labels in ``obs[cell_type_column]``), a
    DataFrame of means (genes x cell types: first column or index the gene id, an optional
    ``symbol`` column), or a path: ``.h5ad``, a 10x folder, a CellRanger ``.h5`` (labels from
    ``labels``, a CSV of barcode,label), a SOMA experiment folder (tiledbsoma, the CELLxGENE
    Census format; measurement ``RNA``; ``obs_filter`` a tiledbsoma value filter of its cells) or a
    CSV/TSV/parquet of means. Matrices are streamed by slices of cells, never loaded whole.
    ``values``: ``cp10k`` (raw counts from ``.raw.X`` / ``layers['counts']`` / ``.X``, normalised
    to counts per 10,000), ``log1p`` (log-normalised values, averaged after ``expm1``), ``X`` or
    ``layer:NAME``. Cell types: every one with at least ``min_cells`` cells, or ``cell_types``.
    g0 = mean, g1 = log2(g0 + pseudocount), g = g1 scaled to [-1, 1] per cell type.

    >>> t = geneqn.targets(adata, cell_type_column="cell_type")     # doctest: +SKIP
    """
    cell_types = list(cell_types or [])
    kw = dict(cell_type_column=cell_type_column, cell_types=cell_types, min_cells=min_cells, values=values)
    if hasattr(expression, "obs") and hasattr(expression, "var"):  # AnnData (or a view of one)
        g0, symbol, counts, _ = _from_anndata(expression, "AnnData", **kw)
        source = "AnnData"
    elif isinstance(expression, pd.DataFrame):
        _averaged_values(values, "DataFrame")
        g0, symbol, counts, _ = means_from_frame(expression, cell_types, "DataFrame")
        source = "DataFrame"
    else:
        p = require_file(expression, "expression input")
        source = str(p)
        fmt = detect_format(p) if format == "auto" else format
        if fmt == "h5ad":
            g0, symbol, counts, _ = read_h5ad(p, **kw)
        elif fmt == "10x":
            g0, symbol, counts, _ = read_10x(p, labels=labels, **kw)
        elif fmt == "10x_h5":
            g0, symbol, counts, _ = read_10x_h5(p, labels=labels, **kw)
        elif fmt == "soma":
            g0, symbol, counts, _ = read_soma(p, obs_filter=obs_filter, **kw)
        elif fmt == "table":
            _averaged_values(values, str(p))
            g0, symbol, counts, _ = read_mean_table(p, cell_types)
        else:
            raise GeneqnError(f"unknown expression format {fmt!r}; use h5ad, 10x, 10x_h5, soma or table.")
    out = targets_from_means(g0, symbol, counts, pseudocount, source)
    _warn_undetected(out)
    return out


def _averaged_values(values: str, source: str) -> None:
    """An averaged table is mean expression as it is: refuse a --values that would not apply."""
    if values not in ("cp10k", "X"):
        raise GeneqnError(f"{source}: expression.values = {values!r} (--values) applies to per-cell matrices "
                          "(h5ad, 10x, CellRanger .h5); an averaged table is read as mean expression as it is, "
                          "and the mean of log values is not the log of the mean. Give the per-cell matrix with "
                          f"--values {values}, or a table of means of normalised (not logged) expression "
                          "without --values.")


def _warn_undetected(t: pd.DataFrame) -> None:
    """Say so when many genes are not detected at all: they all sit at g = -1."""
    per_gene = t.groupby("gene", sort=False)["g0"].max()
    zero = int((per_gene <= 0).sum())
    if len(per_gene) and zero / len(per_gene) > 0.3:
        log.warning("%d of %d genes (%.0f%%) have zero mean expression in every cell type: they all get "
                    "g = -1, the lowest target. Check that the genes and cells are the ones meant "
                    "(a filtered matrix, or an expression input with many unused genes).",
                    zero, len(per_gene), 100 * zero / len(per_gene))


compute_targets = targets  # the name before 0.2


def targets_from_means(g0: pd.DataFrame, symbol: pd.Series, n_cells: pd.Series,
                       pseudocount: float = 0.001, source: str = "the expression input") -> pd.DataFrame:
    """Tidy targets from a genes x cell types table of mean expression."""
    frames = []
    for ct in g0.columns:
        values = g0[ct].to_numpy(dtype=np.float64)
        g1, g = scale_targets(values, pseudocount, f"cell type {str(ct)!r} of {source}")
        frames.append(pd.DataFrame({
            "gene": g0.index.astype(str), "symbol": symbol.reindex(g0.index).astype("string").values,
            "cell_type": str(ct), "n_cells": n_cells.get(ct, pd.NA), "g0": values, "g1": g1, "g": g,
        }))
    out = pd.concat(frames, ignore_index=True)
    out["n_cells"] = out["n_cells"].astype("Int64")
    out["gene"] = out["gene"].astype("string")
    out["cell_type"] = out["cell_type"].astype("string")
    return out[TARGET_COLUMNS]


def target_matrix(targets: pd.DataFrame, column: str = "g") -> pd.DataFrame:
    """genes x cell types matrix of one column of the tidy targets table."""
    return targets.pivot(index="gene", columns="cell_type", values=column)
