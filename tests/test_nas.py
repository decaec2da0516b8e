import math
import os
import subprocess
import sys

import numpy as np
import optuna
import pytest
import torch

from geneqn.config import SearchConfig
from geneqn.errors import GeneqnError
from geneqn.nas.network import BottleneckMLP
from geneqn.nas.reinforce import Reinforce
from geneqn.nas.search import open_study, run_search, trials_table
from geneqn.nas.space import Architecture, parse_architecture, space_from_config
from geneqn.nas.train import (FLOOR_REWARD, Candidate, GroupTrainer, TrainData, TrainingMemo, fit_network,
                              reward_of, train_candidates)


def toy_data(n=600, seed=0, f=5):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, f))
    y = np.tanh(X[:, 0] - X[:, 1] * X[:, 2])
    Xv = rng.normal(size=(120, f))
    yv = np.tanh(Xv[:, 0] - Xv[:, 1] * Xv[:, 2])
    return TrainData(X, y, Xv, yv)


def test_default_space_size_and_values():
    space = space_from_config(SearchConfig())
    assert space.size == 170_859_375 == 15 ** 7
    assert len(space.layers) == 7 and all(len(o) == 15 for o in space.layers)
    assert "8-sigmoid" in space.choices(3)
    arch = space.architecture([0, 1, 2, 3, 4, 5, 14])
    assert str(arch) == "16-relu|16-tanh|16-gelu|[3-relu]|32-tanh|32-gelu|256-gelu"
    assert Architecture.from_json(arch.to_json()) == arch and hash(arch) == hash(Architecture.from_json(arch.to_json()))
    assert arch.latent_width == 3
    custom = space_from_config(SearchConfig(dense_widths=[8, 16], dense_activations=["relu"],
                                            latent_widths=[2], latent_activations=["tanh", "sigmoid"]))
    assert custom.size == 2 ** 6 * 2
    explicit = space_from_config(SearchConfig(layers=[["8-relu", "16-tanh"], ["2-sigmoid"], ["4-gelu"]], latent_layer=1))
    assert explicit.size == 2


@pytest.mark.parametrize("kw, msg", [
    (dict(layers=[["8-relu"], []], latent_layer=0), "layer 1 of the model space has no option"),
    (dict(dense_widths=[16, 0]), "widths must be positive"),
    (dict(layers=[["-4-relu"]], latent_layer=0), "not WIDTH-ACTIVATION|width must be positive"),
    (dict(dense_activations=["swish"]), "activations: relu, tanh, gelu, sigmoid"),
])
def test_bad_space(kw, msg):
    with pytest.raises(GeneqnError, match=msg):
        space_from_config(SearchConfig(**kw))


def test_network_latent_and_head_compose():
    arch = parse_architecture(["8-relu", "6-tanh", "4-gelu", "3-sigmoid", "5-relu", "4-tanh", "6-gelu"], 3, 0.1)
    torch.manual_seed(0)
    net = BottleneckMLP(5, arch, mean=np.ones(5), scale=2 * np.ones(5)).eval()
    X = np.random.default_rng(0).normal(size=(10, 5))
    Z = net.latent(X)
    assert Z.shape == (10, 3) and (Z > 0).all() and (Z < 1).all()  # sigmoid latent
    np.testing.assert_allclose(net.head(Z), net.predict(X), rtol=1e-5, atol=1e-6)


def test_batched_group_equals_one_by_one():
    """K nets trained as one batched model == the same K nets trained one by one with
    torch.optim.Adam from the same initial weights (dropout 0; tolerance 1e-4 on predictions)."""
    data = toy_data()
    acts = ["relu", "tanh", "gelu", "sigmoid"]
    archs = [parse_architecture([f"16-{a}", "8-relu", "8-tanh", "2-sigmoid", "8-relu", f"8-{acts[(i + 1) % 4]}", "16-relu"], 3, 0.0)
             for i, a in enumerate(acts)]
    kw = dict(learning_rate=1e-3, batch_size=64, max_epochs=12, patience=100)
    single = [fit_network(a, data, seed=i, data_seed=3, **kw) for i, a in enumerate(archs)]
    batched = {}
    GroupTrainer(data, slots=4, data_seed=3, **kw).run([Candidate(a, i, i) for i, a in enumerate(archs)],
                                                      lambda c, n, r: batched.__setitem__(c.tag, (n, r)))
    for i in range(4):
        np.testing.assert_allclose(batched[i][0].predict(data.X_valid), single[i][0].predict(data.X_valid), atol=1e-4)
        assert batched[i][1].valid_r == pytest.approx(single[i][1].valid_r, abs=1e-4)
        assert batched[i][1].epochs == single[i][1].epochs == 12


