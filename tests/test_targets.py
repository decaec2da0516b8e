import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from geneqn.errors import GeneqnError
from geneqn.targets import compute_targets, scale_targets, strip_version


def _write_h5ad(path, counts, labels, var_names, symbols=None, raw=True):
    import anndata as ad

    var = pd.DataFrame(index=var_names)
    if symbols is not None:
        var["feature_name"] = symbols
    obs = pd.DataFrame({"cell_type": labels}, index=[f"c{i}" for i in range(len(labels))])
    a = ad.AnnData(X=sp.csr_matrix(np.log1p(counts).astype(np.float32)), obs=obs, var=var)
    if raw:
        a.raw = ad.AnnData(X=sp.csr_matrix(counts.astype(np.float32)), obs=obs, var=var)
    a.write_h5ad(path)


def test_scale_targets_hand_computed():
    g1, g = scale_targets(np.array([0.0, 1.0, 3.0]), pseudocount=1.0)
    np.testing.assert_allclose(g1, [0.0, 1.0, 2.0])
    np.testing.assert_allclose(g, [-1.0, 0.0, 1.0])


def test_paper_pseudocount_transform():
    g0 = np.array([0.0, 0.999, 7.999])
    g1, g = scale_targets(g0)
    np.testing.assert_allclose(g1, np.log2(g0 + 0.001))
    assert g.min() == -1 and g.max() == 1


def test_strip_version():
    assert list(strip_version(["ENSG00000121410.12", "INS", "ENSG00000001"])) == [
        "ENSG00000121410", "INS", "ENSG00000001"]


def test_h5ad_cp10k_means_by_hand(tmp_path):
    # two cells of type a, one of b; genes keyed by Ensembl id, versions stripped
    counts = np.array([[1, 3, 6], [2, 2, 6], [5, 0, 5]], dtype=float)
    p = tmp_path / "x.h5ad"
    _write_h5ad(p, counts, ["a", "a", "b"], ["ENSG00000000001.1", "ENSG00000000002.3", "ENSG00000000003.1"],
                symbols=["G1", "G2", "G3"])
    t = compute_targets(p, min_cells=1)
    a = t[t.cell_type == "a"].set_index("gene")
    # cell 1: total 10 -> [1000, 3000, 6000]; cell 2: total 10 -> [2000, 2000, 6000]
    np.testing.assert_allclose(a.loc[["ENSG00000000001", "ENSG00000000002", "ENSG00000000003"], "g0"],
                               [1500, 2500, 6000])
    assert list(a["symbol"]) == ["G1", "G2", "G3"]
    assert int(a["n_cells"].iloc[0]) == 2
    b = t[t.cell_type == "b"].set_index("gene")
    np.testing.assert_allclose(b["g0"], [5000, 0, 5000])
    np.testing.assert_allclose(b["g"], [1, -1, 1])


def test_h5ad_values_X_and_min_cells(tmp_path):
    counts = np.array([[1, 3], [2, 2], [5, 0]], dtype=float)
    p = tmp_path / "x.h5ad"
    _write_h5ad(p, counts, ["a", "a", "b"], ["A1", "B2"])
    t = compute_targets(p, min_cells=2, values="X")
    assert t.cell_type.unique().tolist() == ["a"]
    np.testing.assert_allclose(t.set_index("gene")["g0"], np.log1p(counts[:2]).mean(axis=0), rtol=1e-6)
    assert t.gene.tolist() == ["A1", "B2"]  # symbols as keys when there is no Ensembl id


