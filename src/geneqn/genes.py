"""Annotation -> one TSS per gene, and matching of those genes to the expression's genes.

Readers return a TSS table with columns :data:`TSS_COLUMNS`: ``gene_id`` (Ensembl gene id,
version stripped, may be missing), ``symbol``, ``ncbi_gene_id`` and ``hgnc_id`` (may be
missing), ``transcript_id``, ``chrom``, ``tss`` (0-based position of the transcript's first base
on its strand) and ``strand``. :func:`tss` is the entry point (a path or a DataFrame; optionally
matched to the expression's genes).

* MANE summary (``MANE.GRCh38.v*.summary.txt.gz``): "MANE Select" rows; 1-based closed
  coordinates, so tss = chr_start - 1 on + and chr_end - 1 on -.
* GTF (GENCODE / Ensembl): ``transcript`` rows; the transcript tagged ``MANE_Select`` per gene,
  else ``Ensembl_canonical``, else the longest. 1-based closed coordinates as in MANE.
* BED (BED6: chrom, start, end, name, score, strand): one row per transcript or gene; 0-based
  half-open, so tss = start on + and end - 1 on -. ``name`` is an Ensembl gene id or a symbol.
"""

from __future__ import annotations

import gzip
import io
import logging
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from geneqn._io import require_file
from geneqn.errors import GeneqnError
from geneqn.targets import ENSEMBL_GENE, strip_version

log = logging.getLogger(__name__)

TSS_COLUMNS = ["gene_id", "symbol", "ncbi_gene_id", "hgnc_id", "transcript_id", "chrom", "tss", "strand"]

_REFSEQ_CHROM = re.compile(r"^NC_0000(\d\d)\.\d+$")


def normalise_chrom(name: str) -> str:
    """UCSC-style chromosome name: ``1`` -> ``chr1``, ``NC_000023.11`` -> ``chrX``, ``MT`` -> ``chrM``."""
    name = str(name)
    m = _REFSEQ_CHROM.match(name)
    if m:
        n = int(m.group(1))
        return {23: "chrX", 24: "chrY"}.get(n, f"chr{n}")
    if name.startswith("NC_012920"):
        return "chrM"
    if name in ("MT", "M", "chrMT"):
        return "chrM"
    return name if name.startswith("chr") else f"chr{name}"


def _open_text(path: Path):
    with open(path, "rb") as fh:
        magic = fh.read(2)
    if magic == b"\x1f\x8b":
        return io.TextIOWrapper(gzip.open(path), encoding="utf-8")
    return open(path, encoding="utf-8")


def _finish(df: pd.DataFrame) -> pd.DataFrame:
    for col in TSS_COLUMNS:
        if col not in df.columns:
            df[col] = pd.NA
    df = df[TSS_COLUMNS].copy()
    for col in ("gene_id", "symbol", "ncbi_gene_id", "hgnc_id", "transcript_id", "chrom", "strand"):
        df[col] = df[col].astype("string")
    df["tss"] = df["tss"].astype(np.int64)
    return df.reset_index(drop=True)


def read_mane(path: str | Path) -> pd.DataFrame:
    """TSS table from the official MANE summary file (MANE Select rows only)."""
    p = require_file(path, "MANE summary file")
    return _reading(p, "MANE summary file", lambda: _read_mane(p))


def _reading(p: Path, what: str, fn):
    """Run a reader; turn a truncated or corrupt (gzip) file into a clear message."""
    import zlib

    try:
        return fn()
    except (EOFError, zlib.error, gzip.BadGzipFile, UnicodeDecodeError) as e:
        raise GeneqnError(f"cannot read {p} as a {what}: {type(e).__name__}: {e or 'unexpected end of file'}. "
                          "The file looks truncated or corrupt; download it again.") from None


