"""One helper to run independent jobs in worker processes, with progress per finished job.

Results come back in the order of the jobs, whatever order they finish in, so a seeded
computation gives the same answer with 1 process or 16.

Workers die with the process that started them: killed with ``kill -9`` (not its group), the
parent leaves no worker behind to hold memory, cores or the run folder's lock. On Linux the
kernel sends them SIGKILL (``PR_SET_PDEATHSIG``); elsewhere a watchdog thread in each worker
exits once its parent is gone.
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import multiprocessing as mp
import os
import sys
import threading
import time
from typing import Callable, Sequence, TypeVar

from geneqn import progress

J = TypeVar("J")
R = TypeVar("R")


def n_workers(n_jobs: int) -> int:
    """``n_jobs`` processes; 0 or less: one per CPU core available to this process."""
    if n_jobs and n_jobs > 0:
        return n_jobs
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def parallel_map(fn: Callable[[J], R], jobs: Sequence[J], n_jobs: int = 1, description: str | None = "",
                 on_result: Callable[[int, R], None] | None = None) -> list[R]:
    """``[fn(j) for j in jobs]``, in up to ``n_jobs`` processes; ``on_result(i, result)`` is
    called in this process as each job finishes. Progress advances one unit per job (no task
    of its own when ``description`` is None)."""
    jobs = list(jobs)
    results: list = [None] * len(jobs)
    n = min(n_workers(n_jobs), len(jobs))
    task = progress.task(description or "jobs", total=len(jobs)) if description is not None else _no_task()
    with task as bar:
        if n <= 1:
            for i, job in enumerate(jobs):
                results[i] = fn(job)
                if on_result:
                    on_result(i, results[i])
                bar.advance()
            return results
        # fork: workers need no importable __main__ (jobs are still pickled to them)
        ctx = mp.get_context("fork" if "fork" in mp.get_all_start_methods() else "spawn")
        with cf.ProcessPoolExecutor(n, mp_context=ctx, initializer=die_with_parent,
                                    initargs=(os.getpid(),)) as pool:
            futures = {pool.submit(fn, job): i for i, job in enumerate(jobs)}
            for fut in cf.as_completed(futures):
                i = futures[fut]
                results[i] = fut.result()
                if on_result:
                    on_result(i, results[i])
                bar.advance()
    return results


def die_with_parent(parent_pid: int, poll_s: float = 1.0) -> None:
    """Make this (worker) process end when process ``parent_pid``, its parent, ends."""
    if sys.platform.startswith("linux"):
        try:
            import ctypes
            import signal

            PR_SET_PDEATHSIG = 1
            ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
        except (OSError, AttributeError):  # pragma: no cover - no prctl: the watchdog still runs
            pass
    if os.getppid() != parent_pid:  # the parent died before the signal was armed
        os._exit(1)

    def watch():
        while os.getppid() == parent_pid:
            time.sleep(poll_s)
        os._exit(1)

    threading.Thread(target=watch, name="geneqn-die-with-parent", daemon=True).start()


class _Quiet:
    def advance(self, amount: float = 1.0) -> None:
        pass


@contextlib.contextmanager
def _no_task():
    yield _Quiet()
