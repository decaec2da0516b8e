"""Genome access and TSS windows.

A window for a TSS at 0-based position ``p`` is ``[p - L/2, p + L/2)`` (L = 4,096 by default)
in genomic (forward-strand) orientation, whatever the gene's strand: Sei averages each sequence
with its reverse complement, so orientation does not change its output. Bases off a chromosome
end are ``N``. ``chr1`` and ``1`` (and ``chrM``/``MT``) name the same chromosome.

Windows are stored compactly as uint8 codes (A=0, C=1, G=2, T=3, N=4; lower case and IUPAC
ambiguity codes become their upper case or N) and expanded to one-hot per batch by
:func:`one_hot`, where A, C, G, T are channels 0..3 and N is 0.25 in every channel.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np
import pandas as pd

from geneqn._io import require_file
from geneqn.errors import GeneqnError

log = logging.getLogger(__name__)

WINDOW = 4096
ALPHABET = "ACGT"
N_CODE = 4
MAX_N_FRACTION = 0.5
"""A window with a larger fraction of N (off the chromosome, or an assembly gap) is not scored:
Sei would score Ns as if they were sequence."""
MAX_REFUSED_FRACTION = 0.05
"""More genes than this fraction with mostly-N windows: the genome does not fit the annotation."""

_LOOKUP = np.full(256, N_CODE, dtype=np.uint8)
for _i, _b in enumerate(ALPHABET):
    _LOOKUP[ord(_b)] = _i
    _LOOKUP[ord(_b.lower())] = _i

# one-hot rows for codes 0..4 (A, C, G, T, N)
_ONE_HOT = np.zeros((5, 4), dtype=np.float32)
_ONE_HOT[np.arange(4), np.arange(4)] = 1.0
_ONE_HOT[N_CODE] = 0.25


def encode(seq: str | bytes) -> np.ndarray:
    """DNA string -> uint8 codes, shape (len(seq),)."""
    raw = seq.encode("ascii") if isinstance(seq, str) else seq
    return _LOOKUP[np.frombuffer(raw, dtype=np.uint8)]


def decode(codes: np.ndarray) -> str:
    return "".join("ACGTN"[c] for c in np.asarray(codes).ravel())


def one_hot(codes: np.ndarray) -> np.ndarray:
    """uint8 codes, shape (N, L) or (L,) -> float32 one-hot, shape (N, 4, L) or (4, L).

    Channel order A, C, G, T; N (code 4) is 0.25 in every channel.
    """
    codes = np.asarray(codes)
    if codes.size and codes.max() > N_CODE:
        raise ValueError(f"one_hot: codes must be 0..4, got max {codes.max()}")
    x = _ONE_HOT[codes]  # (..., L, 4)
    return np.ascontiguousarray(np.moveaxis(x, -1, -2))


def reverse_complement_codes(codes: np.ndarray) -> np.ndarray:
    """Reverse complement of uint8 codes along the last axis (N stays N)."""
    comp = np.array([3, 2, 1, 0, 4], dtype=np.uint8)
    return comp[np.asarray(codes)][..., ::-1]


def _chrom_aliases(name: str) -> list[str]:
    base = name[3:] if name.startswith("chr") else name
    out = [name, base, f"chr{base}"]
    if base in ("M", "MT"):
        out += ["chrM", "MT", "chrMT", "M"]
    return list(dict.fromkeys(out))


class Genome:
    """Random access to a reference genome in FASTA (plain or bgzip) or 2bit.

    >>> g = Genome("hg38.fa")            # doctest: +SKIP
    >>> g.fetch("chr1", -5, 10)          # 5 Ns, then the first 10 bases  # doctest: +SKIP
    """

    def __init__(self, path: str | Path):
        self.path = require_file(path, "genome file")
        name = self.path.name.lower()
        if name.endswith(".2bit"):
            import py2bit

            with open(self.path, "rb") as fh:
                magic = fh.read(4)
            if magic not in (b"\x43\x27\x41\x1a", b"\x1a\x41\x27\x43"):  # 0x1A412743, either byte order
                raise GeneqnError(f"{self.path} is not a 2bit file (it does not start with the 2bit signature); "
                                  "it may be another format renamed .2bit, or damaged. Download it again (e.g. "
                                  "hg38.2bit from UCSC), or give a FASTA file.")
            try:
                self._tb = py2bit.open(str(self.path))
                self._lengths = {k: int(v) for k, v in self._tb.chroms().items()}
            except Exception:  # py2bit says only "Received an error during file opening!"
                raise GeneqnError(f"cannot read the 2bit genome {self.path}: it is truncated or corrupt (its "
                                  "header or chromosome index cannot be read). Download it again, or give a "
                                  "FASTA file.") from None
            self._fa = None
        else:
            import pyfaidx

            try:
                self._fa = pyfaidx.Fasta(str(self.path), as_raw=True, sequence_always_upper=False,
                                         rebuild=False, build_index=True)
            except pyfaidx.UnsupportedCompressionFormat:
                raise GeneqnError(f"{self.path} is gzip-compressed but not with bgzip; recompress it "
                                  "with `bgzip` (or gunzip it) so that windows can be read at random."
                                  ) from None
            except Exception as e:
                raise GeneqnError(f"cannot open FASTA genome {self.path}: {str(e).rstrip('.')}. Is it a FASTA file "
                                  "(.fa, .fa.gz with bgzip) or a .2bit file?") from None
            self._lengths = {k: len(self._fa[k]) for k in self._fa.keys()}
            self._tb = None
        self._resolved: dict[str, str | None] = {}

    @property
    def chromosomes(self) -> dict[str, int]:
        """Chromosome name -> length, as named in the file."""
        return dict(self._lengths)

    def resolve(self, chrom: str) -> str | None:
        """Name of ``chrom`` in this genome (``chr1`` <-> ``1``), or None if absent."""
        if chrom not in self._resolved:
            self._resolved[chrom] = next((a for a in _chrom_aliases(chrom) if a in self._lengths), None)
        return self._resolved[chrom]

    def has(self, chrom: str) -> bool:
        return self.resolve(chrom) is not None

    def fetch(self, chrom: str, start: int, end: int) -> str:
        """Sequence of [start, end) (0-based); positions off the chromosome are N."""
        name = self.resolve(chrom)
        if name is None:
            raise GeneqnError(f"chromosome {chrom!r} is not in genome {self.path.name}; it has "
                              f"{', '.join(list(self._lengths)[:8])}{' ...' if len(self._lengths) > 8 else ''}.")
        length = self._lengths[name]
        lo, hi = max(start, 0), min(end, length)
        if hi <= lo:
            return "N" * (end - start)
        if self._tb is not None:
            seq = self._tb.sequence(name, lo, hi)
        else:
            seq = self._fa[name][lo:hi]
        return "N" * (lo - start) + seq + "N" * (end - hi)

    def window_codes(self, chrom: str, tss: int, length: int = WINDOW) -> np.ndarray:
        """uint8 codes of the window centred on ``tss``, shape (length,)."""
        half = length // 2
        return encode(self.fetch(chrom, tss - half, tss + half))


@dataclass
class WindowBatch:
    """A batch of windows: ``codes`` (n, L) uint8 and the ``genes`` they belong to."""

    genes: list[str]
    codes: np.ndarray

    def one_hot(self) -> np.ndarray:
        return one_hot(self.codes)


def gene_keys(tss: pd.DataFrame) -> list[str]:
    """The name of each TSS row: its ``gene`` (the expression key) when the table has one, else its
    Ensembl id, else its symbol."""
    if "gene" in tss.columns:
        keys = tss["gene"].astype("string")
    elif "gene_id" in tss.columns and "symbol" in tss.columns:
        keys = tss["gene_id"].astype("string").fillna(tss["symbol"].astype("string"))
    else:
        keys = tss["gene_id" if "gene_id" in tss.columns else "symbol"].astype("string")
    return keys.fillna("").astype(str).tolist()


def check_chromosomes(genome: Genome, tss: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """Split ``tss`` into rows whose chromosome the genome has, and the genes it lacks."""
    ok = tss["chrom"].astype(str).map(genome.has)
    missing = tss.loc[~ok]
    if len(missing):
        chroms = sorted(missing["chrom"].astype(str).unique())
        log.warning("%d gene(s) on chromosome(s) absent from %s skipped: %s", len(missing),
                    genome.path.name, ", ".join(chroms[:10]))
    return tss.loc[ok], gene_keys(missing)


def tss_on_genome(genome: Genome, tss: pd.DataFrame, length: int = WINDOW) -> tuple[pd.DataFrame, list[str]]:
    """The TSS rows whose windows can be read, and the genes left out.

    Rows on chromosomes the genome lacks are left out (with a warning); a TSS off its chromosome
    (before 0 or past its end) stops with an error that names the genes and the chromosome's
    length (an annotation of another assembly, or a wrong line); windows of ``length`` bp that are
    more than :data:`MAX_N_FRACTION` N are left out and named, and more than
    :data:`MAX_REFUSED_FRACTION` of the genes with such windows stop with an error."""
    tss, skipped = check_chromosomes(genome, tss)
    if len(tss) == 0:
        raise GeneqnError(f"no TSS lies on a chromosome of {genome.path.name}; check that the genome and the "
                          "annotation are the same assembly.")
    names = gene_keys(tss)
    chroms = tss["chrom"].astype(str).tolist()
    pos = tss["tss"].to_numpy(dtype=np.int64)
    lengths = np.array([genome.chromosomes[genome.resolve(c)] for c in chroms], dtype=np.int64)
    off = np.flatnonzero((pos < 0) | (pos >= lengths))
    if len(off):
        shown = "; ".join(f"{names[i]} at {chroms[i]}:{pos[i]:,} ({chroms[i]} has {lengths[i]:,} bp)" for i in off[:5])
        raise GeneqnError(f"{len(off)} TSS(s) lie off their chromosome in {genome.path.name}: {shown}"
                          f"{'; ...' if len(off) > 5 else ''}. The annotation is probably of another assembly "
                          "than the genome (e.g. GRCh37 vs GRCh38), or these lines are wrong. Use an annotation "
                          "of the genome's assembly, or fix or remove these genes.")
    n_frac = np.array([float(np.mean(genome.window_codes(c, int(p), length) == N_CODE))
                       for c, p in zip(chroms, pos)])
    bad = np.flatnonzero(n_frac > MAX_N_FRACTION)
    if len(bad):
        shown = ", ".join(f"{names[i]} ({chroms[i]}:{pos[i]:,}, {n_frac[i]:.0%} N)" for i in bad[:10])
        if len(bad) > MAX_REFUSED_FRACTION * len(tss):
            raise GeneqnError(f"{len(bad)} of {len(tss)} TSS windows ({length:,} bp) in {genome.path.name} are more "
                              f"than {MAX_N_FRACTION:.0%} N: {shown}{', ...' if len(bad) > 10 else ''}. The genome "
                              "is probably hard-masked or of another assembly than the annotation; use the unmasked "
                              "genome of the annotation's assembly.")
        log.warning("%d gene(s) whose %s-bp TSS window in %s is more than %.0f%% N (near a chromosome end or "
                    "an assembly gap) are left out: %s", len(bad), f"{length:,}", genome.path.name,
                    100 * MAX_N_FRACTION, shown)
        keep = np.ones(len(tss), dtype=bool)
        keep[bad] = False
        skipped = skipped + [names[i] for i in bad]
        tss = tss.loc[keep]
    return tss, skipped


def iter_windows(genome: Genome, tss: pd.DataFrame, batch_size: int = 64,
                 length: int = WINDOW) -> Iterator[WindowBatch]:
    """Stream windows for every row of a TSS table, ``batch_size`` at a time.

    Rows on chromosomes the genome lacks raise :class:`GeneqnError`; filter them first with
    :func:`check_chromosomes`.
    """
    if batch_size < 1:
        raise ValueError(f"iter_windows: batch_size must be >= 1, got {batch_size}")
    check_window_length(length)
    genes = np.array(gene_keys(tss), dtype=object)
    chroms = tss["chrom"].astype(str).to_numpy()
    pos = tss["tss"].to_numpy(dtype=np.int64)
    for lo in range(0, len(tss), batch_size):
        hi = min(lo + batch_size, len(tss))
        codes = np.empty((hi - lo, length), dtype=np.uint8)
        for i in range(lo, hi):
            codes[i - lo] = genome.window_codes(chroms[i], int(pos[i]), length)
        yield WindowBatch(genes=list(genes[lo:hi]), codes=codes)


def windows(genome, tss: pd.DataFrame, length: int = WINDOW, batch_size: int = 256):
    """Windows of ``length`` bp centred on every TSS of ``tss``, as uint8 codes.

    ``genome``: a :class:`Genome` or the path of a FASTA (plain or bgzip) / 2bit file; ``tss``:
    a TSS table (:func:`geneqn.tss`). Genes on chromosomes the genome lacks, and genes whose
    window is mostly N, are left out (and logged); see :func:`tss_on_genome`. Returns ``(genes, codes)``: gene keys and a uint8 array of shape (n_genes, length),
    A, C, G, T, N = 0..4 (:func:`one_hot` expands them).

    >>> genes, codes = geneqn.windows("hg38.fa", tss_table)          # doctest: +SKIP
    """
    from geneqn import progress

    check_window_length(length)
    g = genome if isinstance(genome, Genome) else Genome(genome)
    table, _skipped = tss_on_genome(g, tss, length)
    genes: list[str] = []
    codes = []
    for batch in progress.track(iter_windows(g, table, batch_size, length), "windows",
                                total=-(-len(table) // batch_size)):
        genes += batch.genes
        codes.append(batch.codes)
    return genes, (np.concatenate(codes) if codes else np.zeros((0, length), dtype=np.uint8))


def check_window_length(length: int) -> None:
    if isinstance(length, bool) or not isinstance(length, (int, np.integer)) or length <= 0 or length % 2:
        raise GeneqnError(f"window length {length!r} must be a positive even number of bp "
                          "(the window is [tss - length/2, tss + length/2); Sei needs 4096).")