def _read_mane(p: Path) -> pd.DataFrame:
    want = ["#NCBI_GeneID", "Ensembl_Gene", "symbol", "Ensembl_nuc", "MANE_status",
            "GRCh38_chr", "chr_start", "chr_end", "chr_strand"]
    with _open_text(p) as fh:
        header = fh.readline().rstrip("\n").split("\t")
        missing = [c for c in want if c not in header]
        if missing:
            raise GeneqnError(f"{p}: not a MANE summary file; header lacks {', '.join(missing)}. "
                              "Expected MANE.GRCh38.v*.summary.txt(.gz) from NCBI/EBI.")
        idx = {c: header.index(c) for c in want}
        hgnc = header.index("HGNC_ID") if "HGNC_ID" in header else None
        rows = []
        for lineno, line in enumerate(fh, start=2):
            parts = line.rstrip("\n").split("\t")
            if len(parts) != len(header):
                raise GeneqnError(f"{p}, line {lineno}: expected {len(header)} tab-separated fields, "
                                  f"found {len(parts)}. The file may be truncated or edited.")
            if parts[idx["MANE_status"]] != "MANE Select":
                continue
            strand = parts[idx["chr_strand"]]
            try:
                start, end = int(parts[idx["chr_start"]]), int(parts[idx["chr_end"]])
            except ValueError:
                raise GeneqnError(f"{p}, line {lineno}: chr_start/chr_end are not integers.") from None
            if strand not in ("+", "-"):
                raise GeneqnError(f"{p}, line {lineno}: chr_strand {strand!r} must be + or -.")
            if start < 1 or end < start:
                raise GeneqnError(f"{p}, line {lineno}: coordinates {start}-{end} are not a 1-based interval "
                                  "(chr_start >= 1, chr_end >= chr_start); the file may be edited or damaged.")
            rows.append((parts[idx["Ensembl_Gene"]], parts[idx["symbol"]],
                         parts[idx["#NCBI_GeneID"]].replace("GeneID:", ""),
                         parts[hgnc] if hgnc is not None else pd.NA,
                         parts[idx["Ensembl_nuc"]], normalise_chrom(parts[idx["GRCh38_chr"]]),
                         start - 1 if strand == "+" else end - 1, strand))
    if not rows:
        raise GeneqnError(f"{p}: no 'MANE Select' rows found.")
    df = pd.DataFrame(rows, columns=["gene_id", "symbol", "ncbi_gene_id", "hgnc_id", "transcript_id", "chrom",
                                     "tss", "strand"])
    df["gene_id"] = strip_version(df["gene_id"]).values
    return _finish(df)


_GTF_ATTR = re.compile(r'(\S+)\s+"([^"]*)"')


def read_gtf(path: str | Path) -> pd.DataFrame:
    """TSS table from a GTF: one transcript per gene (MANE_Select > Ensembl_canonical > longest)."""
    p = require_file(path, "GTF file")
    return _reading(p, "GTF file", lambda: _read_gtf(p))