def test_h5ad_errors(tmp_path):
    counts = np.array([[1, 3], [2, 2], [5, 0]], dtype=float)
    p = tmp_path / "x.h5ad"
    _write_h5ad(p, counts, ["a", "a", "b"], ["A1", "B2"])
    with pytest.raises(GeneqnError, match="no obs column 'celltype'.*cell_type"):
        compute_targets(p, cell_type_column="celltype")
    with pytest.raises(GeneqnError, match="'zeta' not found.*present: a, b"):
        compute_targets(p, cell_types=["zeta"], min_cells=1)
    with pytest.raises(GeneqnError, match="too few cells for b"):
        compute_targets(p, cell_types=["a", "b"], min_cells=2)
    with pytest.raises(GeneqnError, match="expression input not found"):
        compute_targets(tmp_path / "missing.h5ad")
    neg = tmp_path / "neg.h5ad"
    _write_h5ad(neg, counts - 0.5, ["a", "a", "b"], ["A1", "B2"])
    with pytest.raises(GeneqnError, match="negative values"):
        compute_targets(neg, min_cells=1)


def test_table_input_and_duplicates(tmp_path):
    p = tmp_path / "means.csv"
    pd.DataFrame({"gene": ["ENSG00000000001.2", "ENSG00000000002.1"], "symbol": ["X", "Y"],
                  "alpha": [1.0, 3.0], "beta": [0.0, 2.0]}).to_csv(p, index=False)
    t = compute_targets(p)
    assert set(t.cell_type) == {"alpha", "beta"}
    assert t.gene.unique().tolist() == ["ENSG00000000001", "ENSG00000000002"]
    dup = tmp_path / "dup.csv"
    pd.DataFrame({"gene": ["A", "A"], "alpha": [1.0, 3.0]}).to_csv(dup, index=False)
    with pytest.raises(GeneqnError, match="more than once"):
        compute_targets(dup)
    nan = tmp_path / "nan.csv"
    pd.DataFrame({"gene": ["A", "B"], "alpha": [1.0, np.nan]}).to_csv(nan, index=False)
    with pytest.raises(GeneqnError, match="NaN"):
        compute_targets(nan)


def test_10x_folder(tmp_path):
    import scipy.io

    d = tmp_path / "tenx"
    d.mkdir()
    counts = np.array([[1, 3], [2, 2], [5, 0]], dtype=float)  # cells x genes
    scipy.io.mmwrite(d / "matrix.mtx", sp.coo_matrix(counts.T))
    pd.DataFrame([["ENSG00000000001", "G1", "Gene Expression"], ["ENSG00000000002", "G2", "Gene Expression"]]
                 ).to_csv(d / "features.tsv", sep="\t", header=False, index=False)
    pd.DataFrame(["b1", "b2", "b3"]).to_csv(d / "barcodes.tsv", sep="\t", header=False, index=False)
    with pytest.raises(GeneqnError, match="cell_types.csv"):
        compute_targets(d, min_cells=1)
    pd.DataFrame({"barcode": ["b1", "b2", "b3"], "cell_type": ["a", "a", "b"]}).to_csv(
        d / "cell_types.csv", index=False)
    t = compute_targets(d, min_cells=1)
    a = t[t.cell_type == "a"].set_index("gene")
    np.testing.assert_allclose(a["g0"], [(2500 + 5000) / 2, (7500 + 5000) / 2])
    assert a["symbol"].tolist() == ["G1", "G2"]


def _log_normalised_h5ad(path, counts, labels, raw_is_log=True):
    """scanpy's layout: .raw.X holds log1p(CP10k), .X holds scaled (negative) values."""
    import anndata as ad

    cp10k = counts / counts.sum(axis=1, keepdims=True) * 1e4
    obs = pd.DataFrame({"cell_type": labels}, index=[f"c{i}" for i in range(len(labels))])
    var = pd.DataFrame(index=["A1", "B2", "C3"])
    scaled = (np.log1p(cp10k) - np.log1p(cp10k).mean(0)) / (np.log1p(cp10k).std(0) + 1e-9)
    a = ad.AnnData(X=scaled.astype(np.float32), obs=obs, var=var)
    a.raw = ad.AnnData(X=sp.csr_matrix(np.log1p(cp10k).astype(np.float32)), obs=obs, var=var)
    a.write_h5ad(path)
    return cp10k


