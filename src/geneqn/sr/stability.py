"""Which parts of a genomic equation are stable: refits over seeds and bootstrap resamples.

An equation is one draw of a stochastic search on one sample of genes. :func:`equation_stability`
distils the same fitted network again with other SR seeds (``n_seeds``) and on bootstrap
resamples of the training genes (``n_bootstraps``), and reports

* ``features``: {feature: share of refits whose equation uses it};
* ``terms``: {latent: {term: share}}: the additive terms of each stage-1 equation (top-level
  summands, constants written ``c``, so ``0.3*f1`` and ``-0.5*f1`` are the term ``f1``);
* ``test_r`` / ``valid_r``: mean, sd, min, max and the values over refits;
* ``constants``: for the chosen equation, its structure fixed, each constant refitted (all
  together, :func:`geneqn.sr.distill.joint_refit`, from the chosen values) on
  ``constant_bootstraps`` bootstrap samples: the value and the 2.5 / 97.5 percentiles (None when
  no refit moved it). The chosen values come from the stage-wise fit, so they can lie outside
  the interval of the jointly refitted ones;
* ``core``: the features in at least ``core_share`` (80%) of refits, and the chosen equation with
  every other feature held at its training median, constants refitted: its test (or valid) r;
* ``headline``: each feature of the chosen equation with its share, and those below ``core_share``.

The refits run in parallel (``n_jobs``; the result does not depend on it) and, with
``cache_dir``, each is written as it finishes and reused: a killed run resumes. Cost: one
distillation per refit.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np

from geneqn.metrics import pearson_r
from geneqn.sr.equation import GenomicEquation

CORE_SHARE = 0.8
# least-squares iterations per constant (+1) when constants are refitted from the chosen values:
# a bootstrap sample moves the optimum little, and each iteration costs one evaluation per constant
CONSTANT_STEPS = 1
_NUMBER = re.compile(r"(?<![A-Za-z0-9_.])(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?")


def terms(expr) -> list[str]:
    """The additive terms of an equation, constants written ``c`` and constant factors dropped
    (``0.3*f1 + 2.1*f1*f2 - 0.7`` -> ``["f1", "f1*f2"]``); a constant alone is no term."""
    from geneqn.sr.export import to_infix
    from geneqn.sr.expr import ADD, CONST, NEG, SUB, Expr, subtree_end

    tokens = expr.tokens
    out: list[str] = []

    def walk(i: int) -> None:
        op = tokens[i][0]
        if op in (ADD, SUB):
            j = subtree_end(tokens, i + 1)
            walk(i + 1)
            walk(j)
            return
        if op == NEG:
            walk(i + 1)
            return
        sub = tokens[i:subtree_end(tokens, i)]
        if all(t[0] == CONST for t in sub):
            return
        infix = to_infix(Expr(sub), None)
        # square and cube print as **2 and **3: structure, not constants
        text = _NUMBER.sub(lambda m: m.group() if infix[max(0, m.start() - 2):m.start()] == "**"
                           and m.group() in ("2", "3") else "c", infix)
        while True:  # constant factors in front say nothing about which term it is
            new = re.sub(r"^-?c\*|^-?c/(?=[A-Za-z(])", lambda m: "1/" if "/" in m.group() else "", text)
            new = new[1:] if new.startswith("-") else new
            if new == text:
                break
            text = new
        out.append(text)

    walk(0)
    return list(dict.fromkeys(out))


def _summary(values) -> dict:
    v = np.asarray([x for x in values if x is not None and np.isfinite(x)], dtype=float)
    if not len(v):
        return {"mean": None, "sd": None, "min": None, "max": None, "values": []}
    return {"mean": float(v.mean()), "sd": float(v.std(ddof=1)) if len(v) > 1 else 0.0, "min": float(v.min()),
            "max": float(v.max()), "values": [float(x) for x in values]}


def _fingerprint(distiller, *arrays) -> str:
    """What a cached refit depends on: the data, the chosen equation and the settings (so a
    cache_dir reused with other data or another equation reuses nothing)."""
    import hashlib

    from geneqn._io import hash_arrays

    h = hashlib.sha256()
    hash_arrays(h, *arrays)
    h.update(json.dumps(distiller.equation_.to_dict(), sort_keys=True, default=str).encode())
    params = {k: v for k, v in distiller.get_params(deep=False).items() if k not in ("network", "sr")}
    h.update(repr(sorted(params.items())).encode())
    h.update(repr(sorted(distiller._sr().get_params().items())).encode())
    return h.hexdigest()[:12]


def _refit(job) -> dict:
    """One refit: (distiller, kind, index, seed, X, y, Xv, yv, Xt, yt) -> its record."""
    distiller, kind, index, seed, X, y, Xv, yv, Xt, yt = job
    import sys

    import pandas as pd

    if "torch" in sys.modules:  # a forked worker: one torch thread (OpenMP's pool does not survive fork)
        sys.modules["torch"].set_num_threads(1)
    from sklearn.base import clone

    names = list(distiller.equation_.feature_names)
    X, Xv, Xt = (None if a is None else pd.DataFrame(a, columns=names) for a in (X, Xv, Xt))

    sr = clone(distiller._sr()).set_params(random_state=int(seed))
    if kind == "bootstrap":
        rows = np.random.default_rng([int(seed), 7]).integers(0, len(y), len(y))
        X, y = X.iloc[rows].reset_index(drop=True), y[rows]
    params = {**distiller.get_params(deep=False), "sr": sr}
    if params.get("latent_targets") == "auto":   # the chosen equation's kind of targets, not both again
        params["latent_targets"] = distiller.equation_.meta.get("latent_targets", "network")
    d = type(distiller)(**params).fit(X, y, Xv, yv)
    eq = d.equation_
    return {"kind": kind, "index": int(index), "seed": int(seed), "features": eq.features_used,
            "terms": {k: terms(eq.latents[k]) for k in eq.used_latents}, "equation": str(eq.composed),
            "complexity": int(eq.complexity),
            "test_r": None if Xt is None else pearson_r(yt, eq.predict(Xt)),
            "valid_r": None if Xv is None else pearson_r(yv, eq.predict(Xv))}


def _constant_refit(job) -> GenomicEquation:
    """The equation's constants refitted on one bootstrap sample of the training genes (one BLAS
    thread, as in every process, so the bits do not depend on where it runs)."""
    from threadpoolctl import threadpool_limits

    from geneqn.sr.distill import joint_refit

    eq, X, y, seed = job
    rows = np.random.default_rng([seed, 11]).integers(0, len(y), len(y))
    with threadpool_limits(1):
        return joint_refit(eq, X[rows], y[rows], max_nfev=CONSTANT_STEPS)


def equation_stability(distiller, X, y, X_valid=None, y_valid=None, X_test=None, y_test=None, *, n_seeds: int = 4,
                       n_bootstraps: int = 4, constant_bootstraps: int = 20, core_share: float = CORE_SHARE,
                       n_jobs: int = 1, random_state: int | None = None, cache_dir=None) -> dict:
    """How stable the fitted ``distiller``'s equation is (see the module's text for the output).

    ``distiller``: a fitted :class:`GenomicEquationDistiller` (its network and settings are reused;
    refit ``i`` uses SR seed ``random_state + 1 + i``, bootstrap ``b`` the seed
    ``random_state + 1001 + b``; ``random_state`` defaults to the SR's)."""
    from sklearn.utils.validation import check_is_fitted

    from geneqn._parallel import parallel_map
    from geneqn.errors import GeneqnError
    from geneqn.sr.distill import joint_refit

    check_is_fitted(distiller, "equation_")
    if n_seeds < 0 or n_bootstraps < 0 or n_seeds + n_bootstraps < 1:
        raise GeneqnError("stability needs at least one refit (n_seeds + n_bootstraps >= 1)")
    if not 0 < core_share <= 1:
        raise GeneqnError(f"core_share must lie in (0, 1], got {core_share!r}")
    arr = lambda a: None if a is None else np.asarray(a, dtype=np.float64)  # noqa: E731
    X, y, Xv, yv, Xt, yt = (arr(a) for a in (X, y, X_valid, y_valid, X_test, y_test))
    y, yv, yt = (None if a is None else a.ravel() for a in (y, yv, yt))
    base = int(distiller._sr().random_state if random_state is None else random_state)
    jobs = [(distiller, "seed", i, base + 1 + i, X, y, Xv, yv, Xt, yt) for i in range(n_seeds)]
    jobs += [(distiller, "bootstrap", b, base + 1001 + b, X, y, Xv, yv, Xt, yt) for b in range(n_bootstraps)]
    cache = Path(cache_dir) if cache_dir is not None else None
    key = _fingerprint(distiller, X, y, Xv, yv, Xt, yt) if cache is not None else ""
    records: list = [None] * len(jobs)
    todo = []
    for i, job in enumerate(jobs):
        path = cache / f"{job[1]}-{job[2]}-{job[3]}-{key}.json" if cache else None
        if path is not None and path.exists():
            try:
                records[i] = json.loads(path.read_text())
                continue
            except (OSError, json.JSONDecodeError):
                pass  # a half-written file of a killed run: refit
        todo.append(i)

    def keep(k: int, rec: dict) -> None:
        i = todo[k]
        records[i] = rec
        if cache is not None:
            from geneqn._io import write_json

            write_json(rec, cache / f"{jobs[i][1]}-{jobs[i][2]}-{jobs[i][3]}-{key}.json")

    parallel_map(_refit, [jobs[i] for i in todo], n_jobs=n_jobs, description="stability refits", on_result=keep)
    n = len(records)
    eq = distiller.equation_
    features = {f: sum(f in r["features"] for r in records) / n for f in eq.feature_names}
    features = {f: s for f, s in sorted(features.items(), key=lambda kv: (-kv[1], list(eq.feature_names).index(kv[0])))
                if s > 0 or f in eq.features_used}
    term_counts: dict = {}
    for r in records:
        for k, ts in r["terms"].items():
            for t in ts:
                term_counts.setdefault(k, {}).setdefault(t, 0)
                term_counts[k][t] += 1
    term_share = {k: dict(sorted(((t, c / n) for t, c in v.items()), key=lambda kv: -kv[1]))
                  for k, v in sorted(term_counts.items())}

    # constants of the chosen equation, structure fixed, refitted on bootstrap samples
    latent = list(eq.used_latents)  # a latent that g does not use has no say in the prediction
    where = [(k, j) for k in latent for j in range(len(eq.latents[k].constants))]
    where += [("g", j) for j in range(len(eq.output.constants))]
    values = np.array([c for k in latent for c in eq.latents[k].constants] + eq.output.constants, dtype=float)
    jobs = [(eq, X, y, base + 2001 + b) for b in range(constant_bootstraps)]
    draws = [[c for k in latent for c in e.latents[k].constants] + e.output.constants
             for e in parallel_map(_constant_refit, jobs, n_jobs=n_jobs, description=None)]
    constants = []
    if draws and len(values):
        D = np.asarray(draws, dtype=float)
        lo, hi = np.percentile(D, 2.5, axis=0), np.percentile(D, 97.5, axis=0)
        # a constant that no bootstrap refit moved has no interval (the refit did not lower the
        # error there), rather than a zero-width one
        moved = (D != values).any(axis=0)
        constants = [{"equation": k, "position": j, "value": float(v), "lo": float(a) if m else None,
                      "hi": float(b) if m else None} for (k, j), v, a, b, m in zip(where, values, lo, hi, moved)]

    core = [f for f in eq.feature_names if features.get(f, 0) >= core_share]
    core_r = core_equation = None
    Xe, ye = (Xt, yt) if Xt is not None else (Xv, yv)
    if Xe is not None:
        med = np.median(X, axis=0)
        off = [j for j, f in enumerate(eq.feature_names) if f not in core]
        Xc, Xec = X.copy(), Xe.copy()
        Xc[:, off], Xec[:, off] = med[off], med[off]
        refit = joint_refit(eq, Xc, y, max_nfev=CONSTANT_STEPS)
        core_r = pearson_r(ye, refit.predict(Xec))
        core_equation = core_only(refit, {eq.feature_names[j]: float(med[j]) for j in off}).to_dict()
    return {
        "n_refits": n, "n_seeds": int(n_seeds), "n_bootstraps": int(n_bootstraps), "core_share": float(core_share),
        "features": features, "terms": term_share,
        "test_r": _summary([r["test_r"] for r in records]), "valid_r": _summary([r["valid_r"] for r in records]),
        "complexity": _summary([r["complexity"] for r in records]),
        "constants": constants, "constant_bootstraps": int(constant_bootstraps),
        "core": {"features": core, "r": core_r, "genes": "test" if Xt is not None else "valid",
                 "equation": core_equation},
        "headline": {"features": {f: features.get(f, 0.0) for f in eq.features_used},
                     "below_core_share": [f for f in eq.features_used if features.get(f, 0.0) < core_share]},
        "refits": records,
    }


def core_only(eq: GenomicEquation, fixed: dict[str, float]) -> GenomicEquation:
    """``eq`` with the features of ``fixed`` replaced by constants (their training medians): the
    stable core as an equation of the core features alone (its constants refitted beforehand)."""
    from geneqn.sr.expr import Expr

    consts = {f: Expr.constant(v) for f, v in fixed.items()}
    latents = {k: e.substitute(consts) for k, e in eq.latents.items()}
    return GenomicEquation(eq.cell_type, list(eq.feature_names), latents, eq.output,
                           {**eq.meta, "stable_core": True, "fixed_at_median": dict(fixed)})
