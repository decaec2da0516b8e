"""One helper to run independent jobs in worker processes, with progress per finished job.

Results come back in the order of the jobs, whatever order they finish in, so a seeded
computation gives the same answer with 1 process or 16, locally or on a Dask cluster.

Backends: local processes by default; inside :func:`using_client` (``geneqn.run(config,
client=...)``, ``geneqn run --cluster ...``) the jobs are tasks of that ``dask.distributed``
client. Inside a cluster task (a cell type's share of a stage, see :mod:`geneqn.run.engine`)
the jobs become tasks of the same cluster too (submitted from the task, which leaves its
worker's thread while it waits), so SR restarts, training groups and stability refits of one
cell type spread over every worker; jobs of those jobs run one after another in their worker.

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
    """``[fn(j) for j in jobs]``, in up to ``n_jobs`` processes, or as tasks of the Dask cluster
    in use (:func:`using_client`, or the cluster of the task this runs in) when ``n_jobs`` allows
    more than one; ``on_result(i, result)`` is called in this process as each job finishes.
    Progress advances one unit per job (no task of its own when ``description`` is None)."""
    jobs = list(jobs)
    results: list = [None] * len(jobs)
    n = min(n_workers(n_jobs), len(jobs))
    task = progress.task(description or "jobs", total=len(jobs)) if description is not None else _no_task()
    with task as bar:
        if n > 1 and ((_CLIENT is not None and _depth() == 0) or _depth() == 1):
            with _cluster_client() as client:
                for i, result in submit_all(client, fn, jobs, label=description or "jobs"):
                    results[i] = result
                    if on_result:
                        on_result(i, result)
                    bar.advance()
            return results
        if n <= 1:
            for i, job in enumerate(jobs):
                results[i] = fn(job)
                if on_result:
                    on_result(i, results[i])
                bar.advance()
            return results
        # fork: workers need no importable __main__ (jobs are still pickled to them)
        ctx = mp.get_context("fork" if "fork" in mp.get_all_start_methods() else "spawn")
        with cf.ProcessPoolExecutor(n, mp_context=ctx, initializer=_worker_start,
                                    initargs=(os.getpid(),)) as pool:
            futures = {pool.submit(fn, job): i for i, job in enumerate(jobs)}
            for fut in cf.as_completed(futures):
                i = futures[fut]
                results[i] = fut.result()
                if on_result:
                    on_result(i, results[i])
                bar.advance()
    return results


# ---------------------------------------------------------------------- Dask

_CLIENT = None  # the dask.distributed client jobs go to (None: local processes)
_TASK = threading.local()  # .depth: 1 in a cluster task, 2 in a job it submitted (a worker runs tasks in threads)


def _depth() -> int:
    return getattr(_TASK, "depth", 0)


def in_cluster_task() -> bool:
    """Whether this thread runs a task of a Dask cluster (started by geneqn)."""
    return _depth() > 0


def current_client():
    """The Dask client in use (:func:`using_client`), or None."""
    return _CLIENT


@contextlib.contextmanager
def using_client(client):
    """Send :func:`parallel_map` jobs (and a run's per-cell-type stage work) to ``client``."""
    global _CLIENT
    previous, _CLIENT = _CLIENT, client
    try:
        yield client
    finally:
        _CLIENT = previous


@contextlib.contextmanager
def _cluster_client():
    """The client jobs go to: the one in use, or, inside a cluster task, the task's own cluster
    (``worker_client``: the task leaves its thread to the jobs while it waits)."""
    if _depth() == 0:
        yield _CLIENT
        return
    from distributed import worker_client

    with worker_client() as client:
        yield client


def run_task(fn: Callable, *args):
    """Run ``fn(*args)`` as a cluster task: one torch thread (a worker is a process per core)."""
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(1)
    previous = _depth()
    _TASK.depth = previous + 1
    try:
        return fn(*args)
    finally:
        _TASK.depth = previous


def submit_all(client, fn: Callable, jobs: Sequence, label: str = "jobs", key: Callable[[int], str] | None = None):
    """Submit ``fn(job)`` for each job to ``client``; yield ``(index, result)`` as each finishes.

    A task whose worker dies is run again on another worker (Dask's own rule, up to
    ``distributed.scheduler.allowed-failures`` times); an error in a task cancels the others and
    is raised here."""
    import uuid

    from distributed import as_completed

    from geneqn.errors import GeneqnError

    tag = uuid.uuid4().hex[:8]
    futures = {}
    for i, job in enumerate(jobs):
        name = key(i) if key else f"{label}-{i}"
        futures[client.submit(run_task, fn, job, key=f"geneqn-{name}-{tag}", pure=False)] = i
    try:
        for fut in as_completed(list(futures)):
            try:
                result = fut.result()
            except Exception as e:
                if type(e).__name__ == "KilledWorker":
                    raise GeneqnError(f"{label}: task {futures[fut]} was running on workers that died each time "
                                      f"(out of memory?): {e}. Give the workers more memory.") from None
                raise
            yield futures[fut], result
    finally:
        client.cancel([f for f in futures if not f.done()])


# Dask sets MALLOC_TRIM_THRESHOLD_=65536 in its workers, which also fixes glibc's mmap threshold:
# every array over 64 KiB is then mapped and unmapped anew. The stability stage of a small run
# (its constant refits) took 32.6 s with that variable set, 15.4 s without, in one process
# (measured 2026-12-02), and 42.6 s on a LocalCluster of 1 worker with Dask's default against
# 17.8 s without it. The workers geneqn starts keep glibc's own policy.
WORKER_ENV = {"distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None}


def open_cluster(spec: str, timeout: str = "30s"):
    """A Dask client for ``spec``: ``local`` / ``local:N`` (a LocalCluster of N single-threaded
    worker processes on this machine, loopback only; ``local``: one per core),
    ``tcp://HOST:PORT`` (a running scheduler) or a scheduler file (``*.json``, as
    ``dask-scheduler --scheduler-file`` and dask-jobqueue write). A context manager; the
    LocalCluster it starts is closed after."""
    from geneqn.config import check_cluster
    from geneqn.errors import GeneqnError

    spec = str(spec).strip()
    check_cluster(spec, "cluster")
    try:
        from distributed import Client, LocalCluster
    except ImportError:  # pragma: no cover - distributed is a dependency
        raise GeneqnError("--cluster needs dask.distributed: pip install 'distributed'.") from None

    @contextlib.contextmanager
    def local(n: int):
        import dask

        with dask.config.set(WORKER_ENV), \
                LocalCluster(n_workers=n, threads_per_worker=1, processes=True, host="127.0.0.1",
                             dashboard_address="127.0.0.1:0") as cluster, Client(cluster) as client:
            yield client

    @contextlib.contextmanager
    def remote(**kw):
        try:
            client = Client(timeout=timeout, **kw)
        except (OSError, TimeoutError) as e:
            raise GeneqnError(f"cannot reach the Dask scheduler {spec}: {e}. Start one (`dask scheduler`, or "
                              "dask-jobqueue), or check the address.") from None
        with client:
            yield client

    if spec == "local" or spec.startswith("local:"):
        return local(n_workers(int(spec.partition(":")[2] or "0")))
    if "://" in spec:
        return remote(address=spec)
    if not os.path.exists(spec):
        raise GeneqnError(f"cluster {spec!r}: no such scheduler file.")
    return remote(scheduler_file=spec)


def _worker_start(parent_pid: int) -> None:
    """A local worker process: silent progress (a forked worker inherits the parent's reporter,
    and its rich display, copied at the fork, printed the parent's bars of that moment as stale
    lines in the terminal; this process's jobs advance the parent's bar as they finish), and it
    dies with its parent."""
    progress.set_reporter(None)
    die_with_parent(parent_pid)


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
