"""The run folder's lock: one process at a time; a killed holder's lock is taken over with a
message; worker processes die with their parent and never keep the lock."""

import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from geneqn.errors import GeneqnError
from geneqn.run import Runner, demo_config

HOLD = """
import os, sys, time
from geneqn.run import Runner, demo_config
from geneqn._parallel import parallel_map
r = Runner(demo_config(sys.argv[1]))
with r.locked():
    if sys.argv[2] == "workers":      # two worker processes that would sleep for a minute
        print("locked", flush=True)
        parallel_map(time.sleep, [600, 600], n_jobs=2, description=None)
    elif sys.argv[2] == "fork":       # a plain forked child (not a geneqn worker)
        pid = os.fork()
        if pid == 0:
            time.sleep(60)
            os._exit(0)
        print("locked", pid, flush=True)
        time.sleep(60)
    else:
        print("locked", flush=True)
        sys.stdin.readline()           # hold it until told to stop
"""


def hold(folder: Path, mode: str) -> tuple[subprocess.Popen, str]:
    p = subprocess.Popen([sys.executable, "-c", HOLD, str(folder), mode], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, text=True)
    line = p.stdout.readline()
    assert line.startswith("locked"), line
    return p, line


def alive(pid: int) -> bool:
    """Running (a zombie that nobody reaped yet counts as dead)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")


def children(pid: int) -> list[int]:
    out = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            out += [int(c) for c in (task / "children").read_text().split()]
        except (FileNotFoundError, ProcessLookupError):  # the thread ended while we listed them
            continue
    return out


def wait_for(condition, what: str, limit_s: float = 60):
    deadline = time.monotonic() + limit_s
    while not condition():
        assert time.monotonic() < deadline, f"gave up waiting for {what}"
        time.sleep(0.05)


linux_only = pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="reads /proc (Linux)")


def test_a_run_folder_has_one_process_at_a_time(tmp_path, caplog):
    p, _ = hold(tmp_path / "run", "stdin")
    r = Runner(demo_config(tmp_path / "run"))
    with pytest.raises(GeneqnError, match=f"is in use by geneqn process {p.pid} .*Wait for it to finish"):
        r.run_stage("targets")
    p.communicate("\n")  # the holder ends normally: its lock and owner file are gone
    assert p.returncode == 0
    with caplog.at_level(logging.WARNING, logger="geneqn"):
        r.run_stage("targets")
    assert "taking the lock over" not in caplog.text
    assert not (tmp_path / "run" / ".lock.owner").exists()


@linux_only
def test_workers_die_with_their_killed_parent_and_its_lock_is_taken_over(tmp_path, caplog):
    p, _ = hold(tmp_path / "run", "workers")
    wait_for(lambda: len(children(p.pid)) >= 2, "the two workers")
    workers = children(p.pid)
    os.kill(p.pid, signal.SIGKILL)  # the main process only, not its group
    p.wait()
    wait_for(lambda: not any(alive(w) for w in workers), "the workers to die with their parent")
    with caplog.at_level(logging.WARNING, logger="geneqn"):
        Runner(demo_config(tmp_path / "run")).run_stage("targets")
    assert f"left locked by geneqn process {p.pid}, which is no longer running" in caplog.text


@linux_only
def test_a_forked_child_does_not_keep_its_parents_lock(tmp_path):
    p, line = hold(tmp_path / "run", "fork")
    child = int(line.split()[1])
    try:
        os.kill(p.pid, signal.SIGKILL)
        p.wait()
        assert alive(child)  # still sleeping, yet the folder is free
        Runner(demo_config(tmp_path / "run")).run_stage("targets")
    finally:
        try:
            os.kill(child, signal.SIGKILL)
        except ProcessLookupError:
            pass
