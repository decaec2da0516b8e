"""Beluga (ExPecto features for the ExPectoSC baseline) on this machine, with random full-size
weights (no download needed): FLOPs per window from the layers, windows/s with strand averaging,
and what that means per gene (201 windows over +-20 kb) and for a genome's ~18,000 genes.

    python benchmarks/bench_beluga.py [--batch 16] [--windows 64]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from torch import nn

from geneqn.features.beluga import beluga_one_hot, build_beluga, predict
from geneqn.features.expecto import offsets


def window_flops(model: nn.Module, length: int = 2000) -> float:
    """FLOPs of one window and its reverse complement (2 x multiply-adds), from the layers."""
    total, L = 0.0, length
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            L -= m.kernel_size[1] - 1
            total += 2 * m.in_channels * m.out_channels * m.kernel_size[1] * L
        elif isinstance(m, nn.MaxPool2d):
            L //= m.kernel_size[1]
        elif isinstance(m, nn.Linear):
            total += 2 * m.in_features * m.out_features
    return 2 * total


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch", type=int, default=16, help="windows per batch (x2 strands)")
    ap.add_argument("--windows", type=int, default=64, help="windows timed")
    args = ap.parse_args()
    torch.manual_seed(0)
    model = build_beluga().eval()
    flops = window_flops(model)
    n_params = sum(p.numel() for p in model.parameters())
    print(f"torch {torch.__version__}, {torch.get_num_threads()} CPU threads")
    print(f"Beluga: {n_params:,} parameters; {flops / 1e9:.1f} GFLOP per window with its reverse complement")
    rng = np.random.default_rng(0)
    x = torch.from_numpy(beluga_one_hot(rng.integers(0, 4, size=(args.windows, 2000)).astype(np.uint8)))
    predict(model, x[:args.batch])  # warm-up
    t = time.perf_counter()
    for lo in range(0, len(x), args.batch):
        predict(model, x[lo:lo + args.batch])
    dt = time.perf_counter() - t
    rate = len(x) / dt
    per_gene = len(offsets())
    print(f"CPU fp32, batch {args.batch}: {rate:.1f} windows/s ({rate * flops / 1e9:.0f} GFLOP/s); "
          f"{per_gene} windows per gene: {per_gene / rate:.1f} s per gene, "
          f"{18_000 * per_gene / rate / 3600:.0f} h for 18,000 genes")
    if torch.cuda.is_available():
        dev = torch.device("cuda")
        m, xs = model.to(dev), x.to(dev)
        for b in (64, 128, 256):
            xb = xs.repeat(max(1, b // len(xs) + 1), 1, 1, 1)[:b]
            predict(m, xb)
            torch.cuda.synchronize()
            t = time.perf_counter()
            for _ in range(5):
                predict(m, xb)
            torch.cuda.synchronize()
            print(f"CUDA fp32, batch {b}: {5 * b / (time.perf_counter() - t):,.0f} windows/s")
    else:
        print("CUDA: no GPU here; unmeasured")


if __name__ == "__main__":
    main()
