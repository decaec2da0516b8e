"""Architecture search: Optuna ask/tell over the model space, in a storage URL.

One study per cell type lives in a storage: by default a SQLite file in the run folder (one
worker); any SQLAlchemy URL (PostgreSQL for many workers on many machines) shares a study
between workers, which together finish the trial budget:

* after each ``ask``, a trial whose rank among the study's live trials (running, waiting or
  complete, by creation order) is past the budget is closed as FAIL with user attr
  ``over_budget`` and the worker stops, so the budget holds without any scheduler;
* a worker records a heartbeat for the trials it trains; a trial whose worker died (no heartbeat
  for ``grace_period`` seconds) is failed and re-enqueued with the same parameters. With the
  default single-worker SQLite storage every running trial at start-up is such a trial.

Candidates asked in one round are trained together, grouped by layer widths
(:func:`geneqn.nas.train.train_candidates`). A trial's network seed is ``seed + trial.number``
and the mini-batch order is fixed by ``seed``, so one worker with one seed gives the same trials
and the same best architecture every time.
"""

from __future__ import annotations

import json
import logging
import random
import threading
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import optuna
import sqlalchemy.exc
from optuna.trial import TrialState

from geneqn import progress
from geneqn.errors import GeneqnError
from geneqn.nas.space import Architecture, ModelSpace
from geneqn.nas.train import Candidate, TrainData, train_candidates

log = logging.getLogger(__name__)
optuna.logging.set_verbosity(optuna.logging.WARNING)

HEARTBEAT_S = 20
GRACE_S = 120
LIVE = (TrialState.COMPLETE, TrialState.RUNNING, TrialState.WAITING)


def make_sampler(name: str, space: ModelSpace, seed: int) -> optuna.samplers.BaseSampler:
    if name == "tpe":
        return optuna.samplers.TPESampler(seed=seed, n_startup_trials=10)
    if name == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if name == "reinforce":
        from geneqn.nas.reinforce import ReinforceSampler

        return ReinforceSampler({n: space.choices(i) for i, n in enumerate(space.param_names())}, seed=seed)
    raise GeneqnError(f"unknown sampler {name!r}; use tpe, random or reinforce.")


def open_storage(url: str):
    if url.startswith("sqlite:///"):
        Path(url[len("sqlite:///"):]).parent.mkdir(parents=True, exist_ok=True)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # heartbeats are "experimental" in Optuna
            return optuna.storages.RDBStorage(
                url, heartbeat_interval=HEARTBEAT_S, grace_period=GRACE_S,
                heartbeat_stale_trial_callback=optuna.storages.RetryHeartbeatStaleTrialCallback(max_retry=3),
                engine_kwargs={"pool_pre_ping": True} if not url.startswith("sqlite") else None)
    except ImportError as e:
        raise GeneqnError(f"storage {url.split('://')[0]}: a database driver is missing ({e}). For "
                          "PostgreSQL: pip install 'geneqn[postgres]' (psycopg).") from None
    except sqlalchemy.exc.OperationalError as e:  # unreachable server, bad credentials, ...
        msg = str(e).splitlines()[0]
        raise GeneqnError(f"cannot open the study storage {_redact(url)}: {msg}. Check that the database "
                          "server is running and reachable, and the URL, user and password.") from None


def _redact(url: str) -> str:
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        return f"{scheme}://***@{rest.split('@', 1)[1]}"
    return url


def open_study(storage_url: str, name: str, space: ModelSpace, sampler: str, seed: int) -> optuna.Study:
    """Create or load study ``name``; refuse one made over another model space."""
    for attempt in range(6):
        # Workers that start together on a new database race to create its tables and the
        # study; the loser sees an integrity error and simply tries again.
        try:
            storage = open_storage(storage_url)
            study = optuna.create_study(study_name=name, storage=storage, direction="maximize",
                                        sampler=make_sampler(sampler, space, seed), load_if_exists=True)
            break
        except sqlalchemy.exc.SQLAlchemyError as e:
            if attempt == 5:
                raise GeneqnError(f"cannot open study {name!r} in {_redact(storage_url)}: "
                                  f"{str(e).splitlines()[0]}") from None
        time.sleep(0.5 + random.random())
    saved = study.user_attrs.get("space")
    if saved is None:
        study.set_user_attr("space", space.signature())
        study.set_user_attr("sampler", sampler)
    elif saved != space.signature():
        raise GeneqnError(f"study {name!r} in {_redact(storage_url)} was made over another model space:\n"
                          f"  study:  {saved}\n  config: {space.signature()}\nUse another study name "
                          "(search.study / --study) or the study's space.")
    return study


class _Heartbeat:
    """Record heartbeats for the trials being trained, from a background thread."""

    def __init__(self, study: optuna.Study, trial_ids: list[int]):
        self.storage, self.ids = study._storage, trial_ids
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, daemon=True)

    def _beat(self):
        while not self._stop.wait(HEARTBEAT_S):
            for tid in self.ids:
                try:
                    self.storage.record_heartbeat(tid)
                except Exception:  # a lost beat only makes the trial look stale later
                    pass

    def __enter__(self):
        for tid in self.ids:
            self.storage.record_heartbeat(tid)
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


