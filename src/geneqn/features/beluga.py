"""Beluga, the DeepSEA network of ExPecto (Zhou et al. 2018), re-implemented so that the authors'
published ``deepsea.beluga.pth`` loads unchanged.

Facts taken from the authors' code (FunctionLab/ExPecto, chromatin.py):

* input: float (N, 4, 1, 2000); one-hot channels in the order **A, G, C, T**; an N base is 0 in
  every channel (Sei's order is A, C, G, T with N = 0.25);
* the 2,000-bp window of a position p (0-based) is [p - 999, p + 1001): ExPecto fetches 2,100 bp
  around the 1-based position and keeps the middle 2,000, so p is the window's 1,000th base;
* layers (Conv2d kernels (1, 8), no padding; max-pools (1, 4)): conv 4->320, ReLU, conv 320->320,
  ReLU, dropout, pool, conv 320->480, ReLU, conv 480->480, ReLU, dropout, pool, conv 480->640,
  ReLU, conv 640->640, ReLU; then dropout, flatten (640 x 106 = 67,840), linear 67,840->2,003,
  ReLU, linear 2,003->2,002, sigmoid: 2,002 chromatin-profile probabilities;
* state_dict keys: ``model.0.{0,2,6,8,12,14}`` (convolutions), ``model.1.2.1`` and ``model.1.4.1``
  (linears), each with weight and bias: 149,536,251 parameters;
* predictions average the sequence and its reverse complement (ExPecto averages the two halves
  of its batch); with A, G, C, T order the complement is the channel order reversed.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import torch
from torch import nn

from geneqn._io import require_file
from geneqn._torch import load_tensors, resolve_device, strand_average

log = logging.getLogger(__name__)

WINDOW = 2000
N_TARGETS = 2002
CONV_WIDTHS = (320, 480, 640)

# geneqn's codes A, C, G, T, N = 0..4 -> Beluga's channels A, G, C, T (N: none)
_CHANNEL = np.array([0, 2, 1, 3, -1])


def beluga_one_hot(codes: np.ndarray) -> np.ndarray:
    """uint8 codes (N, L) -> float32 (N, 4, 1, L): channels A, G, C, T; N is all zeros."""
    codes = np.asarray(codes)
    if codes.ndim == 1:
        codes = codes[None]
    n, length = codes.shape
    x = np.zeros((n, 4, 1, length), dtype=np.float32)
    ch = _CHANNEL[codes]
    rows, cols = np.nonzero(ch >= 0)
    x[rows, ch[rows, cols], 0, cols] = 1.0
    return x


def window_bounds(position: int, length: int = WINDOW) -> tuple[int, int]:
    """[start, end) of the window whose (length/2)-th base (1-based) is ``position`` (0-based)."""
    start = position - (length // 2 - 1)
    return start, start + length


class Beluga(nn.Module):
    """The Beluga network; state_dict keys follow the published deepsea.beluga.pth."""

    def __init__(self, widths: tuple[int, int, int] = CONV_WIDTHS, n_targets: int = N_TARGETS,
                 sequence_length: int = WINDOW):
        super().__init__()
        w1, w2, w3 = widths
        self.widths, self.n_targets, self.sequence_length = tuple(widths), n_targets, sequence_length
        length = sequence_length
        for _ in range(2):
            length = (length - 14) // 4
        length -= 14
        if length <= 0:
            raise ValueError(f"a window of {sequence_length} bp is too short for Beluga")
        self.flat = w3 * length

        def conv(a, b):
            return nn.Conv2d(a, b, (1, 8))

        self.model = nn.Sequential(
            nn.Sequential(conv(4, w1), nn.ReLU(), conv(w1, w1), nn.ReLU(), nn.Dropout(0.2), nn.MaxPool2d((1, 4), (1, 4)),
                          conv(w1, w2), nn.ReLU(), conv(w2, w2), nn.ReLU(), nn.Dropout(0.2), nn.MaxPool2d((1, 4), (1, 4)),
                          conv(w2, w3), nn.ReLU(), conv(w3, w3), nn.ReLU()),
            nn.Sequential(nn.Dropout(0.5), nn.Flatten(), nn.Sequential(nn.Identity(), nn.Linear(self.flat, n_targets + 1)),
                          nn.ReLU(), nn.Sequential(nn.Identity(), nn.Linear(n_targets + 1, n_targets))),
            nn.Sigmoid(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (N, 4, 1, L) one-hot (A, G, C, T) -> (N, n_targets) probabilities."""
        return self.model(x)


def build_beluga(device: str | torch.device | None = None, **kw) -> Beluga:
    """Build Beluga; ``device="meta"`` builds the full-size shapes without allocating memory."""
    if device is not None and str(device) == "meta":
        with torch.device("meta"):
            return Beluga(**kw)
    model = Beluga(**kw)
    return model.to(device) if device is not None else model


def reverse_complement(x: torch.Tensor) -> torch.Tensor:
    """Reverse complement of (N, 4, 1, L) one-hot in A, G, C, T order: flip channels and length."""
    return torch.flip(x, dims=(1, 3))


@torch.no_grad()
def predict(model: Beluga, x: torch.Tensor) -> torch.Tensor:
    """Strand-averaged predictions (model(x) + model(rc(x))) / 2, as one batch of 2N."""
    return strand_average(model, x, reverse_complement)


def load_beluga(path: str | Path, device: str | torch.device = "auto", **kw) -> Beluga:
    """Load deepsea.beluga.pth (plain, ``module.``-prefixed, or wrapped as {"state_dict": ...})
    into a model built on the meta device, as data (weights_only); mismatches are named."""
    from geneqn.features.sei import check_state_dict, unwrap_state_dict

    p = require_file(path, "Beluga weights (deepsea.beluga.pth)")
    dev = resolve_device(device)
    state = unwrap_state_dict(load_tensors(p, "a PyTorch checkpoint of Beluga"), prefixes=("module.",))
    model = build_beluga("meta", **kw)
    check_state_dict(model, state, str(p), network="Beluga",
                     hint="Is this deepsea.beluga.pth of ExPecto's resources? `geneqn fetch beluga` downloads it.")
    model.load_state_dict(state, assign=True)
    return model.to(dev).eval()


def n_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())

