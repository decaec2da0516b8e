"""Variant scoring speed, and the eQTL sign-AUROC recipe.

Speed (no download: Sei with random weights, a random genome, a run folder with an equation of
the 40 sequence classes). Prints, measured side by side in this one run:

* Sei alone on the same windows (windows/s: each window with its reverse complement);
* ``geneqn.variant_effects`` end to end (variants/s, windows/s): each variant costs one
  alternative window, and each gene one reference window shared by its variants, so
  ``--per-gene`` > 1 approaches one window per variant; the ratio of the two window rates is the
  overhead of reading, cutting windows and scoring the models;
* on CUDA (when present): the same for fp32 and bf16.

    python benchmarks/bench_variants.py [--size full|small] [--genes 6] [--per-gene 2]

eQTL recipe (for users who are online and have fine-mapped eQTLs, e.g. GTEx's SuSiE credible
sets: columns gene, variant (chrom:pos:ref>alt or the VCF's ID) and sign/slope): score the
variants with ``geneqn variants calls.vcf.gz --run RUN -o fx.parquet``, then

    python benchmarks/bench_variants.py --effects fx.parquet --eqtl eqtls.tsv [--cell-type CT]

prints each model's sign AUROC (:func:`geneqn.variants.sign_auroc`). Published anchors, not
measured here: a Sei-based causal-eQTL classifier about 0.75; Borzoi 0.75 and AlphaGenome 0.80
eQTL sign AUROC.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from geneqn._io import write_json, write_parquet
from geneqn.features import seqclass
from geneqn.features.sei import FULL_WIDTHS, SeiProvider, build_sei
from geneqn.run.layout import RunLayout
from geneqn.sr.equation import GenomicEquation
from geneqn.sr.expr import Expr
from geneqn.variants import read_variants, sign_auroc, variant_effects

SIZES = {"full": dict(widths=FULL_WIDTHS), "small": dict(widths=(64, 96, 128))}


def make_run(folder: Path, genes: int, per_gene: int, seed: int = 0) -> tuple[Path, pd.DataFrame]:
    """A genome (one chromosome), ``genes`` TSSs 20 kb apart, an equation of the sequence classes
    and ``per_gene`` random SNVs within 2 kb of each TSS."""
    rng = np.random.default_rng(seed)
    n = 20_000 * (genes + 1)
    seq = "".join(np.array(list("ACGT"))[rng.choice(4, n, p=[0.295, 0.205, 0.205, 0.295])])
    (folder / "g.fa").write_text(">chr1\n" + "\n".join(seq[i:i + 60] for i in range(0, n, 60)) + "\n")
    L = RunLayout(folder / "run")
    L.root.mkdir()
    write_json({"geneqn": "bench"}, L.marker)
    tss = 20_000 * (1 + np.arange(genes))
    names = [f"G{i}" for i in range(genes)]
    write_parquet(pd.DataFrame({"gene": names, "gene_id": names, "symbol": names, "chrom": "chr1", "tss": tss,
                                "strand": ["+", "-"] * (genes // 2) + ["+"] * (genes % 2)}), L.tss)
    labels = seqclass.class_labels()
    write_json({"features": labels}, L.features_info)
    eq = GenomicEquation("ct", labels, {"x0": Expr.parse(f"0.8*{labels[0]} - 0.5*{labels[1]}*{labels[5]}", labels),
                                        "x1": Expr.parse(f"exp(0.3*{labels[2]})", labels)},
                         Expr.parse("x0 + 0.2*x1", ["x0", "x1"]))
    L.equations.parent.mkdir(parents=True)
    write_json({"ct": eq.to_dict()}, L.equations)
    pos = (np.repeat(tss, per_gene) + rng.integers(-2000, 2000, genes * per_gene)) + 1
    ref = [seq[p - 1] for p in pos]
    alt = ["ACGT"[("ACGT".index(r) + 1 + rng.integers(0, 3)) % 4] for r in ref]
    return L.root, pd.DataFrame({"chrom": "chr1", "pos": pos, "ref": ref, "alt": alt})


def speed(size: str, genes: int, per_gene: int, device: str) -> None:
    torch.manual_seed(0)
    model = build_sei(**SIZES[size]).eval()
    unit = seqclass.unit_rows(np.random.default_rng(3).random((40, model.n_targets)))
    with tempfile.TemporaryDirectory() as tmp:
        root, variants = make_run(Path(tmp), genes, per_gene)
        n_windows = genes + len(variants)
        for precision in (["fp32", "bf16"] if device.startswith("cuda") else ["fp32"]):
            prov = SeiProvider(Path(tmp) / "g.fa", tmp, device=device, batch_size=8, model=model, projection=unit,
                               precision=precision)
            codes = np.random.default_rng(1).integers(0, 4, (n_windows, 4096)).astype(np.uint8)
            prov.window_features(codes)  # warm-up: loads, and the first kernels of each batch shape
            t = time.perf_counter()
            prov.window_features(codes)
            sei_s = time.perf_counter() - t
            t = time.perf_counter()
            fx = variant_effects(read_variants(variants), root, provider=prov, genome=Path(tmp) / "g.fa",
                                 cache_dir=Path(tmp) / f"chunks-{precision}")
            end_s = time.perf_counter() - t
            print(f"{size} Sei on {device} {precision}: {len(variants)} variants in {genes} genes "
                  f"({n_windows} windows: {genes} reference + {len(variants)} alternative)")
            print(f"  Sei alone          {n_windows / sei_s:8.2f} windows/s")
            print(f"  variant_effects    {n_windows / end_s:8.2f} windows/s  {len(variants) / end_s:8.2f} variants/s  "
                  f"(Sei alone / end to end = {end_s and sei_s / end_s:.2f})")
            print(f"  pairs {fx.summary['pairs']}, largest attribution error {fx.summary['attribution']['max_error']:.1e}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", choices=list(SIZES), default="full")
    ap.add_argument("--genes", type=int, default=6)
    ap.add_argument("--per-gene", type=int, default=2)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--effects", type=Path, help="effects table of `geneqn variants` (the eQTL recipe)")
    ap.add_argument("--eqtl", type=Path, help="TSV of gene, variant, sign/slope (the eQTL recipe)")
    ap.add_argument("--cell-type")
    a = ap.parse_args()
    if a.effects or a.eqtl:
        if not (a.effects and a.eqtl):
            ap.error("the eQTL recipe needs both --effects and --eqtl")
        from geneqn.variants import VariantEffects

        fx = VariantEffects.load(a.effects)
        eqtl = pd.read_csv(a.eqtl, sep="," if a.eqtl.suffix == ".csv" else "\t")
        print(sign_auroc(fx, eqtl, a.cell_type).to_string(index=False))
        return
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    speed(a.size, a.genes, a.per_gene, a.device)


if __name__ == "__main__":
    main()
