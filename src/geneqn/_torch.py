"""Device, dtype and checkpoint handling in one place, for every torch model of geneqn."""

from __future__ import annotations

import contextlib
from pathlib import Path

import torch

from geneqn.errors import GeneqnError


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """``auto`` -> CUDA when PyTorch sees a GPU, else CPU; a named device is checked."""
    device = str(device)
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise GeneqnError(f"device {device!r} was asked for but PyTorch sees no CUDA GPU here "
                          f"(torch {torch.__version__}). Use --device cpu or auto.")
    try:
        return torch.device(device)
    except RuntimeError:
        raise GeneqnError(f"unknown device {device!r}; use auto, cpu, cuda or cuda:N.") from None


@contextlib.contextmanager
def threads(n: int):
    """Run torch with ``n`` intra-op threads inside the block (restored after)."""
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def strand_average(model: torch.nn.Module, x: torch.Tensor, reverse_complement) -> torch.Tensor:
    """(model(x) + model(reverse_complement(x))) / 2, run as one batch of 2N, in fp32."""
    n = x.shape[0]
    both = model(torch.cat([x, reverse_complement(x)], dim=0))
    return (both[:n].float() + both[n:].float()) / 2


def resolve_dtype(precision: str, device: torch.device) -> torch.dtype:
    """``auto`` -> fp32 (on CPU and CUDA: bf16's effect on Sei's class scores is not yet measured
    with the real weights, see benchmarks/bench_sei.py); ``fp32`` / ``bf16`` as asked."""
    if precision == "auto":
        return torch.float32
    if precision in ("fp32", "float32"):
        return torch.float32
    if precision in ("bf16", "bfloat16"):
        return torch.bfloat16
    raise GeneqnError(f"unknown precision {precision!r}; use auto, fp32 or bf16.")


def load_tensors(path: str | Path, what: str, mmap: bool = True) -> dict:
    """A checkpoint's tensors, read as data only (``weights_only=True``): a file that holds
    anything but tensors and plain containers is refused, never executed."""
    p = Path(path)
    try:
        try:
            return torch.load(p, map_location="cpu", mmap=mmap, weights_only=True)
        except RuntimeError as e:  # legacy (non-zip) checkpoints cannot be memory-mapped
            if not mmap or "mmap" not in str(e).lower() and "zip" not in str(e).lower():
                raise
            return torch.load(p, map_location="cpu", weights_only=True)
    except Exception as e:  # pickle errors, unsupported globals, truncated files, ...
        raise GeneqnError(f"cannot read {p} as {what}: {_why_unreadable(p, e)}. geneqn reads checkpoints as "
                          "data only (tensors and plain containers, never code): is it the right file, complete "
                          "and not corrupt? Download or copy it again if it may be truncated.") from None


def _why_unreadable(p: Path, e: Exception) -> str:  # safe: reads 2 bytes and an error text; loads nothing
    """What is wrong with a checkpoint, in our words: torch's own text advises turning its
    weights-only loading off, which would run whatever code the file holds."""
    import re

    text = str(e)
    try:
        with open(p, "rb") as fh:
            head = fh.read(2)
    except OSError as err:
        return err.strerror or "it cannot be opened"
    if head[:2] != b"PK" and head[:1] != b"\x80":
        return "it is not a PyTorch file (neither a zip archive nor a pickle: random bytes, or another format)"
    m = re.search(r"Unsupported global: GLOBAL ([\w.]+)", text)
    if m:
        return (f"it holds Python objects ({m.group(1)}), not only tensors; re-save the weights as a state_dict "
                "(torch.save(model.state_dict(), path)) where the file is trusted")
    first = text.strip().splitlines()[0] if text.strip() else type(e).__name__
    if "zip archive" in first or "central directory" in first:
        return "it is truncated or corrupt (an incomplete zip archive)"
    if "weights_only" in first or "pickle" in first.lower():
        return "it is truncated or corrupt (its content cannot be read as tensors)"
    return first
