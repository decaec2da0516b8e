import numpy as np
import pandas as pd
import pytest
import torch
from typer.testing import CliRunner

from geneqn.errors import GeneqnError
from geneqn.features import beluga as bl
from geneqn.features import expecto as ex
from geneqn.genome import encode

# the published checkpoint's keys and shapes (FunctionLab/ExPecto, chromatin.py)
KEYS = {"model.0.0": (320, 4, 1, 8), "model.0.2": (320, 320, 1, 8), "model.0.6": (480, 320, 1, 8),
        "model.0.8": (480, 480, 1, 8), "model.0.12": (640, 480, 1, 8), "model.0.14": (640, 640, 1, 8),
        "model.1.2.1": (2003, 67840), "model.1.4.1": (2002, 2003)}


def test_beluga_shapes_and_parameter_count():
    m = bl.build_beluga("meta")
    sd = m.state_dict()
    assert {k: tuple(v.shape) for k, v in sd.items() if k.endswith("weight")} == {f"{k}.weight": s for k, s in KEYS.items()}
    assert all(tuple(sd[f"{k}.bias"].shape) == (s[0],) for k, s in KEYS.items())
    # by hand: sum of out*in*k + out over the 8 layers
    hand = sum(s[0] * int(np.prod(s[1:])) + s[0] for s in KEYS.values())
    assert bl.n_parameters(m) == hand == 149_536_251
    x = torch.zeros(2, 4, 1, 2000, device="meta")
    assert m(x).shape == (2, 2002)


def test_beluga_input_conventions():
    x = bl.beluga_one_hot(encode("ACGTN"))[0, :, 0, :]
    # channels A, G, C, T (not Sei's A, C, G, T); N is all zeros (not 0.25)
    np.testing.assert_array_equal(x, [[1, 0, 0, 0, 0], [0, 0, 1, 0, 0], [0, 1, 0, 0, 0], [0, 0, 0, 1, 0]])
    seq = "ACGGTNCATTG"
    rc = seq[::-1].translate(str.maketrans("ACGTN", "TGCAN"))
    got = bl.reverse_complement(torch.from_numpy(bl.beluga_one_hot(encode(seq)))).numpy()
    np.testing.assert_array_equal(got, bl.beluga_one_hot(encode(rc)))
    # ExPecto's window of a 0-based position p: the middle 2,000 of 2,100 bp around it
    assert bl.window_bounds(10_000) == (9_001, 11_001)


def test_loader_errors(tmp_path):
    small = bl.Beluga(widths=(8, 8, 8), n_targets=6)
    torch.save(small.state_dict(), tmp_path / "small.pth")
    with pytest.raises(GeneqnError, match="(?s)does not fit the Beluga network.*shape mismatch for model.0.0.weight"):
        bl.load_beluga(tmp_path / "small.pth", "cpu")
    sd = {k: v for k, v in bl.build_beluga("meta").state_dict().items() if k != "model.1.4.1.bias"}
    torch.save({"state_dict": {f"module.{k}": torch.empty(v.shape) for k, v in list(sd.items())[:2]}}, tmp_path / "p.pth")
    with pytest.raises(GeneqnError, match="missing keys .*model.0.6.weight"):
        bl.load_beluga(tmp_path / "p.pth", "cpu")
    (tmp_path / "junk.pth").write_bytes(b"not a checkpoint" * 100)
    with pytest.raises(GeneqnError, match="cannot read .*junk.pth"):
        bl.load_beluga(tmp_path / "junk.pth", "cpu")


def test_decay_features_against_a_hand_computation():
    d = ex.offsets(400)
    assert d.tolist() == [-400, -200, 0, 200, 400]
    preds = np.array([[1.0, 2.0], [3.0, 0.0], [5.0, 1.0], [0.0, 4.0], [2.0, 2.0]])  # windows x profiles
    f = ex.reduce_windows(preds, d).reshape(10, 2)
    # upstream, l = 0.01: windows at -400 (bin 2), -200 (bin 1), 0 (bin 0)
    up = [np.exp(-0.01 * 2) * preds[0] + np.exp(-0.01) * preds[1] + preds[2]]
    np.testing.assert_allclose(f[0], up[0])
    # downstream, l = 0.2: windows at 0, 200, 400
    np.testing.assert_allclose(f[9], preds[2] + np.exp(-0.2) * preds[3] + np.exp(-0.4) * preds[4])
    assert f.shape == (10, 2) and len(ex.feature_names(2)) == 20
    # a window 199 bp away is in the same 200-bp bin as the TSS (floor), as in ExPecto
    np.testing.assert_allclose(ex.decay_weights(np.array([-199]))[:5, 0], 1.0)


@pytest.fixture
def world(tmp_path):
    """A synthetic genome (3 chromosomes of 30 kb) with 80 genes, averaged expression of 2 cell
    types, a feature table for the other models, and a small random Beluga."""
    rng = np.random.default_rng(0)
    seqs = {f"chr{i}": "".join(rng.choice(list("ACGT"), 30_000)) for i in (1, 2, 3)}
    genome = tmp_path / "g.fa"
    genome.write_text("".join(f">{c}\n{s}\n" for c, s in seqs.items()))
    genes = [f"GENE{i}" for i in range(80)]
    chroms = rng.choice(["chr1", "chr2", "chr3"], 80)
    pos = rng.integers(3000, 27000, 80)
    strand = rng.choice(["+", "-"], 80)
    bed = tmp_path / "tss.bed"
    bed.write_text("".join(f"{c}\t{p}\t{p + 500}\t{g}\t0\t{s}\n" for g, c, p, s in zip(genes, chroms, pos, strand)))
    expr = pd.DataFrame({"gene": genes, "alpha": rng.gamma(1.0, 5.0, 80), "beta": rng.gamma(1.0, 5.0, 80)})
    expr.to_csv(tmp_path / "means.csv", index=False)
    feats = pd.DataFrame(rng.normal(size=(80, 5)), columns=[f"f{i}" for i in range(5)])
    feats.insert(0, "gene", genes)
    feats.to_csv(tmp_path / "features.csv", index=False)
    torch.manual_seed(0)
    model = bl.Beluga(widths=(8, 8, 8), n_targets=6).eval()
    return tmp_path, model


