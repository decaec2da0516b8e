"""Variant effects through a run's models, checked against truths computed by hand: a k-mer
provider double (features that are counts in the window, so each allele's effect can be counted
by hand), and a small random Sei whose windows are scored separately."""

import gzip
import json
import math

import numpy as np
import pandas as pd
import pytest
import torch

from geneqn._io import write_json, write_parquet
from geneqn.errors import GeneqnError
from geneqn.genome import encode
from geneqn.run.layout import RunLayout
from geneqn.sr.equation import GenomicEquation
from geneqn.sr.expr import Expr
from geneqn.variants import read_variants, sign_auroc, variant_effects

W = 64  # the double's window: [tss - 32, tss + 32)
CT = "gonadotrope"
KMERS = ["A", "GC", "TATA", "N"]


def count(window: str, kmer: str) -> int:
    return sum(window[i:i + len(kmer)] == kmer for i in range(len(window) - len(kmer) + 1))


class KmerProvider:
    """Features: counts of A, GC, TATA and N in the window (a double of a sequence provider)."""

    name = "kmer"
    description = "k-mer counts of the window (a test double)"
    window = W
    feature_names = KMERS

    def __init__(self):
        self.calls = 0

    def window_features(self, codes):
        self.calls += len(codes)
        out = []
        for row in codes:
            s = "".join("ACGTN"[c] for c in row)
            out.append([count(s, k) for k in KMERS])
        return np.array(out, dtype=float)


def g_by_hand(c):
    """The planted equation on counts (A, GC, TATA, N): x0 = 0.05*A*GC, x1 = exp(0.2*TATA) - 1,
    g = x0 - 0.3*x1 + 0.01."""
    a, gc, tata, _ = c
    return 0.05 * a * gc - 0.3 * (math.exp(0.2 * tata) - 1) + 0.01


def planted_equation():
    eq = GenomicEquation(CT, KMERS, {"x0": Expr.parse("0.05*A*GC", KMERS),
                                     "x1": Expr.parse("exp(0.2*TATA) - 1", KMERS)},
                         Expr.parse("x0 - 0.3*x1 + 0.01", ["x0", "x1"]))
    eq.meta["target_scaling"] = {"g1_min": -2.0, "g1_max": 6.0}
    return eq


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    """A genome (chr1, 3,000 bp, with TATA boxes near the TSSs), three genes, and a run folder
    holding the planted equation, a ridge, a small network and a stable core."""
    root = tmp_path_factory.mktemp("variants")
    rng = np.random.default_rng(5)
    seq = list("".join(np.array(list("ACGT"))[rng.integers(0, 4, 3000)]))
    seq[990:994] = "TATA"
    seq[2010:2014] = "TATA"
    seq = "".join(seq)
    (root / "g.fa").write_text(">chr1\n" + "\n".join(seq[i:i + 60] for i in range(0, 3000, 60)) + "\n")
    L = RunLayout(root / "run")
    L.root.mkdir()
    write_json({"geneqn": "test"}, L.marker)
    tss = pd.DataFrame({"gene_id": ["GP", "GM", "GX"], "symbol": ["PLUS", "MINUS", "UNSPLIT"],
                        "chrom": ["chr1"] * 3, "tss": [1000, 2000, 2600], "strand": ["+", "-", "+"]})
    tss.insert(0, "gene", tss["gene_id"])
    write_parquet(tss, L.tss)
    write_parquet(pd.DataFrame({"split": ["train", "test"]}, index=pd.Index(["GP", "GM"], name="gene")), L.split)
    write_parquet(pd.DataFrame({"gene": ["GP", "GM"], "cell_type": [CT] * 2, "g1": [-2.0, 6.0]}), L.targets)
    write_json({"provider": "kmer", "features": KMERS}, L.features_info)
    eq = planted_equation()
    L.equations.parent.mkdir(parents=True)
    write_json({CT: eq.to_dict()}, L.equations)
    L.metrics("ridge").parent.mkdir(parents=True)
    write_json({CT: {"coef": {"A": 0.5, "GC": -0.25, "TATA": 2.0, "N": 0.0}, "intercept": 0.1}}, L.metrics("ridge"))
    # the stable core: x0 only (TATA held at its median, 1)
    core = GenomicEquation(CT, KMERS, {"x0": Expr.parse("0.05*A*GC", KMERS), "x1": Expr.parse("exp(0.2) - 1", KMERS)},
                           Expr.parse("x0 - 0.3*x1 + 0.01", ["x0", "x1"]))
    L.stability.parent.mkdir(parents=True)
    write_json({CT: {"core": {"features": ["A", "GC"], "equation": core.to_dict()}}}, L.stability)
    from geneqn.nas.network import BottleneckMLP
    from geneqn.nas.space import Architecture, LayerChoice

    torch.manual_seed(0)
    net = BottleneckMLP(4, Architecture((LayerChoice(6, "tanh"), LayerChoice(2, "tanh"), LayerChoice(6, "relu")),
                                        latent_layer=1), mean=np.array([16, 4, 1, 0.0]), scale=np.array([4, 2, 1, 1.0]))
    L.networks("nas").mkdir(parents=True)
    net.save(L.network("nas", CT), feature_names=KMERS, cell_type=CT)
    return root, seq, L, net


