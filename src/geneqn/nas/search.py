"""Architecture search: Optuna ask/tell over the model space, in a storage URL.

One study per cell type lives in a storage: by default a SQLite file in the run folder (one
worker); any SQLAlchemy URL (PostgreSQL for many workers on many machines), or a journal file
(``journal:///shared/path/study.log``: Optuna's ``JournalStorage``, no database server, a file on
storage every worker sees) shares a study between workers, which together finish the trial
budget:

* after each ``ask``, a trial whose rank among the study's live trials (running, waiting or
  complete, by creation order) is past the budget is closed as FAIL with user attr
  ``over_budget`` and the worker stops, so the budget holds without any scheduler;
* a worker records a heartbeat for the trials it trains; a trial whose worker died (no heartbeat
  for ``grace_period`` seconds) is failed and re-enqueued with the same parameters. With the
  default single-worker SQLite storage every running trial at start-up is such a trial.

Candidates asked in one round are trained together, grouped by layer widths
(:func:`geneqn.nas.train.train_candidates`).

One worker (the default SQLite storage) searches in numbered **rounds**: round ``r`` asks
``group_size`` trials from a sampler seeded for that round (so its picks depend only on the seed
and the finished rounds), trains them with seeds ``seed + r * group_size + slot`` and records
round and slot with each trial. A search killed mid-round resumes by training that round again
with the same architectures and seeds (same group, same numbers) and recording only the trials
it lacks; finished rounds are kept. So the same seed gives the same trials, killed or not.
"""

from __future__ import annotations

import json
import logging
import random
import threading
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

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


ROUND_SEED_STEP = 7919


def make_sampler(name: str, space: ModelSpace, seed: int, round_index: int = 0) -> optuna.samplers.BaseSampler:
    """The sampler of round ``round_index``: seeded by the seed and the round only."""
    round_seed = seed + ROUND_SEED_STEP * round_index
    if name == "tpe":
        return optuna.samplers.TPESampler(seed=round_seed, n_startup_trials=10)
    if name == "random":
        return optuna.samplers.RandomSampler(seed=round_seed)
    if name == "reinforce":
        from geneqn.nas.reinforce import ReinforceSampler

        return ReinforceSampler({n: space.choices(i) for i, n in enumerate(space.param_names())}, seed=seed,
                                sample_seed=round_seed)
    raise GeneqnError(f"unknown sampler {name!r}; use tpe, random or reinforce.")


JOURNAL = "journal://"


def open_storage(url: str):
    from geneqn.config import check_storage_url

    check_storage_url(url, "study storage")
    if url.startswith(JOURNAL):
        return _journal(url[len(JOURNAL):])
    if url.startswith("sqlite:///"):
        Path(url[len("sqlite:///"):]).parent.mkdir(parents=True, exist_ok=True)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # heartbeats are "experimental" in Optuna
            return optuna.storages.RDBStorage(
                url, heartbeat_interval=HEARTBEAT_S, grace_period=GRACE_S,
                heartbeat_stale_trial_callback=optuna.storages.RetryHeartbeatStaleTrialCallback(max_retry=3),
                # SQLite: searches of several cell types (cluster tasks) may write at once; wait for the lock
                engine_kwargs={"connect_args": {"timeout": 120}} if url.startswith("sqlite") else
                {"pool_pre_ping": True})
    except ImportError as e:
        raise GeneqnError(f"storage {url.split('://')[0]}: a database driver is missing ({e}). For "
                          "PostgreSQL: pip install 'geneqn[postgres]' (psycopg).") from None
    except sqlalchemy.exc.ArgumentError as e:  # a URL SQLAlchemy cannot parse, an unknown dialect
        raise GeneqnError(f"study storage {_redact(url)} is not a database URL SQLAlchemy understands "
                          f"({str(e).splitlines()[0]}); write sqlite:///study.db (a file) or "
                          "postgresql://user:password@host/db.") from None
    except sqlalchemy.exc.OperationalError as e:  # unreachable server, bad credentials, ...
        if "already exists" in str(e) or "locked" in str(e):
            raise  # processes creating the same new database at once: open_study tries again
        msg = str(e).splitlines()[0]
        raise GeneqnError(f"cannot open the study storage {_redact(url)}: {msg}. Check that the database "
                          "server is running and reachable, and the URL, user and password.") from None