def test_provider_computes_streams_and_resumes(world, monkeypatch):
    tmp, model = world
    tss = pd.DataFrame({"gene": ["a", "b"], "chrom": ["chr1", "chr2"], "tss": [5000, 9000], "strand": ["+", "-"]})
    prov = ex.ExpectoProvider(tmp / "g.fa", tmp, device="cpu", batch_size=3, chunk_size=1, max_shift=400, model=model)
    out = prov.compute(tss, tmp / "chunks")
    assert out.shape == (2, 60) and out.index.tolist() == ["a", "b"]
    # gene b, on the minus strand: its window at d = +200 (downstream) is centred at 9000 - 200
    from geneqn.genome import Genome

    g = Genome(tmp / "g.fa")
    d = ex.offsets(400)
    codes = np.stack([encode(g.fetch("chr2", *bl.window_bounds(9000 - di))) for di in d])
    preds = bl.predict(model, torch.from_numpy(bl.beluga_one_hot(codes))).numpy()
    np.testing.assert_allclose(out.loc["b"].to_numpy(), ex.reduce_windows(preds, d), rtol=1e-5, atol=1e-6)
    calls = []
    real = ex.predict
    monkeypatch.setattr(ex, "predict", lambda m, x: calls.append(len(x)) or real(m, x))
    (tmp / "chunks" / "chunk_00001.parquet").unlink()
    again = prov.compute(tss, tmp / "chunks")
    assert sum(calls) == 5  # only gene b's windows ran again
    pd.testing.assert_frame_equal(again, out)


def test_expectosc_ridge_on_planted_features(rng):
    from geneqn.baselines import ExPectoSC

    X = rng.normal(size=(400, 30))
    y = X[:, 3] - 2 * X[:, 7] + 0.05 * rng.normal(size=400)
    m = ExPectoSC().fit(X[:300], y[:300], X[300:350], y[300:350])
    assert m.alpha_ in (0.01, 0.1, 1.0, 10.0, 100.0)
    assert np.corrcoef(m.predict(X[350:]), y[350:])[0, 1] > 0.99
    # ExPectoSC's weights: 2 at or above the 70th percentile of the genes' sd across cell types
    # (cell types centred first), 0.5 below the 10th, else 1
    wide = pd.DataFrame({"a": np.zeros(10), "b": [0.0, 1, 2, 3, 4.5, 4.6, 6, 7, 8, 9]})
    sd = np.abs(wide["b"] - wide["b"].mean()) / np.sqrt(2)  # two columns: |difference| / sqrt(2)
    hi, lo = np.percentile(sd, 70), np.percentile(sd, 10)
    expected = np.where(sd >= hi, 2.0, np.where(sd < lo, 0.5, 1.0))
    np.testing.assert_array_equal(ex.expression_weights(wide).to_numpy(), expected)
    assert sorted(set(expected)) == [0.5, 1.0, 2.0]


def test_the_expectosc_row_end_to_end(world, monkeypatch):
    """features.baselines = ["expectosc"] on the synthetic world: Beluga (small, random weights,
    3 windows per gene) -> ExPecto features -> ExPectoSC per cell type -> a Table 1 row."""
    from geneqn.cli import app

    tmp, model = world
    (tmp / "beluga").mkdir()
    (tmp / "beluga" / "deepsea.beluga.pth").write_bytes(b"weights are replaced by the test's small model")
    monkeypatch.setattr(ex, "load_beluga", lambda path, device: model)
    cfg = tmp / "c.toml"
    cfg.write_text(f'[run]\nfolder = "{tmp / "run"}"\n[expression]\npath = "{tmp / "means.csv"}"\n'
                   f'[annotation]\npath = "{tmp / "tss.bed"}"\n[genome]\npath = "{tmp / "g.fa"}"\n'
                   f'[features]\nprovider = "table"\ntable = "{tmp / "features.csv"}"\nbaselines = ["expectosc"]\n'
                   f'beluga_dir = "{tmp / "beluga"}"\nexpectosc_shift = 200\ndevice = "cpu"\n')
    r = CliRunner().invoke(app, ["run", str(cfg), "--until", "expectosc", "--plain"])
    assert r.exit_code == 0, r.output
    assert "- expectosc: " in r.output and "ExPectoSC test r: alpha" in r.output
    feats = pd.read_parquet(tmp / "run" / "expectosc" / "features.parquet")
    assert feats.shape[1] == 10 * 6 and len(feats) == 80
    preds = pd.read_parquet(tmp / "run" / "expectosc" / "predictions.parquet")
    assert set(preds.cell_type) == {"alpha", "beta"} and preds.yhat.notna().all()
    # the model is saved (variant effects use it): its coefficients and intercept give its predictions
    import json

    coef = pd.read_parquet(tmp / "run" / "expectosc" / "coef.parquet")
    metrics = json.loads((tmp / "run" / "expectosc" / "metrics.json").read_text())
    p = preds[preds.cell_type == "alpha"]
    np.testing.assert_allclose(feats.loc[p.gene.astype(str)].to_numpy(dtype=float) @ coef["alpha"].to_numpy()
                               + metrics["alpha"]["intercept"], p.yhat, rtol=1e-5, atol=1e-6)
