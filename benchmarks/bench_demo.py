"""Wall time of each stage of `geneqn demo` (the whole study on the embedded bundle, quick
budget) in a fresh run folder, so the slowest stage is visible, with the share of the machine's
cores that were busy during each stage (Linux, from /proc/stat: the whole machine, so run it
alone). Goal: under 5 minutes in all on 2 cores.

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


def cpu_ticks() -> tuple[int, int] | None:
    """(busy, total) jiffies of all cores from /proc/stat (Linux), or None elsewhere."""
    try:
        fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    except (OSError, ValueError):
        return None
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    return sum(fields) - idle, sum(fields)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--keep", type=Path, help="run folder to keep (default: a temporary one)")
    args = ap.parse_args()
    folder = args.keep or Path(tempfile.mkdtemp()) / "run"
    shutil.rmtree(folder, ignore_errors=True)
    runner = Runner(demo_config(folder))
    times, busy = {}, {}
    t_all = t_last = time.perf_counter()
    ticks_last = cpu_ticks()

    def on_stage(name, summary):
        nonlocal t_last, ticks_last
        now, ticks = time.perf_counter(), cpu_ticks()
        times[name], t_last = now - t_last, now
        if ticks and ticks_last and ticks[1] > ticks_last[1]:
            busy[name] = (ticks[0] - ticks_last[0]) / (ticks[1] - ticks_last[1])
        ticks_last = ticks

    runner.run(on_stage=on_stage)
    total = time.perf_counter() - t_all
    width = max(map(len, times))
    for name, dt in times.items():
        bar = "#" * int(40 * dt / max(times.values()))
        use = f"  cores busy {busy[name]:4.0%}" if name in busy else ""
        print(f"{name:<{width}}  {dt:7.1f} s{use}  {bar}")
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
