"""Features computed in resumable chunks (Sei, Beluga): each chunk of genes is written as soon
as it is done, so an interrupted run redoes at most one chunk."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path
from typing import Callable

import pandas as pd

from geneqn import progress
from geneqn._io import read_parquet, write_json, write_parquet


def file_id(*paths: Path, extra: str = "") -> str:
    """A short digest of files' names, sizes and modification times (and ``extra``): what the
    chunks were computed from."""
    h = hashlib.sha256(extra.encode())
    for p in paths:
        s = p.stat()
        h.update(f"{p.name}:{s.st_size}:{s.st_mtime_ns}".encode())
    return h.hexdigest()[:16]


def compute_in_chunks(tss: pd.DataFrame, chunk_dir: Path, source: str, chunk_size: int, description: str,
                      compute: Callable[[pd.DataFrame, progress.Task], pd.DataFrame]) -> pd.DataFrame:
    """``compute(part, bar)`` for each chunk of ``chunk_size`` TSS rows, saved as
    ``chunk_dir/chunk_NNNNN.parquet``; chunks already there are read back. ``source`` (e.g.
    :func:`file_id` of the genome and the weights) and the gene list are stored beside the chunks:
    chunks of another source or gene list are deleted first. ``compute`` advances ``bar`` by one
    per gene."""
    from geneqn.genome import gene_keys

    meta = {"source": source, "chunk": chunk_size,
            "genes_sha": hashlib.sha256("\n".join(gene_keys(tss)).encode()).hexdigest()}
    chunk_dir = Path(chunk_dir)
    meta_path = chunk_dir / "meta.json"
    if chunk_dir.exists() and (not meta_path.exists() or json.loads(meta_path.read_text()) != meta):
        shutil.rmtree(chunk_dir)  # results of another genome, model or gene list
    chunk_dir.mkdir(parents=True, exist_ok=True)
    write_json(meta, meta_path)
    frames = []
    with progress.task(description, total=len(tss)) as bar:
        for c in range(-(-len(tss) // chunk_size)):
            path = chunk_dir / f"chunk_{c:05d}.parquet"
            part = tss.iloc[c * chunk_size:(c + 1) * chunk_size]
            if path.exists():
                frames.append(read_parquet(path))
                bar.advance(len(part))
                continue
            df = compute(part, bar)
            write_parquet(df, path)
            frames.append(df)
    return pd.concat(frames)
