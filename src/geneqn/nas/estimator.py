"""The bottleneck network as a scikit-learn estimator.

>>> from geneqn import BottleneckRegressor                                   # doctest: +SKIP
>>> net = BottleneckRegressor("128-relu|64-relu|32-relu|[4-tanh]|32-relu|64-relu|128-relu")
>>> net.fit(X_train, y_train, X_valid, y_valid).predict(X_test)              # doctest: +SKIP
>>> net.latent(X_test).shape                                                 # (n, 4)

Training is the paper's: Adam (lr 1e-3), MSE, mini-batches; early stopping on the valid loss
with the best weights restored. With ``n_seeds > 1`` the network is trained once per seed (each
seed alone, in ``n_jobs`` processes) and the best by valid Pearson r is kept. Without ``X_valid`` a seeded
``validation_fraction`` of the training rows is held out.
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.utils.validation import check_is_fitted, validate_data

from geneqn import progress
from geneqn.errors import GeneqnError
from geneqn.nas.space import Architecture, LayerChoice, parse_architecture

DEFAULT_ARCHITECTURE = "128-relu|64-relu|32-relu|[4-tanh]|32-relu|64-relu|128-relu"


def architecture_of(spec, dropout: float = 0.1) -> Architecture:
    """An :class:`Architecture` from its text (``"64-relu|[4-tanh]|64-relu"``: the latent layer
    in brackets), a list of layer options plus ``latent_layer`` 3, or an Architecture."""
    if isinstance(spec, Architecture):
        return spec
    if isinstance(spec, str):
        parts = [p.strip() for p in spec.split("|")]
        latent = [i for i, p in enumerate(parts) if p.startswith("[") and p.endswith("]")]
        if len(latent) != 1:
            raise ValueError(f"architecture {spec!r}: mark exactly one layer as the latent layer with "
                             "brackets, e.g. 64-relu|[4-tanh]|64-relu")
        layers = [p.strip("[]") for p in parts]
        try:
            return parse_architecture(layers, latent[0], dropout)
        except GeneqnError as e:
            raise ValueError(str(e)) from None
    if isinstance(spec, (list, tuple)) and all(isinstance(x, (str, LayerChoice)) for x in spec):
        try:
            return parse_architecture([str(x) for x in spec], 3 if len(spec) > 3 else len(spec) // 2, dropout)
        except GeneqnError as e:
            raise ValueError(str(e)) from None
    raise ValueError(f"architecture must be text like {DEFAULT_ARCHITECTURE!r}, a list of layers or an "
                     f"Architecture, got {spec!r}")


class BottleneckRegressor(RegressorMixin, BaseEstimator):
    """A dense network with a bottleneck (latent) layer, whose latent units the distillation
    turns into equations.

    Parameters
    ----------
    architecture : text such as ``"128-relu|64-relu|32-relu|[4-tanh]|32-relu|64-relu|128-relu"``
        (WIDTH-ACTIVATION per layer; brackets mark the latent layer), a list, or an Architecture.
    dropout, learning_rate, batch_size, max_epochs, patience : training (the paper's defaults).
    n_seeds : train this many seeded copies, keep the best by valid r.
    validation_fraction : held out of the training rows when ``fit`` gets no valid set.
    l1_latent, l1_input : L1 penalties (latent activations; first-layer weights) for networks
        that distil into shorter equations (Cranmer et al. 2020); 0: the paper's plain MSE.
    n_jobs : processes training the seeded copies (0: one per core); results do not depend on it.
    random_state : seed of the initial weights, batch order and internal split.
    """

    def __init__(self, architecture=DEFAULT_ARCHITECTURE, dropout: float = 0.1, learning_rate: float = 1e-3,
                 batch_size: int = 256, max_epochs: int = 200, patience: int = 10, n_seeds: int = 1,
                 validation_fraction: float = 0.1, l1_latent: float = 0.0, l1_input: float = 0.0,
                 n_jobs: int = 1, random_state: int = 0):
        self.architecture = architecture
        self.dropout = dropout
        self.learning_rate = learning_rate
        self.batch_size = batch_size
        self.max_epochs = max_epochs
        self.patience = patience
        self.n_seeds = n_seeds
        self.validation_fraction = validation_fraction
        self.l1_latent = l1_latent
        self.l1_input = l1_input
        self.n_jobs = n_jobs
        self.random_state = random_state

    def _check_params(self) -> Architecture:
        for name in ("batch_size", "max_epochs", "patience", "n_seeds"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
                raise ValueError(f"{name} must be a positive integer, got {v!r}")
        if not (isinstance(self.learning_rate, (int, float)) and 0 < self.learning_rate <= 1):
            raise ValueError(f"learning_rate must lie in (0, 1], got {self.learning_rate!r}")
        if not 0 <= self.dropout < 1:
            raise ValueError(f"dropout must lie in [0, 1), got {self.dropout!r}")
        if not 0 < self.validation_fraction < 1:
            raise ValueError(f"validation_fraction must lie in (0, 1), got {self.validation_fraction!r}")
        if self.l1_latent < 0 or self.l1_input < 0:
            raise ValueError("l1_latent and l1_input must be >= 0")
        return architecture_of(self.architecture, self.dropout)

    def train_kwargs(self) -> dict:
        return {"learning_rate": self.learning_rate, "batch_size": self.batch_size, "max_epochs": self.max_epochs,
                "patience": self.patience, "l1_latent": self.l1_latent, "l1_input": self.l1_input}

    def fit(self, X, y, X_valid=None, y_valid=None) -> "BottleneckRegressor":
        """Train on (X, y); stop early on (X_valid, y_valid) (default: a held-out seeded
        ``validation_fraction``; inside a Pipeline give no X_valid, it would bypass the
        transformers and is refused)."""
        from geneqn.baselines import refuse_valid_through_pipeline

        refuse_valid_through_pipeline(self, X_valid)
        from geneqn.nas.train import FLOOR_REWARD, RETRAIN_SLOTS, Candidate, TrainData, train_best

        arch = self._check_params()
        X, y = validate_data(self, X, y, y_numeric=True, dtype=np.float64)
        if (X_valid is None) != (y_valid is None):
            raise ValueError("give both X_valid and y_valid, or neither")
        if X_valid is None:
            rng = np.random.default_rng(self.random_state)
            order = rng.permutation(len(y))
            n_valid = max(3, int(round(len(y) * self.validation_fraction)))
            if len(y) - n_valid < 2:
                raise ValueError(f"too few samples (n_samples = {len(y)}) to hold out a validation set")
            valid, train = order[:n_valid], order[n_valid:]
            X, y, X_valid, y_valid = X[train], y[train], X[valid], y[valid]
        else:
            X_valid = validate_data(self, X_valid, reset=False, dtype=np.float64)
            y_valid = np.asarray(y_valid, dtype=np.float64).ravel()
            if len(y_valid) != len(X_valid):
                raise ValueError(f"X_valid has {len(X_valid)} rows but y_valid {len(y_valid)}")
        try:
            data = TrainData(X, y, X_valid, y_valid, require_valid_variation=False)
        except GeneqnError as e:
            raise ValueError(str(e)) from None
        seeds = [int(self.random_state) + 10_000 + i for i in range(self.n_seeds)]
        total = self.max_epochs * len(seeds)
        with progress.task(f"train {arch}", total=total) as bar:
            best, done = train_best([Candidate(arch, s) for s in seeds], data, slots=RETRAIN_SLOTS,
                                    data_seed=int(self.random_state), on_epoch=bar.advance, n_jobs=self.n_jobs,
                                    **self.train_kwargs())
        _, net, result = done[best]
        if result.diverged or result.valid_r <= FLOOR_REWARD or not math.isfinite(result.valid_loss):
            raise GeneqnError(f"training of {arch} diverged or predicts a constant (valid loss "
                              f"{result.valid_loss:.3g}); lower the learning rate (train.learning_rate, "
                              f"now {self.learning_rate}) or check the features for extreme values.")
        self.architecture_ = arch
        self.network_ = net
        self.valid_r_ = float(result.valid_r)
        self.valid_r_per_seed_ = [float(r.valid_r) for _, _, r in done]
        self.epochs_ = int(result.epochs)
        self.history_ = list(result.history)
        return self

    def predict(self, X) -> np.ndarray:
        check_is_fitted(self, "network_")
        X = validate_data(self, X, reset=False, dtype=np.float64)
        return self.network_.predict(X)

    def latent(self, X) -> np.ndarray:
        """Latent-layer activations, shape (n, latent width)."""
        check_is_fitted(self, "network_")
        X = validate_data(self, X, reset=False, dtype=np.float64)
        return self.network_.latent(X)

    def sensitivity(self, X) -> np.ndarray:
        """(latent width, n_features): how much each latent unit moves with each feature
        (mean |gradient| x the feature's sd over X)."""
        check_is_fitted(self, "network_")
        X = validate_data(self, X, reset=False, dtype=np.float64)
        return self.network_.sensitivity(X)

    def output_gradient(self, X) -> np.ndarray:
        """(n, n_features): the gradient of the prediction with respect to each feature, per row."""
        check_is_fitted(self, "network_")
        X = validate_data(self, X, reset=False, dtype=np.float64)
        return self.network_.output_gradient(X)

    @classmethod
    def from_network(cls, network, feature_names: Sequence[str] | None = None) -> "BottleneckRegressor":
        """A fitted estimator around a loaded :class:`~geneqn.nas.network.BottleneckMLP`."""
        est = cls(architecture=network.arch, dropout=network.arch.dropout)
        est.architecture_ = network.arch
        est.network_ = network
        est.n_features_in_ = network.n_features
        if feature_names is not None:
            est.feature_names_in_ = np.asarray(list(feature_names), dtype=object)
        est.valid_r_ = float("nan")
        return est

    def save(self, path, **meta) -> None:
        """Write the fitted network (state_dict + architecture; read back as data)."""
        check_is_fitted(self, "network_")
        names = list(getattr(self, "feature_names_in_", []))
        self.network_.save(path, feature_names=[str(n) for n in names], **meta)

    @classmethod
    def load(cls, path) -> "BottleneckRegressor":
        from geneqn.nas.network import BottleneckMLP

        net = BottleneckMLP.load(path)
        names = net.extra.get("feature_names") or None
        return cls.from_network(net, names)
