"""Per-cell-type means of a large h5ad, streamed: peak memory and time against the size of the
file, and against reading it whole, side by side in this one run.

Generates sparse h5ad files (CSR counts, ``--genes`` genes, ``--density`` stored values per
entry, 12 cell types) of growing numbers of cells, written slice by slice (the generator never
holds the matrix), then runs ``geneqn.targets`` on each in a fresh process and prints its peak
RSS (``VmHWM`` of /proc/self/status: ``ru_maxrss`` would carry over this script's own peak
through fork and exec) and seconds; for sizes up to ``--whole-up-to`` cells also the same means
through ``anndata.read_h5ad`` (the matrix in memory) and the largest difference of the two.

    python benchmarks/bench_stream.py [--cells 100000,500000,2000000] [--genes 2000] [--density 0.05]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

CHILD = r"""
import json, sys, time
import numpy as np
path, mode = sys.argv[1], sys.argv[2]
t = time.perf_counter()
import geneqn
if mode == "stream":
    out = geneqn.targets(path, min_cells=1)
else:
    import anndata as ad
    out = geneqn.targets(ad.read_h5ad(path), min_cells=1)
sec = time.perf_counter() - t
out[["gene", "cell_type", "g0"]].to_parquet(sys.argv[3])
# VmHWM: this process's own high-water mark (ru_maxrss would carry the parent's over fork + exec)
hwm = next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM:"))
print(json.dumps({"seconds": sec, "peak_mb": hwm / 1024}))
"""


def write_h5ad(path: Path, cells: int, genes: int, density: float, seed: int = 0, step: int = 100_000) -> float:
    """A CSR h5ad of Poisson-like counts, written in slices; returns its size in MB."""
    import h5py
    import pandas as pd
    import scipy.sparse as sp
    from anndata.io import write_elem

    rng = np.random.default_rng(seed)
    with h5py.File(path, "w") as f:
        f.attrs["encoding-type"], f.attrs["encoding-version"] = "anndata", "0.1.0"
        g = f.create_group("X")
        g.attrs["encoding-type"], g.attrs["encoding-version"] = "csr_matrix", "0.1.0"
        g.attrs["shape"] = (cells, genes)
        data = g.create_dataset("data", (0,), maxshape=(None,), dtype="float32", chunks=(1 << 20,))
        indices = g.create_dataset("indices", (0,), maxshape=(None,), dtype="int32", chunks=(1 << 20,))
        indptr = [np.zeros(1, dtype=np.int64)]
        total = 0
        for lo in range(0, cells, step):
            rows = min(step, cells - lo)
            m = sp.random(rows, genes, density=density, format="csr", random_state=rng,
                          data_rvs=lambda k: rng.poisson(2.0, k) + 1.0).astype(np.float32)
            m.sort_indices()
            data.resize((total + m.nnz,))
            indices.resize((total + m.nnz,))
            data[total:] = m.data
            indices[total:] = m.indices
            indptr.append(m.indptr[1:].astype(np.int64) + total)
            total += m.nnz
        g.create_dataset("indptr", data=np.concatenate(indptr))
        labels = pd.Categorical(rng.integers(0, 12, cells).astype(str))
        write_elem(f, "obs", pd.DataFrame({"cell_type": labels}, index=pd.RangeIndex(cells).astype(str)))
        write_elem(f, "var", pd.DataFrame(index=[f"G{j}" for j in range(genes)]))
    return path.stat().st_size / 1e6


def run_child(path: Path, mode: str, out: Path) -> dict:
    r = subprocess.run([sys.executable, "-c", CHILD, str(path), mode, str(out)], capture_output=True, text=True)
    if r.returncode:
        raise SystemExit(r.stderr[-2000:])
    return json.loads(r.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cells", default="100000,500000,2000000")
    ap.add_argument("--genes", type=int, default=2000)
    ap.add_argument("--density", type=float, default=0.05)
    ap.add_argument("--whole-up-to", type=int, default=500_000, help="also read files up to this size whole")
    a = ap.parse_args()
    import pandas as pd

    print(f"{a.genes} genes, {a.density:.0%} of entries stored, 12 cell types; peak RSS of a fresh process")
    with tempfile.TemporaryDirectory() as tmp:
        for cells in [int(c) for c in a.cells.split(",")]:
            path = Path(tmp) / f"{cells}.h5ad"
            t = time.perf_counter()
            mb = write_h5ad(path, cells, a.genes, a.density)
            made = time.perf_counter() - t
            s = run_child(path, "stream", Path(tmp) / "s.parquet")
            line = (f"{cells:>9,} cells ({mb:,.0f} MB file, made in {made:.0f} s): streamed {s['seconds']:6.1f} s, "
                    f"peak {s['peak_mb']:7,.0f} MB")
            if cells <= a.whole_up_to:
                w = run_child(path, "whole", Path(tmp) / "w.parquet")
                x = pd.read_parquet(Path(tmp) / "s.parquet").merge(pd.read_parquet(Path(tmp) / "w.parquet"),
                                                                    on=["gene", "cell_type"])
                rel = float(np.max(np.abs(x.g0_x - x.g0_y) / np.maximum(np.abs(x.g0_y), 1e-12)))
                line += (f" | read whole {w['seconds']:6.1f} s, peak {w['peak_mb']:7,.0f} MB "
                         f"(whole / streamed peak {w['peak_mb'] / s['peak_mb']:.1f}x); largest relative "
                         f"difference of the means {rel:.1e}")
            print(line, flush=True)
            path.unlink()


if __name__ == "__main__":
    main()