def window(seq: str, tss: int) -> str:
    return seq[tss - W // 2:tss + W // 2]


def counts(s: str):
    return [count(s, k) for k in KMERS]


def test_effects_equal_hand_counts(planted, tmp_path):
    root, seq, L, net = planted
    p = 1000 + 5  # 1-based position of the base at 0-based 1004, downstream of GP's TSS
    b = seq[p - 1]
    alt_base = "G" if b != "G" else "C"
    ins_pos = 980  # upstream of GP: REF one base, ALT three (the TSS moves by 2)
    del_pos = 1031  # 1-based: the deletion spans the window's right edge (0-based 1030..1032; the window ends at 1031)
    far = 1500  # in no window
    rows = [("chr1", p, "snv", b, alt_base),
            ("chr1", ins_pos, "ins", seq[ins_pos - 1], seq[ins_pos - 1] + "TA"),
            ("chr1", del_pos, "edge_del", seq[del_pos - 1:del_pos + 2], seq[del_pos - 1]),
            ("1", 2000 + 3, "minus", seq[2002], "A" if seq[2002] != "A" else "T"),
            ("chr1", 1010, "wrong_ref", "A" if seq[1009] != "A" else "C", "G"),
            ("chr1", far, "far", seq[far - 1], "A" if seq[far - 1] != "A" else "C"),
            ("chr1", 2605, "unsplit", seq[2604], "A" if seq[2604] != "A" else "C")]
    variants = pd.DataFrame(rows, columns=["chrom", "pos", "id", "ref", "alt"])
    prov = KmerProvider()
    fx = variant_effects(variants, L.root, provider=prov, genome=root / "g.fa", cache_dir=tmp_path / "chunks")
    s = fx.summary
    assert s["skipped"]["ref_mismatch"] == 1 and s["ref_mismatches"] == ["chr1:1010:" + rows[4][3] + ">G"]
    assert s["skipped"]["outside_windows"] == 2  # far, and unsplit (its gene is not modelled)
    assert s["variants_scored"] == 4 and s["pairs"] == 4 and set(s["models"]["used"]) == {"sr", "core", "nas", "ridge"}
    e = fx.effects.set_index("id")

    # the alternative windows, cut by hand from the alternative genome
    def alt_genome(pos, ref, alt):
        return seq[:pos - 1] + alt + seq[pos - 1 + len(ref):]

    truth = {
        "snv": (window(seq, 1000), window(alt_genome(p, b, alt_base), 1000)),
        "ins": (window(seq, 1000), window(alt_genome(ins_pos, rows[1][3], rows[1][4]), 1002)),
        "edge_del": (window(seq, 1000), window(alt_genome(del_pos, rows[2][3], rows[2][4]), 1000)),
        "minus": (window(seq, 2000), window(alt_genome(2003, rows[3][3], rows[3][4]), 2000)),
    }
    scale = (6.0 - -2.0) / 2
    coef = np.array([0.5, -0.25, 2.0, 0.0])
    for vid, (rw, aw) in truth.items():
        cr, ca = counts(rw), counts(aw)
        feats = fx.features.set_index("id").loc[vid, KMERS].to_numpy(dtype=float)
        np.testing.assert_array_equal(feats, np.subtract(ca, cr))
        row = e.loc[vid]
        assert row["delta_sr"] == pytest.approx(g_by_hand(ca) - g_by_hand(cr), abs=1e-12)
        assert row["g_ref_sr"] == pytest.approx(g_by_hand(cr), abs=1e-12)
        assert row["delta_sr_log2"] == pytest.approx(row["delta_sr"] * scale, abs=1e-12)
        assert row["delta_ridge"] == pytest.approx(float(np.dot(coef, np.subtract(ca, cr))), abs=1e-12)
        core_truth = 0.05 * (ca[0] * ca[1] - cr[0] * cr[1])
        assert row["delta_core"] == pytest.approx(core_truth, abs=1e-12)
        nas = net.predict(np.array([ca], float))[0] - net.predict(np.array([cr], float))[0]
        assert row["delta_nas"] == pytest.approx(nas, abs=1e-6)
        # attributions: the latents' changes exactly, the feature shares sum to the change
        a = fx.attributions[(fx.attributions["variant"] == row["variant"])]
        lat = a[a["kind"] == "latent"].set_index("term")
        assert lat.loc["x0", "delta"] == pytest.approx(0.05 * (ca[0] * ca[1] - cr[0] * cr[1]), abs=1e-12)
        assert lat.loc["x1", "delta"] == pytest.approx(math.exp(0.2 * ca[2]) - math.exp(0.2 * cr[2]), abs=1e-12)
        shares = a[a["kind"] == "feature"].set_index("term")["share"]
        assert shares.sum() == pytest.approx(row["delta_sr"], abs=1e-9)
        assert row["attribution_error"] < 1e-9
        # TATA enters through one term of its own: its share is that term's change, exactly
        assert shares["TATA"] == pytest.approx(-0.3 * (math.exp(0.2 * ca[2]) - math.exp(0.2 * cr[2])), abs=1e-12)
        # stage 2 is additive in the latents: each latent's share is its own term's change
        assert lat.loc["x1", "share"] == pytest.approx(-0.3 * lat.loc["x1", "delta"], abs=1e-12)
    # distance along the gene: downstream positive on +, upstream negative; on the minus strand
    # a base at a higher coordinate is upstream
    assert e.loc["snv", "distance"] == 4 and e.loc["ins", "distance"] == -21 and e.loc["minus", "distance"] == -2
    assert e.loc["minus", "strand"] == "-" and e.loc["minus", "gene"] == "GM"
    # the insertion upstream moved the window: it lost bases at its far end, so it differs from the
    # reference window beyond the inserted bases
    assert truth["ins"][1] != truth["ins"][0]
    # one reference window per gene: 3 genes' refs (GP shared by three variants) + 4 alternatives
    assert prov.calls == 2 + 4
    # resumable: a second call reads the chunks back and runs no window
    again = variant_effects(variants, L.root, provider=prov, genome=root / "g.fa", cache_dir=tmp_path / "chunks")
    assert prov.calls == 6
    pd.testing.assert_frame_equal(again.effects, fx.effects)
    # saved and read back
    paths = fx.save(tmp_path / "out" / "effects.parquet")
    back = type(fx).load(paths["effects"])
    pd.testing.assert_frame_equal(back.effects, fx.effects)
    assert json.loads(paths["summary"].read_text())["pairs"] == 4
    assert set(fx.top(CT, n=2)["id"]) <= set(truth)


def test_vcf_multiallelic_naming_and_assembly(planted, tmp_path):
    root, seq, L, _ = planted
    b = seq[1004]
    others = [x for x in "ACGT" if x != b]
    text = ("##fileformat=VCFv4.2\n##contig=<ID=1,length=3000>\n"
            "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n"
            f"1\t1005\trs1\t{b}\t{others[0]},{others[1]}\t.\tPASS\t.\n"
            f"1\t1006\trs2\t{seq[1005]}\t<DEL>\t.\tPASS\t.\n"
            f"1\t1007\t.\t{seq[1006]}\t.\t.\tPASS\t.\n")
    path = tmp_path / "calls.vcf.gz"
    with gzip.open(path, "wt") as fh:
        fh.write(text)
    v = read_variants(path)
    # bgzip (BGZF, what bcftools and tabix write) reads the same
    from Bio import bgzf

    with bgzf.BgzfWriter(str(tmp_path / "calls.bgz.vcf.gz"), "wb") as fh:
        fh.write(text.encode())
    pd.testing.assert_frame_equal(read_variants(tmp_path / "calls.bgz.vcf.gz"), v)
    assert v["alt"].tolist() == others[:2] and v["id"].tolist() == ["rs1", "rs1"]
    assert v.attrs["skipped"]["symbolic_or_missing"] == 2 and v.attrs["contigs"] == {"1": 3000}
    fx = variant_effects(path, L.root, provider=KmerProvider(), genome=root / "g.fa", cache_dir=tmp_path / "c")
    assert fx.summary["pairs"] == 2 and fx.summary["alleles_read"] == 4
    # a VCF of another assembly (contig lengths differ) is refused before anything is scored
    bad = tmp_path / "other.vcf"
    bad.write_text(text.replace("length=3000", "length=248956422"))
    with pytest.raises(GeneqnError, match="another assembly"):
        variant_effects(bad, L.root, provider=KmerProvider(), genome=root / "g.fa", cache_dir=tmp_path / "c2")
    # a TSV of chrom/pos/ref/alt, VCF-style header
    tsv = tmp_path / "v.tsv"
    tsv.write_text(f"#CHROM\tPOS\tREF\tALT\nchr1\t1005\t{b}\t{others[0]}\n")
    assert read_variants(tsv)["variant"].tolist() == [f"chr1:1005:{b}>{others[0]}"]
    with pytest.raises(GeneqnError, match="pos must be a whole number"):
        read_variants(pd.DataFrame({"chrom": ["1"], "pos": ["x"], "ref": ["A"], "alt": ["C"]}))
    with pytest.raises(GeneqnError, match="lacks column"):
        read_variants(pd.DataFrame({"chrom": ["1"], "pos": [3]}))


def test_providers_that_do_not_read_sequence_are_refused(planted):
    root, _, L, _ = planted
    from geneqn.features.demo import DemoAnnotationProvider

    v = pd.DataFrame({"chrom": ["chr1"], "pos": [1005], "ref": ["A"], "alt": ["C"]})
    with pytest.raises(GeneqnError, match="does not compute features from sequence"):
        variant_effects(v, L.root, provider=DemoAnnotationProvider(), genome=root / "g.fa")


def test_sign_auroc_on_a_synthetic_table():
    eff = pd.DataFrame({"variant": [f"v{i}" for i in range(6)], "id": [f"rs{i}" for i in range(6)],
                        "gene": ["G"] * 6, "cell_type": ["c"] * 6,
                        "delta_sr": [0.3, 0.2, -0.1, 0.05, -0.4, -0.2], "delta_ridge": [-1, -2, 3, 4, 5, 6.0]})
    eqtl = pd.DataFrame({"gene": ["G"] * 6, "variant": ["rs0", "v1", "v2", "v3", "v4", "rs5"],
                         "slope": [1.2, 0.5, -0.3, -0.1, -2.0, -1.0]})
    out = sign_auroc(eff, eqtl).set_index("model")
    # positives v0, v1 (scores 0.3, 0.2) against v2..v5 (-0.1, 0.05, -0.4, -0.2): every pair ordered
    assert out.loc["sr", "auroc"] == 1.0 and out.loc["sr", "n"] == 6 and out.loc["sr", "positives"] == 2
    # ridge's scores (-1, -2) are below every negative's: AUROC 0
    assert out.loc["ridge", "auroc"] == 0.0


def test_sei_deltas_equal_separately_scored_windows(tmp_path):
    """A small random Sei: the reported feature deltas are Sei(alt window) - Sei(ref window)
    scored one by one through geneqn.features.sei; delta g is the equation on the two vectors."""
    from geneqn.features import seqclass
    from geneqn.features.sei import SeiProvider, build_sei, predict
    from geneqn.genome import one_hot

    torch.manual_seed(0)
    model = build_sei(widths=(8, 12, 16), n_targets=30).eval()
    unit = seqclass.unit_rows(np.random.default_rng(3).random((40, 30)))
    rng = np.random.default_rng(9)
    seq = "".join(np.array(list("ACGT"))[rng.integers(0, 4, 12000)])
    (tmp_path / "g.fa").write_text(f">chr1\n{seq}\n")
    prov = SeiProvider(tmp_path / "g.fa", tmp_path, device="cpu", batch_size=3, model=model, projection=unit)
    labels = prov.feature_names
    L = RunLayout(tmp_path / "run")
    L.root.mkdir()
    write_json({"geneqn": "test"}, L.marker)
    tss = pd.DataFrame({"gene": ["A", "B"], "gene_id": ["A", "B"], "symbol": ["A", "B"], "chrom": ["chr1"] * 2,
                        "tss": [5000, 6500], "strand": ["+", "-"]})
    write_parquet(tss, L.tss)
    write_json({"features": labels}, L.features_info)
    eq = GenomicEquation(CT, labels, {"x0": Expr.parse(f"2*{labels[0]} - {labels[1]}*{labels[2]}", labels),
                                      "x1": Expr.parse(f"exp({labels[3]})", labels)},
                         Expr.parse("x0 + 0.5*x1*x0", ["x0", "x1"]))
    eq.meta["target_scaling"] = {"g1_min": 1.0, "g1_max": 4.0}  # no targets.parquet: log2 from the equation's
    L.equations.parent.mkdir(parents=True)
    write_json({CT: eq.to_dict()}, L.equations)
    variants = pd.DataFrame({"chrom": ["chr1", "chr1"], "pos": [5101, 6001],
                             "ref": [seq[5100], seq[6000:6003]], "alt": ["A" if seq[5100] != "A" else "C", seq[6000]]})
    fx = variant_effects(variants, L.root, provider=prov, genome=tmp_path / "g.fa", models=("sr",),
                         cache_dir=tmp_path / "chunks")
    assert fx.summary["pairs"] == 4  # both variants lie in both windows
    for row in fx.effects.itertuples():
        alt_genome = seq[:row.pos - 1] + row.alt + seq[row.pos - 1 + len(row.ref):]
        t = row.tss + (len(row.alt) - len(row.ref) if row.pos - 1 + len(row.ref) <= row.tss else 0)
        ref_w, alt_w = seq[row.tss - 2048:row.tss + 2048], alt_genome[t - 2048:t + 2048]
        x = torch.from_numpy(one_hot(np.stack([encode(ref_w), encode(alt_w)])))
        scores = predict(model, x).numpy().astype(np.float64) @ unit.T.astype(np.float64)
        got = fx.features[(fx.features["variant"] == row.variant) & (fx.features["gene"] == row.gene)][labels]
        np.testing.assert_allclose(got.to_numpy()[0], scores[1] - scores[0], rtol=1e-4, atol=1e-6)
        assert row.delta_sr == pytest.approx(float((eq.predict(scores[1:]) - eq.predict(scores[:1]))[0]), rel=1e-3, abs=1e-6)
        a = fx.attributions[(fx.attributions["variant"] == row.variant) & (fx.attributions["gene"] == row.gene)
                            & (fx.attributions["kind"] == "feature")]
        # completeness, against the equation evaluated here on the reported feature vectors
        k = f"{row.variant}|{row.gene}"
        exact = float((eq.predict(fx.alt_features.loc[[k], labels]) - eq.predict(fx.ref_features.loc[[k], labels]))[0])
        assert abs(a["share"].sum() - exact) < 1e-9 and row.delta_sr == pytest.approx(exact, abs=1e-12)
        assert row.attribution_error < 1e-9
        assert row.delta_sr_log2 == pytest.approx(1.5 * row.delta_sr, rel=1e-12)


def test_cli_writes_effects_sidecars_and_report(planted, tmp_path, monkeypatch):
    from typer.testing import CliRunner

    import geneqn.run.stages.data as data
    from geneqn.cli import app
    from geneqn.config import Config

    root, seq, L, _ = planted
    # the run's config names the genome; the provider is the k-mer double
    (L.root / "config.toml").write_text(Config().replace(genome={"path": str(root / "g.fa")},
                                                         features={"provider": "table", "table": "x.csv"}).to_toml())
    monkeypatch.setattr(data, "make_provider", lambda cfg: KmerProvider())
    b = seq[1004]
    tsv = tmp_path / "calls.tsv"
    tsv.write_text(f"chrom\tpos\tid\tref\talt\nchr1\t1005\trs<b>\t{b}\t{'A' if b != 'A' else 'C'}\n"
                   f"chr1\t1500\trsfar\t{seq[1499]}\t{'A' if seq[1499] != 'A' else 'C'}\n")
    out = tmp_path / "fx" / "effects.csv"
    r = CliRunner().invoke(app, ["variants", str(tsv), "--run", str(L.root), "-o", str(out), "--plain"])
    assert r.exit_code == 0, r.output
    assert "2 alleles read; 1 variants scored in 1 (variant, gene) pairs x 1 cell type(s)" in r.output
    assert "1 outside windows" in r.output and "rs<b> in PLUS (+4 bp)" in r.output
    df = pd.read_csv(out)
    assert df["id"].tolist() == ["rs<b>"] and {"delta_sr", "delta_ridge", "delta_nas", "delta_core"} <= set(df.columns)
    assert (tmp_path / "fx" / "effects.attributions.parquet").exists()
    html = (tmp_path / "fx" / "effects.html").read_text()
    assert "rs&lt;b&gt;" in html and "rs<b>" not in html  # names from inputs are escaped
    assert html.count("<img") == 2  # the waterfall and the scatter
    # an unknown model is refused in words
    r = CliRunner().invoke(app, ["variants", str(tsv), "--run", str(L.root), "--model", "enformer"])
    assert r.exit_code != 0 and "choose among sr, core, nas, ridge" in r.output


def test_cli_refuses_a_run_without_sequence_features(planted, tmp_path):
    from typer.testing import CliRunner

    from geneqn.cli import app
    from geneqn.config import Config

    root, _, L, _ = planted
    run = tmp_path / "demo-like"
    import shutil

    shutil.copytree(L.root, run)
    (run / "config.toml").write_text(Config().replace(genome={"path": str(root / "g.fa")},
                                                      features={"provider": "demo"}).to_toml())
    tsv = tmp_path / "v.tsv"
    tsv.write_text("chrom\tpos\tref\talt\nchr1\t1005\tA\tC\n")
    r = CliRunner().invoke(app, ["variants", str(tsv), "--run", str(run)])
    assert r.exit_code != 0 and "does not compute features from sequence" in r.output


def test_expectosc_delta_equals_the_alternative_genomes_features(planted, tmp_path):
    """ExPectoSC's change = coefficients x (ExPecto features computed on a genome that carries the
    alternative allele - those of the reference genome), both through ExpectoProvider.compute."""
    import shutil

    from geneqn.features import beluga as bl
    from geneqn.features import expecto as ex
    from geneqn.genes import read_tss_table

    root, seq, L, _ = planted
    run = tmp_path / "run"
    shutil.copytree(L.root, run)
    torch.manual_seed(1)
    small = bl.Beluga(widths=(8, 8, 8), n_targets=6).eval()
    with torch.no_grad():  # a sharper random network, so that an allele moves it visibly
        for m in small.modules():
            if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear)):
                m.weight.mul_(4.0)
    names = ex.feature_names(6)
    coef = pd.DataFrame({CT: np.random.default_rng(2).normal(size=60)}, index=pd.Index(names, name="feature"))
    write_parquet(coef, RunLayout(run).expectosc_coef)
    b = seq[1004:1014]  # ten bases replaced (an MNV, scored like any REF/ALT pair)
    alt = "".join("C" if x != "C" else "G" for x in b)

    def beluga(fa):
        return ex.ExpectoProvider(fa, tmp_path, device="cpu", batch_size=4, max_shift=400, model=small)

    fx = variant_effects(pd.DataFrame({"chrom": ["chr1"], "pos": [1005], "ref": [b], "alt": [alt]}), run,
                         provider=KmerProvider(), genome=root / "g.fa", models=("sr", "expectosc"),
                         expecto_provider=beluga(root / "g.fa"), cache_dir=tmp_path / "c")
    assert fx.summary["models"]["used"] == ["sr", "expectosc"]
    alt_seq = seq[:1004] + alt + seq[1014:]
    (tmp_path / "alt.fa").write_text(f">chr1\n{alt_seq}\n")
    tss = read_tss_table(RunLayout(run).tss).query("gene == 'GP'")
    ref_x = beluga(root / "g.fa").compute(tss, tmp_path / "ref_chunks").to_numpy(dtype=np.float64)
    alt_x = beluga(tmp_path / "alt.fa").compute(tss, tmp_path / "alt_chunks").to_numpy(dtype=np.float64)
    truth = float((alt_x - ref_x)[0] @ coef[CT].to_numpy())
    assert abs(truth) > 1e-3  # the allele moves Beluga here
    # the reference's features are float32 (as the run stores them): agreement to their precision
    assert fx.effects["delta_expectosc"].iloc[0] == pytest.approx(truth, rel=1e-3, abs=1e-6)
    assert fx.effects["delta_expectosc_log2"].iloc[0] == pytest.approx(4 * fx.effects["delta_expectosc"].iloc[0])