def _read_gtf(p: Path) -> pd.DataFrame:
    rows = []
    with _open_text(p) as fh:
        for lineno, line in enumerate(fh, start=1):
            if line.startswith("#") or not line.strip():
                continue
            parts = line.rstrip("\n").split("\t")
            if len(parts) != 9:
                raise GeneqnError(f"{p}, line {lineno}: a GTF row has 9 tab-separated fields, "
                                  f"found {len(parts)}.")
            if parts[2] != "transcript":
                continue
            try:
                start, end = int(parts[3]), int(parts[4])
            except ValueError:
                raise GeneqnError(f"{p}, line {lineno}: start/end are not integers.") from None
            strand = parts[6]
            if strand not in ("+", "-"):
                raise GeneqnError(f"{p}, line {lineno}: strand {strand!r} must be + or -.")
            attrs: dict[str, list[str]] = {}
            for k, v in _GTF_ATTR.findall(parts[8]):
                attrs.setdefault(k, []).append(v)
            tags = attrs.get("tag", [])
            rank = 0 if "MANE_Select" in tags else 1 if "Ensembl_canonical" in tags else 2
            gid = attrs.get("gene_id", [""])[0]
            if not gid:
                raise GeneqnError(f"{p}, line {lineno}: transcript row without gene_id.")
            rows.append((gid, attrs.get("gene_name", [pd.NA])[0], attrs.get("transcript_id", [pd.NA])[0],
                         normalise_chrom(parts[0]), start - 1 if strand == "+" else end - 1, strand,
                         rank, end - start + 1))
    if not rows:
        raise GeneqnError(f"{p}: no 'transcript' rows; is this a GTF (not GFF3)?")
    df = pd.DataFrame(rows, columns=["gene_id", "symbol", "transcript_id", "chrom", "tss", "strand",
                                     "rank", "length"])
    df = df.sort_values(["gene_id", "rank", "length"], ascending=[True, True, False], kind="stable")
    chosen = df.groupby("gene_id", sort=False).head(1)
    by_rank = chosen["rank"].value_counts().to_dict()
    log.info("%s: %d genes (%d MANE_Select, %d Ensembl_canonical, %d longest transcript)", p,
             len(chosen), by_rank.get(0, 0), by_rank.get(1, 0), by_rank.get(2, 0))
    chosen = chosen.copy()
    ens = chosen["gene_id"].str.match(ENSEMBL_GENE)
    chosen["gene_id"] = np.where(ens, strip_version(chosen["gene_id"]).values, pd.NA)
    chosen.loc[~ens.values, "symbol"] = chosen.loc[~ens.values, "symbol"].fillna(
        df.loc[chosen.index[~ens.values], "gene_id"])
    return _finish(chosen)


def read_bed(path: str | Path) -> pd.DataFrame:
    """TSS table from a BED6 of transcripts/genes (name = Ensembl gene id or symbol)."""
    p = require_file(path, "BED file")
    return _reading(p, "BED file", lambda: _read_bed(p))


def _read_bed(p: Path) -> pd.DataFrame:
    rows = []
    with _open_text(p) as fh:
        for lineno, line in enumerate(fh, start=1):
            if line.startswith(("#", "track", "browser")) or not line.strip():
                continue
            parts = line.rstrip("\n").split("\t")
            if len(parts) < 6:
                raise GeneqnError(f"{p}, line {lineno}: BED needs 6 columns (chrom, start, end, name, "
                                  f"score, strand) to know the strand; found {len(parts)}.")
            try:
                start, end = int(parts[1]), int(parts[2])
            except ValueError:
                raise GeneqnError(f"{p}, line {lineno}: start/end are not integers.") from None
            strand = parts[5]
            if strand not in ("+", "-"):
                raise GeneqnError(f"{p}, line {lineno}: strand {strand!r} must be + or - (column 6 of BED6).")
            if start < 0:
                raise GeneqnError(f"{p}, line {lineno}: start {start} is negative; BED starts are 0-based "
                                  "positions (0 or more). Fix or remove the line.")
            if end <= start:
                raise GeneqnError(f"{p}, line {lineno}: end {end} is not after start {start}; a BED interval "
                                  "is [start, end) with end > start. Fix or remove the line.")
            name = parts[3]
            is_ens = bool(ENSEMBL_GENE.match(name))
            rows.append((name if is_ens else pd.NA, pd.NA if is_ens else name, normalise_chrom(parts[0]),
                         start if strand == "+" else end - 1, strand))
    if not rows:
        raise GeneqnError(f"{p}: no BED rows.")
    df = pd.DataFrame(rows, columns=["gene_id", "symbol", "chrom", "tss", "strand"])
    df["gene_id"] = strip_version(df["gene_id"]).values
    key = df["gene_id"].fillna(df["symbol"])
    dup = key[key.duplicated()].unique()
    if len(dup):
        raise GeneqnError(f"{p}: gene(s) {', '.join(map(str, dup[:5]))} have more than one row; a TSS "
                          "BED must hold one transcript per gene.")
    return _finish(df)


def read_tss_table(path: str | Path) -> pd.DataFrame:
    """A TSS table written by geneqn (parquet with the columns of :data:`TSS_COLUMNS`)."""
    from geneqn._io import read_parquet

    p = require_file(path, "TSS table")
    try:
        df = read_parquet(p)
    except (OSError, ValueError) as e:
        raise GeneqnError(f"cannot read {p} as a parquet TSS table ({e}).") from None
    return tss_frame(df, str(p))