def _journal(path: str):
    """Optuna's JournalStorage on the file ``path`` (made with its folder when absent)."""
    from optuna.storages.journal import JournalFileBackend

    if not path:
        raise GeneqnError("study storage journal://: name the journal file, e.g. journal:///shared/geneqn/study.log.")
    file = Path(path).expanduser()
    try:
        file.parent.mkdir(parents=True, exist_ok=True)
        return optuna.storages.JournalStorage(JournalFileBackend(str(file)))
    except OSError as e:
        raise GeneqnError(f"cannot open the study journal {file}: {e.strerror or e}. Choose a file on storage "
                          "you can write to.") from None


def _is_journal(storage) -> bool:
    return isinstance(storage, optuna.storages.JournalStorage)


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
            _STORAGES[name] = storage
            study = optuna.create_study(study_name=name, storage=storage, direction="maximize",
                                        sampler=make_sampler(sampler, space, seed, 0), load_if_exists=True)
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


_STORAGES: dict[str, object] = {}


class _Heartbeat:
    """Record heartbeats for the trials being trained, from a background thread."""

    def __init__(self, study: optuna.Study, trial_ids: list[int]):
        self.storage, self.ids = _STORAGES[study.study_name], trial_ids
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, daemon=True)

    def _record(self, tid: int) -> None:
        if _is_journal(self.storage):
            self.storage.set_trial_user_attr(tid, "heartbeat", time.time())
        else:
            self.storage.record_heartbeat(tid)

    def _beat(self):
        while not self._stop.wait(HEARTBEAT_S):
            for tid in self.ids:
                try:
                    self._record(tid)
                except Exception:  # a lost beat only makes the trial look stale later
                    pass

    def __enter__(self):
        for tid in self.ids:
            self._record(tid)
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


def reclaim_running(study: optuna.Study) -> int:
    """Fail the trials of workers that died (no heartbeat for the grace period); the storage's
    callback enqueues each again with its own parameters. Returns how many."""
    if _is_journal(_STORAGES[study.study_name]):
        return _reclaim_journal(study)
    before = {t.number for t in study.get_trials(deepcopy=False, states=(TrialState.FAIL,))}
    optuna.storages.fail_stale_trials(study)
    return len({t.number for t in study.get_trials(deepcopy=False, states=(TrialState.FAIL,))} - before)


def _reclaim_journal(study: optuna.Study, grace_s: float = GRACE_S) -> int:
    """The heartbeat rule on a journal: a running trial whose last beat (else its start) is older
    than ``grace_s`` is failed and enqueued again with its parameters (``retry_of``). Two workers
    that reclaim the same trial at once: the journal orders them, the second finds it finished."""
    from optuna.exceptions import UpdateFinishedTrialError

    storage = _STORAGES[study.study_name]
    now = time.time()
    n = 0
    for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        beat = t.user_attrs.get("heartbeat", t.datetime_start.timestamp() if t.datetime_start else now)
        if now - float(beat) < grace_s:
            continue
        try:
            storage.set_trial_state_values(_trial_ids(study, [t.number])[0], TrialState.FAIL)
        except UpdateFinishedTrialError:
            continue
        attrs = {k: v for k, v in t.user_attrs.items() if k != "heartbeat"}
        study.enqueue_trial(t.params, user_attrs={**attrs, "retry_of": t.number}, skip_if_exists=False)
        n += 1
    return n


def _rank(study: optuna.Study, number: int) -> int:
    """How many live trials of the study were created before trial ``number`` (its public number)."""
    return sum(1 for t in study.get_trials(deepcopy=False, states=LIVE) if t.number < number)