def test_waterfall_bars_add_up_to_the_change():
    from matplotlib.figure import Figure

    from geneqn import pl

    a = pd.DataFrame({"kind": ["feature"] * 4 + ["latent"], "term": ["E1", "P2", "TN1", "L1", "x0"],
                      "share": [0.30, -0.12, 0.0, 0.05, 9.0]})
    ax = Figure().add_subplot()
    pl.variant_waterfall(a, g_ref=0.5, ax=ax, top=2)
    bars = ax.patches
    # E1, P2, then "other terms" (L1; TN1 moved nothing and is left out), then the total
    assert [t.get_text() for t in ax.get_xticklabels()] == ["E1", "P2", "other terms", "change of g"]
    assert [round(b.get_height(), 12) for b in bars] == [0.30, -0.12, 0.05, round(0.30 - 0.12 + 0.05, 12)]
    assert [round(b.get_y(), 12) for b in bars] == [0.5, 0.8, 0.68, 0.5]
    lo, hi = ax.get_ylim()
    assert lo < 0.5 and hi > 0.8  # every bar inside the axes


def test_readme_example_runs(planted, tmp_path, monkeypatch):
    """README's variant-effects example, on the planted run (its provider the k-mer double)."""
    import re
    import shutil
    from pathlib import Path

    import geneqn
    import geneqn.run.stages.data as data
    from geneqn.config import Config

    root, seq, L, _ = planted
    run = tmp_path / "run"
    shutil.copytree(L.root, run)
    (run / "config.toml").write_text(Config().replace(genome={"path": str(root / "g.fa")},
                                                      features={"provider": "table", "table": "x.csv"}).to_toml())
    monkeypatch.setattr(data, "make_provider", lambda cfg: KmerProvider())
    b = seq[1004]
    (tmp_path / "calls.tsv").write_text(f"chrom\tpos\tref\talt\nchr1\t1005\t{b}\t{'A' if b != 'A' else 'C'}\n"
                                        f"chr1\t990\t{seq[989]}\t{seq[989]}TATA\n")
    text = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    code = re.search(r"```python\n(.*?)```", text[text.index("### Variant effects"):], re.S).group(1)
    code = code.replace('"calls.vcf.gz"', repr(str(tmp_path / "calls.tsv"))).replace('"myrun"', repr(str(run)))
    code = code.replace('"type B pancreatic cell"', repr(CT))
    monkeypatch.chdir(tmp_path)
    scope = {"geneqn": geneqn}
    exec(compile(code, "README.md", "exec"), scope)
    assert len(scope["fx"].effects) == 2 and (tmp_path / "effects.html").exists()
    assert abs(scope["terms"].query("kind == 'feature'")["share"].sum() - scope["row"]["delta_sr"]) < 1e-9