def test_dropout_masks_are_those_of_one_draw_per_layer():
    """One draw of a step's dropout bits gives exactly the masks that one draw per layer gave
    (numpy draws 16-bit integers two to a word and drops a call's odd half word), for layers of
    odd and even sizes, over several steps; a kept unit is scaled by 1/keep."""
    trainer = GroupTrainer(toy_data())
    trainer.dropout = 0.25
    trainer._mask_rng = np.random.default_rng([3, 1, 2])
    reference = np.random.default_rng([3, 1, 2])
    threshold = round(0.75 * (1 << 16))
    for rows, widths in [(7, [3, 5, 2, 1]), (6, [4, 8]), (5, [1, 3, 16, 2])]:
        masks = trainer._dropout_masks(rows, widths)
        for w, mask in zip(widths, masks):
            bits = reference.integers(0, 1 << 16, size=(1, rows, w), dtype=np.uint16)
            assert mask.shape == (1, rows, w)
            np.testing.assert_array_equal(mask.numpy(), np.where(bits < threshold, np.float32(1 / 0.75), np.float32(0)))


def test_group_refills_slots_and_restores_best():
    data = toy_data()
    arch = parse_architecture(["8-relu", "8-tanh", "8-relu", "2-tanh", "8-relu", "8-relu", "8-relu"], 3, 0.1)
    done = []
    GroupTrainer(data, slots=2, batch_size=128, max_epochs=30, patience=3).run(
        [Candidate(arch, s, s) for s in range(5)], lambda c, n, r: done.append((c.tag, n, r)))
    assert sorted(t for t, _, _ in done) == [0, 1, 2, 3, 4]
    for _, net, res in done:
        assert 0 < res.valid_r <= 1 and not res.diverged
        assert res.valid_loss == pytest.approx(min(res.history))
        vl = float(np.mean((net.predict(data.X_valid) - data.y_valid) ** 2))
        assert vl == pytest.approx(res.valid_loss, rel=1e-4)  # best weights restored


def test_training_memo_gives_back_the_same_networks_and_nothing_else(tmp_path, monkeypatch):
    """A group trained before with the same inputs comes back from the memo, bit for bit, without
    training (GroupTrainer is made to fail); any other input (a seed, a setting, one data value,
    the slots of a group with more members) trains again, and a damaged file is trained again."""
    import geneqn.nas.train as train

    data = toy_data()
    a = parse_architecture(["8-relu", "8-tanh", "8-relu", "2-tanh", "8-relu", "8-relu", "8-relu"], 3, 0.1)
    b = parse_architecture(["4-relu", "8-tanh", "8-relu", "2-sigmoid", "8-relu", "8-relu", "8-relu"], 3, 0.0)
    cands = [Candidate(a, 1), Candidate(b, 2), Candidate(a, 3)]
    kw = dict(batch_size=128, max_epochs=4, patience=2, n_jobs=1)
    memo = TrainingMemo(tmp_path / "memo")
    plain = train_candidates(cands, data, slots=2, data_seed=5, **kw)
    first = train_candidates(cands, data, slots=2, data_seed=5, memo=memo, **kw)
    assert len(list((tmp_path / "memo").rglob("*.pt"))) == 3  # a's group of 2, b's group of 1

    def no_training(*args, **kwargs):
        raise AssertionError("trained again")

    with monkeypatch.context() as m:
        m.setattr(train.GroupTrainer, "run", no_training)
        epochs = []
        again = train_candidates(cands, data, slots=2, data_seed=5, memo=memo, on_epoch=epochs.append, **kw)
        assert sum(epochs) == sum(r.epochs for _, _, r in first)
        # n_jobs does not change networks: the memo answers for any number of processes
        train_candidates(cands, data, slots=2, data_seed=5, memo=memo, **{**kw, "n_jobs": 2})
        for other in (dict(data_seed=6), dict(patience=3), dict(slots=1)):
            args = {"slots": 2, "data_seed": 5, **kw, **other}
            with pytest.raises(AssertionError, match="trained again"):
                train_candidates(cands, data, memo=memo, **args)
        changed = TrainData(data.X.copy(), data.y, data.X_valid, data.y_valid)
        changed.X[7, 2] = np.nextafter(changed.X[7, 2], np.inf)
        with pytest.raises(AssertionError, match="trained again"):
            train_candidates(cands, changed, slots=2, data_seed=5, memo=memo, **kw)
        with pytest.raises(AssertionError, match="trained again"):
            train_candidates([Candidate(a, 1), Candidate(b, 2), Candidate(a, 4)], data, slots=2, data_seed=5,
                             memo=memo, **kw)
    for (c0, n0, r0), (c1, n1, r1), (c2, n2, r2) in zip(plain, first, again):
        assert c0 is c1 is c2
        assert r0 == r1 == r2
        for t0, t1, t2 in zip(n0.state_dict().values(), n1.state_dict().values(), n2.state_dict().values()):
            assert torch.equal(t0, t1) and torch.equal(t1, t2)
        assert not hasattr(n2, "extra") and n2.arch == n0.arch
    victim = sorted((tmp_path / "memo").rglob("*.pt"))[0]
    victim.write_bytes(b"not a network")
    redone = train_candidates(cands, data, slots=2, data_seed=5, memo=memo, **kw)
    assert [r for _, _, r in redone] == [r for _, _, r in plain]


