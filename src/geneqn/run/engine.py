"""The run engine: stages, stamps, resume and the folder lock.

A stage reads config sections and files, and writes files, all declared with it. It is skipped
when its stamp (``.stages/<stage>.json``) shows the same fingerprint of everything it reads (the
config sections, the content digests of its run-folder inputs, those of the files outside the
folder it reads, the geneqn version) and its outputs still have the digests it recorded;
``force`` redoes it. Outputs are written atomically and the stamp last, so a crash or Ctrl-C
at any point leaves nothing that a later run takes as complete; and a stage refuses an input
whose producer did not finish it.

Digests are of file contents (paths inside the run folder are relative), so a run folder that is
moved or copied stays up to date. A digest cache keyed by (path, size, mtime) spares re-reading
large files.

Stages that model cell types do each cell type's share as one unit
(:meth:`StageContext.map_cell_types`): one after another in this process, or as tasks of a
``dask.distributed`` cluster when the runner has a client (``geneqn run --cluster``). Each
finished share is kept (``.stages/parts/<stage>/<cell type>/``, under the stage's fingerprint)
until the stage is done, so a run that was killed, or a task whose worker died, redoes only the
cell types that had not finished. The share of a cell type depends on nothing but the inputs
and that cell type, so the tables are the same whichever way, and on however many workers,
they ran.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import logging
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

from geneqn import __version__
from geneqn._io import read_json, write_json, write_text
from geneqn.config import Config
from geneqn.errors import GeneqnError, did_you_mean
from geneqn.run.layout import RunLayout, cell_type_key

log = logging.getLogger(__name__)

MIN_GENES = 50


@dataclass(frozen=True)
class Stage:
    name: str
    fn: Callable[["StageContext"], dict]
    sections: tuple[str, ...]
    inputs: Callable[["StageContext"], list[Path]]
    outputs: Callable[["StageContext"], list[Path]]
    external: Callable[[Config], list[str]] = lambda cfg: []
    enabled: Callable[[Config], bool] = lambda cfg: True
    help: str = ""


STAGES: dict[str, Stage] = {}


def stage(name: str, *, sections=(), inputs=None, outputs=None, external=None, enabled=None, help=""):
    """Register a stage function. ``inputs``/``outputs`` take the layout (and, if they accept a
    second argument, the config) and return paths."""
    import inspect

    def bind(fn):
        if fn is None:
            return lambda ctx: []
        if len(inspect.signature(fn).parameters) >= 2:
            return lambda ctx: fn(ctx.layout, ctx.config)
        return lambda ctx: fn(ctx.layout)

    def register(f):
        STAGES[name] = Stage(name, f, tuple(sections), bind(inputs), bind(outputs),
                             external or (lambda cfg: []), enabled or (lambda cfg: True), help)
        return f
    return register


@dataclass
class Part:
    """A cell type's share of a stage: ``data`` (JSON: metrics, equations, ...), ``frames``
    (tables, kept as parquet) and ``files`` (run-folder files or folders the share wrote
    itself, such as networks; a kept share whose files changed is done again)."""
    data: dict
    frames: dict = field(default_factory=dict)
    files: list = field(default_factory=list)


class StageContext:
    """What a stage function gets: the config, the run folder's layout and small helpers."""

    def __init__(self, config: Config, layout: RunLayout, name: str = "", client=None):
        self.config = config
        self.layout = layout
        self.name = name
        self.force = False
        self.fingerprint = ""
        self.client = client
        self._dataset = None

    def __getstate__(self):
        """What a cluster task gets: no dataset (read again there), no client, an absolute folder."""
        state = dict(self.__dict__, _dataset=None, client=None)
        state["layout"] = RunLayout(self.layout.root.resolve())
        return state

    def map_cell_types(self, fn: Callable[["StageContext", str], Part], label: str | None = None,
                       processes: int = 1) -> dict[str, Part]:
        """``{cell type: fn(self, cell type)}`` for every cell type to model; shares kept from an
        earlier, unfinished run of this stage (same fingerprint, same files) are not done again.
        With a cluster client each share is a task; else they run here, one after another (with a
        progress bar over cell types named ``label``, none when None: the shares have their own),
        or, for shares that use one core each, in up to ``processes`` processes (0: one per core).
        A share computes the same files wherever it runs (one BLAS thread, see _compute_part)."""
        from geneqn import progress

        cts = self.cell_types()
        if self.force:  # --force: shares kept from before are done again
            shutil.rmtree(self.layout.parts(self.name), ignore_errors=True)
        todo = [ct for ct in cts if _read_part(self, ct) is None]
        if len(todo) < len(cts):
            log.info("stage %s: %d of %d cell types were finished by an earlier run; kept", self.name,
                     len(cts) - len(todo), len(cts))
        if self.client is not None and todo:
            from geneqn._parallel import submit_all

            done = 0
            with progress.task(f"{label or self.name} ({len(todo)} cell types on the cluster)", total=len(todo)) as bar:
                for i, _ in submit_all(self.client, _part_task, [(fn, self, ct) for ct in todo], label=self.name,
                                       key=lambda i: f"{self.name}-{cell_type_key(todo[i])}"):
                    bar.advance()
                    done += 1
                    bar.note(f"{done} of {len(todo)} done, last {todo[i]}")
        elif processes != 1 and len(todo) > 1:
            from geneqn._parallel import parallel_map

            parallel_map(_part_task, [(fn, self, ct) for ct in todo], n_jobs=processes,
                         description=label or self.name)
        else:
            for ct in progress.track(todo, label) if label else todo:
                _compute_part(fn, self, ct)
        parts = {ct: _read_part(self, ct) for ct in cts}
        lost = [ct for ct, p in parts.items() if p is None]
        if lost:
            raise GeneqnError(f"stage {self.name}: the share of {', '.join(map(repr, lost))} was computed but "
                              f"cannot be read back from {self.layout.parts(self.name)} (is the run folder on "
                              "storage that every worker shares?).")
        return parts

    def dataset(self):
        """The run's dataset (targets + features + saved split)."""
        if self._dataset is None:
            from geneqn._io import read_parquet
            from geneqn.dataset import build_dataset, load_split

            lay = self.layout
            self._dataset = build_dataset(read_parquet(lay.targets), read_parquet(lay.features),
                                          split=load_split(lay.split))
        return self._dataset

    def cell_types(self) -> list[str]:
        """Cell types to model: run.cell_types, else every cell type of the dataset."""
        ds = self.dataset()
        wanted = self.config.run.cell_types
        if not wanted:
            return ds.cell_types
        missing = [c for c in wanted if c not in ds.cell_types]
        if missing:
            raise GeneqnError(f"config: run.cell_types names {', '.join(map(repr, missing))}, absent from the "
                              f"targets{did_you_mean(missing, ds.cell_types)}; present: {', '.join(ds.cell_types)}. "
                              "Fix run.cell_types (or --set run.cell_types=[...]).")
        return list(wanted)


