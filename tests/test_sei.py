import hashlib
import io
import tarfile

import numpy as np
import pandas as pd
import pytest
import torch

from geneqn.errors import GeneqnError
from geneqn.features import seqclass
from geneqn._torch import resolve_device, resolve_dtype
from geneqn.features.sei import (SeiProvider, bspline_basis, build_sei, load_sei, predict,
                                 reverse_complement)
from geneqn.genome import encode, one_hot

# The spec's 38 tensors (../shared/specs/sei.md): weight shapes; each has a bias of shape (out,)
SPEC_WEIGHTS = {
    "lconv1.0": (480, 4, 9), "lconv1.1": (480, 480, 9), "conv1.0": (480, 480, 9), "conv1.2": (480, 480, 9),
    "lconv2.2": (640, 480, 9), "lconv2.3": (640, 640, 9), "conv2.1": (640, 640, 9), "conv2.3": (640, 640, 9),
    "lconv3.2": (960, 640, 9), "lconv3.3": (960, 960, 9), "conv3.1": (960, 960, 9), "conv3.3": (960, 960, 9),
    **{f"dconv{i}.1": (960, 960, 5) for i in range(1, 6)},
    "classifier.0": (21907, 15360), "classifier.2": (21907, 21907),
}
SMALL = dict(widths=(8, 12, 16), n_targets=30)


def test_full_size_on_meta_matches_spec():
    m = build_sei(device="meta")
    sd = m.state_dict()
    expected = {}
    for k, shape in SPEC_WEIGHTS.items():
        expected[f"{k}.weight"] = shape
        expected[f"{k}.bias"] = (shape[0],)
    assert {k: tuple(v.shape) for k, v in sd.items()} == expected
    assert len(sd) == 38
    n = sum(p.numel() for p in m.parameters())
    assert n == 889_979_983
    conv = sum(p.numel() for k, p in m.named_parameters() if not k.startswith("classifier"))
    assert conv == 73_528_000
    assert "spline_tr.1.basis" not in sd  # fixed basis, not persisted
    assert [getattr(m, f"dconv{i}")[1].dilation[0] for i in range(1, 6)] == [2, 4, 8, 16, 25]
    assert [getattr(m, f"dconv{i}")[1].padding[0] for i in range(1, 6)] == [4, 8, 16, 32, 50]


def _cox_de_boor(x, knots, i, k):
    if k == 0:
        return float(knots[i] <= x < knots[i + 1])
    left = 0.0 if knots[i + k] == knots[i] else (x - knots[i]) / (knots[i + k] - knots[i]) * _cox_de_boor(x, knots, i, k - 1)
    right = 0.0 if knots[i + k + 1] == knots[i + 1] else (knots[i + k + 1] - x) / (knots[i + k + 1] - knots[i + 1]) * _cox_de_boor(x, knots, i + 1, k - 1)
    return left + right


def test_bspline_basis_properties():
    B = bspline_basis()
    assert B.shape == (256, 16)
    np.testing.assert_allclose(B.sum(axis=1), 1.0, atol=1e-12)
    # independent Cox-de Boor evaluation with the spec's knots: 255k/13 inside, 0 and 255 x4
    knots = np.array([0.0] * 4 + [255 * k / 13 for k in range(1, 13)] + [255.0] * 4)
    for x in [0, 1, 19.0, 100, 200, 254]:
        ref = [_cox_de_boor(x, knots, i, 3) for i in range(16)]
        np.testing.assert_allclose(B[int(x)], ref, atol=1e-12)
    np.testing.assert_allclose(B[255], [0] * 15 + [1], atol=1e-12)  # right boundary


@pytest.fixture
def small_model():
    torch.manual_seed(0)
    return build_sei(**SMALL).eval()


def test_small_network_runs_on_cpu(small_model):
    x = torch.from_numpy(one_hot(np.random.default_rng(0).integers(0, 5, (3, 4096)).astype(np.uint8)))
    y = small_model(x)
    assert y.shape == (3, 30)
    assert (y > 0).all() and (y < 1).all()