@dataclass
class SearchResult:
    study: optuna.Study
    trials_run: int

    @property
    def best_architecture(self) -> Architecture:
        return Architecture.from_json(self.study.best_trial.user_attrs["arch"])

    def top_architectures(self, k: int) -> list[Architecture]:
        """The ``k`` best distinct architectures of the study, best first."""
        return [arch for arch, _ in self.top_trials(k)]

    def top_trials(self, k: int) -> list[tuple[Architecture, int | None]]:
        """The ``k`` best distinct architectures of the study, best first, each with the seed
        its best trial was trained with (None for a trial recorded without one)."""
        done = sorted((t for t in self.study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
                       if "arch" in t.user_attrs), key=lambda t: (-t.value, t.number))
        out: list[tuple[Architecture, int | None]] = []
        for t in done:
            a = Architecture.from_json(t.user_attrs["arch"])
            if all(a != b for b, _ in out):
                seed = t.user_attrs.get("seed")
                out.append((a, None if seed is None else int(seed)))
            if len(out) == k:
                break
        return out

    @property
    def best_value(self) -> float:
        return float(self.study.best_value)


@dataclass(frozen=True)
class SearchSettings:
    """How a search runs: one object from the config (or a caller) down to each round.

    ``reward(net, result) -> float`` replaces the default reward (the network's valid r; the
    NAS|SR ablation passes the valid r of equations distilled from each candidate); ``label``
    names the progress bar (default "search <study name>"); ``train_kw``: the keywords of
    :func:`geneqn.nas.train.train_candidates` (epochs, learning rate, ..., ``data_seed``)."""
    trials: int = 100
    sampler: str = "tpe"
    seed: int = 0
    group_size: int = 8
    timeout_s: float | None = None
    single_worker: bool = True
    train_kw: dict = field(default_factory=dict)
    reward: Callable | None = None
    label: str | None = None

    @property
    def max_epochs(self) -> int:
        return int(self.train_kw.get("max_epochs", 200))


def n_complete(study: optuna.Study) -> int:
    return len(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)))


def run_search(data: TrainData, space: ModelSpace, *, storage: str, study_name: str,
               settings: SearchSettings | None = None, **options) -> SearchResult:
    """Run (or resume, or join) the search until the study holds ``settings.trials`` finished
    trials. ``options``: the fields of :class:`SearchSettings`, for a call without one."""
    st = settings if settings is not None else SearchSettings(**options)
    study = open_study(storage, study_name, space, st.sampler, st.seed)
    # progress units: a trial is max_epochs units of training, and as many again of its reward when
    # the reward is a computation of its own (the NAS|SR ablation's equations), so that the bar
    # reaches its end with the last trial told, not with the last epoch trained
    per_trial = st.max_epochs * (2 if st.reward is not None else 1)
    with progress.task(st.label or f"search {study_name}", total=st.trials * per_trial) as bar:
        search = _Search(study, data, space, st, bar)
        bar.advance(min(n_complete(study), st.trials) * per_trial)
        search.note()
        ran = search.rounds() if st.single_worker else search.shared()
    if n_complete(study) == 0:
        raise GeneqnError(f"search {study_name}: no trial finished.")
    return SearchResult(study, ran)


def _best_value(study) -> float | None:
    done = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    return max((t.value for t in done), default=None)


def _trial_ids(study: optuna.Study, numbers: list[int]) -> list[int]:
    """Storage ids of the study's trials ``numbers`` (through the storage's public API)."""
    storage = _STORAGES[study.study_name]
    sid = storage.get_study_id_from_name(study.study_name)
    return [storage.get_trial_id_from_study_id_trial_number(sid, n) for n in numbers]


