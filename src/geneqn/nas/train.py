"""Training networks of the model space: one at a time, or K at once as one batched model.

Both paths use Adam (lr 1e-3 by default), MSE loss, mini-batches in an order fixed by
``data_seed``, and early stopping on the valid loss with the best weights restored. A network
whose loss diverges or whose predictions are constant gets :data:`FLOOR_REWARD`, never NaN.

:class:`GroupTrainer` trains K candidates that share their layer widths as one model: each layer
is one batched matmul over (K, batch, width) tensors, per-slot activations are applied by slot
groups, and Adam runs on the stacked tensors with a step count per slot. A candidate that stops
early leaves its slot to the next candidate of the queue, so the group stays full. Validation
runs at the end of each pass over the training genes; a candidate that entered mid-pass has a
shorter first epoch.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Iterator

import numpy as np
import torch
import torch.nn.functional as F

from geneqn._reproducible import pinned_kernels
from geneqn.errors import GeneqnError
from geneqn.metrics import feature_scale, pearson_r
from geneqn.nas.network import BottleneckMLP, activation
from geneqn.nas.space import Architecture

FLOOR_REWARD = -1.0
"""Reward of a network that diverged or predicts a constant (the lowest Pearson r)."""

RETRAIN_SLOTS = 1
"""Slots of the groups that retrain architectures with several seeds (the hand-tuned NN, the
searched networks, :class:`BottleneckRegressor`): one, so that each seed is a group of its own and
the seeds train in parallel processes (on 2 cores the hand-tuned NN's 2 seeds had trained as one
batched group in one process, the other core idle). The networks do not depend on the number of
processes either way."""


@dataclass
class TrainData:
    """Train and valid arrays of one cell type; features raw (standardised inside the nets)."""

    X: np.ndarray
    y: np.ndarray
    X_valid: np.ndarray
    y_valid: np.ndarray
    require_valid_variation: bool = True
    """Refuse a valid split whose targets are constant (rewards are valid Pearson r)."""

    def __post_init__(self):
        for name in ("X", "y", "X_valid", "y_valid"):
            a = np.asarray(getattr(self, name), dtype=np.float64)
            if not np.isfinite(a).all():
                raise GeneqnError(f"training data: {name} holds NaN or infinite values; clean the "
                                  "feature table (or targets) first.")
        if len(self.y_valid) < 1 or (self.require_valid_variation and (len(self.y_valid) < 3 or np.std(self.y_valid) == 0)):
            raise GeneqnError(f"the valid split has {len(self.y_valid)} gene(s) with "
                              f"{'constant' if len(self.y_valid) >= 3 else 'too few'} targets: Pearson r "
                              "cannot be computed. Use more genes or a larger split.valid_fraction.")
        self.mean, self.scale = feature_scale(self.X)
        self.Xt = torch.as_tensor(self.X, dtype=torch.float32)
        self.yt = torch.as_tensor(self.y, dtype=torch.float32)
        self.Xv = torch.as_tensor(self.X_valid, dtype=torch.float32)
        self.yv = torch.as_tensor(self.y_valid, dtype=torch.float32)

    @property
    def n_features(self) -> int:
        return self.X.shape[1]

    @classmethod
    def from_dataset(cls, ds, cell_type: str) -> "TrainData":
        tr, va = ds.arrays(cell_type, "train"), ds.arrays(cell_type, "valid")
        return cls(tr.X, tr.y, va.X, va.y)


@dataclass
class TrainResult:
    valid_r: float
    valid_loss: float
    epochs: int
    diverged: bool = False
    history: list[float] = field(default_factory=list)

    @property
    def reward(self) -> float:
        return self.valid_r


def batch_order(n: int, batch_size: int, seed: int) -> Iterator[np.ndarray]:
    """Endless stream of mini-batch index arrays: a fresh permutation per pass."""
    rng = np.random.default_rng(seed)
    while True:
        perm = rng.permutation(n)
        for lo in range(0, n, batch_size):
            yield perm[lo:lo + batch_size]


def init_network(arch: Architecture, data: TrainData, seed: int) -> BottleneckMLP:
    """The network of ``arch`` with the initial weights that ``seed`` gives (both paths use it)."""
    torch.manual_seed(seed)
    return BottleneckMLP(data.n_features, arch, data.mean, data.scale)


def reward_of(net: BottleneckMLP, data: TrainData, diverged: bool) -> float:
    if diverged:
        return FLOOR_REWARD
    pred = net.predict(data.X_valid)
    if not np.isfinite(pred).all() or np.ptp(pred) < 1e-9:
        return FLOOR_REWARD
    return pearson_r(data.y_valid, pred)


def fit_network(arch: Architecture, data: TrainData, *, seed: int = 0, data_seed: int = 0,
                learning_rate: float = 1e-3, batch_size: int = 256, max_epochs: int = 200,
                patience: int = 10, l1_latent: float = 0.0, l1_input: float = 0.0) -> tuple[BottleneckMLP, TrainResult]:
    """Train one network with plain PyTorch (torch.optim.Adam); restore the best valid weights.

    ``l1_latent`` / ``l1_input``: L1 penalties on the latent activations (mean |z|) and on the
    first layer's weights (mean |W|), added to the MSE for training only."""
    net = init_network(arch, data, seed)
    opt = torch.optim.Adam(net.parameters(), lr=learning_rate)
    order = batch_order(len(data.y), batch_size, data_seed)
    steps = math.ceil(len(data.y) / batch_size)
    best, best_state, bad, history, diverged = math.inf, None, 0, [], False
    epoch = 0
    for epoch in range(1, max_epochs + 1):
        net.train()
        for _ in range(steps):
            idx = torch.from_numpy(next(order))
            loss = F.mse_loss(net(data.Xt[idx]), data.yt[idx])
            if l1_latent:
                loss = loss + l1_latent * net.latent_torch(data.Xt[idx]).abs().mean()
            if l1_input:
                loss = loss + l1_input * net.layers[0].weight.abs().mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
        net.eval()
        with torch.no_grad():
            vl = float(F.mse_loss(net(data.Xv), data.yv))
        history.append(vl)
        if not math.isfinite(vl):
            diverged = best_state is None
            break
        if vl < best:
            best, bad = vl, 0
            best_state = {k: v.clone() for k, v in net.state_dict().items()}
        else:
            bad += 1
            if bad >= patience:
                break
    if best_state is not None:
        net.load_state_dict(best_state)
    net.eval()
    return net, TrainResult(reward_of(net, data, diverged), best, epoch, diverged, history)


