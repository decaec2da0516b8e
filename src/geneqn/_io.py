"""File input and output: atomic writes, and reads that go through one place.

Every stage writes through :func:`atomic_path`: the data goes to a temporary file in the same
folder, which is renamed over the final name only once writing finished. A crash, Ctrl-C or a
full disk leaves at most a ``.*.tmp`` file that no stage reads. Files get the permissions the
user's umask gives (as ``open`` would), so collaborators can read a run folder.

Reads of run-folder files go through :func:`read_parquet`, :func:`read_json`, :func:`read_csv`
and :func:`read_text`, which open files with Python's ``open`` (so a test can watch which files a
stage reads).
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Iterator

import pandas as pd

from geneqn.errors import GeneqnError


def _umask() -> int:
    # os.umask can only be read by setting it; set it back at once
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; rename it to ``path`` if the block succeeds."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as e:
        raise _os_error(e, path) from None
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        os.chmod(tmp_path, 0o666 & ~_umask())  # mkstemp makes 0600; give what open() would
        yield tmp_path
        os.replace(tmp_path, path)
    except OSError as e:
        raise _os_error(e, path) from None
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def _os_error(e: OSError, path: Path) -> GeneqnError:
    if e.errno == errno.ENOSPC:
        return GeneqnError(f"the disk is full: cannot write {path}. Free some space and run the same "
                           "command again; finished work is kept.")
    if e.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return GeneqnError(f"cannot write {path}: permission denied ({e.strerror}). Choose a run "
                           "folder you can write to (--run or run.folder).")
    return GeneqnError(f"cannot write {path}: {e.strerror or e}.")


def write_parquet(df: pd.DataFrame, path: str | os.PathLike) -> Path:
    """Write ``df`` to parquet atomically and return the path."""
    with atomic_path(path) as tmp:
        df.to_parquet(tmp)
    return Path(path)


def write_text(text: str, path: str | os.PathLike) -> Path:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


def write_bytes(data: bytes, path: str | os.PathLike) -> Path:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def write_json(obj: Any, path: str | os.PathLike) -> Path:
    return write_text(json.dumps(obj, indent=2, default=_json_default, allow_nan=True) + "\n", path)


def write_csv(df: pd.DataFrame, path: str | os.PathLike, index: bool = False) -> Path:
    with atomic_path(path) as tmp:
        df.to_csv(tmp, index=index)
    return Path(path)


def _json_default(obj: Any) -> Any:
    import numpy as np

    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"cannot serialise {type(obj).__name__} to JSON")


def hash_arrays(h, *arrays) -> None:
    """Feed arrays to the hash ``h`` (hashlib): each one's shape and float64 bits (None: a
    marker), so that a cache key changes with any value's last bit."""
    import numpy as np

    for a in arrays:
        if a is None:
            h.update(b"-")
            continue
        a = np.ascontiguousarray(np.asarray(a, dtype=np.float64))
        h.update(str(a.shape).encode())
        h.update(a.tobytes())


def read_parquet(path: str | os.PathLike, columns: list[str] | None = None, filters: list | None = None) -> pd.DataFrame:
    """A parquet file; ``filters`` (pyarrow's, e.g. ``[("cell_type", "==", ct)]``) keeps only the
    rows that match, without holding the others in memory."""
    with open(path, "rb") as fh:
        return pd.read_parquet(fh, columns=columns, filters=filters)


def read_json(path: str | os.PathLike) -> Any:
    with open(path, encoding="utf-8") as fh:
        try:
            return json.load(fh)
        except json.JSONDecodeError as e:
            raise GeneqnError(f"{path} is not valid JSON ({e}); it may be truncated. Delete it and run "
                              "the stage that writes it again.") from None
        except RecursionError:
            raise GeneqnError(f"{path} is nested too deeply to be read (JSON nested thousands of levels deep is "
                              "not a file geneqn writes); it is damaged or not the file meant.") from None
        except UnicodeDecodeError:
            raise GeneqnError(f"{path} is not a text (UTF-8) JSON file; it is damaged or not the file meant."
                              ) from None


def read_csv(path: str | os.PathLike, **kw) -> pd.DataFrame:
    with open(path, encoding="utf-8") as fh:
        return pd.read_csv(fh, **kw)


def read_text(path: str | os.PathLike) -> str:
    with open(path, encoding="utf-8") as fh:
        return fh.read()


def require_file(path: str | os.PathLike, what: str) -> Path:
    """Return ``path`` as a Path, or raise a GeneqnError saying which input is missing."""
    given = Path(path).expanduser()
    p = given
    if not p.exists():
        where = ("a relative path in a config file is taken from the config file's folder, one on the command "
                 "line from the current folder" if given.is_absolute() else
                 f"this relative path was taken from the current folder, {Path.cwd()}")
        raise GeneqnError(f"{what} not found: {p}. Check the path ({where}).")
    if p.is_file() and not os.access(p, os.R_OK):
        raise GeneqnError(f"{what} is not readable: {p}. Check its permissions.")
    return p
