"""The bottleneck model space, declared as data.

A space is 7 layers (3 dense, 1 latent, 3 dense, by default), each with a list of options; an
option is a (width, activation) pair such as ``64-relu``. Every layer is a fully connected layer
followed by its activation and dropout; a linear output unit follows the last layer.

Default space (170,859,375 = 15^7 architectures, the size of the paper's):

* dense layers: widths {16, 32, 64, 128, 256} x activations {ReLU, tanh, GELU} = 15 options;
* latent layer: widths {2, 3, 4, 6, 8} x activations {ReLU, tanh, sigmoid} = 15 options, so the
  bottleneck keeps at most 8 units (one symbolic regression each) and sigmoid stays reachable.

Users declare another space in the config (``[search]``: the width and activation lists, or
``layers`` with 7 explicit option lists).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Iterable, Sequence

from geneqn.errors import GeneqnError

ACTIVATIONS = ("relu", "tanh", "gelu", "sigmoid")


@dataclass(frozen=True, order=True)
class LayerChoice:
    width: int
    activation: str

    def __str__(self) -> str:
        return f"{self.width}-{self.activation}"

    @classmethod
    def parse(cls, text: str, where: str = "") -> "LayerChoice":
        try:
            w, a = str(text).split("-", 1)
            width = int(w)
        except ValueError:
            raise GeneqnError(f"{where}layer option {text!r} is not WIDTH-ACTIVATION (e.g. 64-relu).") from None
        if width <= 0:
            raise GeneqnError(f"{where}layer option {text!r}: width must be positive.")
        if a not in ACTIVATIONS:
            raise GeneqnError(f"{where}layer option {text!r}: activation must be one of {', '.join(ACTIVATIONS)}.")
        return cls(width, a)


@dataclass(frozen=True)
class Architecture:
    """One network of the space: its layers, which one is the latent layer, and dropout.

    Hashable and serialisable (``to_json`` / ``from_json``); ``str`` gives e.g.
    ``64-relu|32-tanh|16-gelu|[4-tanh]|16-relu|32-relu|64-gelu``.
    """

    layers: tuple[LayerChoice, ...]
    latent_layer: int = 3
    dropout: float = 0.1

    def __post_init__(self):
        if not 0 <= self.latent_layer < len(self.layers):
            raise GeneqnError(f"latent layer index {self.latent_layer} is outside the {len(self.layers)} layers.")

    @property
    def widths(self) -> tuple[int, ...]:
        return tuple(layer.width for layer in self.layers)

    @property
    def activations(self) -> tuple[str, ...]:
        return tuple(layer.activation for layer in self.layers)

    @property
    def latent_width(self) -> int:
        return self.layers[self.latent_layer].width

    def __str__(self) -> str:
        return "|".join(f"[{l}]" if i == self.latent_layer else str(l) for i, l in enumerate(self.layers))

    def to_dict(self) -> dict:
        return {"layers": [str(l) for l in self.layers], "latent_layer": self.latent_layer,
                "dropout": self.dropout}

    def to_json(self) -> str:
        return json.dumps(self.to_dict())

    @classmethod
    def from_dict(cls, d: dict) -> "Architecture":
        return parse_architecture(d["layers"], d.get("latent_layer", 3), d.get("dropout", 0.1))

    @classmethod
    def from_json(cls, text: str) -> "Architecture":
        return cls.from_dict(json.loads(text))


def parse_architecture(layers: Sequence[str], latent_layer: int = 3, dropout: float = 0.1) -> Architecture:
    if not layers:
        raise GeneqnError("an architecture needs at least one layer.")
    return Architecture(tuple(LayerChoice.parse(l, f"layer {i}: ") for i, l in enumerate(layers)),
                        latent_layer, dropout)


@dataclass(frozen=True)
class ModelSpace:
    """Layers x options. ``size`` is the number of architectures."""

    layers: tuple[tuple[LayerChoice, ...], ...]
    latent_layer: int = 3
    dropout: float = 0.1

    def __post_init__(self):
        if not self.layers:
            raise GeneqnError("the model space has no layer.")
        for i, options in enumerate(self.layers):
            if not options:
                raise GeneqnError(f"layer {i} of the model space has no option; give it at least one.")
            if len(set(options)) != len(options):
                raise GeneqnError(f"layer {i} of the model space lists an option twice.")
        if not 0 <= self.latent_layer < len(self.layers):
            raise GeneqnError(f"latent_layer = {self.latent_layer} is outside the {len(self.layers)} layers.")

    @property
    def size(self) -> int:
        return math.prod(len(o) for o in self.layers)

    def param_names(self) -> list[str]:
        return [f"layer{i}" for i in range(len(self.layers))]

    def choices(self, i: int) -> list[str]:
        return [str(o) for o in self.layers[i]]

    def architecture(self, picks: Iterable[int | str]) -> Architecture:
        """Architecture from one pick per layer (option index or option text)."""
        picks = list(picks)
        if len(picks) != len(self.layers):
            raise GeneqnError(f"an architecture of this space needs {len(self.layers)} picks, got {len(picks)}.")
        chosen = []
        for i, p in enumerate(picks):
            option = self.layers[i][p] if isinstance(p, int) else LayerChoice.parse(p)
            if option not in self.layers[i]:
                raise GeneqnError(f"{option} is not an option of layer {i}.")
            chosen.append(option)
        return Architecture(tuple(chosen), self.latent_layer, self.dropout)

    def signature(self) -> str:
        """A stable text naming the space (stored with a study to refuse a different space)."""
        return json.dumps({"layers": [self.choices(i) for i in range(len(self.layers))],
                           "latent_layer": self.latent_layer, "dropout": self.dropout})


def space_from_config(search) -> ModelSpace:
    """The space of a ``[search]`` config section."""
    if search.layers:
        layers = tuple(tuple(LayerChoice.parse(o, f"search.layers[{i}]: ") for o in opts)
                       for i, opts in enumerate(search.layers))
        return ModelSpace(layers, search.latent_layer, search.dropout)
    for key in ("dense_widths", "latent_widths"):
        for w in getattr(search, key):
            if w <= 0:
                raise GeneqnError(f"config: search.{key} holds {w}; widths must be positive.")
    for key in ("dense_activations", "latent_activations"):
        for a in getattr(search, key):
            if a not in ACTIVATIONS:
                raise GeneqnError(f"config: search.{key} holds {a!r}; activations: {', '.join(ACTIVATIONS)}.")
    dense = tuple(LayerChoice(w, a) for w in search.dense_widths for a in search.dense_activations)
    latent = tuple(LayerChoice(w, a) for w in search.latent_widths for a in search.latent_activations)
    n = 7
    layers = tuple(latent if i == search.latent_layer else dense for i in range(n))
    return ModelSpace(layers, search.latent_layer, search.dropout)
