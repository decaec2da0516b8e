"""Atlas scale: the demo study over all 9 cell types of the demo bundle at the demo budget, on a
Dask LocalCluster of 1 and of 2 workers, side by side in this one run: wall time of the stages
that model cell types, the speed-up, and whether the tables are the same; then, from the
measured cost of a cell type, the projected wall time of 400 cell types on N workers; and (with
``--stream``) the streaming expression reader's peak RSS and time on generated files of
growing size (``bench_stream.py``).

The data stages (targets, tss, features, dataset) run once; each cluster size then works in its
own copy of that run folder. The projection assumes what the runs measured: a cell type costs
the 1-worker time of the stages that use the cluster / 9 on one worker, N workers are
N x (their speed-up at 2 / 2) as fast, and what runs in this process whatever the cluster grows
with the number of cell types as measured. That part is measured on its own at the end, by
running the evaluate stage again in this process with its cell types' shares timed: the shares
(each cell type's tables, analyses and figures) are cluster work; the rest of evaluate
(predictions.csv, results.json), the report stage and the runs' start-up are this process's.

    python benchmarks/bench_scale.py [--workers 1,2] [--cell-types 9] [--budget demo|small] [--stream]
    python benchmarks/bench_scale.py --keep DIR --reuse   # the study stages again on DIR's finished runs

``--budget small`` cuts every stage's budget (5 epochs, 2-trial searches, 2,000 SR evaluations;
tests/test_cluster.py's): a cell type is then about 25 s of one worker, against more than 100 s
for the search stage alone at the demo budget (917 s for 9 cell types on one worker, measured
2026-12-02), so scheduling and transfer weigh more than they would at the demo budget.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

DATA_STAGES = ["targets", "tss", "features", "dataset"]
HERE = ("evaluate", "report")  # study stages: each cell type's share of evaluate goes to the cluster, the
# rest of evaluate and the report stay in this process (measured apart: study_cost)
COMPARED = ["tables/table1.csv", "tables/table2.csv", "tables/table3.csv", "distill/equations.json",
            "stability/stability.json", "nas/trials.csv", "sr/metrics.json", "ridge/predictions.parquet"]


SMALL = dict(train={"max_epochs": 5, "patience": 2},
             search={"trials": 2, "group_size": 2, "retrain_seeds": 2, "nas_sr_trials": 2, "nas_sr_budget": 0.5,
                     "dense_widths": [8, 16], "latent_widths": [2, 3]},
             nn={"layers": ["16-relu", "8-relu", "3-tanh", "8-relu", "16-relu"], "latent_layer": 2},
             sr={"max_evaluations": 2000, "restarts": 2, "max_samples": 600, "sweep": ["accuracy"]},
             stability={"seeds": 1, "bootstraps": 1, "budget": 0.5, "constant_bootstraps": 3})


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:16] if path.exists() else "missing"


def study_cost(cfg) -> tuple[float, float, float]:
    """Seconds of the evaluate stage run again in this process on a finished run folder: in its
    cell types' shares (cluster work with --cluster) and in the rest; and of the report stage."""
    import geneqn
    import geneqn.run.stages.study as study_stages

    inner, spent = study_stages._evaluate_cell_type, []

    def timed(ctx, ct):
        t = time.perf_counter()
        try:
            return inner(ctx, ct)
        finally:
            spent.append(time.perf_counter() - t)

    study_stages._evaluate_cell_type = timed
    try:
        t = time.perf_counter()
        geneqn.run(cfg, ["evaluate"], force=("evaluate",))
        evaluate = time.perf_counter() - t
    finally:
        study_stages._evaluate_cell_type = inner
    t = time.perf_counter()
    geneqn.run(cfg, ["report"], force=("report",))
    return sum(spent), evaluate - sum(spent), time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workers", default="1,2", help="cluster sizes to compare (LocalCluster workers)")
    ap.add_argument("--cell-types", type=int, default=9, help="how many of the bundle's 9 cell types")
    ap.add_argument("--budget", choices=["demo", "small"], default="demo")
    ap.add_argument("--stream", action="store_true", help="also run bench_stream.py (generated h5ad files)")
    ap.add_argument("--stream-cells", default="250000,500000,1000000,2000000")
    ap.add_argument("--keep", default="", help="folder to keep the run folders in (default: a temporary one)")
    ap.add_argument("--reuse", action="store_true",
                    help="with --keep: take the finished run folders an earlier run kept there (their stages' "
                         "seconds from their stamps) and run only the evaluate and report stages again")
    args = ap.parse_args()
    if args.reuse and not args.keep:
        ap.error("--reuse needs --keep, the folder an earlier run kept its run folders in")

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
    if args.budget == "small":
        cfg = cfg.replace(**SMALL)
    model_stages = [s for s in STAGES if s not in DATA_STAGES]
    if not args.reuse:
        geneqn.run(cfg, DATA_STAGES)
    print(f"{len(cell_types)} cell types, {args.budget} budget, stages {', '.join(model_stages)}; "
          f"{len(every)} in the bundle")

    def stamped(folder: Path) -> dict:
        return {s: json.loads((folder / ".stages" / f"{s}.json").read_text())["seconds"] for s in model_stages
                if (folder / ".stages" / f"{s}.json").exists()}

    seconds, on_cluster, digests, startup = {}, {}, {}, {}
    for n in [int(w) for w in args.workers.split(",")]:
        folder = root / f"workers-{n}"
        c = cfg.replace(run={"folder": str(folder), "cluster": f"local:{n}"})
        t = time.perf_counter()
        if args.reuse:  # the earlier run's wall time and stages as its stamps timed them; evaluate and report again
            kept = json.loads((folder / "bench_scale.json").read_text())
            seconds[n], startup[n] = kept["wall_seconds"], kept["startup_seconds"]
            geneqn.run(c, list(HERE), force=HERE)
        else:
            shutil.rmtree(folder, ignore_errors=True)
            shutil.copytree(base, folder)
            geneqn.run(c, model_stages)
            seconds[n] = time.perf_counter() - t
            startup[n] = seconds[n] - sum(stamped(folder).values())
            (folder / "bench_scale.json").write_text(json.dumps({"wall_seconds": seconds[n],
                                                                 "startup_seconds": startup[n]}))
        results = {s: {"seconds": v} for s, v in stamped(folder).items()}
        on_cluster[n] = sum(r.get("seconds", 0) for s, r in results.items() if s not in HERE)
        digests[n] = {f: digest(folder / f) for f in COMPARED}
        per_stage = ", ".join(f"{s} {r.get('seconds', 0):.0f}s" for s, r in results.items() if "seconds" in r)
        print(f"workers {n}: {seconds[n]:.1f} s wall, {on_cluster[n]:.1f} s in the stages that use the cluster "
              f"but evaluate ({per_stage})")

    sizes = sorted(seconds)
    one = sizes[0]
    for n in sizes[1:]:
        same = digests[n] == digests[one]
        print(f"speed-up {n} workers vs {one}: {seconds[one] / seconds[n]:.2f}x wall, "
              f"{on_cluster[one] / on_cluster[n]:.2f}x in the stages that use the cluster; tables identical: {same}")
        if not same:
            for f in COMPARED:
                if digests[n][f] != digests[one][f]:
                    print(f"  differs: {f}")
    if 1 in seconds and 2 in seconds:
        # sr.n_jobs = 1: the shares one after another in this process (each timed), as on one worker
        shares, rest, report = study_cost(cfg.replace(run={"folder": str(root / "workers-1"), "cluster": ""},
                                                      sr={"n_jobs": 1}))
        print(f"evaluate in this process: {shares:.1f} s in its {len(cell_types)} cell types' shares (cluster work), "
              f"{rest:.1f} s the rest; report {report:.1f} s; the 1-worker run's start-up and time between "
              f"stages {startup[1]:.1f} s")
        per_ct = (on_cluster[1] + shares) / len(cell_types)
        here = (rest + report + startup[1]) / len(cell_types)
        efficiency = on_cluster[1] / on_cluster[2] / 2
        print(f"one cell type at the {args.budget} budget: {per_ct:.1f} s of one worker in the cluster's work and "
              f"{here:.2f} s in this process (evaluate's assembly, report, start-up); 2-worker efficiency "
              f"{efficiency:.2f}")
        for n in (1, 8, 32, 128):
            minutes = 400 * (per_ct / (n * (efficiency if n > 1 else 1.0)) + here) / 60
            print(f"  400 cell types on {n:>3} workers: {minutes:.0f} min (projected)")

    if args.stream:
        here = Path(__file__).parent
        subprocess.run([sys.executable, str(here / "bench_stream.py"), "--cells", args.stream_cells,
                        "--whole-up-to", "500000"], check=True)
    if not args.keep:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
