"""Bad inputs and operations, as a new user meets them: each one stops with a message that names
the file (or key), the problem and the fix, never a traceback, and leaves nothing that a later run
would take as finished (no stamp of the failed stage, no half output)."""

import gzip
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from typer.testing import CliRunner

from geneqn.cli import app
from geneqn.features.demo import demo_path

runner = CliRunner()
FIX = Path(__file__).parent / "fixtures"


def fails(args, *expected, stage=None, run=None, output=None):
    """Run the CLI; it must exit 2 with every ``expected`` text in its message, no traceback,
    and no stamp (nor ``output``) of ``stage`` left in ``run``."""
    r = runner.invoke(app, [str(a) for a in args])
    text = " ".join(r.output.split())  # rich wraps long lines
    assert r.exit_code == 2, (args, r.output, r.exception)
    assert "Traceback" not in r.output and "error:" in text
    for e in expected:
        assert e in text, f"{e!r} not in {text!r}"
    if stage and run:
        assert not (Path(run) / ".stages" / f"{stage}.json").exists()
    if output:
        assert not Path(output).exists()
    return text


def h5ad(path, counts, labels, var_names=None, raw=True, layers=None, log=False):
    import anndata as ad

    var = pd.DataFrame(index=var_names or [f"G{i}" for i in range(counts.shape[1])])
    obs = pd.DataFrame({"cell_type": pd.Categorical(labels)}, index=[f"c{i}" for i in range(len(labels))])
    X = np.log1p(counts) if log else counts
    a = ad.AnnData(X=sp.csr_matrix(X.astype(np.float32)), obs=obs, var=var)
    if raw:
        a.raw = ad.AnnData(X=sp.csr_matrix(X.astype(np.float32)), obs=obs, var=var)
    for name, value in (layers or {}).items():
        a.layers[name] = value
    a.write_h5ad(path)
    return path


COUNTS = np.array([[1, 3, 6], [2, 2, 6], [5, 0, 5], [4, 4, 0]], dtype=float)


# ---------------------------------------------------------------------- expression -> targets

@pytest.fixture
def rd(tmp_path):
    return tmp_path / "run"


def test_missing_expression(tmp_path, rd):
    fails(["targets", tmp_path / "nope.h5ad", "--run", rd], "nope.h5ad", "not found", "Check the path",
          stage="targets", run=rd)


def test_corrupt_h5ad(tmp_path, rd):
    p = tmp_path / "x.h5ad"
    p.write_bytes(os.urandom(3000))
    fails(["targets", p, "--run", rd], "cannot read h5ad file", "x.h5ad", "Is it an AnnData .h5ad file?",
          stage="targets", run=rd, output=rd / "targets.parquet")


def test_no_label_column(tmp_path, rd):
    p = h5ad(tmp_path / "x.h5ad", COUNTS, ["a", "a", "b", "b"])
    fails(["targets", p, "--cell-type-column", "celltype", "--run", rd], "x.h5ad", "no obs column 'celltype'",
          "--cell-type-column", stage="targets", run=rd)


def test_unknown_cell_type(tmp_path, rd):
    p = h5ad(tmp_path / "x.h5ad", COUNTS, ["a", "a", "b", "b"])
    fails(["targets", p, "--cell-types", "zeta", "--min-cells", "1", "--run", rd], "x.h5ad", "'zeta' not found",
          "present: a, b", stage="targets", run=rd)


def test_too_few_cells(tmp_path, rd):
    p = h5ad(tmp_path / "x.h5ad", COUNTS, ["a", "a", "b", "b"])
    fails(["targets", p, "--run", rd], "x.h5ad", "no cell type has at least 20 cells", "Lower --min-cells",
          stage="targets", run=rd)


def test_scaled_values(tmp_path, rd):
    p = h5ad(tmp_path / "x.h5ad", COUNTS - 2.5, ["a", "a", "b", "b"], raw=False)
    fails(["targets", p, "--values", "X", "--min-cells", "1", "--run", rd], "x.h5ad", "negative values",
          "log1p", stage="targets", run=rd)


def test_log_normalised_counts(tmp_path, rd):
    p = h5ad(tmp_path / "x.h5ad", COUNTS * 1.7, ["a", "a", "b", "b"], log=True)
    fails(["targets", p, "--min-cells", "1", "--run", rd], "x.h5ad", "looks log-normalised", "--values log1p",
          stage="targets", run=rd)


