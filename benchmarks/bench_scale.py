"""Atlas scale: the demo study over all 9 cell types of the demo bundle at the demo budget, on a
Dask LocalCluster of 1 and of 2 workers, side by side in this one run: wall time of the stages
that model cell types, the speed-up, and whether the tables are the same; then, from the
measured cost of a cell type, the projected wall time of 400 cell types on N workers; and (with
``--stream``) the streaming expression reader's peak RSS and time on generated files of
growing size (``bench_stream.py``).

The data stages (targets, tss, features, dataset) run once; each cluster size then works in its
own copy of that run folder. The projection assumes what the 2-worker run measured: the cost of
a cell type is the 1-worker wall time / 9, and N workers are N x (speed-up at 2 / 2) as fast.

    python benchmarks/bench_scale.py [--workers 1,2] [--cell-types 9] [--stream]
"""

from __future__ import annotations

import argparse
import hashlib
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

DATA_STAGES = ["targets", "tss", "features", "dataset"]
COMPARED = ["tables/table1.csv", "tables/table2.csv", "tables/table3.csv", "distill/equations.json",
            "stability/stability.json", "nas/trials.csv", "sr/metrics.json", "ridge/predictions.parquet"]


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:16] if path.exists() else "missing"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workers", default="1,2", help="cluster sizes to compare (LocalCluster workers)")
    ap.add_argument("--cell-types", type=int, default=9, help="how many of the bundle's 9 cell types")
    ap.add_argument("--stream", action="store_true", help="also run bench_stream.py (generated h5ad files)")
    ap.add_argument("--stream-cells", default="250000,500000,1000000,2000000")
    ap.add_argument("--keep", default="", help="folder to keep the run folders in (default: a temporary one)")
    args = ap.parse_args()

    import pandas as pd

    import geneqn
    from geneqn.run import STAGES, demo_config
    from geneqn.features.demo import demo_path

    expr = pd.read_parquet(demo_path("expression.parquet"))
    every = [c for c in expr.columns if c not in ("gene", "symbol")]
    cell_types = every[: args.cell_types]
    root = Path(args.keep or tempfile.mkdtemp(prefix="geneqn-scale-"))
    base = root / "data"
    cfg = demo_config(base).replace(run={"cell_types": cell_types})
    geneqn.run(cfg, DATA_STAGES)
    model_stages = [s for s in STAGES if s not in DATA_STAGES]
    print(f"{len(cell_types)} cell types, demo budget, stages {', '.join(model_stages)}; "
          f"{len(every)} in the bundle")

    seconds, digests = {}, {}
    for n in [int(w) for w in args.workers.split(",")]:
        folder = root / f"workers-{n}"
        shutil.rmtree(folder, ignore_errors=True)
        shutil.copytree(base, folder)
        c = cfg.replace(run={"folder": str(folder), "cluster": f"local:{n}"})
        t = time.perf_counter()
        results = geneqn.run(c, model_stages)
        seconds[n] = time.perf_counter() - t
        digests[n] = {f: digest(folder / f) for f in COMPARED}
        per_stage = ", ".join(f"{s} {r.get('seconds', 0):.0f}s" for s, r in results.items() if "seconds" in r)
        print(f"workers {n}: {seconds[n]:.1f} s wall ({per_stage})")

    sizes = sorted(seconds)
    one = seconds[sizes[0]]
    for n in sizes[1:]:
        same = digests[n] == digests[sizes[0]]
        print(f"speed-up {n} workers vs {sizes[0]}: {one / seconds[n]:.2f}x; tables identical: {same}")
        if not same:
            for f in COMPARED:
                if digests[n][f] != digests[sizes[0]][f]:
                    print(f"  differs: {f}")
    if 1 in seconds and 2 in seconds:
        per_ct = seconds[1] / len(cell_types)
        efficiency = seconds[1] / seconds[2] / 2
        print(f"one cell type at the demo budget: {per_ct:.0f} s of one worker; 2-worker efficiency "
              f"{efficiency:.2f}")
        for n in (1, 8, 32, 128):
            hours = 400 * per_ct / (n * (efficiency if n > 1 else 1.0)) / 3600
            print(f"  400 cell types on {n:>3} workers: {hours:.1f} h (projected)")

    if args.stream:
        here = Path(__file__).parent
        subprocess.run([sys.executable, str(here / "bench_stream.py"), "--cells", args.stream_cells,
                        "--whole-up-to", "500000"], check=True)
    if not args.keep:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