@dataclass
class Candidate:
    arch: Architecture
    seed: int
    tag: object = None


class GroupTrainer:
    """Train candidates that share layer widths, ``slots`` at a time, as one batched model."""

    def __init__(self, data: TrainData, *, slots: int = 8, data_seed: int = 0, learning_rate: float = 1e-3,
                 batch_size: int = 256, max_epochs: int = 200, patience: int = 10, l1_latent: float = 0.0,
                 l1_input: float = 0.0, on_epoch: Callable[[int], None] | None = None):
        self.data, self.slots, self.data_seed = data, slots, data_seed
        self.lr, self.batch_size, self.max_epochs, self.patience = learning_rate, batch_size, max_epochs, patience
        self.l1_latent, self.l1_input = l1_latent, l1_input
        self.on_epoch = on_epoch

    # -- the stacked parameters: per layer W (K, in, out) and b (K, 1, out); the output layer last
    def _stack(self, nets: list[BottleneckMLP]) -> None:
        linear = lambda n: list(n.layers) + [n.out]  # noqa: E731
        self.params = []
        for j in range(len(linear(nets[0]))):
            W = torch.stack([linear(n)[j].weight.detach().T.contiguous() for n in nets])
            b = torch.stack([linear(n)[j].bias.detach()[None, :] for n in nets])
            self.params += [W.requires_grad_(), b.requires_grad_()]
        self.m = [torch.zeros_like(p) for p in self.params]
        self.v = [torch.zeros_like(p) for p in self.params]
        self.t = torch.zeros(len(nets), 1, 1)
        self.best = [p.detach().clone() for p in self.params]

    def _write_slot(self, k: int, net: BottleneckMLP) -> None:
        linear = list(net.layers) + [net.out]
        with torch.no_grad():
            for j, layer in enumerate(linear):
                self.params[2 * j][k] = layer.weight.T
                self.params[2 * j + 1][k] = layer.bias[None, :]
            for s in (self.m, self.v):
                for p in s:
                    p[k].zero_()
            self.t[k] = 0

    def _keep(self, keep: list[int]) -> None:
        idx = torch.tensor(keep, dtype=torch.long)
        self.params = [p.detach().index_select(0, idx).requires_grad_() for p in self.params]
        self.m = [p.index_select(0, idx) for p in self.m]
        self.v = [p.index_select(0, idx) for p in self.v]
        self.best = [p.index_select(0, idx) for p in self.best]
        self.t = self.t.index_select(0, idx)

    def _forward(self, x: torch.Tensor, training: bool, keep_latent: bool = False):
        h = x.unsqueeze(0)  # (1, B, F) standardised features, broadcast over slots
        n_layers = len(self.params) // 2 - 1
        latent_at = self.current[0].arch.latent_layer
        latent = None
        masks = (self._dropout_masks(x.shape[0], [self.params[2 * j].shape[2] for j in range(n_layers)])
                 if training and self.dropout > 0 else None)
        for j in range(n_layers):
            h = torch.baddbmm(self.params[2 * j + 1], h.expand(self.params[2 * j].shape[0], -1, -1)
                              if h.shape[0] == 1 else h, self.params[2 * j])
            h = self._activate(h, j)
            if keep_latent and j == latent_at:
                latent = h
            if masks is not None:
                h = h * masks[j]
        out = torch.baddbmm(self.params[-1], h, self.params[-2]).squeeze(-1)  # (K, B)
        return (out, latent) if keep_latent else out

    def _dropout_masks(self, rows: int, widths: list[int]) -> list[torch.Tensor]:
        """Inverted dropout's masks of one step, (1, rows, width) for each layer: one shared by the
        slots (each network still sees an independent-looking Bernoulli mask per step, at 1/K of
        the random numbers). The bits are 16-bit integers from the group's own numpy generator,
        kept where below ``round(keep * 2**16)``: five times cheaper than torch's ``bernoulli_``,
        which took a sixth of a search's time, and integers, so the same on every machine.

        All layers' bits come from one draw: numpy draws 16-bit integers two to a 32-bit word and
        drops a call's unused half word, so a layer of an odd number of values is padded by one
        value that is skipped, and the masks are exactly those of one draw per layer (tested)."""
        keep = 1.0 - self.dropout
        sizes = [rows * w for w in widths]
        bits = self._mask_rng.integers(0, 1 << 16, size=sum(n + (n & 1) for n in sizes), dtype=np.uint16)
        kept = torch.from_numpy(bits < np.uint16(min(round(keep * (1 << 16)), (1 << 16) - 1)))
        scaled = kept.to(torch.float32).mul_(1.0 / keep)
        out, at = [], 0
        for n, w in zip(sizes, widths):
            out.append(scaled[at:at + n].view(1, rows, w))
            at += n + (n & 1)
        return out

    def _activate(self, h: torch.Tensor, j: int) -> torch.Tensor:
        acts = tuple(c.arch.activations[j] for c in self.current)
        if len(set(acts)) == 1:
            return activation(acts[0])(h)
        if acts not in self._groups:
            names = sorted(set(acts))
            idxs = [torch.tensor([k for k, a in enumerate(acts) if a == n]) for n in names]
            self._groups[acts] = (names, idxs, torch.argsort(torch.cat(idxs)))
        names, idxs, inverse = self._groups[acts]
        parts = [activation(n)(h.index_select(0, i)) for n, i in zip(names, idxs)]
        return torch.cat(parts).index_select(0, inverse)

    def _adam(self, grads: list[torch.Tensor]) -> None:
        """torch.optim.Adam's update (no weight decay, no amsgrad) with a step count per slot,
        as a few multi-tensor (foreach) operations over all stacked parameters."""
        b1, b2, eps = 0.9, 0.999, 1e-8
        with torch.no_grad():
            self.t += 1
            step_size = self.lr / (1 - b1 ** self.t)          # (K, 1, 1)
            sqrt_bc2 = (1 - b2 ** self.t).sqrt()              # (K, 1, 1)
            n = len(self.params)
            torch._foreach_lerp_(self.m, grads, 1 - b1)
            torch._foreach_mul_(self.v, b2)
            torch._foreach_addcmul_(self.v, grads, grads, value=1 - b2)
            denom = torch._foreach_sqrt(self.v)
            torch._foreach_div_(denom, [sqrt_bc2] * n)
            torch._foreach_add_(denom, eps)
            update = torch._foreach_div(self.m, denom)
            torch._foreach_mul_(update, [step_size] * n)
            torch._foreach_sub_(self.params, update)

    def _extract(self, k: int, arch: Architecture, params: list[torch.Tensor]) -> BottleneckMLP:
        net = BottleneckMLP(self.data.n_features, arch, self.data.mean, self.data.scale)
        with torch.no_grad():
            for j, layer in enumerate(list(net.layers) + [net.out]):
                layer.weight.copy_(params[2 * j][k].T)
                layer.bias.copy_(params[2 * j + 1][k][0])
        return net.eval()

    def run(self, candidates: Iterable[Candidate],
            on_done: Callable[[Candidate, BottleneckMLP, TrainResult], None]) -> None:
        """Train every candidate; call ``on_done(candidate, best_net, result)`` as each finishes."""
        queue = iter(candidates)
        self.current: list[Candidate] = []
        self._groups: dict[tuple, tuple] = {}
        for c in queue:
            self.current.append(c)
            if len(self.current) == self.slots:
                break
        if not self.current:
            return
        widths = self.current[0].arch.widths
        self.dropout = self.current[0].arch.dropout

        def check(c: Candidate) -> Candidate:
            if c.arch.widths != widths or c.arch.dropout != self.dropout:
                raise ValueError(f"GroupTrainer: candidate {c.arch} does not share widths {widths}")
            return c

        for c in self.current:
            check(c)
        self._stack([init_network(c.arch, self.data, c.seed) for c in self.current])
        self._mask_rng = np.random.default_rng([self.data_seed, *(int(c.seed) for c in self.current)])
        K = len(self.current)
        best_loss = [math.inf] * K
        bad, epochs, hist, ok = [0] * K, [0] * K, [[] for _ in range(K)], [False] * K
        order = batch_order(len(self.data.y), self.batch_size, self.data_seed)
        steps = math.ceil(len(self.data.y) / self.batch_size)
        mean = torch.as_tensor(self.data.mean, dtype=torch.float32)
        scale = torch.as_tensor(self.data.scale, dtype=torch.float32)
        Xs, Xvs = (self.data.Xt - mean) / scale, (self.data.Xv - mean) / scale
        while self.current:
            for _ in range(steps):
                idx = torch.from_numpy(next(order))
                if self.l1_latent:
                    pred, z = self._forward(Xs[idx], True, keep_latent=True)
                else:
                    pred = self._forward(Xs[idx], True)
                loss = ((pred - self.data.yt[idx]) ** 2).mean(dim=1).sum()
                if self.l1_latent:
                    loss = loss + self.l1_latent * z.abs().mean(dim=(1, 2)).sum()
                if self.l1_input:
                    loss = loss + self.l1_input * self.params[0].abs().mean(dim=(1, 2)).sum()
                grads = torch.autograd.grad(loss, self.params)
                self._adam(grads)
            with torch.no_grad():
                vpred = self._forward(Xvs, False)
                vloss = ((vpred - self.data.yv) ** 2).mean(dim=1).tolist()
            if self.on_epoch is not None:
                self.on_epoch(len(self.current))
            finished = []
            for k, vl in enumerate(vloss):
                epochs[k] += 1
                hist[k].append(vl)
                if not math.isfinite(vl):
                    finished.append(k)
                    continue
                if vl < best_loss[k]:
                    best_loss[k], bad[k], ok[k] = vl, 0, True
                    with torch.no_grad():
                        for b, p in zip(self.best, self.params):
                            b[k] = p[k]
                else:
                    bad[k] += 1
                if bad[k] >= self.patience or epochs[k] >= self.max_epochs:
                    finished.append(k)
            drop = []
            for k in finished:
                c = self.current[k]
                diverged = not ok[k]
                net = self._extract(k, c.arch, self.best if ok[k] else self.params)
                on_done(c, net, TrainResult(reward_of(net, self.data, diverged), best_loss[k], epochs[k],
                                            diverged, hist[k]))
                nxt = next(queue, None)
                if nxt is None:
                    drop.append(k)
                    continue
                self.current[k] = check(nxt)
                self._write_slot(k, init_network(nxt.arch, self.data, nxt.seed))
                best_loss[k], bad[k], epochs[k], hist[k], ok[k] = math.inf, 0, 0, [], False
            if drop:
                keep = [k for k in range(len(self.current)) if k not in drop]
                self.current = [self.current[k] for k in keep]
                best_loss = [best_loss[k] for k in keep]
                bad, epochs = [bad[k] for k in keep], [epochs[k] for k in keep]
                hist, ok = [hist[k] for k in keep], [ok[k] for k in keep]
                if keep:
                    self._keep(keep)


