"""Variants placed in the genome: which TSS windows each one touches, the REF check, and the
reference and alternative windows.

A TSS window is ``[tss - L/2, tss + L/2)`` (0-based, forward strand; :mod:`geneqn.genome`). A
variant at 1-based ``pos`` with allele REF covers ``[pos - 1, pos - 1 + len(REF))``; it touches
every window that this span overlaps (an indel at a window's edge included).

The alternative window is cut from the alternative haplotype, centred on the same TSS base, as
the genome would be: an indel upstream of the TSS (in genome coordinates) moves the TSS by
``len(ALT) - len(REF)`` and so shifts which bases fall in the window's far end; one downstream
leaves the TSS in place and pushes bases out of (or pulls them into) the window's other end. A
deletion that removes the TSS base keeps the TSS at the last base of the allele that remains.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from geneqn.errors import GeneqnError
from geneqn.genome import Genome, encode


def distance_to_tss(pos0, tss, strand) -> np.ndarray:
    """Signed distance (bp) of a variant's first base from the TSS along the gene: negative
    upstream, positive downstream (on a minus-strand gene, upstream is at higher coordinates)."""
    sign = np.where(np.asarray(strand).astype(str) == "-", -1, 1)
    return (np.asarray(pos0, dtype=np.int64) - np.asarray(tss, dtype=np.int64)) * sign


def variant_gene_pairs(variants: pd.DataFrame, tss: pd.DataFrame, genome: Genome, length: int) -> pd.DataFrame:
    """One row per (variant, gene) whose TSS window the variant's REF span overlaps.

    ``variants``: :func:`read_variants` rows; ``tss``: a TSS table with ``gene`` (and ``symbol``,
    ``strand``). Chromosome names are matched through the genome (``chr1`` = ``1``). Columns: the
    variant's, then ``gene``, ``symbol``, ``strand``, ``tss`` and ``distance`` (:func:`distance_to_tss`).
    """
    half = length // 2
    genes = tss.assign(_chrom=tss["chrom"].astype(str).map(genome.resolve)).dropna(subset=["_chrom"])
    var = variants.assign(_chrom=variants["chrom"].astype(str).map(genome.resolve)).dropna(subset=["_chrom"])
    parts = []
    for chrom, v in var.groupby("_chrom", sort=False):
        g = genes[genes["_chrom"] == chrom].sort_values("tss", kind="stable")
        if g.empty:
            continue
        t = g["tss"].to_numpy(dtype=np.int64)
        start = v["pos"].to_numpy(dtype=np.int64) - 1
        end = start + v["ref"].str.len().to_numpy()
        # overlap of [start, end) and [t - half, t + half): t in (start - half, end + half)
        lo = np.searchsorted(t, start - half, side="right")
        hi = np.searchsorted(t, end + half, side="left")
        n = hi - lo
        if n.sum() == 0:
            continue
        vi = np.repeat(np.arange(len(v)), n)
        gi = np.concatenate([np.arange(a, b) for a, b in zip(lo, hi)])
        part = v.iloc[vi].reset_index(drop=True)
        sel = g.iloc[gi].reset_index(drop=True)
        part["gene"] = sel["gene"].astype(str).to_numpy()
        part["symbol"] = (sel["symbol"].astype("string").fillna("").to_numpy() if "symbol" in sel else "")
        part["strand"] = sel["strand"].astype(str).to_numpy() if "strand" in sel else "+"
        part["tss"] = sel["tss"].to_numpy(dtype=np.int64)
        parts.append(part)
    if not parts:
        cols = list(variants.columns) + ["gene", "symbol", "strand", "tss", "distance"]
        return pd.DataFrame(columns=cols)
    out = pd.concat(parts, ignore_index=True).drop(columns="_chrom")
    out["distance"] = distance_to_tss(out["pos"] - 1, out["tss"], out["strand"])
    return out


def ref_matches(genome: Genome, chrom: str, pos: int, ref: str) -> bool:
    """REF equals the genome at 1-based ``pos`` (case-insensitive; an N in REF, or a base other than
    ACGT in the genome, such as an IUPAC ambiguity code, matches)."""
    seq = genome.fetch(chrom, pos - 1, pos - 1 + len(ref)).upper()
    return len(seq) == len(ref) and all(a == b or a not in "ACGT" or b == "N" for a, b in zip(seq, ref))


def allele_windows(genome: Genome, chrom: str, tss: int, pos: int, ref: str, alt: str,
                   length: int) -> tuple[np.ndarray, np.ndarray]:
    """uint8 codes (length,) of the reference and the alternative window of a TSS for a variant
    at 1-based ``pos`` (see the module's text for how indels shift the window)."""
    half = length // 2
    pos0 = pos - 1
    pad = len(ref) + len(alt) + 1
    start = tss - half - pad
    region = genome.fetch(chrom, start, tss + half + pad)
    o = pos0 - start
    if not 0 <= o <= len(region) - len(ref):
        raise GeneqnError(f"the variant {chrom}:{pos} does not touch the window of the TSS at {chrom}:{tss + 1}.")
    alt_region = region[:o] + alt + region[o + len(ref):]
    t = tss - start
    if pos0 + len(ref) <= tss:           # entirely upstream in genome coordinates: the TSS moves
        t += len(alt) - len(ref)
    elif pos0 <= tss:                    # the allele covers the TSS base
        t = o + min(tss - pos0, len(alt) - 1)
    ref_codes = encode(region[pad:pad + length])
    alt_codes = encode(alt_region[t - half:t + half])
    return ref_codes, alt_codes
