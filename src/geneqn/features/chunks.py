"""Features computed in resumable chunks (Sei, Beluga): each chunk of genes is written as soon
as it is done, so an interrupted run redoes at most one chunk.

With a Dask client in use (``geneqn run --cluster``, ``geneqn.run(config, client=...)``) the
missing chunks are tasks of its cluster: each worker loads the weights once
(:func:`worker_model`) and scores its chunks on its own device (a GPU when it has one); this
process writes each chunk as it comes back, so resuming works as before."""

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


_LOADED: dict = {}  # in a cluster worker: the model of the chunks it scores, loaded once


def worker_model(key: tuple, load: Callable[[], object]):
    """``load()``, kept for the next chunk task when this is a cluster worker (one model per
    process: a worker scoring chunks of another model lets the first go); elsewhere loaded as
    asked (the provider keeps it)."""
    from geneqn._parallel import in_cluster_task

    if not in_cluster_task():
        return load()
    if key not in _LOADED:
        _LOADED.clear()
        _LOADED[key] = load()
    return _LOADED[key]


class ChunkTask:
    """A chunk scored on a cluster worker: ``provider.chunk(genome, part, bar)``, the provider
    sent without its loaded model (see the providers' ``__getstate__``)."""

    def __init__(self, provider, genome_path: Path):
        self.provider, self.genome_path = provider, Path(genome_path)

    def __call__(self, part: pd.DataFrame) -> pd.DataFrame:
        from geneqn.genome import Genome

        with progress.task("chunk", total=len(part)) as bar:
            return self.provider.chunk(Genome(self.genome_path), part, bar)


def compute_in_chunks(tss: pd.DataFrame, chunk_dir: Path, source: str, chunk_size: int, description: str,
                      compute: Callable[[pd.DataFrame, progress.Task], pd.DataFrame],
                      task: Callable[[pd.DataFrame], pd.DataFrame] | None = None) -> pd.DataFrame:
    """``compute(part, bar)`` for each chunk of ``chunk_size`` TSS rows, saved as
    ``chunk_dir/chunk_NNNNN.parquet``; chunks already there are read back. ``source`` (e.g.
    :func:`file_id` of the genome and the weights) and the gene list are stored beside the chunks:
    chunks of another source or gene list are deleted first. ``compute`` advances ``bar`` by one
    per gene. ``task(part)`` (picklable, e.g. a :class:`ChunkTask`): how a cluster worker scores
    a chunk, used when a Dask client is in use and more than one chunk is missing."""
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
    n_chunks = -(-len(tss) // chunk_size)
    path_of = lambda c: chunk_dir / f"chunk_{c:05d}.parquet"  # noqa: E731
    part_of = lambda c: tss.iloc[c * chunk_size:(c + 1) * chunk_size]  # noqa: E731
    with progress.task(description, total=len(tss)) as bar:
        _on_cluster(task, [c for c in range(n_chunks) if not path_of(c).exists()], path_of, part_of, bar,
                    description)
        for c in range(n_chunks):
            path = path_of(c)
            part = part_of(c)
            if path.exists():
                frames.append(read_parquet(path))
                bar.advance(len(part))
                continue
            df = compute(part, bar)
            write_parquet(df, path)
            frames.append(df)
    return pd.concat(frames)


def _on_cluster(task, todo: list[int], path_of, part_of, bar, description: str) -> None:
    """The missing chunks as tasks of the cluster in use (when there is one, and a task)."""
    from geneqn._parallel import current_client, submit_all

    client = current_client()
    if task is None or client is None or len(todo) < 2:
        return
    for i, df in submit_all(client, task, [part_of(c) for c in todo], label=description,
                            key=lambda i: f"chunk-{todo[i]:05d}"):
        write_parquet(df, path_of(todo[i]))
        bar.advance(len(part_of(todo[i])))