class TrainingMemo:
    """Networks trained before, kept in a folder and found again by everything that determines
    them, so that a run never trains the same group twice.

    A group's networks are a function of its members (architectures and initialisation seeds, in
    order), the number of slots, the batch order's seed, the training settings, the data (every
    value of the train and valid arrays), the torch version and its CPU kernel settings
    (:func:`geneqn._reproducible.pinned_kernels`): the key hashes all of them, so a
    group is reused only where training it again would give the same networks bit for bit (one
    torch thread, no nondeterministic kernel). In a run, the NAS|SR ablation's search asks the
    architectures and seeds that the NAS|NN search trained in its first round, and its retraining
    meets the NAS|NN retraining where their best architectures coincide. Files are written
    atomically and read as data (``weights_only``); one that cannot be read is trained again."""

    VERSION = 2

    def __init__(self, folder: str | Path):
        self.folder = Path(folder)

    def key(self, data: TrainData, members: list[tuple[Architecture, int]], slots: int, data_seed: int,
            train_kw: dict) -> str:
        import hashlib
        import json

        from geneqn._io import hash_arrays

        h = hashlib.sha256()
        settings = {k: v for k, v in sorted(train_kw.items()) if k not in ("n_jobs", "on_epoch")}
        h.update(json.dumps({"version": self.VERSION, "torch": torch.__version__, "kernels": pinned_kernels(),
                             "slots": min(slots, len(members)),
                             "data_seed": data_seed, "settings": settings,
                             "members": [[a.to_json(), int(s)] for a, s in members]}, sort_keys=True).encode())
        hash_arrays(h, data.X, data.y, data.X_valid, data.y_valid)
        return h.hexdigest()[:32]

    def _path(self, key: str, i: int) -> Path:
        return self.folder / key[:2] / f"{key}-{i}.pt"

    def get(self, key: str, n: int) -> list[tuple[BottleneckMLP, TrainResult]] | None:
        """The ``n`` networks and results of the group of ``key``, or None if any is missing."""
        out = []
        for i in range(n):
            p = self._path(key, i)
            if not p.exists():
                return None
            try:
                net = BottleneckMLP.load(p)
                r = net.extra.pop("result")
                del net.extra  # as a network fresh from training
                res = TrainResult(float(r["valid_r"]), float(r["valid_loss"]), int(r["epochs"]), bool(r["diverged"]),
                                  [float(v) for v in r["history"]])
            except (GeneqnError, KeyError, TypeError, ValueError):
                return None
            out.append((net, res))
        return out

    def put(self, key: str, group: list[tuple[BottleneckMLP, TrainResult]]) -> None:
        for i, (net, res) in enumerate(group):
            net.save(self._path(key, i), result={"valid_r": res.valid_r, "valid_loss": res.valid_loss,
                                                 "epochs": res.epochs, "diverged": res.diverged,
                                                 "history": list(res.history)})


