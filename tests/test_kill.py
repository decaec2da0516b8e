"""kill -9 at a random point of every stage, then resume: the final tables equal those of an
uninterrupted run with the same seed."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd

from geneqn.run import STAGES

TABLES = ["table1", "table2", "table3", "comparisons", "subsets", "residuals", "effects", "features_used"]


def write_config(path: Path, folder: Path) -> Path:
    from geneqn.features.demo import demo_path

    path.write_text(f"""
[run]
folder = "{folder}"
cell_types = ["type B pancreatic cell", "pancreatic A cell"]
[expression]
path = "{demo_path("expression.parquet")}"
format = "table"
[annotation]
path = "{demo_path("tss.parquet")}"
format = "table"
[features]
provider = "demo"
[train]
max_epochs = 6
patience = 2
[search]
trials = 5
group_size = 3
retrain_seeds = 1
retrain_top = 2
nas_sr_trials = 2
nas_sr_budget = 0.5
dense_widths = [8, 16]
latent_widths = [2, 3]
[nn]
layers = ["16-relu", "16-relu", "8-relu", "3-tanh", "8-relu", "16-relu", "16-relu"]
[sr]
max_evaluations = 3000
restarts = 2
max_samples = 800
sweep = ["3", "accuracy"]
""")
    return path


def geneqn_run(cfg: Path, **kw) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "geneqn.cli", "run", str(cfg), "--quiet"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, **kw)


def stamp_time(folder: Path, stage: str) -> float | None:
    p = folder / ".stages" / f"{stage}.json"
    return p.stat().st_mtime if p.exists() else None


def test_kill_9_anywhere_then_resume_gives_the_same_tables(tmp_path):
    import random

    ref_dir, kill_dir = tmp_path / "ref", tmp_path / "killed"
    ref_cfg = write_config(tmp_path / "ref.toml", ref_dir)
    kill_cfg = write_config(tmp_path / "kill.toml", kill_dir)
    p = geneqn_run(ref_cfg)
    out = p.communicate(timeout=1200)[0]
    assert p.returncode == 0, out
    names = [s for s in STAGES if s in {f.stem for f in (ref_dir / ".stages").glob("*.json")}]
    rng = random.Random(7)
    killed_in = []
    for stage in names:
        # start (or resume) the run; when the stage before this one is stamped, this one is
        # running: kill it a random moment later, within about its own duration
        import json

        seconds = json.loads((ref_dir / ".stages" / f"{stage}.json").read_text()).get("seconds", 1.0)
        before = names[names.index(stage) - 1] if names.index(stage) else None
        t0 = time.time()
        p = geneqn_run(kill_cfg, preexec_fn=os.setsid)
        deadline = time.time() + 600
        while time.time() < deadline and p.poll() is None:
            t = stamp_time(kill_dir, before) if before else t0
            if t is not None and t >= t0 - 1:
                time.sleep(rng.uniform(0.05, 0.9) * max(seconds, 0.2))
                break
            time.sleep(0.05)
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)  # the process and its SR workers
            p.wait()
            done = {s for s in names if (stamp_time(kill_dir, s) or 0) >= t0 - 1}
            if stage not in done:
                killed_in.append(stage)
    p = geneqn_run(kill_cfg)
    out = p.communicate(timeout=1200)[0]
    assert p.returncode == 0, out
    assert len(killed_in) >= len(names) // 2, killed_in  # most stages were interrupted mid-way
    for t in TABLES:
        a = pd.read_csv(ref_dir / "tables" / f"{t}.csv")
        b = pd.read_csv(kill_dir / "tables" / f"{t}.csv")
        pd.testing.assert_frame_equal(a, b, check_exact=False, rtol=1e-9, atol=1e-12, obj=t)
    assert not list(kill_dir.rglob(".*.tmp"))  # leftovers of killed writes were cleaned up
    assert (kill_dir / "report.html").exists()
