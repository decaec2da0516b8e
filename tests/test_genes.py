from pathlib import Path

import pandas as pd
import pytest

from geneqn.errors import GeneqnError
from geneqn.genes import match_genes, normalise_chrom, read_bed, read_gtf, read_mane, read_tss

FIX = Path(__file__).parent / "fixtures"


def test_mane_slice_real_format():
    t = read_mane(FIX / "mane_slice.summary.txt.gz").set_index("symbol")
    # 20 + 6 MANE Select rows; the 2 MANE Plus Clinical rows are left out
    assert len(t) == 26
    assert "BMP1" not in t.index and "DST" not in t.index
    # INS: chr11:2159779-2161209 (1-based), minus strand -> 0-based TSS = 2161209 - 1
    assert t.loc["INS", ["chrom", "tss", "strand"]].tolist() == ["chr11", 2161208, "-"]
    assert t.loc["INS", "gene_id"] == "ENSG00000254647"
    assert t.loc["INS", "ncbi_gene_id"] == "3630"
    # GAPDH: chr12:6534517-6538371, plus strand -> 0-based TSS = 6534517 - 1
    assert t.loc["GAPDH", ["chrom", "tss", "strand"]].tolist() == ["chr12", 6534516, "+"]


def test_mane_malformed_row(tmp_path):
    lines = (FIX / "mane_slice.summary.txt.gz")
    import gzip

    text = gzip.open(lines, "rt").read().splitlines()
    text[3] = "\t".join(text[3].split("\t")[:5])
    p = tmp_path / "MANE.bad.summary.txt"
    p.write_text("\n".join(text) + "\n")
    with pytest.raises(GeneqnError, match="line 4"):
        read_mane(p)


def test_gtf_prefers_mane_then_canonical_then_longest(tmp_path):
    rows = [
        # gene A: MANE transcript is the short one on minus strand
        ("1", "transcript", 100, 500, "-", 'gene_id "ENSG00000000010.4"; transcript_id "T1"; gene_name "A"; tag "basic";'),
        ("1", "transcript", 150, 300, "-", 'gene_id "ENSG00000000010.4"; transcript_id "T2"; gene_name "A"; tag "MANE_Select";'),
        # gene B: no MANE; canonical tag wins over longer
        ("chr2", "transcript", 1000, 9000, "+", 'gene_id "ENSG00000000020"; transcript_id "T3"; gene_name "B";'),
        ("chr2", "transcript", 2000, 3000, "+", 'gene_id "ENSG00000000020"; transcript_id "T4"; gene_name "B"; tag "Ensembl_canonical";'),
        # gene C: longest transcript
        ("X", "transcript", 10, 20, "+", 'gene_id "ENSG00000000030"; transcript_id "T5"; gene_name "C";'),
        ("X", "transcript", 5, 40, "+", 'gene_id "ENSG00000000030"; transcript_id "T6"; gene_name "C";'),
        ("X", "exon", 5, 40, "+", 'gene_id "ENSG00000000030"; transcript_id "T6"; gene_name "C";'),
    ]
    p = tmp_path / "a.gtf"
    p.write_text("#!comment\n" + "".join(f"{c}\tsrc\t{f}\t{s}\t{e}\t.\t{st}\t.\t{a}\n" for c, f, s, e, st, a in rows))
    t = read_gtf(p).set_index("symbol")
    assert t.loc["A", ["transcript_id", "chrom", "tss"]].tolist() == ["T2", "chr1", 299]
    assert t.loc["A", "gene_id"] == "ENSG00000000010"
    assert t.loc["B", ["transcript_id", "tss"]].tolist() == ["T4", 1999]
    assert t.loc["C", ["transcript_id", "chrom", "tss"]].tolist() == ["T6", "chrX", 4]
    assert read_tss(p).shape[0] == 3


def test_bed_and_bad_rows(tmp_path):
    p = tmp_path / "g.bed"
    p.write_text("chr1\t100\t200\tENSG00000000001.1\t0\t+\nchr1\t300\t400\tFOO\t0\t-\n")
    t = read_bed(p)
    assert t.tss.tolist() == [100, 399]
    assert t.gene_id.iloc[0] == "ENSG00000000001" and t.symbol.iloc[1] == "FOO"
    bad = tmp_path / "bad.bed"
    bad.write_text("chr1\t100\t200\tA\t0\t+\nchr1\tx\t400\tB\t0\t-\n")
    with pytest.raises(GeneqnError, match="line 2"):
        read_bed(bad)
    short = tmp_path / "short.bed"
    short.write_text("chr1\t100\t200\tA\n")
    with pytest.raises(GeneqnError, match="6 columns"):
        read_bed(short)


def test_normalise_chrom():
    assert [normalise_chrom(c) for c in ["1", "chr2", "X", "MT", "NC_000023.11", "NC_000001.11"]] == [
        "chr1", "chr2", "chrX", "chrM", "chrX", "chr1"]


def test_match_by_ensembl_then_symbol_then_ncbi():
    tss = read_mane(FIX / "mane_slice.summary.txt.gz")
    genes = pd.DataFrame({
        "gene": ["ENSG00000254647", "GCG", "X1", "NOTAGENE"],
        "symbol": ["INS", "GCG", "nothing", "NOTAGENE"],
        "ncbi_gene_id": [None, None, "5539", None],
    })
    matched, report = match_genes(genes, tss)
    m = matched.set_index("gene")
    assert m.loc["ENSG00000254647", "symbol"] == "INS"
    assert m.loc["GCG", "gene_id"] == "ENSG00000115263"
    assert m.loc["X1", "symbol"] == "PPY"
    assert report.by == {"Ensembl id": 1, "symbol": 1, "NCBI GeneID": 1}
    assert report.unmatched == ["NOTAGENE"]
    with pytest.raises(GeneqnError, match="no expression gene matched"):
        match_genes(pd.DataFrame({"gene": ["zz"], "symbol": ["zz"]}), tss)


def test_outdated_symbols_match_through_hgnc_synonyms(tmp_path):
    from geneqn import tss

    hgnc = tmp_path / "hgnc_complete_set.txt"
    # HGNC's format: tab-separated, lists of previous / alias symbols separated by | (quoted)
    hgnc.write_text("hgnc_id\tsymbol\tprev_symbol\talias_symbol\n"
                    "HGNC:6081\tINS\t\"ILPR|IRDN\"\t\n"
                    "HGNC:4141\tGAPDH\t\tGAPD\n"
                    "HGNC:5\tA1BG\tAMBIG\t\n"
                    "HGNC:7\tA2M\tAMBIG\t\n")
    genes = pd.DataFrame({"gene": ["ILPR", "GAPD", "AMBIG", "NOPE"]})
    t = tss(FIX / "mane_slice.summary.txt.gz", genes=genes, synonyms=hgnc).set_index("gene")
    report = t.attrs["match"]
    assert t.loc["ILPR", "symbol"] == "INS" and t.loc["GAPD", "symbol"] == "GAPDH"
    assert report.by["HGNC previous symbol"] == 1 and report.by["HGNC alias symbol"] == 1
    assert report.unmatched == ["AMBIG", "NOPE"]  # an ambiguous old symbol matches nothing
