"""geneqn's own symbolic-regression search, over exactly the space that PySR's complexity counts.

The engine evolves expression trees (:mod:`geneqn.sr.expr` tokens; constants are explicit
leaves, variables carry no hidden weight), so the length of a tree *is* its PySR complexity and
the complexity limit describes the space searched. It follows PySR's regularized evolution
(Cranmer 2023, SymbolicRegression.jl):

* several populations ("islands"); each evolution event takes the winner of a tournament
  (scores penalised by how common the winner's complexity is: adaptive parsimony), mutates it
  (PySR's mutation kinds and the weights of PySR 0.x; those of PySR 1.x, tuned for long runs,
  found the planted paper-direct law in 0 of 10 seeds at 100,000 evaluations against 4 of 10)
  or crosses it with another winner, and the child replaces the population's oldest member,
  accepted by simulated annealing;
* constants are tuned by Levenberg-Marquardt with exact derivatives on a fraction of the
  members after every cycle; a hall of fame keeps the best tree of every complexity and seeds
  migration between the islands.

What makes a high-dimensional, noisy search (40 features) practical:

* **linear scaling** (Keijzer 2003): every tree ``f`` is scored as ``a*f + b`` with ``a, b``
  from least squares, so fitness is ``1 - r^2``; the scale and offset are counted (``+4``, fewer
  when they are not needed) when the final equation is written;
* **residual-guided leaves**: when a mutation adds or changes a variable, half of the time the
  variable is drawn with probability proportional to its squared correlation with the parent's
  residual (or its product with the subtree it joins), else from the prior;
* **seeds** (:mod:`geneqn.sr.seeds`): sums of library terms, power laws and exponential laws
  fitted by least squares start the populations;
* **a cache of losses**: a tree met again (a search meets the same tree in about 40% of its
  children) costs no evaluation, so the budget buys distinct trees;
* **polish**: at the end, a local search around the hall of fame (single deletions, the one
  missing additive term) with a small share of the budget.

Budgets are in evaluations (a tree evaluated on the data; a Levenberg-Marquardt step counts
one), never in seconds, and all arithmetic is :mod:`geneqn.numeric`'s, whose bits do not
depend on the CPU: a seed gives the same equations on any machine.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from geneqn import numeric
from geneqn.sr.expr import (ADD, ARITY, CONST, MUL, NEG, SUB, VAR, evaluate_raw,
                            evaluate_with_gradient, simplify_tokens, subtree_end)

UNKNOWN = object()
"""The values of a member whose loss came from the cache (recomputed when a guide needs them)."""
CACHE_SIZE = 200_000
"""Losses of this many distinct trees are remembered (a search meets the same tree often)."""
MEMO_BYTES = 64 << 20
"""Values of costly subtrees remembered by a search (:func:`geneqn.sr.expr.evaluate_raw`'s memo),
at most this many bytes; cleared when full."""
GUIDE_ROWS = 600
"""Rows on which the residual guides rank the variables (evenly spaced through the data)."""
MUTATIONS = ("constant", "operator", "swap", "add", "insert", "delete", "randomize", "nothing", "variable", "rotate")
# weights of PySR 0.x (weight_mutate_constant, weight_mutate_operator, weight_swap_operands,
# weight_add_node, weight_insert_node, weight_delete_node, weight_randomize, weight_do_nothing,
# weight_mutate_feature, weight_rotate_tree)
MUTATION_WEIGHTS = (0.048, 0.47, 0.1, 0.79, 5.1, 1.7, 0.00023, 0.21, 0.3, 0.0)
# PySR 1.x / SymbolicRegression.jl 1.x defaults (tuned by its authors on many problems)
MUTATION_WEIGHTS_PYSR1 = (0.0346, 0.293, 0.198, 2.47, 0.0112, 0.870, 0.000502, 0.273, 0.1, 4.26)


@dataclass(frozen=True)
class SearchSettings:
    """Knobs of one search (one seeded restart). Defaults follow PySR where it has one."""

    max_size: int = 16
    """Largest complexity searched (the complexity limit less the scale and offset terms)."""
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
    mutation_weights: tuple = MUTATION_WEIGHTS
    nested_constraints: tuple = ()
    """PySR's nested_constraints as (outer op code, inner op code, most nested) triples: with
    (EXP, EXP, 0) no exp may hold another exp."""
    polish: float = 0.05
    """At the end of every run (each epoch), a local search around the hall of fame with at most
    this share of the budget (see :meth:`Search.polish`; 0: none)."""
    annealing: bool = True
    exact_loss: float = 1e-20
    """A search stops when a tree reaches this loss (1 - R^2 of its best a*f + b): the data are
    fitted to rounding error and the budget left would be spent on nothing."""


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
                 seed: int = 0, prior=None, weights=None):
        X = np.asarray(X, dtype=np.float64)
        y = np.asarray(y, dtype=np.float64)
        self.n, self.d = X.shape
        self.columns = [np.ascontiguousarray(X[:, j]) for j in range(self.d)]
        self.y = y
        self.yc = y - numeric.total(y) / len(y)
        self.yss = numeric.dot(self.yc, self.yc)
        # the residual guides only rank variables: a spread-out subset of the rows does
        self.guide_rows = np.arange(0, self.n, max(1, self.n // GUIDE_ROWS))
        Xg = X[self.guide_rows]
        Xc = Xg - X.mean(axis=0)
        self.Xc_T = np.ascontiguousarray(Xc.T)
        self.X_T = np.ascontiguousarray(Xg.T)
        self.X2_T = self.X_T * self.X_T
        self.x_norm = np.sqrt((Xc * Xc).sum(axis=0)) + 1e-300
        self.guide_columns = [np.ascontiguousarray(Xg[:, j]) for j in range(self.d)]
        self.s = settings
        self.weights = tuple(weights) if weights is not None else (1,) * len(ARITY)
        self._unit_weights = all(w == 1 for w in self.weights)
        self.operators = frozenset(operators)
        self.nested = tuple(settings.nested_constraints)
        self.binary = [o for o in operators if ARITY[o] == 2]
        self.unary = [o for o in operators if ARITY[o] == 1]
        if not self.binary:
            raise ValueError("symbolic regression needs at least one binary operator (+, -, *, / or ^)")
        self.p_unary = len(self.unary) / (len(self.unary) + len(self.binary))
        self.rng = np.random.default_rng(seed)
        self.prior = _cumulative(np.ones(self.d) if prior is None else np.maximum(prior, 0) + 1e-12)
        self.mutation_cum = _cumulative(settings.mutation_weights)
        self.guide = None
        self._pending = None
        self.evaluations = 0
        self.hall: dict[int, tuple[float, tuple]] = {}
        self.frequency = np.ones(settings.max_size + 2)
        self.pops = None
        self.birth = 0.0
        self.cache: dict = {}
        self.memo: dict = {}
        self.memo_size = max(64, MEMO_BYTES // (8 * max(1, self.n)))

    def size(self, tokens) -> int:
        """Complexity of a tree (its tokens' weights; the number of tokens by default)."""
        if self._unit_weights:
            return len(tokens)
        w = self.weights
        return sum(w[op] for op, _ in tokens)

    @property
    def exact(self) -> bool:
        """Whether a tree fits the data to rounding error (see ``SearchSettings.exact_loss``)."""
        return any(loss <= self.s.exact_loss for loss, _ in self.hall.values())

    # ------------------------------------------------------------------ fitness
    def loss(self, tokens) -> float:
        """1 - r^2 of the best affine map a*f + b (inf for invalid trees)."""
        return self.score(tokens)[0]

    def score(self, tokens):
        """(loss, centred f or None) of a tree. A tree scored before is not evaluated again (nor
        counted): its loss comes from a cache, its values as ``UNKNOWN`` (see :meth:`centred`)."""
        loss = self.cache.get(tokens)
        if loss is not None:
            return loss, UNKNOWN
        loss, fc = self._score(tokens)
        if len(self.cache) >= CACHE_SIZE:
            self.cache.clear()
        self.cache[tokens] = loss
        return loss, fc

    def centred(self, tokens):
        """The centred values of a tree (None for a constant or invalid one), evaluated (and
        counted) now."""
        return self._score(tokens)[1]

    def _score(self, tokens):
        self.evaluations += 1
        if len(self.memo) >= self.memo_size:
            self.memo.clear()
        f = evaluate_raw(tokens, self.columns, self.memo)
        if np.ndim(f) == 0:
            return 1.0, None
        fc = f - numeric.total(f) / self.n
        ss = numeric.dot(fc, fc)
        if not math.isfinite(ss):
            return math.inf, None
        if ss <= 1e-20 * self.n or self.yss == 0:
            return 1.0, None
        cov = numeric.dot(fc, self.yc)
        r = cov / math.sqrt(ss * self.yss)
        if r * r < 0.999:
            return max(0.0, 1.0 - r * r), fc
        # near an exact fit 1 - r^2 cancels to rounding error: the residual's own sum of squares
        res = self.yc - (cov / ss) * fc
        return max(0.0, numeric.dot(res, res) / self.yss), fc

    # ------------------------------------------------------------------ random pieces
    def variable(self) -> int:
        if self._pending is not None and self.rng.random() < self.s.guided_probability:
            if self.guide is None:
                kind, args, parent = self._pending
                if args[-1] is UNKNOWN:
                    args = args[:-1] + (self.centred(parent),)
                (self.set_product_guide if kind == "product" else self.set_guide)(*args)
            if self.guide is not None:
                return _draw(self.rng, self.guide)
        return _draw(self.rng, self.prior)

    def want_guide(self, kind: str, *args, parent=None) -> None:
        """Arrange a residual guide for the next variable drawn, computed only if one is drawn
        (the parent's values from ``parent`` when they are ``UNKNOWN``)."""
        self.guide = None
        self._pending = (kind, args, parent)

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
        ss = numeric.dot(fc, fc)
        if not math.isfinite(ss) or ss <= 0:
            return None
        return self.yc - (numeric.dot(fc, self.yc) / ss) * fc

    def set_guide(self, fc) -> None:
        """Variables weighted by their squared correlation with the residual of a*f + b, where
        ``fc`` is the centred f of the parent (None: a constant parent)."""
        self.guide = None
        res = self.residual(fc)
        if res is None:
            return
        c = numeric.row_dots(self.Xc_T, res[self.guide_rows]) / self.x_norm
        self._set_weights(c * c)

    def set_product_guide(self, sub, fc) -> None:
        """Variables weighted by how much ``x_j * s`` (s: the values of subtree ``sub``) explains
        the parent's residual: (sum x_j s r)^2 / sum (x_j s)^2, the least-squares gain of adding
        that product. Finds interactions that no single variable shows."""
        self.guide = None
        res = self.residual(fc)
        if res is None:
            return
        s = evaluate_raw(sub, self.guide_columns)
        s = np.broadcast_to(np.asarray(s, dtype=np.float64), (len(self.guide_rows),))
        if not np.isfinite(s).all():
            return
        num = numeric.row_dots(self.X_T, s * res[self.guide_rows])
        den = numeric.row_dots(self.X2_T, s * s) + 1e-300
        self._set_weights(num * num / den)

    def _set_weights(self, w) -> None:
        total = numeric.total(w)
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
            self.want_guide("residual", fc, parent=tokens)
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
                    self.want_guide("product", sub, fc, parent=tokens)
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
        if kind == "rotate":
            return self.rotate(tokens)
        raise AssertionError(kind)

    def rotate(self, tokens):
        """PySR's tree rotation: a node R with a non-leaf child P (at position i) and P's child G
        (at position j) become P with R at position j, R holding G at position i, so that
        ``(a + b) * c`` can become ``a + b * c``. None when no node has a non-leaf child."""
        roots = []
        for k, (op, _) in enumerate(tokens):
            if ARITY[op] and any(ARITY[tokens[c][0]] for c in _children(tokens, k)):
                roots.append(k)
        if not roots:
            return None
        r = self.rng
        k = roots[r.integers(len(roots))]
        end = subtree_end(tokens, k)
        kids = _children(tokens, k)
        inner = [c for c in kids if ARITY[tokens[c][0]]]
        i = kids.index(inner[r.integers(len(inner))])
        pivot = kids[i]
        grand = _children(tokens, pivot)
        j = int(r.integers(len(grand)))
        subtrees = [tokens[c:subtree_end(tokens, c)] for c in kids]
        pieces = [tokens[c:subtree_end(tokens, c)] for c in grand]
        subtrees[i] = pieces[j]
        new_root = (tokens[k],) + tuple(t for sub in subtrees for t in sub)
        pieces[j] = new_root
        new_pivot = (tokens[pivot],) + tuple(t for sub in pieces for t in sub)
        return tokens[:k] + new_pivot + tokens[end:]

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
        tokens = simplify_tokens(tokens, self.operators, full=False)
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
        if self.size(tokens) > self.s.max_size:
            return None
        if self.nested and violates_nesting(tokens, self.nested):
            return None
        return tokens

    # ------------------------------------------------------------------ constants
    def optimize(self, tokens, loss0: float):
        """Levenberg-Marquardt on the tree's constants and the scale/offset of a*f + b; (tuned
        tokens, loss), or (None, loss0) when that is no better."""
        if not any(op == CONST for op, _ in tokens):
            return tokens, loss0
        new, _, sse = fit_constants(tokens, self.columns, self.y, self.s.optimizer_iterations, self)
        if sse is None:
            return None, loss0
        loss = self.loss(new)
        return (new, loss) if loss < loss0 else (None, loss0)

    def _tuned(self, tokens):
        """(tokens, loss) of a tree with its constants tuned (or just scored when it has none)."""
        loss, _ = self.score(tokens)
        if any(op == CONST for op, _ in tokens) and math.isfinite(loss):
            t, l2 = self.optimize(tokens, loss)
            if t is not None:
                return t, l2
        return tokens, loss

    def polish(self, budget: int) -> int:
        """Local search around the hall of fame, at most ``budget`` evaluations, in rounds until
        nothing changes: for every tree, each single deletion (a node replaced by one of its
        children: ``0.9*HET6`` -> ``HET6``, a wasted constant dropped) and the additive term of the
        variable most correlated with its residual, as ``+ x_j`` (or ``- x_j``) and as
        ``+ c*x_j`` (a law found but for a term, such as ``... + L4``); constants retuned; what
        beats the hall at its complexity enters it. Returns how many trees entered."""
        stop = self.evaluations + budget
        add = ADD if ADD in self.operators else (SUB if SUB in self.operators else None)
        entered, done = 0, set()
        while self.evaluations < stop:
            queue = [t for _, t in (self.hall[c] for c in sorted(self.hall)) if t not in done]
            if not queue:
                break
            for tokens in queue:
                done.add(tokens)
                if self.hall.get(self.size(tokens), (0, None))[1] != tokens:
                    continue  # replaced meanwhile
                if self.hall[self.size(tokens)][0] <= self.s.exact_loss:
                    return entered
                for t in self._neighbours(tokens, add):
                    if self.evaluations >= stop:
                        return entered
                    t = self.clean(t)
                    if t is None or t in done:
                        continue
                    t, l2 = self._tuned(t)
                    old = self.hall.get(self.size(t))
                    self.record(t, l2)
                    entered += self.hall.get(self.size(t)) is not old
        return entered

    def _neighbours(self, tokens, add):
        out = []
        for i, (op, _) in enumerate(tokens):
            if ARITY[op]:
                j = subtree_end(tokens, i)
                for c in _children(tokens, i):
                    out.append(tokens[:i] + tokens[c:subtree_end(tokens, c)] + tokens[j:])
        if add is not None:
            fc = self.centred(tokens)
            res = self.residual(fc)
            if res is not None:
                c = numeric.row_dots(self.Xc_T, res[self.guide_rows]) / self.x_norm
                v = int(np.argmax(np.abs(c)))
                # y ~ a*f + b: adding x_j to f helps when a and the residual's correlation agree
                up = c[v] * (numeric.dot(fc, self.yc) if fc is not None else 1.0) > 0
                sign_op = (ADD if up else SUB) if SUB in self.operators and ADD in self.operators else add
                out.append(((sign_op, None),) + tuple(tokens) + ((VAR, v),))
                if MUL in self.operators:
                    out.append(((add, None),) + tuple(tokens) + ((MUL, None), (CONST, 1e-3), (VAR, v)))
        return out

    # ------------------------------------------------------------------ evolution
    def record(self, tokens, loss: float) -> None:
        size = self.size(tokens)
        if math.isfinite(loss):
            old = self.hall.get(size)
            if old is None or loss < old[0] or (loss == old[0] and tokens < old[1]):
                self.hall[size] = (loss, tokens)

    def tournament(self, members, losses, sizes, penalty) -> int:
        """Index of a tournament's winner; ``penalty[c]`` is the adaptive-parsimony factor of
        complexity c (exp of parsimony_scaling x the share of members of that complexity)."""
        r = self.rng
        cand = r.integers(len(members), size=self.s.tournament_size)
        scores = losses[cand] * penalty[sizes[cand]]
        order = scores.argsort(kind="stable")
        k = 0
        while k < len(order) - 1 and r.random() > self.s.tournament_p:
            k += 1
        return int(cand[order[k]])

    def _member(self, tokens):
        loss, fc = self.score(tokens)
        self.record(tokens, loss)
        return loss, fc

    def start(self, seeds: list[tuple] | None = None) -> None:
        """Random initial populations; ``seeds`` (engine tokens within the size limit, e.g.
        :func:`geneqn.sr.seeds.simple_forms` or another engine's front) are dealt out to the
        populations, one per population in turn."""
        r, s = self.rng, self.s
        seeds = [t for t in (seeds or []) if self.size(t) <= s.max_size]
        self.pops = []
        for p in range(s.populations):
            members = []
            for k in range(s.population_size):
                t = self.clean(self.random_tree(int(r.integers(1, 6)))) or ((VAR, self.variable()),)
                members.append(t)
            for k, t in enumerate(seeds[p::s.populations][: s.population_size]):
                members[k] = t
            scored = [self._member(t) for t in members]
            self.pops.append([members, np.array([l for l, _ in scored]), np.array([self.size(t) for t in members]),
                              np.arange(s.population_size, dtype=np.float64), [fc for _, fc in scored]])
        self.birth = float(s.population_size)

    def receive(self, trees: list[tuple]) -> None:
        """Migration from other searches (their halls of fame): each tree replaces a random
        member of a random population with probability ``migration_probability`` per member."""
        trees = [t for t in trees if self.size(t) <= self.s.max_size]
        if not trees or self.pops is None:
            return
        r = self.rng
        for members, losses, sizes, births, values in self.pops:
            for k in range(len(members)):
                if r.random() < self.s.migration_probability:
                    t = trees[r.integers(len(trees))]
                    members[k], sizes[k] = t, self.size(t)
                    losses[k], values[k] = self._member(t)

    def snapshot(self) -> dict:
        """The evolving state (populations, hall of fame, counts, random generator), without the
        data and the members' values: small to send between processes."""
        pops = None if self.pops is None else [[list(m), l.copy(), z.copy(), b.copy()] for m, l, z, b, _ in self.pops]
        return {"pops": pops, "hall": dict(self.hall), "frequency": self.frequency.copy(), "birth": self.birth,
                "evaluations": self.evaluations, "rng": self.rng.bit_generator.state}

    def restore(self, state: dict) -> "Search":
        """Continue from :meth:`snapshot` (the members' values are recomputed, not counted)."""
        self.hall = dict(state["hall"])
        self.frequency = state["frequency"].copy()
        self.birth = state["birth"]
        self.evaluations = state["evaluations"]
        self.rng.bit_generator.state = state["rng"]
        if state["pops"] is None:
            self.pops = None
        else:
            counted = self.evaluations
            self.pops = [[m, l, z, b, [UNKNOWN] * len(m)] for m, l, z, b in state["pops"]]
            self.evaluations = counted
        return self

    def run(self, max_evaluations: int, seeds: list[tuple] | None = None) -> dict[int, tuple[float, tuple]]:
        """Evolve until ``max_evaluations`` in all (or an exact fit); return the hall of fame
        {complexity: (loss, tokens)}. Called again, the evolution continues where it stopped."""
        with np.errstate(all="ignore"):
            share = int(self.s.polish * max(0, max_evaluations - self.evaluations))
            if self.pops is None:
                self.start(seeds)
            self._evolve(max_evaluations - share)
            if share > 0 and not self.exact:
                self.polish(share)
        return self.hall

    def _evolve(self, max_evaluations):
        r, s = self.rng, self.s
        events = max(1, s.population_size // s.tournament_size)
        while self.evaluations < max_evaluations and not self.exact:
            for members, losses, sizes, births, values in self.pops:
                for cycle in range(s.cycles_per_iteration):
                    temperature = 1.0 - cycle / max(1, s.cycles_per_iteration - 1)
                    share = self.frequency / np.add.reduce(self.frequency)
                    penalty = numeric.exp(s.parsimony_scaling * share)
                    for _ in range(events):
                        self.birth += 1
                        if r.random() > s.crossover_probability:
                            w = self.tournament(members, losses, sizes, penalty)
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
                            if loss > parent_loss and s.annealing:
                                if temperature > 0 and s.annealing_alpha > 0:
                                    delta = (loss - parent_loss) / max(parent_loss, 1e-12)
                                    accept = math.exp(-delta / (temperature * s.annealing_alpha))
                                else:
                                    accept = 0.0
                            accept *= share[min(self.size(parent), len(share) - 1)] / \
                                share[min(self.size(child), len(share) - 1)]
                            if r.random() > accept:
                                child, loss, fc = parent, parent_loss, values[w]
                            children = [(child, loss, fc)]
                        else:
                            a = self.tournament(members, losses, sizes, penalty)
                            b = self.tournament(members, losses, sizes, penalty)
                            children = []
                            for c in self.crossover(members[a], members[b]):
                                c = self.clean(c)
                                if c is not None:
                                    loss, fc = self.score(c)
                                    if math.isfinite(loss):
                                        children.append((c, loss, fc))
                        for child, loss, fc in children:
                            self.record(child, loss)
                            o = int(births.argmin())
                            size = self.size(child)
                            members[o], losses[o], sizes[o], births[o] = child, loss, size, self.birth
                            values[o] = fc
                            self.frequency[min(size, len(self.frequency) - 1)] += 1
                    if self.frequency.sum() > 100_000:
                        self.frequency *= 0.5
                for k in range(len(members)):
                    if r.random() < s.optimize_probability:
                        t, l = self.optimize(members[k], float(losses[k]))
                        if t is not None:
                            members[k], losses[k], sizes[k] = t, l, self.size(t)
                            values[k] = self.score(t)[1]
                            self.record(t, l)
                hall = [self.hall[c] for c in sorted(self.hall)]
                for k in range(len(members)):
                    if r.random() < s.migration_probability:
                        l, t = hall[r.integers(len(hall))]
                        members[k], losses[k], sizes[k] = t, l, self.size(t)
                        values[k] = self.score(t)[1]
                if self.evaluations >= max_evaluations or self.exact:
                    break


def violates_nesting(tokens, constraints) -> bool:
    """Whether a tree breaks PySR-style nested constraints ((outer, inner, most) triples: along
    any path below an ``outer`` node, at most ``most`` ``inner`` nodes)."""
    present = {op for op, _ in tokens}
    for outer, inner, most in constraints:
        if outer not in present or inner not in present:
            continue
        for i, (op, _) in enumerate(tokens):
            if op != outer:
                continue
            end = subtree_end(tokens, i)
            counts: list[int] = []
            for j in range(end - 1, i, -1):
                o = tokens[j][0]
                deepest = max((counts.pop() for _ in range(ARITY[o])), default=0)
                counts.append(deepest + (o == inner))
            if counts and max(counts) > most:
                return True
    return False


def _children(tokens, i) -> list[int]:
    """Start indices of the children of the node at ``i``."""
    out, j = [], i + 1
    for _ in range(ARITY[tokens[i][0]]):
        out.append(j)
        j = subtree_end(tokens, j)
    return out


def affine_fit(f: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """(a, b) of the least-squares line y ~ a*f + b, from pairwise sums (no BLAS); a = 0 for a
    constant f."""
    n = len(y)
    fm = numeric.total(f) / n
    ym = numeric.total(y) / n
    fc = f - fm
    ss = numeric.dot(fc, fc)
    a = numeric.dot(fc, y - ym) / ss if ss > 0 and math.isfinite(ss) else 0.0
    return a, ym - a * fm


def fit_constants(tokens, columns, y: np.ndarray, iterations: int = 8, counter=None, scale: bool = True):
    """Levenberg-Marquardt on the constants of ``tokens`` (and, with ``scale``, on ``a, b`` of
    ``a*f + b``), with exact forward-mode derivatives; every sum is pairwise and the normal
    equations are solved in Python floats (:mod:`geneqn.numeric`), so the result is the
    same to the bit on every machine.

    Returns (tokens with the tuned constants, (a, b), sum of squared residuals) or
    (tokens, None, None) when the tree cannot be evaluated. A step that overflows is a worse
    step, not a warning.
    """
    with np.errstate(all="ignore"):
        return _fit_constants(tokens, columns, y, iterations, counter, scale)


def _fit_constants(tokens, columns, y, iterations, counter, scale):
    n = len(y)
    consts = [i for i, (op, _) in enumerate(tokens) if op == CONST]
    f, J = evaluate_with_gradient(tokens, columns, n)
    if counter is not None:
        counter.evaluations += 1
    if not (np.isfinite(f).all() and np.isfinite(J).all()):
        return tokens, None, None
    k = len(consts)
    theta = [float(tokens[i][1]) for i in consts]
    ab = list(affine_fit(f, y)) if scale else [1.0, 0.0]
    p = np.array(theta + ab, dtype=np.float64)

    def rebuild(p):
        out = list(tokens)
        for j, i in enumerate(consts):
            out[i] = (CONST, float(p[j]))
        return tuple(out)

    res = p[k] * f + p[k + 1] - y
    sse = numeric.dot(res, res)
    lam = 1e-3
    ones = np.ones((1, n))
    for _ in range(iterations):
        Jf = np.vstack([p[k] * J, f[None, :], ones]) if scale else np.ascontiguousarray(J)
        JJ = numeric.gram(Jf)
        g = numeric.row_dots(Jf, res)
        improved = False
        for _ in range(5):
            A = JJ + lam * np.diag(np.diag(JJ) + 1e-12)
            step = numeric.solve_spd(A, -g)
            if step is None:
                lam *= 10
                continue
            pn = p.copy()
            if scale:
                pn += np.asarray(step)
            else:
                pn[:k] += np.asarray(step)
            fn, Jn = evaluate_with_gradient(rebuild(pn), columns, n)
            if counter is not None:
                counter.evaluations += 1
            rn = pn[k] * fn + pn[k + 1] - y
            ssen = numeric.dot(rn, rn) if np.isfinite(rn).all() and np.isfinite(Jn).all() else math.inf
            if ssen < sse:
                p, f, J, res, sse = pn, fn, Jn, rn, ssen
                lam = max(lam / 10, 1e-12)
                improved = True
                break
            lam *= 10
        if not improved or k == 0:
            break
    return rebuild(p), (float(p[k]), float(p[k + 1])), sse