def test_windows_of_indels_at_the_tss_the_left_edge_and_on_the_minus_strand(planted, tmp_path):
    """Windows cut by hand from the alternative genome: a deletion that removes GP's TSS base
    (the TSS stays at the allele's remaining base), a deletion across the window's left edge
    (upstream: the TSS moves by -3), an insertion on GM (minus strand) at a higher coordinate
    than its TSS (upstream of the gene; the TSS does not move in genome coordinates)."""
    root, seq, L, _ = planted

    def pick(lo, n):  # a REF whose first and last bases differ (so it is already its shortest form)
        while seq[lo] == seq[lo + n - 1]:
            lo -= 1
        return lo

    d0 = pick(998, 4)                       # covers 0-based 1000 (GP's TSS)
    e0 = pick(966, 4)                       # covers 966..969; the window starts at 968
    rows = [("chr1", d0 + 1, "tss_del", seq[d0:d0 + 4], seq[d0]),
            ("chr1", e0 + 1, "edge_del", seq[e0:e0 + 4], seq[e0]),
            ("chr1", 2010, "minus_ins", seq[2009], seq[2009] + "GGC")]
    fx = variant_effects(pd.DataFrame(rows, columns=["chrom", "pos", "id", "ref", "alt"]), L.root,
                         provider=KmerProvider(), genome=root / "g.fa", cache_dir=tmp_path / "c")
    f = fx.features.set_index("id")
    assert 1000 in range(d0, d0 + 4) and e0 < 968 < e0 + 4
    alt_tss = fx.effects.set_index("id")
    cases = {"tss_del": (seq[:d0 + 1] + seq[d0 + 4:], d0, 1000),
             "edge_del": (seq[:e0 + 1] + seq[e0 + 4:], 1000 - 3, 1000),
             "minus_ins": (seq[:2010] + "GGC" + seq[2010:], 2000, 2000)}
    for vid, (genome, t_alt, t_ref) in cases.items():
        expected = np.subtract(counts(window(genome, t_alt)), counts(window(seq, t_ref)))
        np.testing.assert_array_equal(f.loc[vid, KMERS].to_numpy(dtype=float), expected)
    assert alt_tss.loc["minus_ins", "distance"] == -9 and alt_tss.loc["minus_ins", "gene"] == "GM"