def tss_frame(df: pd.DataFrame, p: str = "TSS table") -> pd.DataFrame:
    """Check and normalise a TSS table given as a DataFrame."""
    missing = [c for c in ("chrom", "tss", "strand") if c not in df.columns]
    if missing:
        raise GeneqnError(f"{p}: a TSS table needs columns chrom, tss, strand (and gene_id / symbol); "
                          f"missing {', '.join(missing)}.")
    if len(df) == 0:
        raise GeneqnError(f"{p}: the TSS table is empty.")
    if not df["strand"].astype(str).isin(["+", "-"]).all():
        raise GeneqnError(f"{p}: strand must be + or - in every row.")
    extra = df[["gene"]] if "gene" in df.columns else None
    out = _finish(df)
    if extra is not None:
        out.insert(0, "gene", extra["gene"].astype("string").values)
    return out


def detect_annotation_format(path: Path) -> str:
    name = path.name.lower()
    if name.endswith(".parquet"):
        return "table"
    if "summary" in name and "mane" in name:
        return "mane"
    if name.endswith((".gtf", ".gtf.gz")):
        return "gtf"
    if name.endswith((".bed", ".bed.gz")):
        return "bed"
    try:
        with _open_text(path) as fh:
            first = fh.readline()
    except (UnicodeDecodeError, EOFError, OSError, gzip.BadGzipFile):
        raise GeneqnError(f"{path} is not a text annotation (it is binary, or a damaged gzip file); an "
                          "annotation is a MANE summary, a GTF or a BED6 file (optionally gzipped), or a geneqn "
                          ".parquet TSS table. Is it the expression or genome file by mistake?") from None
    if first.startswith("#NCBI_GeneID"):
        return "mane"
    raise GeneqnError(f"cannot tell the annotation format of {path}; name it *.gtf(.gz), *.bed(.gz) or "
                      "MANE*summary*.txt(.gz), or pass --format mane|gtf|bed.")


def read_tss(path: str | Path, format: str = "auto") -> pd.DataFrame:
    p = require_file(path, "annotation file")
    fmt = detect_annotation_format(p) if format == "auto" else format
    readers = {"mane": read_mane, "gtf": read_gtf, "bed": read_bed, "table": read_tss_table}
    if fmt not in readers:
        raise GeneqnError(f"unknown annotation format {fmt!r}; use mane, gtf, bed or table.")
    return readers[fmt](p)


def tss(annotation, *, format: str = "auto", genes=None, synonyms=None) -> pd.DataFrame:
    """One TSS per gene, from an annotation file (MANE summary, GTF, BED6, geneqn parquet) or a
    DataFrame with chrom, tss (0-based), strand and gene_id / symbol columns.

    With ``genes`` (a targets table, or a DataFrame/list of expression gene ids), the TSS rows
    are matched to them (Ensembl id, then symbol, then NCBI GeneID, then HGNC previous and alias
    symbols from ``synonyms``: the HGNC complete set or any table with ``hgnc_id``,
    ``prev_symbol`` and ``alias_symbol``) and a column ``gene`` (the expression key) is added;
    the match report is in ``.attrs["match"]``.

    >>> t = geneqn.tss("MANE.GRCh38.v1.3.summary.txt.gz", genes=targets)   # doctest: +SKIP
    """
    if isinstance(annotation, pd.DataFrame):
        table = tss_frame(annotation.copy(), "TSS DataFrame")
        gene = table["gene"].astype("string") if "gene" in table.columns else None
        table = _finish(table)
        if gene is not None:
            table.insert(0, "gene", gene.values)
    else:
        table = read_tss(annotation, format)
    if genes is None:
        return table
    if isinstance(genes, pd.DataFrame):
        g = genes[[c for c in ("gene", "symbol", "ncbi_gene_id") if c in genes.columns]].drop_duplicates("gene")
    else:
        g = pd.DataFrame({"gene": pd.Series(list(genes), dtype="string")})
    matched, report = match_genes(g, table.drop(columns=["gene"], errors="ignore"),
                                  synonyms=read_synonyms(synonyms) if synonyms is not None else None,
                                  source=str(annotation) if not isinstance(annotation, pd.DataFrame) else "the TSS table")
    log.debug("%s", report.summary())  # the run layer's stage line says it
    matched.attrs["match"] = report
    return matched