def test_strand_average_is_strand_symmetric(small_model):
    codes = np.random.default_rng(1).integers(0, 5, (2, 4096)).astype(np.uint8)
    x = torch.from_numpy(one_hot(codes))
    a, b = predict(small_model, x), predict(small_model, reverse_complement(x))
    torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
    # and it is the mean of the two strands' outputs
    with torch.no_grad():
        manual = (small_model(x) + small_model(reverse_complement(x))) / 2
    torch.testing.assert_close(a, manual, rtol=1e-5, atol=1e-6)
    # reverse complement of one-hot == one-hot of the reverse-complemented sequence
    seq = "ACGTTGCAN" * 2
    rc = seq[::-1].translate(str.maketrans("ACGTN", "TGCAN"))
    np.testing.assert_array_equal(reverse_complement(torch.from_numpy(one_hot(encode(seq))[None]))[0].numpy(),
                                  one_hot(encode(rc)))


@pytest.mark.parametrize("layout", ["plain", "module.model.", "model.", "wrapped"])
def test_loader_accepts_layouts(small_model, tmp_path, layout):
    sd = small_model.state_dict()
    if layout == "wrapped":
        obj = {"state_dict": sd, "epoch": 3}
    elif layout == "plain":
        obj = sd
    else:
        obj = {layout + k: v for k, v in sd.items()}
    p = tmp_path / "sei.pth"
    torch.save(obj, p)
    m = load_sei(p, "cpu", **SMALL)
    x = torch.from_numpy(one_hot(np.random.default_rng(2).integers(0, 5, (2, 4096)).astype(np.uint8)))
    torch.testing.assert_close(predict(m, x), predict(small_model, x))
    assert not m.training


def test_loader_rejects_mismatch(small_model, tmp_path):
    sd = dict(small_model.state_dict())
    sd.pop("dconv3.1.bias")
    sd["extra.weight"] = torch.zeros(2)
    sd["classifier.2.weight"] = torch.zeros(5, 5)
    p = tmp_path / "other.pth"
    torch.save(sd, p)
    with pytest.raises(GeneqnError) as e:
        load_sei(p, "cpu", **SMALL)
    msg = str(e.value)
    assert "missing keys (1): dconv3.1.bias" in msg
    assert "unexpected keys (1): extra.weight" in msg
    assert "shape mismatch for classifier.2.weight: checkpoint (5, 5), model (30, 30)" in msg
    # a full-size model asked of a small checkpoint fails the same way, without allocating it
    torch.save(small_model.state_dict(), p)
    with pytest.raises(GeneqnError, match="shape mismatch for lconv1.0.weight"):
        load_sei(p, "cpu")


def test_projection_hand_computed(tmp_path):
    P = np.zeros((61, 3))
    P[0] = [3, 4, 0]      # norm 5
    P[1] = [0, 0, 2]      # norm 2
    P[2:] = 1
    p = tmp_path / "projvec_targets.npy"
    np.save(p, P)
    unit = seqclass.load_projection(p, n_targets=3)
    assert unit.shape == (40, 3)
    s = seqclass.project(np.array([[1.0, 2.0, 3.0]]), unit)
    assert s[0, 0] == pytest.approx((1 * 3 + 2 * 4) / 5)
    assert s[0, 1] == pytest.approx(3.0)
    np.save(p, np.ones((61, 4)))
    with pytest.raises(GeneqnError, match=r"shape \(61, 4\); expected \(61, 3\)"):
        seqclass.load_projection(p, n_targets=3)


def test_class_table_matches_paper():
    t = seqclass.sequence_classes()
    assert len(t) == 40 and t["rank"].tolist() == list(range(40))
    assert t["label"].tolist()[:5] == ["PC1", "L1", "TN1", "TN2", "L2"]
    assert seqclass.describe("E10") == ("Brain", "E")
    assert seqclass.describe("TF4") == ("OTX2", "TF")
    assert seqclass.describe("P") == ("Promoter", "P")


@pytest.fixture
def genome(tmp_path):
    rng = np.random.default_rng(5)
    seq = "".join(np.array(list("ACGT"))[rng.integers(0, 4, 9000)])
    p = tmp_path / "g.fa"
    p.write_text(f">chr1\n{seq}\n")
    return p, seq


