"""kill -9 of the main process (not its group: its workers must die with it) at a random point of
every stage, then resume: the final tables equal those of an uninterrupted run with the same seed.

A tiny run (1,500 genes, one cell type, budgets of a few seconds per stage) keeps it cheap: one
reference run, then one process per stage, killed while that stage runs."""

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd

from geneqn.run import STAGES
from helpers import demo_subset

TABLES = ["table1", "table2", "table3", "comparisons", "subsets", "residuals", "effects", "features_used"]


def write_config(path: Path, folder: Path, expr: Path) -> Path:
    from geneqn.features.demo import demo_path

    path.write_text(f"""
[run]
folder = "{folder}"
cell_types = ["type B pancreatic cell"]
[expression]
path = "{expr}"
format = "table"
[annotation]
path = "{demo_path("tss.parquet")}"
format = "table"
[features]
provider = "demo"
[train]
max_epochs = 4
patience = 2
n_jobs = 2
[search]
trials = 3
group_size = 3
retrain_seeds = 2
retrain_top = 1
nas_sr_trials = 2
nas_sr_budget = 0.5
dense_widths = [8, 16]
latent_widths = [2]
[nn]
layers = ["8-relu", "8-relu", "8-relu", "2-tanh", "8-relu", "8-relu", "8-relu"]
[sr]
max_evaluations = 1500
restarts = 2
n_jobs = 2
max_samples = 300
sweep = ["3", "accuracy"]
""")
    return path


def geneqn_run(cfg: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "geneqn.cli", "run", str(cfg), "--quiet"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def stamped(folder: Path) -> set[str]:
    return {p.stem for p in (folder / ".stages").glob("*.json") if p.stem in STAGES}


def holds_lock(folder: Path, pid: int) -> bool:
    try:
        return json.loads((folder / ".lock.owner").read_text()).get("pid") == pid
    except (OSError, ValueError):
        return False


def test_kill_9_anywhere_then_resume_gives_the_same_tables(tmp_path):
    expr = demo_subset(tmp_path / "expression.parquet")  # 1,500 genes
    ref_dir, kill_dir = tmp_path / "ref", tmp_path / "killed"
    ref_cfg = write_config(tmp_path / "ref.toml", ref_dir, expr)
    kill_cfg = write_config(tmp_path / "kill.toml", kill_dir, expr)
    p = geneqn_run(ref_cfg)
    out = p.communicate(timeout=900)[0]
    assert p.returncode == 0, out
    names = [s for s in STAGES if s in stamped(ref_dir)]
    seconds = {s: json.loads((ref_dir / ".stages" / f"{s}.json").read_text())["seconds"] for s in names}
    rng = random.Random(7)
    killed_in = []
    for stage in names:
        # the run resumes at this stage (every earlier one is stamped); kill the main process a
        # random moment into it, within about the stage's own duration
        if stage in stamped(kill_dir):
            continue  # an earlier kill came after this stage had finished
        p = geneqn_run(kill_cfg)
        deadline = time.monotonic() + 300
        while p.poll() is None and not holds_lock(kill_dir, p.pid):
            assert time.monotonic() < deadline, "the run never took its folder's lock"
            time.sleep(0.01)
        time.sleep(rng.uniform(0.05, 0.9) * max(seconds[stage], 0.2))
        if p.poll() is None:
            os.kill(p.pid, signal.SIGKILL)  # the main process only: its workers must die with it
            p.wait()
            if stage not in stamped(kill_dir):
                killed_in.append(stage)
    p = geneqn_run(kill_cfg)  # finds the folder free: no worker of a killed run kept the lock
    out = p.communicate(timeout=900)[0]
    assert p.returncode == 0, out
    assert len(killed_in) >= len(names) // 2, killed_in  # most stages were interrupted mid-way
    for t in TABLES:
        a = pd.read_csv(ref_dir / "tables" / f"{t}.csv")
        b = pd.read_csv(kill_dir / "tables" / f"{t}.csv")
        pd.testing.assert_frame_equal(a, b, check_exact=False, rtol=1e-9, atol=1e-12, obj=t)
    assert not list(kill_dir.rglob(".*.tmp"))  # leftovers of killed writes were cleaned up
    assert (kill_dir / "report.html").exists()