def train_candidates(candidates: list[Candidate], data: TrainData, *, slots: int = 8, data_seed: int = 0,
                     n_jobs: int = 0, on_epoch: Callable[[int], None] | None = None,
                     memo: TrainingMemo | None = None,
                     **train_kw) -> list[tuple[Candidate, BottleneckMLP, TrainResult]]:
    """Train candidates of any shapes: grouped by layer widths into groups of at most ``slots``
    (in the candidates' order), each group batched.

    Groups train in up to ``n_jobs`` processes (0: one per core), each with one torch thread, as
    does a single process: tiny networks gain nothing from a second thread (two processes train
    1.9x faster than one process with two threads), and the results do not depend on how many
    processes ran. ``on_epoch(n)`` reports n candidate-epochs done: per epoch of a group trained in
    this process, per group trained in a worker or found in ``memo`` (:class:`TrainingMemo`:
    groups trained before with exactly these inputs are not trained again)."""
    from geneqn._parallel import n_workers, parallel_map
    from geneqn._torch import threads

    shapes: dict[tuple, list[int]] = {}
    for i, c in enumerate(candidates):
        shapes.setdefault((c.arch.widths, c.arch.dropout), []).append(i)
    groups: dict[tuple, list[int]] = {(*shape, lo): idx[lo:lo + slots]
                                      for shape, idx in shapes.items() for lo in range(0, len(idx), max(1, slots))}
    results: dict[int, tuple] = {}
    keys: dict[tuple, str] = {}
    if memo is not None:
        for g, idx in list(groups.items()):
            keys[g] = memo.key(data, [(candidates[i].arch, candidates[i].seed) for i in idx], slots, data_seed,
                               train_kw)
            kept = memo.get(keys[g], len(idx))
            if kept is not None:
                for i, (net, res) in zip(idx, kept):
                    results[i] = (candidates[i], net, res)
                if on_epoch is not None:
                    on_epoch(sum(res.epochs for _, res in kept))
                del groups[g]

    def remember(g, idx) -> None:
        if memo is not None:
            memo.put(keys[g], [results[i][1:] for i in idx])

    if n_workers(n_jobs) == 1 or len(groups) <= 1:
        with threads(1):
            for g, idx in groups.items():
                GroupTrainer(data, slots=slots, data_seed=data_seed, on_epoch=on_epoch, **train_kw).run(
                    [Candidate(candidates[i].arch, candidates[i].seed, i) for i in idx],
                    lambda c, n, r: results.__setitem__(c.tag, (candidates[c.tag], n, r)))
                remember(g, idx)
        return [results[i] for i in range(len(candidates))]
    # the costliest groups first (multiply-adds per gene x members), so that no large group is
    # left to train alone at the end while the other processes idle; results go back by index
    order = sorted(groups, key=lambda g: -_group_cost(data.n_features, g[0], len(groups[g])))
    jobs = [(data, [(i, candidates[i].arch, candidates[i].seed) for i in groups[g]], slots, data_seed, train_kw)
            for g in order]

    def done(j, group_results):
        for i, net, res in group_results:
            results[i] = (candidates[i], net, res)
        remember(order[j], groups[order[j]])
        if on_epoch is not None:
            on_epoch(sum(res.epochs for _, _, res in group_results))

    parallel_map(_train_group, jobs, n_jobs, description=None, on_result=done)
    return [results[i] for i in range(len(candidates))]