def test_floor_reward_for_diverged_or_constant():
    data = toy_data()
    arch = parse_architecture(["8-relu"] * 3 + ["2-relu"] + ["8-relu"] * 3, 3, 0.0)
    net, res = fit_network(arch, data, learning_rate=1e9, max_epochs=3, patience=1)
    assert res.valid_r == FLOOR_REWARD and not math.isnan(res.valid_r)
    results = train_candidates([Candidate(arch, 0)], data, learning_rate=1e9, max_epochs=3, patience=1)
    assert results[0][2].valid_r == FLOOR_REWARD
    const = BottleneckMLP(data.n_features, arch)
    for p in const.parameters():
        torch.nn.init.zeros_(p)
    assert reward_of(const, data, diverged=False) == FLOOR_REWARD


def test_bad_training_data():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(50, 3))
    X[4, 1] = np.nan
    with pytest.raises(GeneqnError, match="X holds NaN"):
        TrainData(X, rng.normal(size=50), rng.normal(size=(5, 3)), rng.normal(size=5))
    with pytest.raises(GeneqnError, match="valid split has 2 gene"):
        TrainData(rng.normal(size=(50, 3)), rng.normal(size=50), rng.normal(size=(2, 3)), rng.normal(size=2))


SMALL = SearchConfig(dense_widths=[4, 8], dense_activations=["relu", "tanh"], latent_widths=[2],
                     latent_activations=["tanh", "sigmoid"])
TRAIN = dict(batch_size=128, max_epochs=6, patience=2)


def _search(tmp_path, name="s", trials=6, sampler="tpe", seed=0, single=True):
    return run_search(toy_data(), space_from_config(SMALL), storage=f"sqlite:///{tmp_path / 'study.db'}",
                      study_name=name, trials=trials, sampler=sampler, seed=seed, group_size=3,
                      single_worker=single, train_kw=TRAIN)


@pytest.mark.parametrize("sampler", ["tpe", "random", "reinforce"])
def test_same_seed_same_trials(tmp_path, sampler):
    a = _search(tmp_path / "a", sampler=sampler)
    b = _search(tmp_path / "b", sampler=sampler)
    ta, tb = trials_table(a.study), trials_table(b.study)
    assert ta["architecture"].tolist() == tb["architecture"].tolist()
    np.testing.assert_allclose(ta["valid_r"], tb["valid_r"])
    assert a.best_architecture == b.best_architecture
    assert (ta["state"] == "COMPLETE").sum() == 6


def _table(result):
    t = trials_table(result.study)
    t = t[t["state"] == "COMPLETE"].sort_values(["round", "slot"])
    return list(zip(t["round"], t["slot"], t["architecture"], np.round(t["valid_r"], 12)))


def test_killed_search_resumes_with_the_same_trials(tmp_path):
    """Interrupted mid-round (a trial left RUNNING), the search trains that round again with the
    same architectures and seeds and ends with exactly the trials of an uninterrupted search."""
    calls = {"n": 0}

    def reward(net, res):
        calls["n"] += 1
        if calls.get("die_at") == calls["n"]:
            raise KeyboardInterrupt
        return res.valid_r

    def search(path):
        return run_search(toy_data(), space_from_config(SMALL), storage=f"sqlite:///{path}", study_name="s",
                          trials=7, sampler="tpe", seed=0, group_size=3, train_kw=TRAIN, reward=reward)

    whole = _table(search(tmp_path / "a.db"))
    calls.update(n=0, die_at=5)  # dies while recording round 1 (trials 3-5)
    with pytest.raises(KeyboardInterrupt):
        search(tmp_path / "b.db")
    calls.update(n=0, die_at=None)
    resumed = search(tmp_path / "b.db")
    assert _table(resumed) == whole
    trials = resumed.study.trials
    assert sum(t.state.name == "COMPLETE" for t in trials) == 7
    failed = [t for t in trials if t.state.name == "FAIL"]
    retried = [t for t in trials if t.user_attrs.get("retry")]
    assert failed and len(retried) == len(failed)
    assert {(t.user_attrs["round"], t.user_attrs["slot"]) for t in retried} == \
        {(t.user_attrs["round"], t.user_attrs["slot"]) for t in failed}


