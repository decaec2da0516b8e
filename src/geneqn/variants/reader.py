"""Variants in: VCF (plain or bgzipped, through cyvcf2, htslib's reader) or a table of
chrom/pos/ref/alt.

cyvcf2 was chosen over pysam: both wrap htslib and install from PyPI as wheels, but cyvcf2 is
the smaller of the two (one package, no samtools/bcftools) and reads VCF/BCF, plain or bgzipped,
with the header's contig lengths, which is all geneqn needs.

Every record becomes one row per alternative allele (multi-allelic records are split), with
``pos`` 1-based as in VCF. What cannot be scored is counted, never silently dropped: symbolic
alleles (``<DEL>``, ``*``, breakends), missing ALT (``.``), alleles with letters other than
ACGTN, alleles longer than ``max_length`` (SNVs and short indels only), ALT equal to REF, the
same allele twice. Alleles are trimmed to their shortest spelling (:func:`trim_alleles`), so one
variant written two ways is one variant.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

from geneqn._io import require_file
from geneqn.errors import GeneqnError

COLUMNS = ["variant", "id", "chrom", "pos", "ref", "alt"]
MAX_LENGTH = 50
"""Longest REF or ALT scored (bp): SNVs and short indels; longer alleles are counted and left out."""
_ALLELE = re.compile(r"^[ACGTN]+$")
_TABLE_ALIASES = {"#chrom": "chrom", "chromosome": "chrom", "chr": "chrom", "position": "pos", "bp": "pos",
                  "reference": "ref", "alternative": "alt", "alternate": "alt", "variant_id": "id", "rsid": "id",
                  "snp": "id", "name": "id"}


def read_variants(source, format: str = "auto", max_length: int = MAX_LENGTH) -> pd.DataFrame:
    """The variants of a VCF / VCF.gz / BCF file, a TSV/CSV table, or a DataFrame, one row per
    alternative allele.

    Columns: ``variant`` (``chrom:pos:ref>alt``, unique), ``id`` (the file's ID, else ``variant``),
    ``chrom``, ``pos`` (1-based), ``ref``, ``alt`` (upper case). ``attrs["skipped"]`` counts what
    was left out and why; ``attrs["contigs"]`` holds the VCF header's contig lengths ({} for a
    table). A table needs columns chrom, pos, ref and alt (``#CHROM``, ``POS``, ``REF``, ``ALT``
    of a VCF-like TSV work too; an ``id`` column is optional; ALT may list alleles with commas).

    >>> v = geneqn.read_variants("calls.vcf.gz")        # doctest: +SKIP
    """
    if format not in ("auto", "vcf", "table"):
        raise GeneqnError(f"variants format {format!r} must be auto, vcf or table.")
    contigs: dict[str, int] = {}
    if isinstance(source, pd.DataFrame):
        rows, where = _table_rows(source, "the variant table"), "the variant table"
    else:
        path = require_file(source, "variant file (VCF, VCF.gz, BCF or a TSV of chrom/pos/ref/alt)")
        where = str(path)
        if format == "vcf" or (format == "auto" and _looks_like_vcf(path)):
            rows, contigs = _vcf_rows(path)
        else:
            rows = _table_rows(_read_table(path), where)
    return _normalise(rows, max_length, where, contigs)


def _looks_like_vcf(path: Path) -> bool:
    name = path.name.lower()
    if name.endswith((".vcf", ".vcf.gz", ".vcf.bgz", ".bcf")):
        return True
    import gzip

    opener = gzip.open if name.endswith((".gz", ".bgz")) else open
    try:
        with opener(path, "rb") as fh:
            return fh.read(16).startswith(b"##fileformat=VCF")
    except OSError:
        return False


def _vcf_rows(path: Path) -> tuple[list[tuple], dict[str, int]]:
    try:
        from cyvcf2 import VCF
    except ImportError:  # pragma: no cover - a dependency of geneqn
        raise GeneqnError("reading VCF needs cyvcf2 (pip install cyvcf2), or give a TSV of chrom/pos/ref/alt.") from None
    try:
        vcf = VCF(str(path), lazy=True, threads=1)
    except Exception as e:  # cyvcf2 raises OSError or a bare Exception on a broken file
        raise GeneqnError(f"cannot read the VCF {path}: {str(e).strip() or type(e).__name__}. Is it a VCF (plain "
                          "or bgzipped) or BCF file?") from None
    contigs = {}
    try:
        contigs = {str(n): int(n_bp) for n, n_bp in zip(vcf.seqnames, vcf.seqlens)}
    except Exception:  # no ##contig lines with lengths: nothing to check the assembly against
        contigs = {}
    rows = []
    try:
        for rec in vcf:
            alts = rec.ALT or ["."]
            for alt in alts:
                rows.append((str(rec.CHROM), int(rec.POS), rec.ID or "", str(rec.REF), str(alt)))
    except Exception as e:
        raise GeneqnError(f"{path}: the VCF is malformed after {len(rows):,} alleles ({str(e).strip() or type(e).__name__})"
                          ". Check it with `bcftools view`.") from None
    finally:
        vcf.close()
    return rows, contigs


def _read_table(path: Path) -> pd.DataFrame:
    sep = "," if path.name.lower().endswith((".csv", ".csv.gz")) else "\t"
    try:
        df = pd.read_csv(path, sep=sep, dtype=str, comment=None, keep_default_na=False)
    except Exception as e:
        raise GeneqnError(f"cannot read the variant table {path}: {e}") from None
    return df


def _table_rows(df: pd.DataFrame, where: str) -> list[tuple]:
    cols = {c: _TABLE_ALIASES.get(str(c).strip().lower(), str(c).strip().lower()) for c in df.columns}
    df = df.rename(columns=cols)
    missing = [c for c in ("chrom", "pos", "ref", "alt") if c not in df.columns]
    if missing:
        raise GeneqnError(f"{where} lacks column(s) {', '.join(missing)}; a variant table needs chrom, pos (1-based), "
                          f"ref and alt (it has {', '.join(map(str, df.columns[:8]))}).")
    pos = pd.to_numeric(df["pos"], errors="coerce")
    bad = pos.isna() | (pos < 1) | (pos != pos.round())
    if bad.any():
        i = int(np.flatnonzero(bad.to_numpy())[0])
        raise GeneqnError(f"{where}: pos must be a whole number >= 1 (1-based, as in VCF); row {i + 1} has "
                          f"{df['pos'].iloc[i]!r}.")
    ids = (df["id"].where(df["id"].notna(), "").astype(str) if "id" in df.columns
           else pd.Series([""] * len(df)))
    rows = []
    for c, p, i, r, a in zip(df["chrom"].astype(str), pos.astype(np.int64), ids, df["ref"].astype(str),
                             df["alt"].astype(str)):
        for alt in a.split(","):
            rows.append((c.strip(), int(p), "" if i.strip() in (".", "nan", "None", "<NA>") else i.strip(), r.strip(), alt.strip()))
    return rows


def trim_alleles(pos: int, ref: str, alt: str) -> tuple[int, str, str]:
    """The shortest spelling of a REF/ALT pair (as ``bcftools norm`` does without a reference):
    the bases both end with are dropped, then the bases both start with (``pos`` moving on), each
    allele keeping at least one base. ``ACGT>AGT`` at 10 becomes ``AC>A`` at 10; a multi-allelic
    record split into pairs gives each pair its own shortest form."""
    while len(ref) > 1 and len(alt) > 1 and ref[-1] == alt[-1]:
        ref, alt = ref[:-1], alt[:-1]
    while len(ref) > 1 and len(alt) > 1 and ref[0] == alt[0]:
        ref, alt, pos = ref[1:], alt[1:], pos + 1
    return pos, ref, alt


def _normalise(rows: list[tuple], max_length: int, where: str, contigs: dict[str, int]) -> pd.DataFrame:
    skipped = {"symbolic_or_missing": 0, "not_acgtn": 0, "too_long": 0, "alt_equals_ref": 0, "duplicate": 0}
    out = []
    for chrom, pos, vid, ref, alt in rows:
        ref, alt = ref.upper(), alt.upper()
        if alt in (".", "*", "") or alt.startswith("<") or "[" in alt or "]" in alt or ref in (".", ""):
            skipped["symbolic_or_missing"] += 1
        elif not (_ALLELE.match(ref) and _ALLELE.match(alt)):
            skipped["not_acgtn"] += 1
        elif max(len(ref), len(alt)) > max_length:
            skipped["too_long"] += 1
        elif ref == alt:
            skipped["alt_equals_ref"] += 1
        else:
            pos, ref, alt = trim_alleles(pos, ref, alt)
            key = f"{chrom}:{pos}:{ref}>{alt}"
            out.append((key, vid or key, chrom, pos, ref, alt))
    df = pd.DataFrame(out, columns=COLUMNS)
    dup = df.duplicated("variant")
    skipped["duplicate"] = int(dup.sum())  # the same allele twice (e.g. two IDs): scored once, the first ID kept
    df = df.loc[~dup].reset_index(drop=True)
    df["pos"] = df["pos"].astype(np.int64)
    df.attrs["skipped"] = skipped
    df.attrs["n_alleles"] = len(rows)
    df.attrs["contigs"] = contigs
    df.attrs["source"] = where
    return df