def test_log_normalised_input_is_detected_and_undone(tmp_path):
    counts = np.array([[1, 3, 6], [2, 2, 6], [5, 0, 5]], dtype=float)
    p = tmp_path / "pbmc_like.h5ad"
    cp10k = _log_normalised_h5ad(p, counts, ["a", "a", "b"])
    with pytest.raises(GeneqnError, match="looks log-normalised.*--values log1p"):
        compute_targets(p, min_cells=1)
    with pytest.raises(GeneqnError, match="negative values.*log1p"):
        compute_targets(p, min_cells=1, values="X")
    t = compute_targets(p, min_cells=1, values="log1p")
    a = t[t.cell_type == "a"].set_index("gene")
    np.testing.assert_allclose(a.loc[["A1", "B2", "C3"], "g0"], cp10k[:2].mean(axis=0), rtol=1e-5)


def test_anndata_object_and_missing_labels(tmp_path, caplog):
    import anndata as ad

    from geneqn import targets

    counts = np.array([[1, 3], [2, 2], [5, 0], [4, 1]], dtype=float)
    obs = pd.DataFrame({"cell_type": ["a", "a", None, "b"]}, index=list("wxyz"))
    a = ad.AnnData(X=sp.csr_matrix(counts), obs=obs, var=pd.DataFrame(index=["G1", "G2"]))
    t = targets(a, min_cells=1)
    assert sorted(t.cell_type.unique()) == ["a", "b"]  # no cell type "nan" or "None"
    assert "1 of 4 cells have no label" in caplog.text
    means = pd.DataFrame({"gene": ["G1", "G2"], "alpha": [1.0, 3.0]})
    assert targets(means).g.tolist() == [-1.0, 1.0]


def test_cellranger_h5(tmp_path):
    import h5py

    counts = np.array([[1, 3], [2, 2], [5, 0]], dtype=float)  # cells x genes
    m = sp.csc_matrix(counts.T)  # 10x stores genes x cells, CSC over cells
    p = tmp_path / "filtered_feature_bc_matrix.h5"
    with h5py.File(p, "w") as f:
        g = f.create_group("matrix")
        g["data"], g["indices"], g["indptr"] = m.data, m.indices, m.indptr
        g["shape"] = np.array(m.shape)
        g["barcodes"] = np.array([b"b1", b"b2", b"b3"])
        fe = g.create_group("features")
        fe["id"] = np.array([b"ENSG00000000001", b"ENSG00000000002"])
        fe["name"] = np.array([b"G1", b"G2"])
    with pytest.raises(GeneqnError, match="--labels"):
        compute_targets(p, min_cells=1)
    labels = tmp_path / "labels.csv"
    pd.DataFrame({"barcode": ["b1", "b2", "b3"], "cell_type": ["a", "a", "b"]}).to_csv(labels, index=False)
    t = compute_targets(p, min_cells=1, labels=str(labels))
    a = t[t.cell_type == "a"].set_index("gene")
    np.testing.assert_allclose(a["g0"], [(2500 + 5000) / 2, (7500 + 5000) / 2])
    assert a["symbol"].tolist() == ["G1", "G2"]


def test_many_undetected_genes_are_reported(caplog):
    from geneqn import targets

    means = pd.DataFrame({"gene": [f"G{i}" for i in range(10)], "a": [0.0] * 6 + [1.0, 2.0, 3.0, 4.0]})
    targets(means)
    assert "6 of 10 genes (60%) have zero mean expression" in caplog.text


