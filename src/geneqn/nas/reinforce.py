"""The paper's search strategy: an LSTM controller trained by REINFORCE (AMBER/ENAS style),
written as an Optuna sampler so that it runs in the same ask/tell study as TPE and random.

The controller emits the 7 layer decisions in order; each step's logits are squashed as
``tanh_constant * tanh(logits / temperature)``, which bounds every option's probability away
from 1 so the search cannot collapse onto one architecture early. Rewards (valid Pearson r)
are compared with a moving-average baseline; the loss is ``-(R - b) log p(arch) - w H``, with an
entropy bonus ``w``. The first ``warmup`` episodes only feed the baseline: the policy stays at
its near-uniform start while the baseline learns the scale of the rewards.

The controller state is never stored: before each sample, the sampler replays every finished
trial of the study it has not seen yet, in (round, slot) order (trial number for trials of a
shared study). A resumed search, or any worker of a shared study, thus arrives at the same
controller; ``sample_seed`` seeds the draws of one round.
"""

from __future__ import annotations

import math

import numpy as np
import optuna
import torch
from optuna.distributions import CategoricalDistribution
from optuna.trial import TrialState
from torch import nn


class Controller(nn.Module):
    def __init__(self, n_options: list[int], hidden: int = 32, temperature: float = 1.5,
                 tanh_constant: float = 1.5, seed: int = 0):
        super().__init__()
        self.n_options, self.temperature, self.tanh_constant = list(n_options), temperature, tanh_constant
        with torch.random.fork_rng():
            torch.manual_seed(seed)
            self.start = nn.Parameter(torch.zeros(1, hidden))
            self.cell = nn.LSTMCell(hidden, hidden)
            self.embed = nn.ModuleList(nn.Embedding(n, hidden) for n in n_options)
            self.heads = nn.ModuleList(nn.Linear(hidden, n) for n in n_options)
        self.generator = torch.Generator().manual_seed(seed + 1)

    def _logits(self, h: torch.Tensor, i: int) -> torch.Tensor:
        return self.tanh_constant * torch.tanh(self.heads[i](h) / self.temperature)

    def _walk(self, picks: list[int] | None):
        """Run the LSTM over the decisions; sample where ``picks`` is None."""
        h = c = torch.zeros_like(self.start)
        x = self.start
        chosen, log_p, entropy, probs = [], torch.zeros(()), torch.zeros(()), []
        for i in range(len(self.n_options)):
            h, c = self.cell(x, (h, c))
            logp = torch.log_softmax(self._logits(h, i), dim=-1)[0]
            p = logp.exp()
            probs.append(p.detach())
            k = int(torch.multinomial(p.detach(), 1, generator=self.generator)) if picks is None else picks[i]
            chosen.append(k)
            log_p = log_p + logp[k]
            entropy = entropy - (p * logp).sum()
            x = self.embed[i](torch.tensor([k]))
        return chosen, log_p, entropy, probs

    @torch.no_grad()
    def sample(self) -> list[int]:
        return self._walk(None)[0]

    @torch.no_grad()
    def probabilities(self, picks: list[int] | None = None) -> list[np.ndarray]:
        """Per-layer option probabilities along ``picks`` (or along a fresh sample)."""
        state = self.generator.get_state()
        probs = self._walk(picks)[3]
        self.generator.set_state(state)
        return [p.numpy() for p in probs]


class Reinforce:
    """REINFORCE with a moving-average baseline, warm-up and entropy bonus."""

    def __init__(self, n_options: list[int], *, seed: int = 0, learning_rate: float = 0.01,
                 baseline_decay: float = 0.9, warmup: int = 10, entropy_weight: float = 0.01,
                 temperature: float = 1.5, tanh_constant: float = 1.5, hidden: int = 32):
        self.controller = Controller(n_options, hidden, temperature, tanh_constant, seed)
        self.optimizer = torch.optim.Adam(self.controller.parameters(), lr=learning_rate)
        self.baseline: float | None = None
        self.decay, self.warmup, self.entropy_weight = baseline_decay, warmup, entropy_weight
        self.episodes = 0

    def sample(self) -> list[int]:
        return self.controller.sample()

    def update(self, picks: list[int], reward: float) -> None:
        self.episodes += 1
        if self.baseline is None:
            self.baseline = reward
        advantage = reward - self.baseline
        self.baseline = self.decay * self.baseline + (1 - self.decay) * reward
        if self.episodes <= self.warmup:
            return
        _, log_p, entropy, _ = self.controller._walk(picks)
        loss = -advantage * log_p - self.entropy_weight * entropy
        self.optimizer.zero_grad()
        loss.backward()
        self.optimizer.step()


class ReinforceSampler(optuna.samplers.BaseSampler):
    """Optuna sampler driven by :class:`Reinforce` over categorical parameters ``layer0..``."""

    def __init__(self, choices: dict[str, list[str]], seed: int = 0, sample_seed: int | None = None, **kw):
        self.names = list(choices)
        self.choices = choices
        self.agent = Reinforce([len(choices[n]) for n in self.names], seed=seed, **kw)
        if sample_seed is not None:
            self.agent.controller.generator.manual_seed(sample_seed + 1)
        self._seen: set[int] = set()
        self._fallback = optuna.samplers.RandomSampler(seed=seed)

    def infer_relative_search_space(self, study, trial):
        return {n: CategoricalDistribution(self.choices[n]) for n in self.names}

    def _sync(self, study) -> None:
        done = [t for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
                if t.number not in self._seen and all(n in t.params for n in self.names)]
        def order(t):
            return (t.user_attrs.get("round", t.number), t.user_attrs.get("slot", 0), t.number)

        for t in sorted(done, key=order):
            picks = [self.choices[n].index(t.params[n]) for n in self.names]
            value = t.value if t.value is not None and math.isfinite(t.value) else -1.0
            self.agent.update(picks, value)
            self._seen.add(t.number)

    def sample_relative(self, study, trial, search_space):
        if not search_space:
            return {}
        self._sync(study)
        picks = self.agent.sample()
        return {n: self.choices[n][k] for n, k in zip(self.names, picks)}

    def sample_independent(self, study, trial, param_name, param_distribution):
        return self._fallback.sample_independent(study, trial, param_name, param_distribution)
