"""Wall time of each stage of `geneqn demo` (the whole study on the embedded bundle, quick
budget) in a fresh run folder, so the slowest stage is visible. Goal: under 5 minutes in all on
2 cores.

    python benchmarks/bench_demo.py [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from pathlib import Path

from geneqn.run import Runner, demo_config


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--keep", type=Path, help="run folder to keep (default: a temporary one)")
    args = ap.parse_args()
    folder = args.keep or Path(tempfile.mkdtemp()) / "run"
    shutil.rmtree(folder, ignore_errors=True)
    runner = Runner(demo_config(folder))
    times = {}
    t_all = t_last = time.perf_counter()

    def on_stage(name, summary):
        nonlocal t_last
        now = time.perf_counter()
        times[name], t_last = now - t_last, now

    runner.run(on_stage=on_stage)
    total = time.perf_counter() - t_all
    width = max(map(len, times))
    for name, dt in times.items():
        bar = "#" * int(40 * dt / max(times.values()))
        print(f"{name:<{width}}  {dt:7.1f} s  {bar}")
    print(f"{'total':<{width}}  {total:7.1f} s  (goal < 300 s)")
    slowest = max(times, key=times.get)
    print(f"slowest stage: {slowest} ({times[slowest] / total:.0%} of the total)")
    res = json.loads(runner.layout.results.read_text())
    for r in res["table1"]:
        if r["cell_type"] == res["cell_types"][0]:
            print(f"  {r['model']:<13} test r {r['pearson_r']:.3f}")
    if not args.keep:
        shutil.rmtree(folder.parent, ignore_errors=True)


if __name__ == "__main__":
    main()