@pytest.mark.parametrize("storage", ["csr", "dense", "csc"])
def test_h5ad_is_streamed_in_slices_with_the_in_memory_means(tmp_path, monkeypatch, caplog, storage):
    """An h5ad is averaged slice by slice (never read whole: anndata.read_h5ad is not called and no
    slice holds all cells), with the means of a hand computation on the whole matrix; a CSC matrix
    (rows scattered over the file) is read once and said so."""
    import sys

    import anndata as ad

    tg = sys.modules["geneqn.targets"]  # (geneqn.targets is also the function)
    rng = np.random.default_rng(0)
    n, genes = 1200, 30
    counts = rng.poisson(rng.gamma(0.6, 2.0, size=genes), size=(n, genes)).astype(np.float32)
    counts[:, 0] += 1  # no empty cell
    labels = rng.choice(["alpha", "beta", "delta", "rare"], size=n, p=[0.5, 0.3, 0.19, 0.01])
    obs = pd.DataFrame({"cell_type": labels}, index=[f"c{i}" for i in range(n)])
    var = pd.DataFrame(index=[f"G{j}" for j in range(genes)])
    x = {"csr": sp.csr_matrix(counts), "dense": counts, "csc": sp.csc_matrix(counts)}[storage]
    ad.AnnData(X=x, obs=obs, var=var).write_h5ad(tmp_path / "x.h5ad")
    # by hand on the whole matrix: counts per 10,000 of each cell, mean per cell type
    cp10k = counts / counts.sum(axis=1, keepdims=True) * 1e4
    truth = {ct: cp10k[labels == ct].mean(axis=0) for ct in ("alpha", "beta", "delta")}

    slices = []
    real_on_disk = tg._on_disk

    class Spy:
        def __init__(self, m):
            self.m, self.shape = m, m.shape

        def __getitem__(self, key):
            part = self.m[key]
            slices.append(part.shape[0])
            return part

    monkeypatch.setattr(tg, "_on_disk", lambda node: Spy(real_on_disk(node)))
    monkeypatch.setattr(ad, "read_h5ad", lambda *a, **k: pytest.fail("the h5ad was read whole"))
    monkeypatch.setattr(tg, "CHUNK_VALUES", 3000)  # about 100-200 cells a slice here
    t = compute_targets(tmp_path / "x.h5ad", min_cells=50)
    assert sorted(t.cell_type.unique()) == ["alpha", "beta", "delta"]  # "rare" has too few cells
    for ct, means in truth.items():
        np.testing.assert_allclose(t[t.cell_type == ct].set_index("gene").loc[var.index, "g0"], means, rtol=1e-6)
    assert len(slices) > 5 and max(slices) < n
    assert ("stored column by column (CSC)" in caplog.text) == (storage == "csc")


def test_cellranger_h5_is_streamed_in_slices_of_cells(tmp_path, monkeypatch):
    """A CellRanger .h5 (genes x cells CSC = cells x genes CSR) is averaged a slice of cells at a
    time, to a hand computation's means."""
    import sys

    import h5py

    tg = sys.modules["geneqn.targets"]
    rng = np.random.default_rng(1)
    n, genes = 900, 12
    counts = rng.poisson(1.5, size=(n, genes)).astype(float)
    counts[:, 0] += 1
    labels = rng.choice(["a", "b"], size=n)
    m = sp.csc_matrix(counts.T)
    p = tmp_path / "filtered_feature_bc_matrix.h5"
    with h5py.File(p, "w") as f:
        g = f.create_group("matrix")
        g["data"], g["indices"], g["indptr"] = m.data, m.indices, m.indptr
        g["shape"] = np.array(m.shape)
        g["barcodes"] = np.array([f"b{i}".encode() for i in range(n)])
        fe = g.create_group("features")
        fe["id"] = np.array([f"ENSG{j:011d}".encode() for j in range(genes)])
        fe["name"] = np.array([f"G{j}".encode() for j in range(genes)])
    pd.DataFrame({"barcode": [f"b{i}" for i in range(n)], "cell_type": labels}).to_csv(tmp_path / "l.csv", index=False)
    seen = []
    real = tg._CellRows.__getitem__
    monkeypatch.setattr(tg._CellRows, "__getitem__", lambda self, k: seen.append(k) or real(self, k))
    monkeypatch.setattr(tg, "CHUNK_VALUES", 1000)
    t = compute_targets(p, min_cells=1, labels=str(tmp_path / "l.csv"))
    cp10k = counts / counts.sum(axis=1, keepdims=True) * 1e4
    for ct in ("a", "b"):
        np.testing.assert_allclose(t[t.cell_type == ct]["g0"].to_numpy(), cp10k[labels == ct].mean(axis=0), rtol=1e-6)
    spans = [k.stop - k.start for k in seen if k.start is not None and k.start > 0]
    assert len(seen) > 5 and spans and max(spans) < n


