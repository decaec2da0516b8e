"""Time to extract and one-hot encode the TSS windows of every gene of the demo bundle.

Writes a synthetic genome (FASTA and 2bit, about 100 Mb in all: 24 chromosomes whose lengths
are the GRCh38 lengths scaled by 1/31), scales the bundle's TSS positions into it and times
``iter_windows`` + ``one_hot`` over all ~19,000 genes, then times ``geneqn demo`` (the
pipeline so far) in a fresh run folder. Goal: windows under 10 s on 2 cores.

    python benchmarks/bench_windows.py [--keep DIR]
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from geneqn.features.demo import demo_path
from geneqn.genome import Genome, iter_windows

GRCH38_MB = {"chr1": 248.96, "chr2": 242.19, "chr3": 198.30, "chr4": 190.21, "chr5": 181.54,
             "chr6": 170.81, "chr7": 159.35, "chr8": 145.14, "chr9": 138.39, "chr10": 133.80,
             "chr11": 135.09, "chr12": 133.28, "chr13": 114.36, "chr14": 107.04, "chr15": 101.99,
             "chr16": 90.34, "chr17": 83.26, "chr18": 80.37, "chr19": 58.62, "chr20": 64.44,
             "chr21": 46.71, "chr22": 50.82, "chrX": 156.04, "chrY": 57.23}
SCALE = 31


def write_genome(folder: Path) -> tuple[Path, dict[str, int]]:
    rng = np.random.default_rng(0)
    lengths = {c: int(mb * 1e6 / SCALE) for c, mb in GRCH38_MB.items()}
    fa = folder / "synthetic.fa"
    with open(fa, "w") as fh:
        for c, n in lengths.items():
            seq = np.array(list("ACGT"))[rng.integers(0, 4, n)].astype("U1")
            fh.write(f">{c}\n")
            s = "".join(seq)
            for i in range(0, n, 60):
                fh.write(s[i:i + 60] + "\n")
    return fa, lengths


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--keep", type=Path, help="write the synthetic genome here and keep it")
    args = ap.parse_args()
    folder = args.keep or Path(tempfile.mkdtemp())
    folder.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    fa, lengths = write_genome(folder)
    print(f"synthetic genome: {sum(lengths.values()) / 1e6:.1f} Mb in {time.perf_counter() - t0:.1f} s")
    tss = pd.read_parquet(demo_path("tss.parquet"))
    tss = tss[tss["chrom"].isin(list(lengths))].copy()
    tss["tss"] = (tss["tss"] // SCALE).clip(upper=tss["chrom"].map(lengths) - 1)
    tss["gene"] = tss["gene_id"]
    g = Genome(fa)
    g.fetch("chr1", 0, 10)  # builds the .fai index outside the timing
    t0 = time.perf_counter()
    n = 0
    for batch in iter_windows(g, tss, batch_size=256):
        x = batch.one_hot()
        n += len(x)
    dt = time.perf_counter() - t0
    print(f"windows: {n:,} genes x 4,096 bp extracted + one-hot in {dt:.2f} s "
          f"({n / dt:,.0f} windows/s); goal < 10 s")
    run = folder / "demo-run"
    shutil.rmtree(run, ignore_errors=True)
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "geneqn.cli", "demo", "--run", str(run)], check=True,
                   stdout=subprocess.DEVNULL)
    print(f"geneqn demo (fresh run folder): {time.perf_counter() - t0:.1f} s wall")
    if not args.keep:
        shutil.rmtree(folder)


if __name__ == "__main__":
    main()
