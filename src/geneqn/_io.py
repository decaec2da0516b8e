"""Atomic file output: nothing half-written is ever taken as complete.

Every stage writes through :func:`atomic_path`: the data goes to a temporary file in the same
folder, which is renamed over the final name only once writing finished. A crash, Ctrl-C or a
full disk leaves at most a ``*.tmp`` file that no stage reads.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Iterator

import pandas as pd


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; rename it to ``path`` if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def write_parquet(df: pd.DataFrame, path: str | os.PathLike) -> Path:
    """Write ``df`` to parquet atomically and return the path."""
    with atomic_path(path) as tmp:
        df.to_parquet(tmp)
    return Path(path)


def write_text(text: str, path: str | os.PathLike) -> Path:
    with atomic_path(path) as tmp:
        tmp.write_text(text)
    return Path(path)


def write_json(obj: Any, path: str | os.PathLike) -> Path:
    return write_text(json.dumps(obj, indent=2, default=_json_default) + "\n", path)


def _json_default(obj: Any) -> Any:
    import numpy as np

    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"cannot serialise {type(obj).__name__} to JSON")


def require_file(path: str | os.PathLike, what: str) -> Path:
    """Return ``path`` as a Path, or raise a GeneqnError saying which input is missing."""
    from geneqn.errors import GeneqnError

    p = Path(path).expanduser()
    if not p.exists():
        raise GeneqnError(f"{what} not found: {p}. Check the path (relative paths are taken "
                          f"from the current folder: {Path.cwd()}).")
    if p.is_file() and not os.access(p, os.R_OK):
        raise GeneqnError(f"{what} is not readable: {p}. Check its permissions.")
    return p