def _compute_part(fn, ctx: StageContext, ct: str) -> None:
    """Do one cell type's share and keep it (frames first, part.json last: a share is kept only
    when complete). BLAS runs on one thread, here as on a cluster's workers: least squares
    (constant refits, ridge) then sum in the same order whichever way the share runs."""
    from threadpoolctl import threadpool_limits

    from geneqn._io import write_parquet

    folder = ctx.layout.part(ctx.name, ct)
    shutil.rmtree(folder, ignore_errors=True)
    with threadpool_limits(limits=1, user_api="blas"):
        part = fn(ctx, ct)
    for name, frame in part.frames.items():
        write_parquet(frame, folder / f"{name}.parquet")
    digests = Digests(None)
    files = {ctx.layout.rel(f): digests.of(f) for f in part.files}
    write_json({"stage": ctx.name, "cell_type": ct, "fingerprint": ctx.fingerprint, "data": part.data,
                "frames": sorted(part.frames), "files": files}, folder / "part.json")


def _part_task(job) -> None:
    fn, ctx, ct = job
    _compute_part(fn, ctx, ct)


def _read_part(ctx: StageContext, ct: str) -> Part | None:
    """The kept share of a cell type, if it is complete, of this fingerprint, with its files intact."""
    from geneqn._io import read_parquet

    folder = ctx.layout.part(ctx.name, ct)
    try:
        saved = json.loads((folder / "part.json").read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(saved, dict) or saved.get("fingerprint") != ctx.fingerprint or saved.get("cell_type") != ct:
        return None
    digests = Digests(None)
    files = saved.get("files", {})
    if any(digests.of(ctx.layout.root / rel) != d for rel, d in files.items()):
        return None
    try:
        frames = {name: read_parquet(folder / f"{name}.parquet") for name in saved.get("frames", [])}
    except (OSError, GeneqnError, ValueError):
        return None
    return Part(saved.get("data", {}), frames, [ctx.layout.root / rel for rel in files])


# ---------------------------------------------------------------------- digests

class Digests:
    """Content digests (sha256) with a cache keyed by (absolute path, size, mtime)."""

    def __init__(self, cache_path: Path | None):
        self.path = cache_path
        self.cache: dict[str, list] = {}
        self.dirty = False
        if cache_path is not None and cache_path.exists():
            try:
                self.cache = json.loads(cache_path.read_text())
            except (OSError, json.JSONDecodeError):
                self.cache = {}

    def of(self, p: Path) -> str | None:
        """Digest of a file, or of a folder's files (names and digests); None when absent."""
        p = Path(p)
        if p.is_dir():
            h = hashlib.sha256()
            for f in sorted(x for x in p.rglob("*") if x.is_file() and not x.name.endswith(".tmp")):
                h.update(f.relative_to(p).as_posix().encode())
                h.update((self.of(f) or "").encode())
            return h.hexdigest()
        try:
            st = p.stat()
        except (FileNotFoundError, NotADirectoryError):  # absent (or "inside" a file)
            return None
        key = str(p.resolve())
        hit = self.cache.get(key)
        if hit and hit[0] == st.st_size and hit[1] == st.st_mtime_ns:
            return hit[2]
        h = hashlib.sha256()
        with open(p, "rb") as fh:
            while block := fh.read(1 << 22):
                h.update(block)
        digest = h.hexdigest()
        self.cache[key] = [st.st_size, st.st_mtime_ns, digest]
        self.dirty = True
        return digest

    def save(self) -> None:
        if self.dirty and self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            write_json(self.cache, self.path)
            self.dirty = False


# ---------------------------------------------------------------------- the runner

class Runner:
    """Runs stages of one run folder; holds the folder's lock while it works."""

    def __init__(self, config: Config, client=None):
        self.config = config
        self.client = client
        self.layout = RunLayout(config.run.folder)
        self._digests: Digests | None = None
        self._lock_depth = 0
        self._lock_fh = None

    @property
    def digests(self) -> Digests:
        if self._digests is None:
            self._digests = Digests(self.layout.digests if self.layout.root.exists() else None)
        return self._digests

    def context(self, name: str = "") -> StageContext:
        return StageContext(self.config, self.layout, name, client=self.client)

    # -------------------------------------------------------------- fingerprints
    def fingerprint(self, name: str) -> str:
        st = STAGES[name]
        ctx = self.context(name)
        cfg = self.config.to_dict()
        parts = {"version": __version__, "stage": name,
                 "config": {s: _portable(cfg[s], s) for s in st.sections},
                 "inputs": {}, "external": []}
        for p in st.inputs(ctx):
            parts["inputs"][self.layout.rel(p) if _inside(p, self.layout.root) else str(p)] = self.digests.of(p)
        for ext in st.external(self.config):
            parts["external"].append(self.digests.of(Path(ext)))
        text = json.dumps(parts, sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()

    def stamp(self, name: str) -> dict | None:
        p = self.layout.stamp(name)
        if not p.exists():
            return None
        try:
            return json.loads(p.read_text())
        except (OSError, json.JSONDecodeError):
            return None

    def is_done(self, name: str) -> bool:
        st = STAGES[name]
        saved = self.stamp(name)
        if not saved or saved.get("fingerprint") != self.fingerprint(name):
            return False
        for rel, digest in saved.get("outputs", {}).items():
            if self.digests.of(self.layout.root / rel) != digest:
                return False
        return all(p.exists() for p in st.outputs(self.context(name)))

    def _check_inputs(self, name: str) -> None:
        """Every run-folder input exists and is exactly what its producing stage finished."""
        st = STAGES[name]
        producers = {}
        for other in STAGES.values():
            if other.name == name:
                continue
            for p in other.outputs(self.context(other.name)):
                producers[self.layout.rel(p)] = other.name
        for p in st.inputs(self.context(name)):
            if not _inside(p, self.layout.root):
                continue
            rel = self.layout.rel(p)
            producer = producers.get(rel)
            if not p.exists():
                hint = f" Run `geneqn {producer.replace('_', '-')}` (or `geneqn run`) first." if producer else ""
                raise GeneqnError(f"stage {name} needs {p}, which does not exist.{hint}")
            if producer:
                saved = self.stamp(producer) or {}
                if saved.get("outputs", {}).get(rel) != self.digests.of(p):
                    raise GeneqnError(f"stage {name} needs {p}, but stage {producer} did not finish it (it was "
                                      f"interrupted, failed, or the file changed since). Run `geneqn "
                                      f"{producer.replace('_', '-')}` (or `geneqn run`) again first.")

    # -------------------------------------------------------------- running
    def run_stage(self, name: str, force: bool = False) -> dict:
        if name not in STAGES:
            raise GeneqnError(f"unknown stage {name!r}; stages: {', '.join(STAGES)}.")
        st = STAGES[name]
        with self.locked():
            self._check_version()
            if not st.enabled(self.config):
                return {"skipped": "not enabled by the config"}
            if not force and self.is_done(name):
                log.debug("stage %s: up to date, skipped", name)  # the stage line says it
                return dict(self.stamp(name).get("summary", {}), up_to_date=True)
            self._check_inputs(name)
            self.layout.root.mkdir(parents=True, exist_ok=True)
            self._write_marker()
            ctx = self.context(name)
            ctx.force = force
            ctx.fingerprint = self.fingerprint(name)
            t0 = time.perf_counter()
            summary = st.fn(ctx) or {}
            seconds = time.perf_counter() - t0
            outputs = {}
            for p in st.outputs(ctx):
                if not p.exists():
                    raise GeneqnError(f"stage {name} finished without writing {p}; this is a bug in geneqn.")
                outputs[self.layout.rel(p)] = self.digests.of(p)
            write_json({"stage": name, "fingerprint": self.fingerprint(name), "outputs": outputs,
                        "summary": summary, "seconds": round(seconds, 2), "geneqn_version": __version__},
                       self.layout.stamp(name))
            self._record_config(st)
            self.digests.save()
            shutil.rmtree(self.layout.parts(name), ignore_errors=True)  # the stage's outputs hold them now
            return dict(summary, seconds=round(seconds, 2))

    def run(self, stages: list[str] | None = None, force: tuple[str, ...] = (),
            on_stage: Callable[[str, dict], None] | None = None) -> dict:
        results = {}
        with self.locked():
            for name in stages or list(STAGES):
                if not STAGES[name].enabled(self.config):
                    continue
                results[name] = self.run_stage(name, force=name in force)
                if on_stage:
                    on_stage(name, results[name])
        return results

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """Hold the run folder's lock (re-entrant in this process).

        The lock is an OS file lock (the ``filelock`` package): it dies with the process that
        holds it, and worker processes started while it is held do not keep it (they are forked
        without its descriptor, and die with their parent: :mod:`geneqn._parallel`). Beside it,
        ``.lock.owner`` names the holder; one left behind names a process that was killed, whose
        lock is then taken over with a message."""
        if self._lock_depth == 0:
            self._lock_fh = _acquire_folder_lock(self.layout)
        self._lock_depth += 1
        try:
            yield
        finally:
            self._lock_depth -= 1
            if self._lock_depth == 0 and self._lock_fh is not None:
                try:
                    self.layout.lock_owner.unlink()
                except OSError:
                    pass
                self._lock_fh.release()
                self._lock_fh = None

    def _write_marker(self) -> None:
        if not self.layout.marker.exists():
            write_json({"geneqn_version": __version__}, self.layout.marker)

    def _record_config(self, st: Stage) -> None:
        """config.toml: the sections each stage last ran with (other sections kept)."""
        import tomli_w

        from geneqn.config import tomllib  # tomli before Python 3.11

        current: dict = {}
        if self.layout.config.exists():
            try:
                current = tomllib.loads(self.layout.config.read_text())
            except (OSError, tomllib.TOMLDecodeError):
                current = {}
        cfg = self.config.to_dict()
        for s in set(st.sections) | {"run"}:
            current[s] = cfg[s]
        write_text(tomli_w.dumps(_recorded_paths(current)), self.layout.config)

    def _check_version(self) -> None:
        marker = self.layout.marker
        if marker.exists():
            try:
                version = read_json(marker).get("geneqn_version")
            except (GeneqnError, AttributeError):
                version = None
            if version != __version__:
                raise GeneqnError(f"run folder {self.layout.root} was written by geneqn {version}, this is "
                                  f"geneqn {__version__}; its files may not be compatible. Use a new "
                                  "run folder (run.folder in the config, or --run), or delete this one.")


def _recorded_paths(sections: dict) -> dict:
    """The sections as ``<run>/config.toml`` holds them: the run folder as ``"."`` (the file lies
    in it, and load_config takes relative paths from the file's folder) and any other relative
    path made absolute (a config built in Python keeps paths relative to the working folder)."""
    from geneqn.config import PATH_KEYS, is_relative_path

    out = {name: dict(values) for name, values in sections.items()}
    if "run" in out:
        out["run"]["folder"] = "."
    for sec, key in PATH_KEYS:
        if sec != "run" and is_relative_path(out.get(sec, {}).get(key)):
            out[sec][key] = str(Path(out[sec][key]).resolve())
    return out


def _acquire_folder_lock(layout: RunLayout):
    """Take the folder's lock (or say who holds it); clean up after a killed holder."""
    from filelock import FileLock, Timeout

    root = layout.root
    try:
        root.mkdir(parents=True, exist_ok=True)
        lock = FileLock(layout.lock, timeout=0, thread_local=False)
        lock.acquire()
    except Timeout:
        raise GeneqnError(_lock_busy_message(layout)) from None
    except OSError as e:
        if e.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
            raise GeneqnError(f"cannot write to the run folder {root}: permission denied. Choose a "
                              "folder you can write to (--run or run.folder).") from None
        if root.exists() and not root.is_dir() or e.errno in (errno.EEXIST, errno.ENOTDIR):
            raise GeneqnError(f"the run folder {root} (or a folder above it) is a file, not a folder. Choose "
                              "another run folder (--run or run.folder).") from None
        raise GeneqnError(f"cannot use the run folder {root}: {e.strerror or e}. Choose another run folder "
                          "(--run or run.folder).") from None
    previous = _lock_owner(layout)
    if previous:
        log.warning("the run folder %s was left locked by geneqn process %s, which is no longer running "
                    "(killed?); taking the lock over. Its unfinished stage will be done again.", root,
                    previous.get("pid", "?"))
    write_json({"pid": os.getpid(), "started": time.strftime("%Y-%m-%d %H:%M:%S")}, layout.lock_owner)
    # temporary files of a process that was killed (we hold the lock: none is being written)
    for tmp in root.rglob(".*.tmp"):
        try:
            tmp.unlink()
        except OSError:
            pass
    return lock


def _lock_owner(layout: RunLayout) -> dict:
    try:
        owner = json.loads(layout.lock_owner.read_text())
    except (OSError, ValueError):
        return {}
    return owner if isinstance(owner, dict) else {}


def pid_alive(pid) -> bool:
    """Whether a process ``pid`` exists (on this machine)."""
    try:
        pid = int(pid)
        if pid <= 0:
            return False
        os.kill(pid, 0)
    except (ValueError, TypeError, ProcessLookupError, OverflowError):
        return False
    except PermissionError:  # it exists, as another user's
        return True
    except OSError:
        return False
    return True


def _lock_busy_message(layout: RunLayout) -> str:
    owner = _lock_owner(layout)
    pid = owner.get("pid")
    fix = ("Wait for it to finish, or use another run folder (--run). Search workers sharing a study "
           "(`geneqn search --worker`) need no run folder lock.")
    if pid is None:
        return f"the run folder {layout.root} is in use by another process. {fix}"
    if pid_alive(pid):
        return (f"the run folder {layout.root} is in use by geneqn process {pid} (started "
                f"{owner.get('started', '?')}). {fix}")
    # the holder is dead but its lock is still held: processes it started (geneqn < 0.2.1 kept
    # the lock in its workers)
    return (f"the run folder {layout.root} is locked by processes that geneqn process {pid} (no longer "
            f"running) started. End them (`ps -ef | grep geneqn`, then `kill` each of their PIDs) and "
            "run the command again.")


def _inside(p: Path, root: Path) -> bool:
    try:
        Path(p).resolve().relative_to(root.resolve())
        return True
    except ValueError:
        return False


def _portable(section: dict, name: str) -> dict:
    """A config section without what does not change results: paths (the files they name are
    fingerprinted by content instead, so moving a run folder or its inputs changes nothing) and
    the number of processes."""
    from geneqn.config import PATH_KEYS

    out = dict(section)
    for sec, key in PATH_KEYS:
        if sec == name:
            out.pop(key, None)
    if name in ("sr", "train"):
        out.pop("n_jobs", None)
    if name == "run":
        out.pop("cluster", None)
    if name == "features":
        for key in ("device", "batch_size"):
            out.pop(key, None)
    return out