def test_nan_expression(tmp_path, rd):
    c = COUNTS.copy()
    c[1, 1] = np.nan
    p = h5ad(tmp_path / "x.h5ad", c, ["a", "a", "b", "b"])
    fails(["targets", p, "--min-cells", "1", "--run", rd], "x.h5ad", "NaN or infinite", "Fill or drop",
          stage="targets", run=rd)


def test_duplicate_genes(tmp_path, rd):
    p = h5ad(tmp_path / "x.h5ad", COUNTS, ["a", "a", "b", "b"], var_names=["G1", "G1", "G2"])
    fails(["targets", p, "--min-cells", "1", "--run", rd], "x.h5ad", "occur more than once",
          "var_names_make_unique", stage="targets", run=rd)


def test_missing_layer(tmp_path, rd):
    p = h5ad(tmp_path / "x.h5ad", COUNTS, ["a", "a", "b", "b"])
    fails(["targets", p, "--values", "layer:spliced", "--min-cells", "1", "--run", rd], "x.h5ad",
          "no layer 'spliced'", "layers present", stage="targets", run=rd)


def test_no_labels_at_all(tmp_path, rd):
    p = h5ad(tmp_path / "x.h5ad", COUNTS, [None] * 4)
    fails(["targets", p, "--min-cells", "1", "--run", rd], "x.h5ad", "no cell-type label at all",
          "--cell-type-column", stage="targets", run=rd)


def _tenx(folder, counts=COUNTS, n_features=None, barcodes=None):
    import scipy.io

    folder.mkdir(exist_ok=True)
    scipy.io.mmwrite(folder / "matrix.mtx", sp.coo_matrix(counts.T))
    n = n_features or counts.shape[1]
    pd.DataFrame([[f"ENSG0000000000{i}", f"G{i}", "Gene Expression"] for i in range(n)]).to_csv(
        folder / "features.tsv", sep="\t", header=False, index=False)
    pd.DataFrame(barcodes or [f"b{i}" for i in range(counts.shape[0])]).to_csv(
        folder / "barcodes.tsv", sep="\t", header=False, index=False)
    return folder


def test_incomplete_10x_folder(tmp_path, rd):
    d = tmp_path / "tenx"
    d.mkdir()
    (d / "matrix.mtx").write_text("")
    fails(["targets", d, "--run", rd], "tenx", "is not a 10x matrix folder", "features.tsv", stage="targets", run=rd)