def test_provider_scores_skips_and_resumes(tmp_path, genome, small_model, monkeypatch):
    path, seq = genome
    P = np.random.default_rng(3).random((40, 30)).astype(np.float32)
    unit = seqclass.unit_rows(P)
    tss = pd.DataFrame({"gene": [f"g{i}" for i in range(7)] + ["lost"],
                        "chrom": ["chr1"] * 7 + ["chr9"], "tss": [100, 2048, 3000, 4500, 6000, 8990, 50, 10],
                        "strand": ["+"] * 8})
    prov = SeiProvider(path, tmp_path / "model", device="cpu", batch_size=2, chunk_size=3,
                       model=small_model, projection=unit)
    run = tmp_path / "run" / "sei_chunks"
    out = prov.compute(tss, run)
    assert out.index.tolist() == [f"g{i}" for i in range(7)]
    assert out.columns.tolist() == seqclass.class_labels()
    assert out.attrs["skipped"] == ["lost"]
    # scores equal a direct computation for one gene (window N-padded at the chromosome start)
    window = "N" * (2048 - 100) + seq[: 100 + 2048]
    x = torch.from_numpy(one_hot(encode(window))[None])
    ref = predict(small_model, x).numpy() @ unit.T.astype(np.float64)
    np.testing.assert_allclose(out.loc["g0"].to_numpy(), ref[0], rtol=1e-4, atol=1e-5)
    # resume: with one chunk deleted only that chunk's genes run again
    chunks = sorted(run.glob("chunk_*.parquet"))
    assert len(chunks) == 3
    chunks[1].unlink()
    calls = []
    import geneqn.features.sei as sei_mod

    real = sei_mod.predict
    monkeypatch.setattr(sei_mod, "predict", lambda m, x: calls.append(len(x)) or real(m, x))
    again = prov.compute(tss, run)
    assert sum(calls) == 3
    pd.testing.assert_frame_equal(again, out)


def test_provider_bad_inputs(tmp_path, genome, small_model):
    path, _ = genome
    unit = seqclass.unit_rows(np.ones((40, 30)))
    prov = SeiProvider(path, tmp_path, device="cpu", model=small_model, projection=unit)
    with pytest.raises(GeneqnError, match="TSS table is empty"):
        prov.compute(pd.DataFrame(columns=["gene", "chrom", "tss", "strand"]), tmp_path)
    with pytest.raises(GeneqnError, match="no TSS lies on a chromosome"):
        prov.compute(pd.DataFrame({"gene": ["a"], "chrom": ["chr5"], "tss": [3], "strand": ["+"]}), tmp_path)
    bad = SeiProvider(path, tmp_path, device="cpu", model=small_model, projection=np.ones((40, 7), np.float32))
    with pytest.raises(GeneqnError, match="7 columns but the model has 30 outputs"):
        bad.compute(pd.DataFrame({"gene": ["a"], "chrom": ["chr1"], "tss": [3000], "strand": ["+"]}), tmp_path)
    missing = SeiProvider(path, tmp_path / "nomodel", device="cpu")
    with pytest.raises(GeneqnError, match="projvec_targets.npy"):
        missing.compute(pd.DataFrame({"gene": ["a"], "chrom": ["chr1"], "tss": [3000], "strand": ["+"]}), tmp_path)


def test_cuda_request_without_gpu():
    if torch.cuda.is_available():
        assert resolve_device("cuda").type == "cuda"
    else:
        with pytest.raises(GeneqnError, match="no CUDA GPU"):
            resolve_device("cuda")
    assert resolve_device("cpu").type == "cpu"


def _tarball(tmp_path, files):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    p = tmp_path / "sei_model.tar.gz"
    p.write_bytes(buf.getvalue())
    return p, hashlib.md5(buf.getvalue()).hexdigest()