def reclaim_running(study: optuna.Study, all_running: bool) -> int:
    """Fail and re-enqueue trials whose worker died; ``all_running``: every running trial."""
    if not all_running:
        before = {t.number for t in study.get_trials(deepcopy=False, states=(TrialState.FAIL,))}
        optuna.storages.fail_stale_trials(study)
        return len({t.number for t in study.get_trials(deepcopy=False, states=(TrialState.FAIL,))} - before)
    n = 0
    for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        study._storage.set_trial_state_values(t._trial_id, TrialState.FAIL)
        study.enqueue_trial(t.params, user_attrs={"retry_of": t.number}, skip_if_exists=False)
        n += 1
    return n


def _rank(study: optuna.Study, trial_id: int) -> int:
    return sum(1 for t in study.get_trials(deepcopy=False, states=LIVE) if t._trial_id < trial_id)


@dataclass
class SearchResult:
    study: optuna.Study
    trials_run: int

    @property
    def best_architecture(self) -> Architecture:
        return Architecture.from_json(self.study.best_trial.user_attrs["arch"])

    def top_architectures(self, k: int) -> list[Architecture]:
        """The ``k`` best distinct architectures of the study, best first."""
        done = sorted((t for t in self.study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
                       if "arch" in t.user_attrs), key=lambda t: (-t.value, t.number))
        out: list[Architecture] = []
        for t in done:
            a = Architecture.from_json(t.user_attrs["arch"])
            if a not in out:
                out.append(a)
            if len(out) == k:
                break
        return out

    @property
    def best_value(self) -> float:
        return float(self.study.best_value)


def n_complete(study: optuna.Study) -> int:
    return len(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)))


def run_search(data: TrainData, space: ModelSpace, *, storage: str, study_name: str, trials: int = 100,
               sampler: str = "tpe", seed: int = 0, group_size: int = 8, timeout_s: float | None = None,
               single_worker: bool = True, train_kw: dict | None = None,
               reward=None) -> SearchResult:
    """Run (or resume, or join) the search until the study holds ``trials`` finished trials.

    ``reward(net, result) -> float`` replaces the default reward (the network's valid r); the
    NAS|SR ablation passes the valid r of equations distilled from each candidate.
    """
    train_kw = train_kw or {}
    study = open_study(storage, study_name, space, sampler, seed)
    reclaimed = reclaim_running(study, all_running=single_worker)
    if reclaimed:
        log.info("search %s: %d unfinished trial(s) of an earlier run will be re-run", study_name, reclaimed)
    names = space.param_names()
    start = time.monotonic()
    ran = 0
    with progress.task(f"search {study_name}", total=trials) as bar:
        bar.advance(n_complete(study))
        while n_complete(study) < trials:
            if timeout_s and time.monotonic() - start > timeout_s:
                log.warning("search %s: wall-clock cap reached after %d trials", study_name, n_complete(study))
                break
            asked = []
            for _ in range(group_size):
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")  # "heartbeat ... used with Study.optimize"
                    trial = study.ask()
                if _rank(study, trial._trial_id) >= trials:
                    trial.set_user_attr("over_budget", True)
                    study.tell(trial, state=TrialState.FAIL)
                    break
                arch = space.architecture([trial.suggest_categorical(n, space.choices(i))
                                           for i, n in enumerate(names)])
                trial.set_user_attr("arch", arch.to_json())
                asked.append((trial, arch))
            if not asked:
                break
            candidates = [Candidate(arch, seed + trial.number, trial) for trial, arch in asked]
            with _Heartbeat(study, [t._trial_id for t, _ in asked]):
                results = train_candidates(candidates, data, slots=group_size, data_seed=seed, **train_kw)
            for cand, net, res in results:
                cand.tag.set_user_attr("epochs", res.epochs)
                cand.tag.set_user_attr("valid_loss", res.valid_loss if res.valid_loss < 1e300 else None)
                cand.tag.set_user_attr("net_valid_r", res.reward)
                value = res.reward if reward is None or res.diverged else float(reward(net, res))
                study.tell(cand.tag, value)
                ran += 1
                bar.advance()
    if n_complete(study) == 0:
        raise GeneqnError(f"search {study_name}: no trial finished.")
    return SearchResult(study, ran)


def trials_table(study: optuna.Study):
    """A tidy table of the study's trials (number, state, value, architecture, epochs)."""
    import pandas as pd

    rows = []
    for t in study.get_trials(deepcopy=False):
        rows.append({"number": t.number, "state": t.state.name, "valid_r": t.value,
                     "architecture": str(Architecture.from_json(t.user_attrs["arch"])) if "arch" in t.user_attrs else None,
                     "epochs": t.user_attrs.get("epochs"), "over_budget": t.user_attrs.get("over_budget", False),
                     "retry_of": t.user_attrs.get("retry_of")})
    return pd.DataFrame(rows)


def default_storage(run_dir: Path) -> str:
    path = Path(run_dir) / "nas" / "study.db"
    path.parent.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{path.resolve()}"


def study_name(prefix: str, cell_type: str) -> str:
    safe = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in cell_type)
    return f"{prefix}-{safe}"


def describe(result: SearchResult) -> dict:
    best = result.study.best_trial
    return {"best_trial": best.number, "best_valid_r": best.value,
            "best_architecture": json.loads(best.user_attrs["arch"]), "trials": n_complete(result.study)}