def test_truncated_matrix_mtx(tmp_path, rd):
    d = _tenx(tmp_path / "tenx")
    text = (d / "matrix.mtx").read_text()
    (d / "matrix.mtx").write_text(text[: len(text) // 2])
    fails(["targets", d, "--run", rd], "tenx", "cannot read the 10x matrix", "truncated", "Re-export",
          stage="targets", run=rd)


def test_10x_files_that_do_not_belong_together(tmp_path, rd):
    d = _tenx(tmp_path / "tenx", n_features=5)
    fails(["targets", d, "--run", rd], "features.tsv lists 5 genes", "do not belong together",
          stage="targets", run=rd)


def test_10x_without_labels(tmp_path, rd):
    d = _tenx(tmp_path / "tenx")
    fails(["targets", d, "--run", rd], "no cell-type labels", "--labels", stage="targets", run=rd)


def test_labels_without_the_column(tmp_path, rd):
    d = _tenx(tmp_path / "tenx")
    pd.DataFrame({"barcode": ["b0", "b1", "b2", "b3"], "label": list("aabb")}).to_csv(d / "cell_types.csv", index=False)
    fails(["targets", d, "--run", rd], "cell_types.csv", "no column 'cell_type'", "--cell-type-column",
          stage="targets", run=rd)


def test_labels_missing_barcodes(tmp_path, rd):
    d = _tenx(tmp_path / "tenx")
    lab = tmp_path / "labels.csv"
    pd.DataFrame({"barcode": ["b0", "b1"], "cell_type": ["a", "b"]}).to_csv(lab, index=False)
    fails(["targets", d, "--labels", lab, "--run", rd], "labels.csv", "2 barcodes", "have no label",
          stage="targets", run=rd)


def test_corrupt_cellranger_h5(tmp_path, rd):
    p = tmp_path / "filtered_feature_bc_matrix.h5"
    p.write_bytes(b"\x89HDF\r\n" + os.urandom(500))
    fails(["targets", p, "--run", rd], "filtered_feature_bc_matrix.h5", "cannot read", "CellRanger",
          stage="targets", run=rd)


def test_non_numeric_table(tmp_path, rd):
    p = tmp_path / "means.csv"
    pd.DataFrame({"gene": ["A", "B"], "alpha": ["high", "low"]}).to_csv(p, index=False)
    fails(["targets", p, "--run", rd], "means.csv", "not numeric", "cell type's mean", stage="targets", run=rd)


def test_truncated_table_gz(tmp_path, rd):
    p = tmp_path / "means.csv.gz"
    data = gzip.compress(("gene,alpha\n" + "\n".join(f"G{i},{i}" for i in range(5000))).encode())
    p.write_bytes(data[: len(data) // 2])
    fails(["targets", p, "--run", rd], "means.csv.gz", "cannot read", "truncated", stage="targets", run=rd)


def test_unknown_expression_format(tmp_path, rd):
    p = tmp_path / "x.loom"
    p.write_text("x")
    fails(["targets", p, "--run", rd], "x.loom", "cannot tell the format", "--format", stage="targets", run=rd)


def test_constant_expression(tmp_path, rd):
    p = tmp_path / "means.csv"
    pd.DataFrame({"gene": ["A", "B", "C"], "alpha": [1.0, 1.0, 1.0]}).to_csv(p, index=False)
    fails(["targets", p, "--run", rd], "same mean expression", "cell type 'alpha'", "means.csv", "--cell-types",
          stage="targets", run=rd)


# ---------------------------------------------------------------------- annotation -> tss

@pytest.fixture
def with_targets(tmp_path):
    rd = tmp_path / "run"
    r = runner.invoke(app, ["targets", str(demo_path("expression.parquet")), "--run", str(rd)])
    assert r.exit_code == 0, r.output
    return rd


def test_empty_annotation_path(with_targets):
    fails(["tss", "--run", with_targets], "annotation.path is empty", "MANE summary", stage="tss", run=with_targets)


def test_mane_malformed_row(tmp_path, with_targets):
    text = gzip.open(FIX / "mane_slice.summary.txt.gz", "rt").read().splitlines()
    text[3] = "\t".join(text[3].split("\t")[:5])
    p = tmp_path / "MANE.bad.summary.txt"
    p.write_text("\n".join(text) + "\n")
    fails(["tss", p, "--run", with_targets], "MANE.bad.summary.txt", "line 4", "truncated or edited",
          stage="tss", run=with_targets, output=with_targets / "tss.parquet")


def test_truncated_mane_gz(tmp_path, with_targets):
    src = Path("/work/shared/data/MANE.GRCh38.v1.0.summary.txt.gz")
    data = src.read_bytes() if src.exists() else (FIX / "mane_slice.summary.txt.gz").read_bytes() * 1
    p = tmp_path / "MANE.GRCh38.v1.0.summary.txt.gz"
    p.write_bytes(data[: len(data) // 2])
    fails(["tss", p, "--run", with_targets], "MANE.GRCh38.v1.0.summary.txt.gz", "truncated or corrupt",
          "download it again", stage="tss", run=with_targets)


def test_gtf_with_bad_rows(tmp_path, with_targets):
    p = tmp_path / "genes.gtf"
    p.write_text("1\tsrc\ttranscript\t100\t200\t.\t+\n")
    fails(["tss", p, "--run", with_targets], "genes.gtf", "line 1", "9 tab-separated fields", stage="tss",
          run=with_targets)


def test_bed_without_strand(tmp_path, with_targets):
    p = tmp_path / "tss.bed"
    p.write_text("chr1\t100\t200\n")
    fails(["tss", p, "--run", with_targets], "tss.bed", "BED needs 6 columns", "strand", stage="tss",
          run=with_targets)


def test_bed_duplicate_genes(tmp_path, with_targets):
    p = tmp_path / "tss.bed"
    p.write_text("chr1\t100\t200\tINS\t0\t+\nchr1\t300\t400\tINS\t0\t-\n")
    fails(["tss", p, "--run", with_targets], "tss.bed", "more than one row", "one transcript per gene",
          stage="tss", run=with_targets)


def test_no_gene_matches(tmp_path, with_targets):
    p = tmp_path / "tss.bed"
    p.write_text("chr1\t100\t200\tNOTAGENE1\t0\t+\nchr1\t300\t400\tNOTAGENE2\t0\t-\n")
    fails(["tss", p, "--run", with_targets], "no expression gene matched", "same species", stage="tss",
          run=with_targets)


def test_unknown_annotation_format(tmp_path, with_targets):
    p = tmp_path / "annotation.txt"
    p.write_text("hello\n")
    fails(["tss", p, "--run", with_targets], "annotation.txt", "cannot tell the annotation format", "--format",
          stage="tss", run=with_targets)


def test_bad_hgnc_table(tmp_path, with_targets):
    p = tmp_path / "hgnc.txt"
    p.write_text("symbol\tname\nINS\tinsulin\n")
    fails(["tss", demo_path("tss.parquet"), "--synonyms", p, "--run", with_targets], "needs columns hgnc_id",
          "HGNC complete set", stage="tss", run=with_targets)


# ---------------------------------------------------------------------- features

@pytest.fixture
def with_tss(with_targets):
    r = runner.invoke(app, ["tss", str(demo_path("tss.parquet")), "--run", str(with_targets)])
    assert r.exit_code == 0, r.output
    return with_targets


def _feature_table(tmp_path, frame, name="features.csv"):
    p = tmp_path / name
    frame.to_csv(p, index=False)
    return p


def _genes(n=100):
    return pd.read_parquet(demo_path("tss.parquet"))["gene_id"].dropna().head(n).tolist()


def test_feature_table_with_nan(tmp_path, with_tss):
    p = _feature_table(tmp_path, pd.DataFrame({"gene": _genes(3), "f1": [1.0, np.nan, 2.0]}))
    fails(["features", "table", p, "--run", with_tss], "features.csv", "NaN in feature column(s) f1",
          "fill or drop", stage="features", run=with_tss, output=with_tss / "features.parquet")


def test_feature_table_with_inf(tmp_path, with_tss):
    p = _feature_table(tmp_path, pd.DataFrame({"gene": _genes(3), "f1": [1.0, np.inf, 2.0]}))
    fails(["features", "table", p, "--run", with_tss], "features.csv", "infinite values", "f1",
          stage="features", run=with_tss)


def test_feature_table_not_numeric(tmp_path, with_tss):
    p = _feature_table(tmp_path, pd.DataFrame({"gene": _genes(2), "f1": ["a", "b"]}))
    fails(["features", "table", p, "--run", with_tss], "features.csv", "not numeric", stage="features", run=with_tss)


def test_feature_table_duplicates(tmp_path, with_tss):
    g = _genes(1)
    p = _feature_table(tmp_path, pd.DataFrame({"gene": g * 2, "f1": [1.0, 2.0]}))
    fails(["features", "table", p, "--run", with_tss], "features.csv", "more than one row", stage="features",
          run=with_tss)


def test_feature_table_of_other_genes(tmp_path, with_tss):
    p = _feature_table(tmp_path, pd.DataFrame({"gene": ["X1", "X2"], "f1": [1.0, 2.0]}))
    fails(["features", "table", p, "--run", with_tss], "features.csv", "no gene of the feature table matches",
          stage="features", run=with_tss)


def test_truncated_feature_parquet(tmp_path, with_tss):
    p = tmp_path / "features.parquet"
    pd.DataFrame({"gene": _genes(50), "f1": np.arange(50.0)}).to_parquet(p)
    p.write_bytes(p.read_bytes()[:300])
    fails(["features", "table", p, "--run", with_tss], "features.parquet", "cannot read", "truncated",
          stage="features", run=with_tss)


def test_sei_without_weights_folder(tmp_path, with_tss):
    fails(["features", "sei", "--run", with_tss], "features.provider = 'sei' needs genome.path",
          "`geneqn fetch sei`", stage="features", run=with_tss)


def _sei_folder(tmp_path, weights: bytes | None = None, projection_shape=(61, 21907)):
    d = tmp_path / "sei"
    d.mkdir()
    np.save(d / "projvec_targets.npy", np.ones(projection_shape, dtype=np.float32))
    (d / "sei.pth").write_bytes(weights if weights is not None else os.urandom(4000))
    return d


def test_sei_genome_of_another_assembly(tmp_path, with_tss):
    g = tmp_path / "other.fa"
    g.write_text(">contig_1\n" + "ACGT" * 100 + "\n")
    fails(["features", "sei", "--genome", g, "--model-dir", _sei_folder(tmp_path), "--device", "cpu",
           "--run", with_tss], "no TSS lies on a chromosome of other.fa", "same assembly", stage="features",
          run=with_tss)


def test_sei_weights_are_random_bytes(tmp_path, with_tss):
    g = tmp_path / "g.fa"
    g.write_text(">chr1\n" + "ACGT" * 3000 + "\n")
    fails(["features", "sei", "--genome", g, "--model-dir", _sei_folder(tmp_path), "--device", "cpu",
           "--run", with_tss], "sei.pth", "cannot read", "weights_only", stage="features", run=with_tss)


def test_sei_projection_of_wrong_shape(tmp_path, with_tss):
    g = tmp_path / "g.fa"
    g.write_text(">chr1\n" + "ACGT" * 3000 + "\n")
    d = _sei_folder(tmp_path, projection_shape=(3, 10))
    fails(["features", "sei", "--genome", g, "--model-dir", d, "--device", "cpu", "--run", with_tss],
          "projvec_targets.npy", "projection matrix has shape (3, 10)", stage="features", run=with_tss)


def test_too_few_genes_for_a_dataset(tmp_path, with_tss):
    p = _feature_table(tmp_path, pd.DataFrame({"gene": _genes(20), "f1": np.arange(20.0)}))
    assert runner.invoke(app, ["features", "table", str(p), "--run", str(with_tss)]).exit_code == 0
    fails(["dataset", "--run", with_tss], "only 20 gene(s) have both targets and features", "unmatched_genes.txt",
          stage="dataset", run=with_tss, output=with_tss / "split.parquet")


# ---------------------------------------------------------------------- config and operations

@pytest.mark.parametrize("assignment, expected", [
    ("sr.complexity_limit=1", "sr.complexity_limit = 1 is too small"),
    ("sr.max_samples=-1", "sr.max_samples must be 0"),
    ("run.seed=-1", "run.seed = -1 must be a non-negative integer"),
    ("train.learning_rate=1e9", "far too large"),
    ("search.layers=[['8-relu'], []]", "layer 1 of the model space has no option"),
])
def test_bad_config_values(assignment, expected, rd):
    fails(["ridge", "--set", assignment, "--run", rd], expected)


def test_windows_of_odd_length(tmp_path):
    g = tmp_path / "g.fa"
    g.write_text(">chr1\n" + "ACGT" * 3000 + "\n")
    t = tmp_path / "t.bed"
    t.write_text("chr1\t5000\t6000\tGENE1\t0\t+\n")
    fails(["windows", "--genome", g, "--tss", t, "--out", tmp_path / "w.npz", "--length", "4097"],
          "4097", "positive even number", output=tmp_path / "w.npz")


def test_predict_with_a_random_network_file(tmp_path):
    f = tmp_path / "f.csv"
    pd.DataFrame({"gene": ["A"], "x": [1.0]}).to_csv(f, index=False)
    net = tmp_path / "net.pt"
    net.write_bytes(os.urandom(1000))
    fails(["predict", f, "--network", net, "-o", tmp_path / "p.csv"], "net.pt", "cannot read", "weights_only",
          output=tmp_path / "p.csv")


def test_predict_with_an_equation_file_holding_code(tmp_path):
    import json

    f = tmp_path / "f.csv"
    pd.DataFrame({"gene": ["A"], "x": [1.0]}).to_csv(f, index=False)
    eqs = tmp_path / "equations.json"
    eqs.write_text(json.dumps({"beta": {"format": "geneqn-equation-2", "feature_names": ["x"],
                                        "latents": {"x0": [["var", "__import__('os').system('id')"]]},
                                        "output": [["var", "x0"]]}}))
    fails(["predict", f, "--equations", eqs, "-o", tmp_path / "p.csv"], "equations.json", "beta",
          "not one of the equation's features", output=tmp_path / "p.csv")


def test_messages_keep_their_brackets():
    """rich must not swallow [search] or [postgres] as markup."""
    text = fails(["config", "--set", "search.layers=[['8-relu'], []]"])
    assert "config: [search]:" in text


def test_disk_full_and_read_only_folders(tmp_path, monkeypatch):
    from geneqn._io import write_text
    from geneqn.errors import GeneqnError

    real = os.replace

    def full(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", full)
    with pytest.raises(GeneqnError, match="the disk is full: cannot write .*x.txt. Free some space"):
        write_text("hello", tmp_path / "x.txt")
    assert not list(tmp_path.iterdir())  # no .tmp left

    def denied(src, dst):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(os, "replace", denied)
    with pytest.raises(GeneqnError, match="permission denied.*Choose a run folder you can write to"):
        write_text("hello", tmp_path / "x.txt")
    monkeypatch.setattr(os, "replace", real)


def test_unknown_stage_to_force(tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_text(f'[run]\nfolder = "{tmp_path / "r"}"\n')
    fails(["run", cfg, "--force", "serch"], "no such stage: serch", "stages: targets")


