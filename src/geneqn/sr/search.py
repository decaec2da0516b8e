"""geneqn's own symbolic-regression search, over exactly the space that PySR's complexity counts.

The engine evolves expression trees (:mod:`geneqn.sr.expr` tokens; constants are explicit
leaves, variables carry no hidden weight), so the length of a tree *is* its PySR complexity and
the complexity limit describes the space searched. It follows PySR's regularized evolution
(Cranmer 2023, SymbolicRegression.jl):

* several populations ("islands"); each evolution event takes the winner of a tournament
  (scores penalised by how common the winner's complexity is: adaptive parsimony), mutates it
  (PySR's mutation kinds and default weights) or crosses it with another winner, and the child
  replaces the population's oldest member, accepted by simulated annealing;
* constants are tuned by Levenberg-Marquardt with exact derivatives on a fraction of the
  members after every cycle; a hall of fame keeps the best tree of every complexity and seeds
  migration.

Two additions make a high-dimensional search (40 features) practical:

* **linear scaling** (Keijzer 2003): every tree ``f`` is scored as ``a*f + b`` with ``a, b``
  from least squares, so fitness is ``1 - r^2``; the scale and offset are counted (``+4``, fewer
  when they are not needed) when the final equation is written;
* **residual-guided leaves**: when a mutation adds or changes a variable, half of the time the
  variable is drawn with probability proportional to its squared correlation with the parent's
  residual (a greedy, boosting-like move), else from the prior.

Budgets are in evaluations (a tree evaluated on the data; a Levenberg-Marquardt step counts
one), never in seconds, so a seed gives the same equations on any machine.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from geneqn.sr.expr import (ADD, ARITY, CONST, MUL, NEG, SUB, VAR, evaluate_raw,
                            evaluate_with_gradient, simplify_tokens, subtree_end)

MUTATIONS = ("constant", "operator", "swap", "add", "insert", "delete", "randomize", "nothing", "variable")
# PySR's default weights (weight_mutate_constant, weight_mutate_operator, weight_swap_operands,
# weight_add_node, weight_insert_node, weight_delete_node, weight_randomize, weight_do_nothing);
# "variable" (one variable swapped for another) is ours.
MUTATION_WEIGHTS = (0.048, 0.47, 0.1, 0.79, 5.1, 1.7, 0.00023, 0.21, 0.3)


@dataclass(frozen=True)
class SearchSettings:
    """Knobs of one search (one seeded restart). Defaults follow PySR where it has one."""

    max_size: int = 16
    """Largest tree searched (the complexity limit less the scale and offset terms)."""
    populations: int = 8
    population_size: int = 33
    tournament_size: int = 12
    tournament_p: float = 0.86
    crossover_probability: float = 0.066
    parsimony_scaling: float = 20.0
    annealing_alpha: float = 0.1
    cycles_per_iteration: int = 100
    optimize_probability: float = 0.14
    optimizer_iterations: int = 8
    guided_probability: float = 0.5
    migration_probability: float = 0.05


def _cumulative(weights) -> np.ndarray:
    w = np.asarray(weights, dtype=np.float64)
    return np.cumsum(w / w.sum())


def _draw(rng: np.random.Generator, cumulative: np.ndarray) -> int:
    return min(int(np.searchsorted(cumulative, rng.random(), side="right")), len(cumulative) - 1)


class Search:
    """One seeded run of the evolution on (X, y); :meth:`run` returns the hall of fame.

    X: (n, d) float64, y: (n,) float64; ``operators`` are op codes; ``prior`` a weight per
    feature for drawing variables (None: uniform).
    """

    def __init__(self, X: np.ndarray, y: np.ndarray, operators, settings: SearchSettings,
                 seed: int = 0, prior=None):
        X = np.asarray(X, dtype=np.float64)
        y = np.asarray(y, dtype=np.float64)
        self.n, self.d = X.shape
        self.columns = [np.ascontiguousarray(X[:, j]) for j in range(self.d)]
        self.y = y
        self.yc = y - y.mean()
        self.yss = float(self.yc @ self.yc)
        Xc = X - X.mean(axis=0)
        self.Xc_T = np.ascontiguousarray(Xc.T)
        self.X_T = np.ascontiguousarray(X.T)
        self.X2_T = self.X_T * self.X_T
        self.x_norm = np.sqrt((Xc * Xc).sum(axis=0)) + 1e-300
        self.s = settings
        self.binary = [o for o in operators if ARITY[o] == 2]
        self.unary = [o for o in operators if ARITY[o] == 1]
        if not self.binary:
            raise ValueError("symbolic regression needs at least one binary operator (+, - or *)")
        self.p_unary = len(self.unary) / (len(self.unary) + len(self.binary))
        self.rng = np.random.default_rng(seed)
        self.prior = _cumulative(np.ones(self.d) if prior is None else np.maximum(prior, 0) + 1e-12)
        self.mutation_cum = _cumulative(MUTATION_WEIGHTS)
        self.guide = None
        self._pending = None
        self.evaluations = 0
        self.hall: dict[int, tuple[float, tuple]] = {}
        self.frequency = np.ones(settings.max_size + 2)

    # ------------------------------------------------------------------ fitness
    def loss(self, tokens) -> float:
        """1 - r^2 of the best affine map a*f + b (inf for invalid trees)."""
        return self.score(tokens)[0]

    def score(self, tokens):
        """(loss, centred f or None) of a tree."""
        self.evaluations += 1
        f = evaluate_raw(tokens, self.columns)
        if np.ndim(f) == 0:
            return 1.0, None
        fc = f - f.sum() / self.n
        ss = float(fc @ fc)
        if not math.isfinite(ss):
            return math.inf, None
        if ss <= 1e-20 * self.n or self.yss == 0:
            return 1.0, None
        r = float(fc @ self.yc) / math.sqrt(ss * self.yss)
        return max(0.0, 1.0 - r * r), fc

    # ------------------------------------------------------------------ random pieces
    def variable(self) -> int:
        if self._pending is not None and self.rng.random() < self.s.guided_probability:
            if self.guide is None:
                kind, args = self._pending
                (self.set_product_guide if kind == "product" else self.set_guide)(*args)
            if self.guide is not None:
                return _draw(self.rng, self.guide)
        return _draw(self.rng, self.prior)

    def want_guide(self, kind: str, *args) -> None:
        """Arrange a residual guide for the next variable drawn, computed only if one is drawn."""
        self.guide = None
        self._pending = (kind, args)

    def leaf(self):
        if self.rng.random() < 0.3:
            return (CONST, float(self.rng.normal()))
        return (VAR, self.variable())

    def random_tree(self, size: int) -> tuple:
        r = self.rng
        if size <= 1:
            return (self.leaf(),)
        if size == 2 or (self.unary and r.random() < 0.25):
            if self.unary:
                return ((self.unary[r.integers(len(self.unary))], None),) + self.random_tree(size - 1)
        left = int(r.integers(1, size - 1)) if size > 2 else 1
        op = self.binary[r.integers(len(self.binary))]
        return ((op, None),) + self.random_tree(left) + self.random_tree(max(1, size - 1 - left))

    def residual(self, fc):
        """Residual of the best a*f + b, from the parent's centred values ``fc`` (None: constant)."""
        if fc is None:
            return self.yc
        ss = float(fc @ fc)
        if not math.isfinite(ss) or ss <= 0:
            return None
        return self.yc - (float(fc @ self.yc) / ss) * fc

    def set_guide(self, fc) -> None:
        """Variables weighted by their squared correlation with the residual of a*f + b, where
        ``fc`` is the centred f of the parent (None: a constant parent)."""
        self.guide = None
        res = self.residual(fc)
        if res is None:
            return
        c = (self.Xc_T @ res) / self.x_norm
        self._set_weights(c * c)

    def set_product_guide(self, sub, fc) -> None:
        """Variables weighted by how much ``x_j * s`` (s: the values of subtree ``sub``) explains
        the parent's residual: (sum x_j s r)^2 / sum (x_j s)^2, the least-squares gain of adding
        that product. Finds interactions that no single variable shows."""
        self.guide = None
        res = self.residual(fc)
        if res is None:
            return
        s = evaluate_raw(sub, self.columns)
        s = np.broadcast_to(np.asarray(s, dtype=np.float64), (self.n,))
        if not np.isfinite(s).all():
            return
        num = self.X_T @ (s * res)
        den = self.X2_T @ (s * s) + 1e-300
        self._set_weights(num * num / den)

    def _set_weights(self, w) -> None:
        total = w.sum()
        if not math.isfinite(total) or total <= 0:
            return
        self.guide = _cumulative(w / total + 0.02 / self.d)

    # ------------------------------------------------------------------ mutations
    def _pick(self, tokens, predicate):
        idx = [i for i, tok in enumerate(tokens) if predicate(tok[0])]
        return idx[self.rng.integers(len(idx))] if idx else None

    def mutate(self, tokens, temperature: float, fc=None):
        """A mutated copy of ``tokens`` (None when the kind does not apply); ``fc`` is the
        parent's centred values, for residual-guided variables."""
        r = self.rng
        kind = MUTATIONS[_draw(r, self.mutation_cum)]
        if kind in ("add", "insert", "variable") and self.s.guided_probability > 0:
            self.want_guide("residual", fc)
        else:
            self.guide, self._pending = None, None
        if kind == "nothing":
            return tokens
        if kind == "constant":
            i = self._pick(tokens, lambda o: o == CONST)
            if i is None:
                return None
            v = tokens[i][1]
            factor = math.exp(r.normal() * (0.1 + temperature))
            v = v * factor if r.random() < 0.5 else v / factor
            if r.random() < 0.05:
                v = -v
            return tokens[:i] + ((CONST, v),) + tokens[i + 1:]
        if kind == "operator":
            i = self._pick(tokens, lambda o: ARITY[o] > 0)
            if i is None:
                return None
            pool = self.binary if ARITY[tokens[i][0]] == 2 else self.unary
            return tokens[:i] + ((pool[r.integers(len(pool))], None),) + tokens[i + 1:]
        if kind == "variable":
            i = self._pick(tokens, lambda o: o == VAR)
            if i is None:
                return None
            return tokens[:i] + ((VAR, self.variable()),) + tokens[i + 1:]
        if kind == "swap":
            i = self._pick(tokens, lambda o: ARITY[o] == 2)
            if i is None:
                return None
            a1 = subtree_end(tokens, i + 1)
            b1 = subtree_end(tokens, a1)
            return tokens[:i + 1] + tokens[a1:b1] + tokens[i + 1:a1] + tokens[b1:]
        if kind in ("add", "insert"):
            # add: a leaf becomes op(leaf, new leaf) or unary(leaf); insert: the same at any node
            if kind == "add":
                i = self._pick(tokens, lambda o: ARITY[o] == 0)
                j = i + 1
            else:
                i = int(r.integers(len(tokens)))
                j = subtree_end(tokens, i)
            sub = tokens[i:j]
            if self.unary and r.random() < self.p_unary:
                new = ((self.unary[r.integers(len(self.unary))], None),) + sub
            else:
                code = self.binary[r.integers(len(self.binary))]
                if code == MUL and self.s.guided_probability > 0 and r.random() < self.s.guided_probability:
                    self.want_guide("product", sub, fc)
                other = (self.leaf(),)
                new = ((code, None),) + (sub + other if r.random() < 0.5 else other + sub)
            return tokens[:i] + new + tokens[j:]
        if kind == "delete":
            i = self._pick(tokens, lambda o: ARITY[o] > 0)
            if i is None:
                return None
            j = subtree_end(tokens, i)
            c1 = subtree_end(tokens, i + 1)
            children = [tokens[i + 1:c1]] + ([tokens[c1:j]] if ARITY[tokens[i][0]] == 2 else [])
            return tokens[:i] + children[r.integers(len(children))] + tokens[j:]
        if kind == "randomize":
            return self.random_tree(int(r.integers(1, self.s.max_size + 1)))
        raise AssertionError(kind)

    def crossover(self, a, b):
        r = self.rng
        i = int(r.integers(len(a)))
        i2 = subtree_end(a, i)
        j = int(r.integers(len(b)))
        j2 = subtree_end(b, j)
        return a[:i] + b[j:j2] + a[i2:], b[:j] + a[i:i2] + b[j2:]

    def clean(self, tokens):
        """Simplify; drop what the scale and offset absorb at the root (neg, a constant factor
        or term); None when the tree is too large."""
        if tokens is None:
            return None
        tokens = simplify_tokens(tokens)
        while True:
            op = tokens[0][0]
            if op == NEG:
                tokens = tokens[1:]
                continue
            if op in (ADD, SUB, MUL) and len(tokens) > 1:
                a1 = subtree_end(tokens, 1)
                left, right = tokens[1:a1], tokens[a1:]
                if len(right) == 1 and right[0][0] == CONST:
                    tokens = left
                    continue
                if len(left) == 1 and left[0][0] == CONST:
                    tokens = right
                    continue
            break
        return tokens if len(tokens) <= self.s.max_size else None

    # ------------------------------------------------------------------ constants
    def optimize(self, tokens, loss0: float):
        """Levenberg-Marquardt on the tree's constants and the scale/offset of a*f + b."""
        if not any(op == CONST for op, _ in tokens):
            return tokens, loss0
        new, _, sse = fit_constants(tokens, self.columns, self.y, self.s.optimizer_iterations, self)
        if sse is None:
            return None, loss0
        loss = self.loss(new)
        return (new, loss) if loss < loss0 else (None, loss0)

    # ------------------------------------------------------------------ evolution
    def record(self, tokens, loss: float) -> None:
        size = len(tokens)
        if math.isfinite(loss):
            old = self.hall.get(size)
            if old is None or loss < old[0]:
                self.hall[size] = (loss, tokens)

    def tournament(self, members, losses, sizes, share) -> int:
        r = self.rng
        cand = r.integers(len(members), size=self.s.tournament_size)
        scores = losses[cand] * np.exp(self.s.parsimony_scaling * share[sizes[cand]])
        order = np.argsort(scores, kind="stable")
        k = 0
        while k < len(order) - 1 and r.random() > self.s.tournament_p:
            k += 1
        return int(cand[order[k]])

    def run(self, max_evaluations: int, seeds: list[tuple] | None = None) -> dict[int, tuple[float, tuple]]:
        """Evolve until ``max_evaluations``; return the hall of fame {size: (loss, tokens)}.

        ``seeds``: trees (engine tokens) placed in the first population, e.g. another engine's
        front."""
        with np.errstate(all="ignore"):
            return self._run(max_evaluations, seeds)

    def _run(self, max_evaluations, seeds):
        r, s = self.rng, self.s
        pops = []
        for p in range(s.populations):
            members = []
            for k in range(s.population_size):
                t = self.clean(self.random_tree(int(r.integers(1, 6)))) or ((VAR, self.variable()),)
                members.append(t)
            if seeds and p == 0:
                for k, t in enumerate(seeds[: s.population_size]):
                    members[k] = t
            scored = [self.score(t) for t in members]
            losses = np.array([l for l, _ in scored])
            values = [fc for _, fc in scored]
            for t, l in zip(members, losses):
                self.record(t, l)
            pops.append([members, losses, np.array([len(t) for t in members]),
                         np.arange(s.population_size, dtype=np.float64), values])
        birth = float(s.population_size)
        events = max(1, s.population_size // s.tournament_size)
        while self.evaluations < max_evaluations:
            for members, losses, sizes, births, values in pops:
                for cycle in range(s.cycles_per_iteration):
                    temperature = 1.0 - cycle / max(1, s.cycles_per_iteration - 1)
                    share = self.frequency / self.frequency.sum()
                    for _ in range(events):
                        birth += 1
                        if r.random() > s.crossover_probability:
                            w = self.tournament(members, losses, sizes, share)
                            parent, parent_loss = members[w], losses[w]
                            child = self.clean(self.mutate(parent, temperature, values[w]))
                            if child is None:
                                continue
                            if child == parent:
                                loss, fc = parent_loss, values[w]
                            else:
                                loss, fc = self.score(child)
                            if not math.isfinite(loss):
                                continue
                            accept = 1.0
                            if loss > parent_loss:
                                if temperature > 0 and s.annealing_alpha > 0:
                                    delta = (loss - parent_loss) / max(parent_loss, 1e-12)
                                    accept = math.exp(-delta / (temperature * s.annealing_alpha))
                                else:
                                    accept = 0.0
                            accept *= share[len(parent)] / share[len(child)]
                            if r.random() > accept:
                                child, loss, fc = parent, parent_loss, values[w]
                            children = [(child, loss, fc)]
                        else:
                            a = self.tournament(members, losses, sizes, share)
                            b = self.tournament(members, losses, sizes, share)
                            children = []
                            for c in self.crossover(members[a], members[b]):
                                c = self.clean(c)
                                if c is not None:
                                    loss, fc = self.score(c)
                                    if math.isfinite(loss):
                                        children.append((c, loss, fc))
                        for child, loss, fc in children:
                            self.record(child, loss)
                            o = int(np.argmin(births))
                            members[o], losses[o], sizes[o], births[o] = child, loss, len(child), birth
                            values[o] = fc
                            self.frequency[len(child)] += 1
                    if self.frequency.sum() > 100_000:
                        self.frequency *= 0.5
                for k in range(len(members)):
                    if r.random() < s.optimize_probability:
                        t, l = self.optimize(members[k], float(losses[k]))
                        if t is not None:
                            members[k], losses[k], sizes[k] = t, l, len(t)
                            values[k] = self.score(t)[1]
                            self.record(t, l)
                hall = list(self.hall.values())
                for k in range(len(members)):
                    if r.random() < s.migration_probability:
                        l, t = hall[r.integers(len(hall))]
                        members[k], losses[k], sizes[k] = t, l, len(t)
                        values[k] = self.score(t)[1]
                if self.evaluations >= max_evaluations:
                    break
        return self.hall


def fit_constants(tokens, columns, y: np.ndarray, iterations: int = 8, counter=None, scale: bool = True):
    """Levenberg-Marquardt on the constants of ``tokens`` (and, with ``scale``, on ``a, b`` of
    ``a*f + b``), with exact forward-mode derivatives.

    Returns (tokens with the tuned constants, (a, b), sum of squared residuals) or
    (tokens, None, None) when the tree cannot be evaluated.
    """
    n = len(y)
    consts = [i for i, (op, _) in enumerate(tokens) if op == CONST]
    f, J = evaluate_with_gradient(tokens, columns, n)
    if counter is not None:
        counter.evaluations += 1
    if not (np.isfinite(f).all() and np.isfinite(J).all()):
        return tokens, None, None
    k = len(consts)
    theta = np.array([tokens[i][1] for i in consts], dtype=np.float64)
    if scale:
        A = np.column_stack([f, np.ones(n)])
        ab = np.linalg.lstsq(A, y, rcond=None)[0]
    else:
        ab = np.array([1.0, 0.0])
    p = np.concatenate([theta, ab])

    def rebuild(p):
        out = list(tokens)
        for j, i in enumerate(consts):
            out[i] = (CONST, float(p[j]))
        return tuple(out)

    res = p[k] * f + p[k + 1] - y
    sse = float(res @ res)
    lam = 1e-3
    ones = np.ones((1, n))
    for _ in range(iterations):
        if scale:
            Jf = np.vstack([p[k] * J, f[None, :], ones])
        else:
            Jf = J
        JJ = Jf @ Jf.T
        g = Jf @ res
        improved = False
        for _ in range(5):
            try:
                step = np.linalg.solve(JJ + lam * np.diag(np.diag(JJ) + 1e-12), -g)
            except np.linalg.LinAlgError:
                lam *= 10
                continue
            pn = p.copy()
            if scale:
                pn += step
            else:
                pn[:k] += step
            fn, Jn = evaluate_with_gradient(rebuild(pn), columns, n)
            if counter is not None:
                counter.evaluations += 1
            rn = pn[k] * fn + pn[k + 1] - y
            ssen = float(rn @ rn) if np.isfinite(rn).all() and np.isfinite(Jn).all() else math.inf
            if ssen < sse:
                p, f, J, res, sse = pn, fn, Jn, rn, ssen
                lam = max(lam / 10, 1e-12)
                improved = True
                break
            lam *= 10
        if not improved or k == 0:
            break
    return rebuild(p), (float(p[k]), float(p[k + 1])), sse