def read_synonyms(source) -> pd.DataFrame:
    """Previous and alias symbols: a table with ``symbol`` (old or alias) -> ``hgnc_id``.

    ``source``: the HGNC complete set (``hgnc_complete_set.txt``, tab-separated, ``prev_symbol``
    and ``alias_symbol`` lists separated by ``|``), or a DataFrame with those columns."""
    if isinstance(source, pd.DataFrame):
        df = source
    else:
        p = require_file(source, "HGNC synonyms table")
        try:
            df = pd.read_csv(p, sep="\t", dtype=str)
        except (OSError, ValueError, pd.errors.ParserError) as e:
            raise GeneqnError(f"cannot read {p} as a tab-separated HGNC table ({e}).") from None
    need = {"hgnc_id"} & set(df.columns)
    if not need or not ({"prev_symbol", "alias_symbol"} & set(df.columns)):
        raise GeneqnError("the HGNC synonyms table needs columns hgnc_id and prev_symbol and/or "
                          "alias_symbol (the HGNC complete set has them).")
    rows = []
    for kind in ("prev_symbol", "alias_symbol"):
        if kind not in df.columns:
            continue
        for hid, cell in zip(df["hgnc_id"], df[kind]):
            if isinstance(cell, str) and cell:
                for sym in cell.strip('"').split("|"):
                    if sym.strip():
                        rows.append((sym.strip(), str(hid), kind))
    return pd.DataFrame(rows, columns=["symbol", "hgnc_id", "kind"])


# ----------------------------------------------------------------------------- matching

@dataclass
class MatchReport:
    """How the expression's genes were matched to TSS rows."""

    n_expression: int
    n_matched: int
    by: dict[str, int] = field(default_factory=dict)
    unmatched: list[str] = field(default_factory=list)

    def summary(self) -> str:
        parts = ", ".join(f"{n} by {k}" for k, n in self.by.items() if n)
        return (f"{self.n_matched:,} of {self.n_expression:,} expression genes matched a TSS "
                f"({parts}); {len(self.unmatched):,} unmatched")


MIN_MATCHED_FRACTION = 0.1
"""Fewer expression genes matched than this: the two inputs do not describe the same genes."""