def _write_10x(d, counts, labels, order="cell", gz=False):
    """A 10x folder written by hand: matrix.mtx entries in cell order (as CellRanger writes them)
    or in gene order."""
    import gzip

    d.mkdir()
    m = sp.coo_matrix(counts.T)  # genes x cells
    keys = (m.row, m.col) if order == "cell" else (m.col, m.row)  # np.lexsort: the last key sorts first
    idx = np.lexsort(keys)
    lines = ["%%MatrixMarket matrix coordinate integer general", "% written by a test",
             f"{m.shape[0]} {m.shape[1]} {m.nnz}"]
    lines += [f"{m.row[k] + 1} {m.col[k] + 1} {int(m.data[k])}" for k in idx]
    text = "\n".join(lines) + "\n"
    if gz:
        with gzip.open(d / "matrix.mtx.gz", "wt") as fh:
            fh.write(text)
    else:
        (d / "matrix.mtx").write_text(text)
    n_cells, n_genes = counts.shape
    pd.DataFrame([[f"ENSG{i:011d}", f"G{i}", "Gene Expression"] for i in range(n_genes)]).to_csv(
        d / "features.tsv", sep="\t", header=False, index=False)
    pd.DataFrame([f"b{j}" for j in range(n_cells)]).to_csv(d / "barcodes.tsv", sep="\t", header=False, index=False)
    pd.DataFrame({"barcode": [f"b{j}" for j in range(n_cells)], "cell_type": labels}).to_csv(
        d / "cell_types.csv", index=False)


@pytest.mark.parametrize("gz", [False, True])
def test_10x_matrix_market_is_streamed_by_slices_of_cells(tmp_path, monkeypatch, caplog, gz):
    """matrix.mtx in cell order is read a block of lines at a time and averaged in slices of cells
    (scipy's mmread, which reads it whole, is never called): the means are the hand-computed
    counts per 10,000. Out of cell order, it is read whole, with a warning, to the same means."""
    import sys

    import scipy.io

    T = sys.modules["geneqn.targets"]  # `import geneqn.targets` gives the function geneqn.targets

    rng = np.random.default_rng(4)
    counts = rng.poisson(0.7, size=(240, 30)).astype(float)
    counts[:, 0] += 1  # every cell has counts
    labels = np.array(["alpha", "beta", "delta"])[rng.integers(0, 3, 240)]
    cp10k = counts / counts.sum(axis=1, keepdims=True) * 1e4
    want = {ct: cp10k[labels == ct].mean(axis=0) for ct in ("alpha", "beta", "delta")}
    _write_10x(tmp_path / "sorted", counts, labels, "cell", gz)
    _write_10x(tmp_path / "unsorted", counts, labels, "gene", gz)
    monkeypatch.setattr(T._MtxCells, "BLOCK", 97)  # blocks of lines that end inside a cell
    monkeypatch.setattr(T, "CHUNK_VALUES", 300)  # slices of a few cells
    slices = []
    real_getitem = T._MtxCells.__getitem__
    monkeypatch.setattr(T._MtxCells, "__getitem__", lambda self, k: slices.append(k) or real_getitem(self, k))
    real_mmread = scipy.io.mmread
    read_whole = []
    monkeypatch.setattr(scipy.io, "mmread", lambda *a, **k: read_whole.append(a) or real_mmread(*a, **k))
    for folder, whole in (("sorted", False), ("unsorted", True)):
        slices.clear(), read_whole.clear(), caplog.clear()
        t = compute_targets(tmp_path / folder, min_cells=1)
        for ct, means in want.items():
            got = t[t.cell_type == ct].set_index("gene").loc[[f"ENSG{i:011d}" for i in range(30)], "g0"]
            np.testing.assert_allclose(got.to_numpy(), means, rtol=1e-6)
        assert bool(read_whole) == whole
        assert ("not in cell order" in caplog.text) == whole
        if not whole:
            assert len([s for s in slices if s.start not in (0, None)]) > 5  # many slices past the first


