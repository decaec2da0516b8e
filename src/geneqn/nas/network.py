"""The bottleneck MLP: standardise -> layers (dense, act, dropout) -> linear output.

The input standardisation (train mean and scale) is part of the network (buffers), so a saved
network applies to raw feature tables. ``latent(X)`` returns the activations of the latent layer,
which the distillation fits equations to.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from geneqn.errors import GeneqnError
from geneqn.nas.space import Architecture

_ACT = {"relu": F.relu, "tanh": torch.tanh, "gelu": F.gelu, "sigmoid": torch.sigmoid}


def activation(name: str):
    return _ACT[name]


class BottleneckMLP(nn.Module):
    """x (N, n_features) -> prediction (N,); ``latent`` gives (N, latent width)."""

    def __init__(self, n_features: int, arch: Architecture, mean: np.ndarray | None = None,
                 scale: np.ndarray | None = None):
        super().__init__()
        self.arch = arch
        self.n_features = n_features
        self.register_buffer("mean", torch.zeros(n_features) if mean is None else torch.as_tensor(mean, dtype=torch.float32))
        self.register_buffer("scale", torch.ones(n_features) if scale is None else torch.as_tensor(scale, dtype=torch.float32))
        widths = (n_features,) + arch.widths
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(widths[:-1], widths[1:]))
        self.out = nn.Linear(widths[-1], 1)

    def _run(self, x: torch.Tensor, upto: int | None = None) -> torch.Tensor:
        h = (x - self.mean) / self.scale
        for i, (layer, act) in enumerate(zip(self.layers, self.arch.activations)):
            h = _ACT[act](layer(h))
            if upto is not None and i == upto:
                return h
            h = F.dropout(h, self.arch.dropout, self.training)
        return self.out(h).squeeze(-1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._run(x)

    def latent_torch(self, x: torch.Tensor) -> torch.Tensor:
        return self._run(x, upto=self.arch.latent_layer)

    @torch.no_grad()
    def predict(self, X: np.ndarray) -> np.ndarray:
        """Predictions for a raw feature matrix (eval mode), float64 (N,)."""
        was = self.training
        self.eval()
        y = self(torch.as_tensor(np.asarray(X), dtype=torch.float32)).double().numpy()
        self.train(was)
        return y

    @torch.no_grad()
    def latent(self, X: np.ndarray) -> np.ndarray:
        """Latent-layer activations (after its activation, no dropout), float64 (N, width)."""
        was = self.training
        self.eval()
        z = self.latent_torch(torch.as_tensor(np.asarray(X), dtype=torch.float32)).double().numpy()
        self.train(was)
        return z

    @torch.no_grad()
    def head(self, Z: np.ndarray) -> np.ndarray:
        """Prediction from latent activations (the layers after the latent layer), eval mode."""
        h = torch.as_tensor(np.asarray(Z), dtype=torch.float32)
        for i in range(self.arch.latent_layer + 1, len(self.layers)):
            h = _ACT[self.arch.activations[i]](self.layers[i](h))
        return self.out(h).squeeze(-1).double().numpy()

    def save(self, path: str | Path, **extra) -> None:
        from geneqn._io import atomic_path

        with atomic_path(path) as tmp:
            torch.save({"state_dict": self.state_dict(), "arch": self.arch.to_dict(),
                        "n_features": self.n_features, **extra}, tmp)

    @classmethod
    def load(cls, path: str | Path) -> "BottleneckMLP":
        try:
            obj = torch.load(path, map_location="cpu", weights_only=False)
            net = cls(obj["n_features"], Architecture.from_dict(obj["arch"]))
            net.load_state_dict(obj["state_dict"])
        except (OSError, KeyError, RuntimeError) as e:
            raise GeneqnError(f"cannot load a geneqn network from {path}: {e}.") from None
        net.extra = {k: v for k, v in obj.items() if k not in ("state_dict", "arch", "n_features")}
        return net.eval()