@pytest.fixture
def served(tmp_path):
    """A folder served over HTTP on this machine's loopback (nothing leaves the machine)."""
    import functools
    import http.server
    import threading

    root = tmp_path / "www"
    root.mkdir()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    handler.log_message = lambda *a: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield root, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_fetch_checks_the_archive_hash_before_unpacking(tmp_path, served, monkeypatch):
    import geneqn.fetch as fetch

    root, base = served
    archive, md5 = _tarball(root, {"model/sei.pth": b"weights", "model/projvec_targets.npy": b"proj",
                                   "model/target.names": b"x"})
    dest = tmp_path / "dest"
    fetch.fetch_sei(dest, url=f"{base}/{archive.name}", md5=md5)
    assert (dest / "sei.pth").read_bytes() == b"weights"
    assert (dest / "projvec_targets.npy").exists() and not (dest / "sei_model.tar.gz").exists()
    with pytest.raises(GeneqnError, match="checksum mismatch for sei_model.tar.gz.*has been deleted"):
        fetch.fetch_sei(tmp_path / "d2", url=f"{base}/{archive.name}", md5="0" * 32)
    assert not list((tmp_path / "d2").glob("*"))  # nothing half-written kept
    # a hash pinned in the code is what a download is checked against when none is given
    sha = hashlib.sha256(archive.read_bytes()).hexdigest()
    monkeypatch.setitem(fetch.KNOWN_HASHES, fetch.SEI_ARCHIVE, f"sha256:{sha}")
    fetch.fetch_sei(tmp_path / "d3", url=f"{base}/{archive.name}", api_url="http://127.0.0.1:9/never-asked")
    assert (tmp_path / "d3" / "sei.pth").read_bytes() == b"weights"
    monkeypatch.setitem(fetch.KNOWN_HASHES, fetch.SEI_ARCHIVE, "sha256:" + "1" * 64)
    with pytest.raises(GeneqnError, match="checksum mismatch"):
        fetch.fetch_sei(tmp_path / "d4", url=f"{base}/{archive.name}")


def test_fetch_beluga_needs_a_hash_or_says_unverified(tmp_path, served, caplog):
    import logging

    from geneqn.fetch import BELUGA_ARCHIVE, fetch_beluga

    root, base = served
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        info = tarfile.TarInfo("resources/deepsea.beluga.pth")
        info.size = 5
        tf.addfile(info, io.BytesIO(b"belug"))
    (root / BELUGA_ARCHIVE).write_bytes(buf.getvalue())
    url = f"{base}/{BELUGA_ARCHIVE}"
    with pytest.raises(GeneqnError, match="no checksum of resources_20190807.tar.gz is pinned.*--sha256.*--unverified"):
        fetch_beluga(tmp_path / "b", url=url)
    assert not (tmp_path / "b").exists() or not list((tmp_path / "b").iterdir())
    with caplog.at_level(logging.INFO, logger="geneqn"):
        fetch_beluga(tmp_path / "b", url=url, unverified=True)
    assert (tmp_path / "b" / "deepsea.beluga.pth").read_bytes() == b"belug"
    assert hashlib.sha256(buf.getvalue()).hexdigest() in caplog.text  # printed, to pin


def test_fetch_offline_is_explained(tmp_path):
    from geneqn.fetch import fetch_beluga, fetch_sei

    with pytest.raises(GeneqnError, match="looks offline.*zenodo.4906996"):
        fetch_sei(tmp_path / "d", api_url="http://127.0.0.1:9/api/records/4906997")
    with pytest.raises(GeneqnError, match="cannot reach http://127.0.0.1:9/x.*looks offline.*beluga_dir"):
        fetch_beluga(tmp_path / "b", url="http://127.0.0.1:9/x", md5="0" * 32)


def test_precision_auto_is_fp32_everywhere():
    """bf16 is opt-in: its error on Sei's class scores is unmeasured with the real weights (and
    with random weights, rounding the output alone moves scores by more than their spread)."""
    for dev in ("cpu", "cuda"):
        assert resolve_dtype("auto", torch.device(dev)) == torch.float32
        assert resolve_dtype("bf16", torch.device(dev)) == torch.bfloat16
    with pytest.raises(GeneqnError, match="use auto, fp32 or bf16"):
        resolve_dtype("fp16", torch.device("cpu"))