def test_soma_experiment_is_streamed_with_the_in_memory_means(tmp_path, monkeypatch):
    """A local SOMA experiment (tiledbsoma, the CELLxGENE Census format) built from an AnnData:
    averaged by slices of cells (many range reads), to the means of the AnnData itself."""
    import sys

    import anndata as ad
    import tiledbsoma.io

    from geneqn import targets

    T = sys.modules["geneqn.targets"]
    rng = np.random.default_rng(8)
    counts = rng.poisson(0.8, size=(300, 25)).astype(np.float32)
    counts[:, 3] += 1
    labels = np.array(["alpha", "beta", "gamma"])[rng.integers(0, 3, 300)]
    a = ad.AnnData(X=sp.csr_matrix(counts), obs=pd.DataFrame({"cell_type": labels}, index=[f"c{i}" for i in range(300)]),
                   var=pd.DataFrame({"feature_name": [f"G{i}" for i in range(25)]},
                                    index=[f"ENSG{i:011d}" for i in range(25)]))
    uri = tiledbsoma.io.from_anndata(str(tmp_path / "exp"), a, measurement_name="RNA", X_layer_name="raw")
    want = targets(a, min_cells=1)
    monkeypatch.setattr(T, "CHUNK_VALUES", 200)
    reads = []
    real = T._SomaCells.__getitem__
    monkeypatch.setattr(T._SomaCells, "__getitem__", lambda self, k: reads.append(k) or real(self, k))
    got = targets(uri, min_cells=1)
    assert len(reads) > 10
    pd.testing.assert_frame_equal(got.reset_index(drop=True), want.reset_index(drop=True), check_exact=False, rtol=1e-6)
    cp10k = counts / counts.sum(axis=1, keepdims=True) * 1e4
    g0 = got[got.cell_type == "beta"].set_index("gene").loc[[f"ENSG{i:011d}" for i in range(25)], "g0"]
    np.testing.assert_allclose(g0.to_numpy(), cp10k[labels == "beta"].mean(axis=0), rtol=1e-5)
    assert got["symbol"].iloc[0].startswith("G")
    with pytest.raises(GeneqnError, match="no obs column 'tissue'"):
        targets(uri, min_cells=1, cell_type_column="tissue")
    # an obs filter: only the cells it keeps (their joinids are no longer one range)
    a.obs["donor"] = np.where(np.arange(300) % 3 == 0, "d1", "d2")
    uri2 = tiledbsoma.io.from_anndata(str(tmp_path / "exp2"), a, measurement_name="RNA", X_layer_name="raw")
    kept = targets(uri2, min_cells=1, obs_filter="donor == 'd1'")
    d1 = np.arange(300) % 3 == 0
    g0 = kept[kept.cell_type == "alpha"].set_index("gene").loc[[f"ENSG{i:011d}" for i in range(25)], "g0"]
    np.testing.assert_allclose(g0.to_numpy(), cp10k[d1 & (labels == "alpha")].mean(axis=0), rtol=1e-5)
    assert kept.groupby("cell_type")["n_cells"].first().sum() == d1.sum()
    with pytest.raises(GeneqnError, match="keeps no cell"):
        targets(uri2, min_cells=1, obs_filter="donor == 'd9'")
