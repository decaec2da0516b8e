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


# random bytes (seeded, so a run never starts them with a zip or pickle signature by chance)
NOT_A_CHECKPOINT = b"\x00" + np.random.default_rng(0).bytes(3999)
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
    """Found when the entries are read (the matrix is streamed, so after the labels are checked)."""
    d = _tenx(tmp_path / "tenx")
    pd.DataFrame({"barcode": [f"b{i}" for i in range(COUNTS.shape[0])], "cell_type": "a"}).to_csv(
        d / "cell_types.csv", index=False)
    text = (d / "matrix.mtx").read_text()
    (d / "matrix.mtx").write_text(text[: len(text) // 2])
    fails(["targets", d, "--run", rd, "--min-cells", "1"], "tenx", "cannot read the 10x matrix", "truncated", "Re-export",
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
    """A run folder with targets of 1,500 demo genes (the first 100 TSS genes among them)."""
    from helpers import demo_subset

    rd = tmp_path / "run"
    expr = demo_subset(tmp_path / "expression.parquet", keep_genes=_genes(100))
    r = runner.invoke(app, ["targets", str(expr), "--run", str(rd)])
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
    (d / "sei.pth").write_bytes(weights if weights is not None else NOT_A_CHECKPOINT)
    return d


def _sei_inputs(tmp_path):
    """A 12-kb genome and a BED of two genes on it (a run folder without targets keeps both)."""
    g = tmp_path / "g.fa"
    g.write_text(">chr1\n" + "ACGT" * 3000 + "\n")
    bed = tmp_path / "t.bed"
    bed.write_text("chr1\t5000\t6000\tGENE1\t0\t+\nchr1\t7000\t8000\tGENE2\t0\t-\n")
    return g, bed


def test_sei_genome_of_another_assembly(tmp_path, with_tss):
    g = tmp_path / "other.fa"
    g.write_text(">contig_1\n" + "ACGT" * 100 + "\n")
    fails(["features", "sei", "--genome", g, "--model-dir", _sei_folder(tmp_path), "--device", "cpu",
           "--run", with_tss], "no TSS lies on a chromosome of other.fa", "same assembly", stage="features",
          run=with_tss)


def test_sei_weights_are_random_bytes(tmp_path):
    g, bed = _sei_inputs(tmp_path)
    rd = tmp_path / "r"
    text = fails(["features", "sei", "--genome", g, "--tss", bed, "--model-dir", _sei_folder(tmp_path), "--device",
                  "cpu", "--run", rd], "sei.pth", "cannot read", "is not a PyTorch file", "right file",
                 stage="features", run=rd, output=rd / "features.parquet")
    assert "weights_only=False" not in text  # never advise loading a file as code


def test_sei_projection_of_wrong_shape(tmp_path):
    g, bed = _sei_inputs(tmp_path)
    rd = tmp_path / "r"
    d = _sei_folder(tmp_path, projection_shape=(3, 10))
    fails(["features", "sei", "--genome", g, "--tss", bed, "--model-dir", d, "--device", "cpu", "--run", rd],
          "projvec_targets.npy", "projection matrix has shape (3, 10)", stage="features", run=rd)


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
    net.write_bytes(NOT_A_CHECKPOINT)
    text = fails(["predict", f, "--network", net, "-o", tmp_path / "p.csv"], "net.pt", "cannot read",
                 "is not a PyTorch file", output=tmp_path / "p.csv")
    assert "weights_only=False" not in text


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




# ---------------------------------------------------------------------- issue 19: the audit's findings

def _net_file(path, n_features=3, layers=("8-relu", "2-tanh", "8-relu"), state=None, **meta):
    """A network file as geneqn writes it, with the declarations and tensors given."""
    import json

    import torch

    from geneqn.nas.network import FORMAT, BottleneckMLP
    from geneqn.nas.space import parse_architecture

    arch = parse_architecture(list(layers), 1, 0.1)
    if state is None:
        state = BottleneckMLP(n_features, arch).state_dict()
    torch.save({"format": FORMAT, "state_dict": state, "architecture": arch.to_json(), "n_features": n_features,
                "meta": json.dumps({"feature_names": [f"x{i}" for i in range(3)], **meta})}, path)
    return path


def _features_csv(tmp_path, n=3):
    f = tmp_path / "f.csv"
    pd.DataFrame({"gene": ["A", "B"], **{f"x{i}": [1.0, 2.0] for i in range(n)}}).to_csv(f, index=False)
    return f


def test_network_declaring_huge_layers_is_refused_before_allocating(tmp_path):
    """Issue 19.2: a small file declaring 100,000-unit layers (tens of GB) is refused from its
    declarations, before any tensor is allocated."""
    import torch

    small = {"mean": torch.zeros(3), "scale": torch.ones(3)}  # a few bytes of tensors
    net = _net_file(tmp_path / "net.pt", layers=("100000-relu", "100000-tanh", "100000-relu"), state=small)
    assert net.stat().st_size < 10_000
    fails(["predict", _features_csv(tmp_path), "--network", net, "-o", tmp_path / "p.csv"], "net.pt",
          "declares a layer of width 100,000", "at most 65,536", "not a geneqn network", output=tmp_path / "p.csv")
    big = _net_file(tmp_path / "big.pt", n_features=1_000_000, layers=("60000-relu", "2-tanh", "8-relu"), state=small)
    fails(["predict", _features_csv(tmp_path), "--network", big, "-o", tmp_path / "p.csv"], "big.pt",
          "declares 60,002,180,035 parameters", "more than 200,000,000", output=tmp_path / "p.csv")


def test_network_whose_tensors_do_not_match_its_architecture(tmp_path):
    import torch

    from geneqn.nas.network import BottleneckMLP
    from geneqn.nas.space import parse_architecture

    state = BottleneckMLP(3, parse_architecture(["8-relu", "2-tanh", "8-relu"], 1)).state_dict()
    state["layers.0.weight"] = torch.zeros(16, 3)
    net = _net_file(tmp_path / "edited.pt", state=state)
    fails(["predict", _features_csv(tmp_path), "--network", net, "-o", tmp_path / "p.csv"], "edited.pt",
          "do not match its declared architecture", "layers.0.weight is (16, 3), not (8, 3)", "retrain",
          output=tmp_path / "p.csv")


def test_network_declaring_no_features(tmp_path):
    import torch

    net = _net_file(tmp_path / "zero.pt", n_features=0, state={"mean": torch.zeros(0)})
    fails(["predict", _features_csv(tmp_path), "--network", net, "-o", tmp_path / "p.csv"], "zero.pt",
          "declares 0 input features", "1 to 1,000,000", output=tmp_path / "p.csv")


def _genome_and_bed(tmp_path, bed_lines, seq="ACGT" * 3000):
    g = tmp_path / "g.fa"
    g.write_text(">chr1\n" + seq + "\n")
    t = tmp_path / "t.bed"
    t.write_text("".join(line + "\n" for line in bed_lines))
    return g, t


def test_tss_past_the_chromosome_end(tmp_path):
    """Issue 19.4: a TSS past the chromosome end is named with the chromosome's length and the
    likely cause, instead of becoming a window of Ns."""
    g, t = _genome_and_bed(tmp_path, ["chr1\t5000\t6000\tGENE1\t0\t+",
                                      "chr1\t99999999999\t100000000000\tGENE2\t0\t+"])
    fails(["windows", "--genome", g, "--tss", t, "--out", tmp_path / "w.npz"], "g.fa", "GENE2 at chr1:99,999,999,999",
          "chr1 has 12,000 bp", "another assembly", "fix or remove", output=tmp_path / "w.npz")


def test_tss_past_the_chromosome_end_stops_sei_before_any_feature(tmp_path):
    g, bed = _genome_and_bed(tmp_path, ["chr1\t5000\t6000\tGENE1\t0\t+", "chr1\t50000\t50100\tGENE2\t0\t+"])
    rd = tmp_path / "r"
    fails(["features", "sei", "--genome", g, "--tss", bed, "--model-dir", _sei_folder(tmp_path), "--device", "cpu",
           "--run", rd], "lie off their chromosome", "GENE2 at chr1:50,000", "chr1 has 12,000 bp", stage="features",
          run=rd, output=rd / "features.parquet")


def test_mostly_n_windows_are_named_and_left_out(tmp_path):
    """A gene whose window is mostly an assembly gap is left out and named; the others are kept."""
    seq = "ACGT" * 5000 + "N" * 20000 + "ACGT" * 5000
    genes = [f"G{i}" for i in range(30)]
    lines = [f"chr1\t{1000 + 500 * i}\t{1500 + 500 * i}\t{g}\t0\t+" for i, g in enumerate(genes[:-1])]
    lines.append("chr1\t30000\t30500\tGAP1\t0\t+")  # in the middle of the gap
    g, t = _genome_and_bed(tmp_path, lines, seq)
    r = runner.invoke(app, ["windows", "--genome", str(g), "--tss", str(t), "--out", str(tmp_path / "w.npz")])
    assert r.exit_code == 0, r.output
    text = " ".join(r.output.split())
    assert "GAP1 (chr1:30,000, 100% N)" in text and "left out" in text
    assert "GAP1" not in np.load(tmp_path / "w.npz")["genes"].tolist()


def test_many_mostly_n_windows_stop_the_run(tmp_path):
    seq = "N" * 30000 + "ACGT" * 1000  # a hard-masked genome
    lines = [f"chr1\t{1000 * i}\t{1000 * i + 100}\tG{i}\t0\t+" for i in range(1, 25)]
    g, t = _genome_and_bed(tmp_path, lines, seq)
    fails(["windows", "--genome", g, "--tss", t, "--out", tmp_path / "w.npz"], "24 of 24 TSS windows",
          "more than 50% N", "hard-masked or of another assembly", "unmasked genome", output=tmp_path / "w.npz")


def test_windows_of_a_bed_named_by_symbols_keep_the_names(tmp_path):
    """Issue 19.5: `geneqn windows` on a BED of gene symbols names each window by its symbol."""
    g, t = _genome_and_bed(tmp_path, ["chr1\t5000\t6000\tINS\t0\t+", "chr1\t7000\t8000\tGCG\t0\t-",
                                      "chr1\t3000\t3100\tENSG00000115263\t0\t+"])
    r = runner.invoke(app, ["windows", "--genome", str(g), "--tss", str(t), "--out", str(tmp_path / "w.npz")])
    assert r.exit_code == 0, r.output
    w = np.load(tmp_path / "w.npz")
    assert w["genes"].tolist() == ["INS", "GCG", "ENSG00000115263"]
    # the windows are the genome's bases around each TSS ([tss - 2048, tss + 2048), forward strand)
    from geneqn.genome import encode

    seq = "ACGT" * 3000
    np.testing.assert_array_equal(w["codes"][0], encode(seq[5000 - 2048:5000 + 2048]))


def test_log2_matrix_given_as_log1p(tmp_path, rd):
    """Issue 19.6: log2(x + 1) values are not taken for natural log1p (their means would be wrong)."""
    p = h5ad(tmp_path / "x.h5ad", np.log2(1 + COUNTS * 1.7), ["a", "a", "b", "b"], raw=False)
    fails(["targets", p, "--values", "log1p", "--min-cells", "1", "--run", rd], "x.h5ad", "looks log2-transformed",
          "Multiply it by ln 2", stage="targets", run=rd, output=rd / "targets.parquet")


def test_transformed_matrix_given_as_log1p(tmp_path, rd):
    p = h5ad(tmp_path / "x.h5ad", np.sqrt(COUNTS * 1.7), ["a", "a", "b", "b"], raw=False)
    fails(["targets", p, "--values", "log1p", "--min-cells", "1", "--run", rd], "x.h5ad",
          "does not look like log1p of normalised counts", "raw counts", stage="targets", run=rd)


def test_log1p_of_normalised_counts_gives_the_means_of_the_counts(tmp_path, rd):
    """The check lets real log1p data through: scanpy's normalize_total + log1p (every cell sums to
    10,000) averages to the mean of the normalised counts, computed here by hand."""
    cp10k = COUNTS / COUNTS.sum(axis=1, keepdims=True) * 1e4
    p = h5ad(tmp_path / "x.h5ad", np.log1p(cp10k), ["a", "a", "b", "b"], raw=False)
    r = runner.invoke(app, ["targets", str(p), "--values", "log1p", "--min-cells", "1", "--run", str(rd)])
    assert r.exit_code == 0, r.output
    t = pd.read_parquet(rd / "targets.parquet")
    got = t[t["cell_type"] == "a"].set_index("gene")["g0"]
    np.testing.assert_allclose(got[["G0", "G1", "G2"]].to_numpy(), cp10k[:2].mean(axis=0), rtol=1e-5)


def test_values_log1p_for_an_averaged_table(tmp_path, rd):
    p = tmp_path / "means.csv"
    pd.DataFrame({"gene": ["A", "B", "C"], "alpha": [1.0, 2.0, 3.0]}).to_csv(p, index=False)
    fails(["targets", p, "--values", "log1p", "--run", rd], "means.csv", "applies to per-cell matrices",
          "mean of log values is not the log of the mean", stage="targets", run=rd)


def _equation(tmp_path, latents=None, meta=None, name="equations.json"):
    import json

    eqs = tmp_path / name
    d = {"format": "geneqn-equation-2", "feature_names": ["x0"], "latents": latents or {"z0": [["var", "x0"]]},
         "output": [["var", "z0"]], "meta": meta or {}}
    eqs.write_text(json.dumps({"beta": d}))
    return eqs


def test_predict_with_a_400_digit_constant(tmp_path):
    """Issue 19.7: no traceback from predict, whatever the equation file holds."""
    eqs = _equation(tmp_path, latents={"z0": [["const", 10 ** 400]]})
    fails(["predict", _features_csv(tmp_path, 1), "--equations", eqs, "-o", tmp_path / "p.csv"], "equations.json",
          "beta", "too large for a floating-point number", "equations.json of a geneqn run", output=tmp_path / "p.csv")


def test_predict_with_json_nested_200000_deep(tmp_path):
    eqs = tmp_path / "equations.json"
    eqs.write_text("[" * 200_000 + "]" * 200_000)
    fails(["predict", _features_csv(tmp_path, 1), "--equations", eqs, "-o", tmp_path / "p.csv"], "equations.json",
          "nested too deeply", "not the file meant", output=tmp_path / "p.csv")


def test_predict_log2_with_a_malformed_target_scaling(tmp_path):
    eqs = _equation(tmp_path, meta={"target_scaling": {"g1_min": "low", "g1_max": [1]}})
    fails(["predict", _features_csv(tmp_path, 1), "--equations", eqs, "-o", tmp_path / "p.csv", "--log2"],
          "the equation of beta", "lacks numbers g1_min and g1_max", "without --log2", output=tmp_path / "p.csv")
    eqs = _equation(tmp_path, meta={"target_scaling": {"g1_min": 3.0, "g1_max": 1.0}})
    fails(["predict", _features_csv(tmp_path, 1), "--equations", eqs, "-o", tmp_path / "p.csv", "--log2"],
          "not a range of log2 expression", output=tmp_path / "p.csv")


def test_predict_log2_with_a_network_without_g1_max(tmp_path):
    net = _net_file(tmp_path / "net.pt", cell_type="beta", target_scaling={"g1_min": -10.0})
    fails(["predict", _features_csv(tmp_path), "--network", net, "-o", tmp_path / "p.csv", "--log2"], "net.pt",
          "lacks numbers g1_min and g1_max", "without --log2", output=tmp_path / "p.csv")


def test_predict_log2_turns_g_back_into_log2_expression(tmp_path):
    """The correct case beside the bad ones: g = -1 is g1's minimum, g = 1 its maximum."""
    eqs = _equation(tmp_path, meta={"target_scaling": {"g1_min": -9.97, "g1_max": 12.0}})
    f = tmp_path / "f.csv"
    pd.DataFrame({"gene": ["lo", "mid", "hi"], "x0": [-1.0, 0.0, 1.0]}).to_csv(f, index=False)
    r = runner.invoke(app, ["predict", str(f), "--equations", str(eqs), "-o", str(tmp_path / "p.csv"), "--log2"])
    assert r.exit_code == 0, r.output
    np.testing.assert_allclose(pd.read_csv(tmp_path / "p.csv", index_col=0)["beta"], [-9.97, 1.015, 12.0])


def test_labels_file_that_does_not_exist(tmp_path, rd):
    """Issue 19.8: a --labels file that does not exist is said so (not "no labels, pass --labels")."""
    d = _tenx(tmp_path / "tenx")
    fails(["targets", d, "--labels", tmp_path / "labls.csv", "--run", rd], "labels file", "not found",
          "labls.csv", stage="targets", run=rd)


def test_corrupt_2bit_genome(tmp_path):
    g, t = _genome_and_bed(tmp_path, ["chr1\t5000\t6000\tINS\t0\t+"])
    bad = tmp_path / "hg38.2bit"
    bad.write_bytes(NOT_A_CHECKPOINT)
    fails(["windows", "--genome", bad, "--tss", t, "--out", tmp_path / "w.npz"], "hg38.2bit", "is not a 2bit file",
          "Download it again", output=tmp_path / "w.npz")
    from test_genome import _write_2bit

    _write_2bit(bad, {"chr1": "ACGT" * 3000})
    bad.write_bytes(bad.read_bytes()[:20])  # the header, then cut
    text = fails(["windows", "--genome", bad, "--tss", t, "--out", tmp_path / "w.npz"], "hg38.2bit",
                 "truncated or corrupt", "Download it again", output=tmp_path / "w.npz")
    assert "Received an error" not in text


def test_feature_table_whose_gene_column_is_not_first(tmp_path, with_tss):
    genes = _genes(3)
    p = _feature_table(tmp_path, pd.DataFrame({"f1": [1.0, 2.0, 3.0], "gene": genes, "f2": [0.0, 1.0, 0.5]}))
    fails(["features", "table", p, "--run", with_tss], "features.csv", "gene ids seem to be in column 2 ('gene')",
          "Move that column first", stage="features", run=with_tss, output=with_tss / "features.parquet")


def test_split_fractions_that_leave_no_training_genes(rd):
    fails(["config", "--set", "split.test_fraction=0.9", "--set", "split.valid_fraction=0.9"],
          "leave 1.0% of the genes to train on", "fraction of the genes left after the test genes",
          "lower one of them")


@pytest.mark.parametrize("storage, expected", [
    ("study.db", "'study.db' is not a database URL. Write sqlite:///study.db"),
    ("foo://bar", "unknown database 'foo'; use sqlite:///study.db"),
])
def test_storage_that_is_not_a_database_url(storage, expected):
    fails(["search", "--storage", storage, "--run", "/nonexistent/run"], "search.storage (--storage)", expected)


def test_mouse_symbols_against_human_mane(tmp_path, rd):
    """Issue 19.8: mouse-case symbols against a human annotation stop the tss stage, saying why."""
    human = pd.read_parquet(demo_path("tss.parquet"))["symbol"].dropna().head(507)
    p = tmp_path / "mouse_means.csv"
    pd.DataFrame({"gene": [s.capitalize() for s in human], "beta": np.linspace(0, 5, len(human))}).to_csv(p, index=False)
    assert runner.invoke(app, ["targets", str(p), "--run", str(rd)]).exit_code == 0
    fails(["tss", demo_path("tss.parquet"), "--run", rd], "of 507 expression genes", "too few to model",
          "look like mouse or rat genes", "same species", stage="tss", run=rd, output=rd / "tss.parquet")


# ---------------------------------------------------------------------- bad inputs at 2 a.m.

def test_annotation_that_is_a_binary_file(tmp_path, with_targets):
    p = h5ad(tmp_path / "pancreas.h5ad", COUNTS, ["a", "a", "b", "b"])
    fails(["tss", p, "--run", with_targets], "pancreas.h5ad", "is not a text annotation",
          "expression or genome file by mistake", stage="tss", run=with_targets)


def test_config_that_is_a_folder(tmp_path):
    fails(["config", "--config", tmp_path], str(tmp_path), "is a folder", "give the TOML file itself")


def test_config_that_is_binary(tmp_path):
    p = tmp_path / "c.toml"
    p.write_bytes(b"\xff\xfe\x00\x01binary")
    fails(["config", "--config", p], "c.toml", "is not UTF-8 text", "geneqn config --show")


def test_run_folder_that_is_a_file(tmp_path):
    f = tmp_path / "notes.txt"
    f.write_text("x")
    fails(["targets", demo_path("expression.parquet"), "--run", f], "notes.txt", "is a file, not a folder",
          "Choose another run folder")
    assert f.read_text() == "x"


def test_empty_run_folder_in_the_config(tmp_path):
    c = tmp_path / "c.toml"
    c.write_text('[run]\nfolder = ""\n')
    fails(["config", "--config", c], "run.folder is empty", "--run")


@pytest.mark.parametrize("assignment, expected", [
    ("sr.complexity_limit", "expected SECTION.KEY=VALUE"),
    ("srr.complexity_limit=10", "no section [srr]"),
    ("sr.complexity=10", "unknown key(s) complexity in [sr]; valid keys"),
    ("nn.layers=['64relu']", "'64relu' is not WIDTH-ACTIVATION (e.g. 64-relu)"),
    ("search.latent_layer=9", "latent_layer = 9 is outside the 7 layers"),
])
def test_set_typos(assignment, expected):
    fails(["config", "--set", assignment], expected)


@pytest.mark.parametrize("content, expected", [
    ("", ["cannot read", "truncated"]),
    ("gene,alpha,beta\n", ["header but no gene rows", "the whole file"]),
], ids=["empty-file", "header-only"])
def test_bad_expression_text_files(tmp_path, rd, content, expected):
    p = tmp_path / "means.csv"
    p.write_text(content)
    fails(["targets", p, "--run", rd], "means.csv", *expected, stage="targets", run=rd, output=rd / "targets.parquet")


def test_h5ad_read_as_a_table(tmp_path, rd):
    p = h5ad(tmp_path / "x.h5ad", COUNTS, ["a", "a", "b", "b"])
    fails(["targets", p, "--format", "table", "--run", rd], "x.h5ad", "cannot read", "as a table of mean expression",
          stage="targets", run=rd)


def test_negative_means_in_an_averaged_table(tmp_path, rd):
    p = tmp_path / "zscores.csv"
    pd.DataFrame({"gene": ["A", "B", "C"], "alpha": [-1.2, 0.3, 0.9]}).to_csv(p, index=False)
    text = fails(["targets", p, "--run", rd], "zscores.csv", "negative values", "z-scores", "non-negative",
                 stage="targets", run=rd)
    assert "--values" not in text  # a table takes no --values


def test_mean_table_whose_gene_column_is_not_first(tmp_path, rd):
    p = tmp_path / "means.csv"
    pd.DataFrame({"alpha": [1.0, 2.0], "gene": ["A", "B"], "beta": [2.0, 3.0]}).to_csv(p, index=False)
    fails(["targets", p, "--run", rd], "means.csv", "gene ids seem to be in column 2 ('gene')", "Move that column",
          stage="targets", run=rd)


def test_cell_type_in_the_wrong_case(tmp_path, rd):
    p = h5ad(tmp_path / "x.h5ad", COUNTS, ["Beta", "Beta", "Alpha", "Alpha"])
    fails(["targets", p, "--cell-types", "beta", "--min-cells", "1", "--run", rd], "'beta' not found",
          "did you mean 'beta' -> 'Beta'?", "present: Alpha, Beta", stage="targets", run=rd)


def test_run_cell_types_with_a_typo(tmp_path, with_tss):
    assert runner.invoke(app, ["features", "demo", "--run", str(with_tss)]).exit_code == 0
    assert runner.invoke(app, ["dataset", "--run", str(with_tss)]).exit_code == 0
    fails(["nn", "--run", with_tss, "--set", "run.cell_types=['type B pancreatic cel']"],
          "run.cell_types names 'type B pancreatic cel'", "did you mean", "'type B pancreatic cell'",
          stage="nn", run=with_tss)


@pytest.mark.parametrize("name, content, expected", [
    ("genes.gtf", "##gff-version 3\nchr1\tsrc\tmRNA\t100\t200\t.\t+\t.\tID=tx1;Parent=g1\n",
     ["no 'transcript' rows", "not GFF3"]),
    ("tss.bed", "chr1\t100\t200\tINS\t0\t.\n", ["line 1", "strand '.' must be + or -"]),
    ("tss.bed", "chr1\t500\t200\tINS\t0\t+\n", ["end 200 is not after start 500", "Fix or remove"]),
    # issue 19.8: a negative start is said so, not called a bad strand
    ("tss.bed", "chr1\t-5\t200\tINS\t0\t+\n", ["line 1", "start -5 is negative", "0-based"]),
], ids=["gff3-as-gtf", "bed-dot-strand", "bed-end-before-start", "bed-negative-start"])
def test_bad_annotation_lines(tmp_path, with_targets, name, content, expected):
    p = tmp_path / name
    p.write_text(content)
    text = fails(["tss", p, "--run", with_targets], name, *expected, stage="tss", run=with_targets,
                 output=with_targets / "tss.parquet")
    if "negative" in expected[1]:
        assert "strand" not in text


def test_mane_without_mane_select_rows(tmp_path, with_targets):
    lines = gzip.open(FIX / "mane_slice.summary.txt.gz", "rt").read().splitlines()
    p = tmp_path / "MANE.plus.summary.txt"
    p.write_text("\n".join([lines[0]] + [x.replace("MANE Select", "MANE Plus Clinical") for x in lines[1:]]) + "\n")
    fails(["tss", p, "--run", with_targets], "MANE.plus.summary.txt", "no 'MANE Select' rows", stage="tss",
          run=with_targets)


def test_tss_table_without_strand(tmp_path, with_targets):
    p = tmp_path / "tss.parquet"
    pd.read_parquet(demo_path("tss.parquet")).drop(columns=["strand"]).to_parquet(p)
    fails(["tss", p, "--run", with_targets], "tss.parquet", "needs columns chrom, tss, strand", "missing strand",
          stage="tss", run=with_targets)


def test_missing_hgnc_synonyms_file(tmp_path, with_targets):
    fails(["tss", demo_path("tss.parquet"), "--synonyms", tmp_path / "hgnc_complete_set.txt", "--run", with_targets],
          "HGNC synonyms table not found", "hgnc_complete_set.txt", stage="tss", run=with_targets)


def test_empty_fasta(tmp_path):
    g, t = _genome_and_bed(tmp_path, ["chr1\t5000\t6000\tINS\t0\t+"])
    g.write_text("")
    fails(["windows", "--genome", g, "--tss", t, "--out", tmp_path / "w.npz"], "cannot open FASTA genome",
          "g.fa", "Is it a FASTA file", output=tmp_path / "w.npz")


def test_plain_gzip_fasta(tmp_path):
    g, t = _genome_and_bed(tmp_path, ["chr1\t5000\t6000\tINS\t0\t+"])
    gz = tmp_path / "hg38.fa.gz"
    gz.write_bytes(gzip.compress(g.read_bytes()))
    fails(["windows", "--genome", gz, "--tss", t, "--out", tmp_path / "w.npz"], "hg38.fa.gz",
          "not with bgzip", "recompress it with `bgzip`", output=tmp_path / "w.npz")


def test_windows_of_length_zero(tmp_path):
    g, t = _genome_and_bed(tmp_path, ["chr1\t5000\t6000\tINS\t0\t+"])
    fails(["windows", "--genome", g, "--tss", t, "--out", tmp_path / "w.npz", "--length", "0"],
          "window length 0", "positive even number", output=tmp_path / "w.npz")


def test_feature_table_with_only_a_gene_column(tmp_path, with_tss):
    p = _feature_table(tmp_path, pd.DataFrame({"gene": _genes(3)}))
    fails(["features", "table", p, "--run", with_tss], "features.csv", "needs a gene id column and at least one "
          "feature column", stage="features", run=with_tss)


def test_header_only_feature_table(tmp_path, with_tss):
    p = tmp_path / "features.csv"
    p.write_text("gene,f1,f2\n")
    fails(["features", "table", p, "--run", with_tss], "features.csv", "header but no gene rows",
          stage="features", run=with_tss)


def test_sei_model_dir_that_is_a_file(tmp_path, with_tss):
    g, _ = _genome_and_bed(tmp_path, [])
    weights = tmp_path / "sei.pth"
    weights.write_bytes(b"x")
    fails(["features", "sei", "--genome", g, "--model-dir", weights, "--run", with_tss], "features.model_dir",
          "sei.pth is a file", "names the folder holding sei.pth", stage="features", run=with_tss)


def test_predict_features_lacking_a_column(tmp_path):
    eqs = _equation(tmp_path)
    f = tmp_path / "f.csv"
    pd.DataFrame({"gene": ["A"], "other": [1.0]}).to_csv(f, index=False)
    fails(["predict", f, "--equations", eqs, "-o", tmp_path / "p.csv"], "lacks column(s) x0", "equation of beta",
          output=tmp_path / "p.csv")


def test_predict_output_that_is_a_folder(tmp_path):
    out = tmp_path / "predictions"
    out.mkdir()
    fails(["predict", _features_csv(tmp_path, 1), "--equations", _equation(tmp_path), "-o", out],
          "cannot write", str(out))
    assert out.is_dir() and not list(out.iterdir())


def test_predict_equations_that_are_a_json_list(tmp_path):
    eqs = tmp_path / "equations.json"
    eqs.write_text("[1, 2]")
    fails(["predict", _features_csv(tmp_path, 1), "--equations", eqs, "-o", tmp_path / "p.csv"], "equations.json",
          "expected a JSON object of cell type -> equation", output=tmp_path / "p.csv")


def test_predict_truncated_equations(tmp_path):
    eqs = _equation(tmp_path)
    eqs.write_text(eqs.read_text()[:40])
    fails(["predict", _features_csv(tmp_path, 1), "--equations", eqs, "-o", tmp_path / "p.csv"], "equations.json",
          "is not valid JSON", "truncated", output=tmp_path / "p.csv")


def test_predict_without_a_finished_run(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    fails(["predict", _features_csv(tmp_path, 1), "-o", tmp_path / "p.csv"], "no equations at",
          "--equations FILE or --run DIR", output=tmp_path / "p.csv")


def test_predict_equation_of_an_unknown_format(tmp_path):
    import json

    eqs = tmp_path / "equations.json"
    eqs.write_text(json.dumps({"beta": "0.5 * x0 + 1"}))
    fails(["predict", _features_csv(tmp_path, 1), "--equations", eqs, "-o", tmp_path / "p.csv"], "beta",
          "not a geneqn equation", output=tmp_path / "p.csv")


def test_empty_labels_file(tmp_path, rd):
    d = _tenx(tmp_path / "tenx")
    lab = tmp_path / "labels.csv"
    lab.write_text("")
    fails(["targets", d, "--labels", lab, "--run", rd], "cannot read", "labels.csv", "barcode,cell_type",
          stage="targets", run=rd)


def test_relative_path_in_a_config_is_taken_from_its_folder(tmp_path, monkeypatch):
    """Issue 19.9: the message names the path as resolved from the config's folder, and says so."""
    (tmp_path / "project").mkdir()
    c = tmp_path / "project" / "c.toml"
    c.write_text(f'[run]\nfolder = "{tmp_path / "r"}"\n[expression]\npath = "data/pancreas.h5ad"\n')
    monkeypatch.chdir(tmp_path)
    fails(["targets", "--config", c], "expression input not found", str(tmp_path / "project" / "data" / "pancreas.h5ad"),
          "a relative path in a config file is taken from the config file's folder", stage="targets",
          run=tmp_path / "r")


def test_relative_path_in_the_library_is_taken_from_the_current_folder(tmp_path, monkeypatch):
    import geneqn
    from geneqn.errors import GeneqnError

    monkeypatch.chdir(tmp_path)
    with pytest.raises(GeneqnError, match=f"taken from the current folder, {tmp_path}"):
        geneqn.targets("pancreas.h5ad")