def test_alleles_are_trimmed_and_duplicates_counted():
    from geneqn.variants.reader import trim_alleles

    assert trim_alleles(10, "ACGT", "AGT") == (10, "AC", "A")   # shared suffix GT dropped
    assert trim_alleles(10, "CAT", "CGT") == (11, "A", "G")     # an SNV spelled long
    assert trim_alleles(10, "A", "ATTT") == (10, "A", "ATTT")   # already shortest
    v = read_variants(pd.DataFrame({"chrom": ["1", "1", "1"], "pos": [10, 10, 11], "id": ["rs1", None, "rs2"],
                                    "ref": ["CAT", "ACGT", "A"], "alt": ["CGT", "AGT", "G"]}))
    # CAT>CGT at 10 is A>G at 11, the same variant as rs2's: counted once, as a duplicate
    assert v["variant"].tolist() == ["1:11:A>G", "1:10:AC>A"]
    assert v["id"].tolist() == ["rs1", "1:10:AC>A"] and v.attrs["skipped"]["duplicate"] == 1


def test_a_moved_tss_is_computed_again(planted, tmp_path):
    import shutil

    root, seq, L, _ = planted
    run = tmp_path / "run"
    shutil.copytree(L.root, run)
    v = pd.DataFrame({"chrom": ["chr1"], "pos": [1005], "ref": [seq[1004]], "alt": ["A" if seq[1004] != "A" else "C"]})
    prov = KmerProvider()
    first = variant_effects(v, run, provider=prov, genome=root / "g.fa", cache_dir=tmp_path / "c")
    tss = pd.read_parquet(RunLayout(run).tss)
    tss.loc[tss["gene"] == "GP", "tss"] = 1010
    write_parquet(tss, RunLayout(run).tss)
    calls = prov.calls
    again = variant_effects(v, run, provider=prov, genome=root / "g.fa", cache_dir=tmp_path / "c")
    assert prov.calls == calls + 2  # the reference and the alternative window again
    expected = np.subtract(counts(window(seq[:1004] + v["alt"][0] + seq[1005:], 1010)), counts(window(seq, 1010)))
    np.testing.assert_array_equal(again.features[KMERS].to_numpy(dtype=float)[0], expected)
    assert first.effects["distance"][0] == 4 and again.effects["distance"][0] == -6