def match_genes(genes: pd.DataFrame, tss: pd.DataFrame, synonyms: pd.DataFrame | None = None,
                source: str = "the annotation") -> tuple[pd.DataFrame, MatchReport]:
    """Attach a TSS to each expression gene: Ensembl id first, then symbol, then NCBI GeneID,
    then (with ``synonyms`` from :func:`read_synonyms` and a TSS table with ``hgnc_id``) HGNC
    previous symbols, then HGNC alias symbols.

    ``genes`` has a ``gene`` column (the expression key) and optional ``symbol`` and
    ``ncbi_gene_id`` columns. Returns the TSS table restricted to matched genes with the
    expression key in a new first column ``gene``; each TSS row is used at most once.
    """
    genes = genes.drop_duplicates("gene").reset_index(drop=True)
    if "symbol" not in genes.columns:
        genes = genes.assign(symbol=genes["gene"])
    tss = tss.reset_index(drop=True)
    out = pd.Series(-1, index=genes.index, dtype=np.int64)
    used = np.zeros(len(tss), dtype=bool)
    by = {}
    passes = [("Ensembl id", "gene", "gene_id"), ("symbol", "symbol", "symbol"),
              ("NCBI GeneID", "ncbi_gene_id", "ncbi_gene_id")]
    if synonyms is not None and "hgnc_id" in tss.columns and len(synonyms):
        for kind, label in (("prev_symbol", "HGNC previous symbol"), ("alias_symbol", "HGNC alias symbol")):
            syn = synonyms[synonyms["kind"] == kind]
            syn = syn[~syn["symbol"].duplicated(keep=False)]  # an ambiguous old symbol matches nothing
            col = f"_{kind}_hgnc"
            genes[col] = genes["symbol"].astype("string").map(dict(zip(syn["symbol"], syn["hgnc_id"])))
            passes.append((label, col, "hgnc_id"))
    for how, gcol, tcol in passes:
        if gcol not in genes.columns or tcol not in tss.columns:
            by[how] = 0
            continue
        t = tss[tcol].astype("string")
        t = t[t.notna() & ~used]
        lookup = pd.Series(t.index, index=t.values)
        lookup = lookup[~lookup.index.duplicated(keep=False)]  # an ambiguous key matches nothing
        todo = out[out < 0].index
        keys = genes.loc[todo, gcol].astype("string")
        hit = keys.map(lookup)
        hit = hit[hit.notna()].astype(np.int64)
        hit = hit[~pd.Index(hit.values).duplicated()]
        out.loc[hit.index] = hit.values
        used[hit.values] = True
        by[how] = len(hit)
    matched = out[out >= 0]
    result = tss.loc[matched.values].copy()
    result.insert(0, "gene", genes.loc[matched.index, "gene"].astype("string").values)
    result = result.reset_index(drop=True)
    unmatched = genes.loc[out < 0, "gene"].astype(str).tolist()
    report = MatchReport(n_expression=len(genes), n_matched=len(result), by=by, unmatched=unmatched)
    if len(result) == 0:
        raise GeneqnError(f"no expression gene matched {source} by Ensembl id, symbol or NCBI "
                          "GeneID. Check that both come from the same species and that gene ids are "
                          f"Ensembl ids or symbols (e.g. ENSG00000254647 or INS).{_species_hint(genes, tss)}")
    if len(result) < MIN_MATCHED_FRACTION * len(genes):
        raise GeneqnError(f"only {len(result):,} of {len(genes):,} expression genes ({len(result) / len(genes):.1%}) "
                          f"matched a TSS of {source}, too few to model (at least {MIN_MATCHED_FRACTION:.0%} are "
                          f"needed).{_species_hint(genes, tss)} Check that the expression and the annotation "
                          "are of the same species and use the same kind of gene ids.")
    return result, report


def _species_hint(genes: pd.DataFrame, tss: pd.DataFrame) -> str:
    """A sentence when the gene names say that the two inputs are of different species."""
    def prefix(ids) -> str | None:
        ids = pd.Series(ids).dropna().astype(str)
        ens = ids[ids.str.match(ENSEMBL_GENE)]
        return ens.str.extract(r"^(ENS[A-Z]*G)")[0].mode().iat[0] if len(ens) > 0.5 * max(len(ids), 1) else None

    a, b = prefix(genes["gene"]), prefix(tss["gene_id"]) if "gene_id" in tss.columns else None
    if a and b and a != b:
        return (f" The expression's Ensembl ids start with {a} but the annotation's with {b}: they are of "
                "different species (ENSG: human, ENSMUSG: mouse).")
    sym = genes["symbol"].dropna().astype(str) if "symbol" in genes.columns else pd.Series([], dtype=str)
    ann = tss["symbol"].dropna().astype(str) if "symbol" in tss.columns else pd.Series([], dtype=str)
    if len(sym) and len(ann):
        mouse_case = sym.str.fullmatch(r"[A-Z][a-z0-9]+[a-z0-9-]*").mean()
        human_case = ann.str.fullmatch(r"[A-Z0-9-]+").mean()
        if mouse_case > 0.5 and human_case > 0.5:
            examples = ", ".join(sym.head(3))
            return (f" The expression's symbols look like mouse or rat genes ({examples}: capitalised) but the "
                    "annotation's like human ones (all upper case): use an annotation of the expression's "
                    "species (e.g. a GENCODE mouse GTF).")
    return ""