def _group_cost(n_features: int, widths: tuple[int, ...], members: int) -> int:
    """Multiply-adds per gene of a group's forward pass: ``members`` networks of these layer
    widths on ``n_features`` inputs (what a step's matrix products cost, up to a constant)."""
    sizes = (n_features, *widths, 1)
    return members * sum(a * b for a, b in zip(sizes, sizes[1:]))


def _train_group(job) -> list[tuple[int, BottleneckMLP, TrainResult]]:
    """One group, in a worker process, with one torch thread."""
    data, members, slots, data_seed, train_kw = job
    torch.set_num_threads(1)
    out: list = []
    GroupTrainer(data, slots=slots, data_seed=data_seed, **train_kw).run(
        [Candidate(arch, seed, i) for i, arch, seed in members], lambda c, n, r: out.append((c.tag, n, r)))
    return out


def train_best(candidates: list[Candidate], data: TrainData, *, slots: int, data_seed: int = 0,
               memo: TrainingMemo | None = None, **train_kw) -> tuple[int, list]:
    """Train every candidate (architectures x seeds, in batched groups of ``slots``) and pick the
    best by valid r, the first of equals: ``(index of the best, [(candidate, network, result)])``.
    With ``slots=1`` (:data:`RETRAIN_SLOTS`, what the run and :class:`BottleneckRegressor` use)
    every seed trains alone, so the seeds spread over the processes.
    The one "best of several seeds" of geneqn: the run's nn/nas/nas_sr stages and
    :meth:`BottleneckRegressor.fit` both train through it."""
    done = train_candidates(candidates, data, slots=slots, data_seed=data_seed, memo=memo, **train_kw)
    return max(range(len(done)), key=lambda i: (done[i][2].valid_r, -i)), done