class _Search:
    """One search's study, data, space and settings, and the progress bar, for its rounds."""

    def __init__(self, study: optuna.Study, data: TrainData, space: ModelSpace, settings: SearchSettings, bar):
        self.study, self.data, self.space, self.st, self.bar = study, data, space, settings, bar
        self.names = space.param_names()

    def note(self) -> None:
        best = _best_value(self.study)
        self.bar.note(f"{n_complete(self.study)}/{self.st.trials} trials" +
                      (f", best valid r {best:.3f}" if best is not None else ""))

    def _ask(self):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "heartbeat ... used with Study.optimize"
            return self.study.ask()

    def _suggest(self, trial) -> Architecture:
        return self.space.architecture([trial.suggest_categorical(n, self.space.choices(i))
                                        for i, n in enumerate(self.names)])

    def train_round(self, asked, seeds, keep=None) -> int:
        """Train the round's candidates together; tell the trials (all, or those in ``keep``).

        Progress: the trials told advance the bar by their share of the round's epochs (candidates
        trained again only to rebuild an interrupted round count for nothing), each reward by
        ``max_epochs``, and the round's training tops up to exactly its told trials' units once
        they are told."""
        study, st, bar, max_epochs = self.study, self.st, self.bar, self.st.max_epochs
        candidates = [Candidate(arch, s, (trial, slot)) for (trial, arch, slot), s in zip(asked, seeds)]
        live = _trial_ids(study, [t.number for t, _, _ in asked if t is not None])
        told = [i for i, (trial, _, slot) in enumerate(asked) if trial is not None and (keep is None or slot in keep)]
        share = len(told) / max(len(candidates), 1)
        advanced = 0.0

        def on_epoch(n):
            nonlocal advanced
            step = min(n * share, len(told) * max_epochs - advanced)
            if step > 0:
                advanced += step
                bar.advance(step)

        with _Heartbeat(study, live):
            results = train_candidates(candidates, self.data, slots=st.group_size, on_epoch=on_epoch, **st.train_kw)
        ran = 0
        for i in told:
            cand, net, res = results[i]
            trial, slot = cand.tag
            trial.set_user_attr("epochs", res.epochs)
            trial.set_user_attr("valid_loss", res.valid_loss if res.valid_loss < 1e300 else None)
            trial.set_user_attr("net_valid_r", res.reward)
            value = res.reward if st.reward is None or res.diverged else float(st.reward(net, res))
            study.tell(trial, value)
            ran += 1
            self.note()  # before the bar moves on: it never shows more work done than trials told
            if st.reward is not None:
                bar.advance(max_epochs)
        bar.advance(max(0.0, len(told) * max_epochs - advanced))
        return ran

    def rounds(self) -> int:
        """One worker, deterministic rounds (see the module's doc)."""
        study, st, names = self.study, self.st, self.names
        # trials left RUNNING by a killed process: marked failed; their round is trained again
        for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
            study.tell(t.number, state=TrialState.FAIL)
        start = time.monotonic()
        ran = 0
        for r in range(-(-st.trials // st.group_size)):
            slots = min(st.group_size, st.trials - r * st.group_size)
            existing = _round_trials(study).get(r, {})
            done = {s for s, ts in existing.items() if any(t.state == TrialState.COMPLETE for t in ts)}
            if len(done) >= slots:
                continue
            if st.timeout_s and time.monotonic() - start > st.timeout_s:
                log.warning("search %s: wall-clock cap reached after %d trials", study.study_name, n_complete(study))
                break
            seeds = [st.seed + r * st.group_size + s for s in range(slots)]
            if existing:
                # an interrupted round: the same architectures, trained again as one group
                asked = []
                for s in range(slots):
                    arch_json = next((t.user_attrs["arch"] for t in existing.get(s, []) if "arch" in t.user_attrs), None)
                    if arch_json is None:
                        raise GeneqnError(f"search {study.study_name}: round {r} slot {s} has no recorded "
                                          "architecture; the study is damaged. Start a new one (--force).")
                    arch = Architecture.from_json(arch_json)
                    trial = None
                    if s not in done:
                        params = {n: v for n, v in zip(names, [str(lc) for lc in arch.layers])}
                        study.enqueue_trial(params, user_attrs={"round": r, "slot": s, "arch": arch_json,
                                                                "seed": seeds[s], "retry": True},
                                            skip_if_exists=False)
                        trial = self._ask()
                        self._suggest(trial)
                    asked.append((trial, arch, s))
                log.info("search %s: round %d was interrupted; training it again (%d trial(s) to record)",
                         study.study_name, r, slots - len(done))
                ran += self.train_round(asked, seeds, keep=set(range(slots)) - done)
            else:
                study.sampler = make_sampler(st.sampler, self.space, st.seed, r)
                asked = []
                for s in range(slots):
                    trial = self._ask()
                    arch = self._suggest(trial)
                    trial.set_user_attr("arch", arch.to_json())
                    trial.set_user_attr("round", r)
                    trial.set_user_attr("slot", s)
                    trial.set_user_attr("seed", seeds[s])
                    asked.append((trial, arch, s))
                ran += self.train_round(asked, seeds)
            self.note()
        return ran

    def shared(self) -> int:
        """Many workers on one shared storage: the budget holds by trial rank; stale trials of
        dead workers are re-run with their own parameters."""
        study, st = self.study, self.st
        reclaimed = reclaim_running(study)
        if reclaimed:
            log.info("search %s: %d trial(s) of a worker that died will be re-run", study.study_name, reclaimed)
        study.sampler = make_sampler(st.sampler, self.space, st.seed, 0)
        start = time.monotonic()
        ran = 0
        while n_complete(study) < st.trials:
            if st.timeout_s and time.monotonic() - start > st.timeout_s:
                log.warning("search %s: wall-clock cap reached after %d trials", study.study_name, n_complete(study))
                break
            asked = []
            for _ in range(st.group_size):
                trial = self._ask()
                if _rank(study, trial.number) >= st.trials:
                    trial.set_user_attr("over_budget", True)
                    study.tell(trial, state=TrialState.FAIL)
                    break
                arch = self._suggest(trial)
                trial.set_user_attr("arch", arch.to_json())
                trial.set_user_attr("seed", st.seed + trial.number)
                asked.append((trial, arch, len(asked)))
            if not asked:
                break
            ran += self.train_round(asked, [st.seed + t.number for t, _, _ in asked])
            self.note()
        return ran


def _round_trials(study) -> dict[int, dict[int, list]]:
    """{round: {slot: [trials]}} of the study's trials that carry a round."""
    out: dict[int, dict[int, list]] = {}
    for t in study.get_trials(deepcopy=False):
        if "round" in t.user_attrs and "slot" in t.user_attrs:
            out.setdefault(t.user_attrs["round"], {}).setdefault(t.user_attrs["slot"], []).append(t)
    return out


def trials_table(study: optuna.Study):
    """A tidy table of the study's trials (number, state, value, architecture, epochs)."""
    import pandas as pd

    rows = []
    for t in study.get_trials(deepcopy=False):
        rows.append({"number": t.number, "round": t.user_attrs.get("round"), "slot": t.user_attrs.get("slot"),
                     "seed": t.user_attrs.get("seed"),
                     "state": t.state.name, "valid_r": t.value,
                     "architecture": str(Architecture.from_json(t.user_attrs["arch"])) if "arch" in t.user_attrs else None,
                     "epochs": t.user_attrs.get("epochs"), "over_budget": t.user_attrs.get("over_budget", False),
                     "retry": bool(t.user_attrs.get("retry") or t.user_attrs.get("retry_of") is not None)})
    return pd.DataFrame(rows)


def default_storage(run_dir: Path) -> str:
    """The run folder's SQLite study storage (nas/study.db)."""
    from geneqn.run.layout import RunLayout

    path = RunLayout(run_dir).study_db
    path.parent.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{path.resolve()}"


def study_name(prefix: str, cell_type_key: str, fingerprint: str = "") -> str:
    """``prefix-<cell type key>[-<fingerprint>]``: a study is bound to its inputs' fingerprint."""
    return f"{prefix}-{cell_type_key}" + (f"-{fingerprint[:12]}" if fingerprint else "")


def delete_study(storage_url: str, name: str) -> bool:
    """Delete study ``name`` if it exists (``--force``); True if there was one."""
    storage = open_storage(storage_url)
    try:
        optuna.delete_study(study_name=name, storage=storage)
        return True
    except KeyError:
        return False


def describe(result: SearchResult) -> dict:
    best = result.study.best_trial
    return {"best_trial": best.number, "best_valid_r": best.value,
            "best_architecture": json.loads(best.user_attrs["arch"]), "trials": n_complete(result.study)}
