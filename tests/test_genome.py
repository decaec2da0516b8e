import numpy as np
import pandas as pd
import pytest

from geneqn.errors import GeneqnError
from geneqn.genome import Genome, check_chromosomes, decode, encode, iter_windows, one_hot, reverse_complement_codes

CHR1 = "ACGTACGTNNacgtRYAC" * 3  # 54 bp, soft-masked and IUPAC bases
CHR2 = "GGGGCCCCAAAATTTT"       # 16 bp


@pytest.fixture
def fasta(tmp_path):
    p = tmp_path / "g.fa"
    p.write_text(f">chr1\n{CHR1[:30]}\n{CHR1[30:]}\n>2 some description\n{CHR2}\n")
    return p


@pytest.fixture
def twobit(tmp_path):
    p = tmp_path / "g.2bit"
    _write_2bit(p, {"chr1": CHR1, "2": CHR2})
    return p


def _write_2bit(path, seqs):
    """Minimal 2bit writer (UCSC format: N blocks, mask blocks, packed bases)."""
    import struct

    code = {"T": 0, "C": 1, "A": 2, "G": 3}
    names = list(seqs)
    header = struct.pack("<IIII", 0x1A412743, 0, len(names), 0)
    index_size = sum(1 + len(n) + 4 for n in names)
    offset = 16 + index_size
    index, records = b"", b""
    for n in names:
        s = seqs[n]
        up = s.upper()
        nblocks = [(m.start(), m.end() - m.start()) for m in __import__("re").finditer(r"[^ACGT]+", up)]
        mblocks = [(m.start(), m.end() - m.start()) for m in __import__("re").finditer(r"[a-z]+", s)]
        packed = bytearray()
        for i in range(0, len(up), 4):
            chunk = up[i:i + 4].ljust(4, "T")
            b = 0
            for ch in chunk:
                b = (b << 2) | code.get(ch, 0)
            packed.append(b)
        rec = struct.pack("<II", len(s), len(nblocks))
        rec += b"".join(struct.pack("<I", a) for a, _ in nblocks) + b"".join(struct.pack("<I", l) for _, l in nblocks)
        rec += struct.pack("<I", len(mblocks))
        rec += b"".join(struct.pack("<I", a) for a, _ in mblocks) + b"".join(struct.pack("<I", l) for _, l in mblocks)
        rec += struct.pack("<I", 0) + bytes(packed)
        index += bytes([len(n)]) + n.encode() + struct.pack("<I", offset + len(records))
        records += rec
    path.write_bytes(header + index + records)


def test_encode_and_one_hot_by_hand():
    codes = encode("ACGTNacgtRy")
    assert codes.tolist() == [0, 1, 2, 3, 4, 0, 1, 2, 3, 4, 4]
    x = one_hot(codes[:5])
    assert x.shape == (4, 5) and x.dtype == np.float32
    expected = np.array([[1, 0, 0, 0, .25], [0, 1, 0, 0, .25], [0, 0, 1, 0, .25], [0, 0, 0, 1, .25]], np.float32)
    np.testing.assert_array_equal(x, expected)
    assert one_hot(np.stack([codes, codes])).shape == (2, 4, 11)


def test_reverse_complement_codes():
    assert decode(reverse_complement_codes(encode("AACGN"))) == "NCGTT"
    # equals reversing one-hot along both axes (the Sei convention with A,C,G,T order)
    c = encode("ACGGTNA")
    np.testing.assert_array_equal(one_hot(reverse_complement_codes(c)), one_hot(c)[::-1, ::-1])


@pytest.mark.parametrize("kind", ["fasta", "twobit"])
def test_fetch_with_padding_and_chrom_aliases(kind, request):
    g = Genome(request.getfixturevalue(kind))
    assert g.fetch("chr1", 0, 8).upper() == "ACGTACGT"
    assert g.fetch("1", 0, 4).upper() == "ACGT"          # '1' resolves to 'chr1'
    assert g.fetch("chr2", 0, 4) .upper() == "GGGG"       # 'chr2' resolves to '2'
    assert g.fetch("chr2", -3, 2).upper() == "NNNGG"      # left end
    assert g.fetch("chr2", 14, 19).upper() == "TTNNN"     # right end
    assert g.fetch("chr2", 20, 23) == "NNN"               # wholly off the end
    with pytest.raises(GeneqnError, match="chromosome 'chr9' is not in genome"):
        g.fetch("chr9", 0, 3)


@pytest.mark.parametrize("kind", ["fasta", "twobit"])
def test_windows_hand_computed(kind, request):
    g = Genome(request.getfixturevalue(kind))
    tss = pd.DataFrame({"gene": ["plus", "minus", "edge"], "chrom": ["chr1", "chr1", "2"],
                        "tss": [10, 40, 1], "strand": ["+", "-", "-"]})
    batches = list(iter_windows(g, tss, batch_size=2, length=8))
    assert [b.genes for b in batches] == [["plus", "minus"], ["edge"]]
    codes = np.concatenate([b.codes for b in batches])
    # window [tss - 4, tss + 4) in genomic orientation whatever the strand
    assert decode(codes[0]) == CHR1[6:14].upper().replace("R", "N").replace("Y", "N")
    assert decode(codes[1]) == CHR1[36:44].upper().replace("R", "N").replace("Y", "N")
    assert decode(codes[2]) == "NNN" + CHR2[:5]
    assert batches[0].one_hot().shape == (2, 4, 8)


def test_check_chromosomes(fasta):
    g = Genome(fasta)
    tss = pd.DataFrame({"gene": ["a", "b"], "chrom": ["chr1", "chrUn"], "tss": [5, 5], "strand": ["+", "+"]})
    ok, skipped = check_chromosomes(g, tss)
    assert ok.gene.tolist() == ["a"] and skipped == ["b"]


def _bgzf_block(data: bytes) -> bytes:
    """One BGZF block (a gzip member with the 'BC' extra field giving the block size)."""
    import struct
    import zlib

    comp = zlib.compressobj(6, zlib.DEFLATED, -15)
    body = comp.compress(data) + comp.flush()
    bsize = 12 + 6 + len(body) + 8 - 1  # header + extra + data + trailer, minus 1
    header = b"\x1f\x8b\x08\x04" + b"\x00" * 4 + b"\x00\xff" + struct.pack("<H", 6)
    extra = b"BC" + struct.pack("<HH", 2, bsize)
    return header + extra + body + struct.pack("<II", zlib.crc32(data), len(data))


def test_bgzip_fasta(tmp_path):
    p = tmp_path / "g.fa.gz"
    p.write_bytes(_bgzf_block(f">chr1\n{CHR1}\n".encode()) + _bgzf_block(b""))
    g = Genome(p)
    assert g.fetch("chr1", 0, 4).upper() == "ACGT"
    assert g.fetch("chr1", 52, 56).upper() == "ACNN"


def test_plain_gzip_fasta_is_explained(tmp_path):
    import gzip

    p = tmp_path / "g.fa.gz"
    with gzip.open(p, "wt") as fh:
        fh.write(f">chr1\n{CHR1}\n")
    with pytest.raises(GeneqnError, match="bgzip"):
        Genome(p)