def test_network_files_are_data_not_code(tmp_path):
    arch = parse_architecture(["8-relu", "2-tanh", "8-relu"], 1, 0.1)
    net = BottleneckMLP(3, arch).eval()
    net.save(tmp_path / "n.pt", cell_type="T+", feature_names=["a", "b", "c"])
    back = BottleneckMLP.load(tmp_path / "n.pt")
    X = np.random.default_rng(0).normal(size=(5, 3))
    np.testing.assert_allclose(back.predict(X), net.predict(X))
    assert back.extra == {"cell_type": "T+", "feature_names": ["a", "b", "c"]}
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    torch.save({"format": "geneqn-network-2", "state_dict": Evil()}, tmp_path / "evil.pt")
    with pytest.raises(GeneqnError, match=r"holds Python objects \(io.open\), not only tensors") as err:
        BottleneckMLP.load(tmp_path / "evil.pt")
    assert "weights_only=False" not in str(err.value)  # never advise running the file's code
    assert not marker.exists()
    (tmp_path / "random.pt").write_bytes(os.urandom(2000))
    with pytest.raises(GeneqnError, match="cannot read"):
        BottleneckMLP.load(tmp_path / "random.pt")


def test_study_with_other_space_is_refused(tmp_path):
    _search(tmp_path, trials=1)
    other = SearchConfig(dense_widths=[4], dense_activations=["relu"], latent_widths=[2], latent_activations=["tanh"])
    with pytest.raises(GeneqnError, match="made over another model space"):
        open_study(f"sqlite:///{tmp_path / 'study.db'}", "s", space_from_config(other), "tpe", 0)


def test_unreachable_storage_is_explained():
    with pytest.raises(GeneqnError, match="cannot open the study storage postgresql://\\*\\*\\*@127.0.0.1:9/x"):
        open_study("postgresql://u:secret@127.0.0.1:9/x", "s", space_from_config(SMALL), "tpe", 0)


def test_reinforce_learns_toy_optimum_without_early_collapse():
    n_options = [15] * 7
    target = [3, 7, 0, 14, 5, 9, 2]
    agent = Reinforce(n_options, seed=0, warmup=20, learning_rate=0.02)
    rewards, warm_max = [], []
    for ep in range(400):
        picks = agent.sample()
        if ep < 20:
            warm_max.append(max(float(p.max()) for p in agent.controller.probabilities(picks)))
        r = float(np.mean([p == t for p, t in zip(picks, target)]))
        rewards.append(r)
        agent.update(picks, r)
    assert max(warm_max) < 0.2  # near-uniform (1/15 = 0.067) while warming up
    assert np.mean(rewards[:50]) < 0.15 and np.mean(rewards[-50:]) > 0.25  # chance: 1/15
    # the squashed logits bound any option's probability below 1
    bound = np.exp(1.5) / (np.exp(1.5) + 14 * np.exp(-1.5))
    assert max(float(p.max()) for p in agent.controller.probabilities()) <= bound + 1e-6


POSTGRES_URL = os.environ.get("GENEQN_TEST_POSTGRES_URL")


