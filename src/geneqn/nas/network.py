"""The bottleneck MLP: standardise -> layers (dense, act, dropout) -> linear output.

The input standardisation (train mean and scale) is part of the network (buffers), so a saved
network applies to raw feature tables. ``latent(X)`` returns the activations of the latent layer,
which the distillation fits equations to.

A saved network is one PyTorch file holding only tensors and plain values (the state_dict, the
architecture as JSON text, feature names, metadata); it is read with ``weights_only=True``, so a
network file from someone else is data, never code.
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
FORMAT = "geneqn-network-2"
# A network file declares its sizes; they are checked against its tensors and these bounds before
# anything is allocated (a small file must not make geneqn allocate gigabytes).
MAX_FEATURES = 1_000_000
MAX_WIDTH = 65_536
MAX_PARAMETERS = 200_000_000


def activation(name: str):
    return _ACT[name]


def _one_thread(fn):
    """Run a network's inference with one torch thread, wherever it runs: the latents of a
    network differ in the last bits between 1 and 2 threads (measured on the demo's NAS|SR net),
    and symbolic regression on them would then depend on the machine's cores."""
    import functools

    @functools.wraps(fn)
    def inner(*args, **kwargs):
        from geneqn._torch import threads

        with threads(1):
            return fn(*args, **kwargs)

    return inner


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
    @_one_thread
    def predict(self, X: np.ndarray) -> np.ndarray:
        """Predictions for a raw feature matrix (eval mode), float64 (N,)."""
        was = self.training
        self.eval()
        y = self(torch.as_tensor(np.asarray(X), dtype=torch.float32)).double().numpy()
        self.train(was)
        return y

    @torch.no_grad()
    @_one_thread
    def latent(self, X: np.ndarray) -> np.ndarray:
        """Latent-layer activations (after its activation, no dropout), float64 (N, width)."""
        was = self.training
        self.eval()
        z = self.latent_torch(torch.as_tensor(np.asarray(X), dtype=torch.float32)).double().numpy()
        self.train(was)
        return z

    @_one_thread
    def sensitivity(self, X: np.ndarray) -> np.ndarray:
        """(latent width, n_features): mean |d latent_j / d feature_i| x sd of feature i over the
        rows of X, i.e. how much each latent unit moves with each feature."""
        was = self.training
        self.eval()
        x = torch.as_tensor(np.asarray(X), dtype=torch.float32).requires_grad_(True)
        z = self.latent_torch(x)
        rows = []
        for j in range(z.shape[1]):
            (g,) = torch.autograd.grad(z[:, j].sum(), x, retain_graph=j < z.shape[1] - 1)
            rows.append(g.abs().mean(0).double().numpy())
        self.train(was)
        return np.vstack(rows) * np.asarray(X, dtype=np.float64).std(axis=0)[None, :]

    @_one_thread
    def output_gradient(self, X: np.ndarray) -> np.ndarray:
        """(N, n_features): d prediction / d feature at each row of X (eval mode, raw units)."""
        was = self.training
        self.eval()
        x = torch.as_tensor(np.asarray(X), dtype=torch.float32).requires_grad_(True)
        (g,) = torch.autograd.grad(self(x).sum(), x)
        self.train(was)
        return g.double().numpy()

    @torch.no_grad()
    @_one_thread
    def head(self, Z: np.ndarray) -> np.ndarray:
        """Prediction from latent activations (the layers after the latent layer), eval mode."""
        h = torch.as_tensor(np.asarray(Z), dtype=torch.float32)
        for i in range(self.arch.latent_layer + 1, len(self.layers)):
            h = _ACT[self.arch.activations[i]](self.layers[i](h))
        return self.out(h).squeeze(-1).double().numpy()

    def save(self, path: str | Path, **meta) -> None:
        """Write the network (state_dict + architecture JSON + ``meta``: plain JSON values)."""
        import json

        from geneqn._io import atomic_path

        blob = {"format": FORMAT, "state_dict": {k: v.detach().cpu() for k, v in self.state_dict().items()},
                "architecture": self.arch.to_json(), "n_features": int(self.n_features),
                "meta": json.dumps(meta, default=str)}
        with atomic_path(path) as tmp:
            torch.save(blob, tmp)

    @classmethod
    def load(cls, path: str | Path) -> "BottleneckMLP":
        """Read a network written by :meth:`save` (as data: ``weights_only=True``)."""
        import json

        from geneqn._io import require_file
        from geneqn._torch import load_tensors

        p = require_file(path, "network file")
        obj = load_tensors(p, "a geneqn network", mmap=False)
        if not isinstance(obj, dict) or obj.get("format") != FORMAT:
            raise GeneqnError(f"{p} is not a geneqn network file (format {FORMAT}); networks saved by "
                              "geneqn before 0.2 must be retrained (they were pickles).")
        try:
            arch = Architecture.from_json(obj["architecture"])
            n_features = obj["n_features"]
            check_declared_shapes(n_features, arch, obj["state_dict"], str(p))
            net = cls(int(n_features), arch)
            net.load_state_dict(obj["state_dict"])
            meta = json.loads(obj.get("meta") or "{}")
        except (KeyError, TypeError, ValueError, RuntimeError, RecursionError) as e:
            raise GeneqnError(f"{p}: the network file is inconsistent ({str(e).splitlines()[0]}).") from None
        net.extra = meta if isinstance(meta, dict) else {}
        return net.eval()


def expected_shapes(n_features: int, arch: Architecture) -> dict[str, tuple[int, ...]]:
    """The state_dict shapes of a :class:`BottleneckMLP` of ``n_features`` inputs and ``arch``."""
    widths = (n_features,) + arch.widths
    shapes = {"mean": (n_features,), "scale": (n_features,)}
    for i, (a, b) in enumerate(zip(widths[:-1], widths[1:])):
        shapes[f"layers.{i}.weight"], shapes[f"layers.{i}.bias"] = (b, a), (b,)
    shapes["out.weight"], shapes["out.bias"] = (1, widths[-1]), (1,)
    return shapes


def check_declared_shapes(n_features, arch: Architecture, state_dict, where: str) -> None:
    """Refuse a network file whose declared sizes are absurd or do not match its tensors,
    before any allocation."""
    if isinstance(n_features, bool) or not isinstance(n_features, int) or not 1 <= n_features <= MAX_FEATURES:
        raise GeneqnError(f"{where}: the network file declares {n_features!r} input features; a geneqn network "
                          f"has 1 to {MAX_FEATURES:,}. The file is damaged or not a geneqn network: use the "
                          "networks/<cell type>.pt file of a geneqn run.")
    too_wide = [w for w in arch.widths if w > MAX_WIDTH]
    if too_wide:
        raise GeneqnError(f"{where}: the network file declares a layer of width {too_wide[0]:,}; geneqn layers "
                          f"have at most {MAX_WIDTH:,} units. The file is damaged or not a geneqn network.")
    shapes = expected_shapes(n_features, arch)
    n_params = sum(int(np.prod(s)) for s in shapes.values())
    if n_params > MAX_PARAMETERS:
        raise GeneqnError(f"{where}: the network file declares {n_params:,} parameters (more than "
                          f"{MAX_PARAMETERS:,}); it is damaged or not a geneqn network.")
    if not isinstance(state_dict, dict):
        raise GeneqnError(f"{where}: the network file holds no state_dict of tensors; it is damaged or not "
                          "a geneqn network.")
    missing = [k for k in shapes if k not in state_dict]
    extra = [str(k) for k in state_dict if k not in shapes]
    wrong = [f"{k} is {tuple(state_dict[k].shape) if isinstance(state_dict[k], torch.Tensor) else type(state_dict[k]).__name__}"
             f", not {shapes[k]}" for k in shapes if k in state_dict
             and not (isinstance(state_dict[k], torch.Tensor) and tuple(state_dict[k].shape) == shapes[k])]
    if missing or extra or wrong:
        parts = ([f"missing {', '.join(missing[:3])}"] if missing else []) + \
                ([f"unexpected {', '.join(extra[:3])}"] if extra else []) + wrong[:3]
        raise GeneqnError(f"{where}: the tensors of the network file do not match its declared architecture "
                          f"{arch} with {n_features} features ({'; '.join(parts)}). The file is damaged or was "
                          "edited; use the networks/<cell type>.pt file of a geneqn run, or retrain.")