def _two_workers_share_the_budget(tmp_path, storage_url: str, study: str):
    """Two `geneqn search --worker` processes on one shared study finish the budget together."""
    from geneqn.nas.search import open_storage
    from geneqn.run import demo_config, run as run_stages

    run = tmp_path / "run"
    run_stages(demo_config(run), ["targets", "tss", "features", "dataset"])
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    geneqn = [sys.executable, "-m", "geneqn.cli"]
    cfg = tmp_path / "c.toml"
    cfg.write_text(f'[run]\nfolder = "{run}"\ncell_types = ["type B pancreatic cell"]\n'
                   '[train]\nmax_epochs = 8\npatience = 8\nbatch_size = 256\n'
                   f'[search]\ntrials = 12\ngroup_size = 2\nstudy = "{study}"\ndense_widths = [8, 16]\n'
                   'latent_widths = [2, 3]\n')
    cmd = geneqn + ["search", "--worker", "--config", str(cfg), "--storage", storage_url]
    procs = [subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) for _ in range(2)]
    outs = [p.communicate(timeout=600)[0] for p in procs]
    assert all(p.returncode == 0 for p in procs), "\n".join(o[-2000:] for o in outs)
    storage = open_storage(storage_url)
    names = [n for n in optuna.get_all_study_names(storage=storage) if n.startswith(f"{study}-")]
    assert len(names) == 1, names  # one study, bound to the fingerprint of the search's inputs
    s = optuna.load_study(study_name=names[0], storage=storage)
    complete = [t for t in s.trials if t.state.name == "COMPLETE"]
    assert len(complete) == 12
    assert len({t.number for t in complete}) == 12  # twelve distinct trials, none recorded twice
    ran = [int(o.split("this worker ran ")[1].split(" ")[0]) for o in outs]
    assert sum(ran) == 12 and all(r > 0 for r in ran), ran
    assert not [t for t in s.trials if t.state.name in ("RUNNING", "WAITING")]


@pytest.mark.postgres
def test_two_postgres_workers_share_the_budget(tmp_path):
    assert POSTGRES_URL, "set GENEQN_TEST_POSTGRES_URL (the .ci/run script starts a server)"
    _two_workers_share_the_budget(tmp_path, POSTGRES_URL, f"pgtest{os.getpid()}")


def test_two_journal_workers_share_the_budget(tmp_path):
    """The same with no database server: Optuna's JournalStorage on a file (journal:///...)."""
    _two_workers_share_the_budget(tmp_path, f"journal://{tmp_path / 'shared' / 'study.log'}", "jtest")
    assert (tmp_path / "shared" / "study.log").stat().st_size > 0


def test_a_journal_reclaims_the_trials_of_a_dead_worker(tmp_path):
    """A journal has no heartbeats of Optuna's: a running trial whose heartbeat attribute is
    older than the grace period is failed and run again with its parameters; a fresh one is
    left to its worker."""
    from geneqn.nas import search as S

    url = f"journal://{tmp_path / 'study.log'}"
    space = space_from_config(SMALL)
    study = open_study(url, "s", space, "tpe", 0)
    names = space.param_names()
    stale, fresh = study.ask(), study.ask()
    for t in (stale, fresh):
        for i, n in enumerate(names):
            t.suggest_categorical(n, space.choices(i))
        t.set_user_attr("arch", space.architecture([t.params[n] for n in names]).to_json())
    stale.set_user_attr("heartbeat", 0.0)  # long ago
    fresh.set_user_attr("heartbeat", __import__("time").time())
    assert S.reclaim_running(study) == 1
    trials = study.get_trials(deepcopy=False)
    assert trials[stale.number].state.name == "FAIL" and trials[fresh.number].state.name == "RUNNING"
    retry = [t for t in trials if t.user_attrs.get("retry_of") == stale.number]
    assert len(retry) == 1 and retry[0].state.name == "WAITING"
    assert S.reclaim_running(study) == 0  # already reclaimed
    res = run_search(toy_data(), space, storage=url, study_name="s", trials=4, group_size=2, single_worker=False,
                     train_kw=TRAIN)
    done = [t for t in res.study.trials if t.state.name == "COMPLETE"]
    again = [t for t in done if t.user_attrs.get("retry_of") == stale.number]
    assert len(done) >= 3 and len(again) == 1 and again[0].params == stale.params  # run again, same parameters
    assert trials_table(res.study)["retry"].any()


def test_network_inference_runs_with_one_torch_thread_whatever_the_caller_set():
    """Latents of a trained demo network differed in the last bits between 1 and 2 torch
    threads, so an equation distilled in a 2-thread process differed from one distilled on a
    cluster worker (1 thread). Every inference path runs with one thread and restores the caller's."""
    import numpy as np
    import torch

    from geneqn.nas.estimator import architecture_of
    from geneqn.nas.network import BottleneckMLP

    net = BottleneckMLP(5, architecture_of("8-relu|[3-tanh]|8-relu"))
    seen = []
    net.layers[0].register_forward_pre_hook(lambda m, a: seen.append(torch.get_num_threads()))
    X = np.random.default_rng(0).normal(size=(20, 5))
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        net.predict(X), net.latent(X), net.sensitivity(X), net.output_gradient(X)
        assert seen == [1, 1, 1, 1] and torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)
