"""Dask as the engine: a run's cell types as tasks of a LocalCluster (loopback only), the same
tables as one process, a killed worker's task done again, finished cell types kept after a
crash, and the parallel jobs of the library on the same cluster."""

import hashlib
import os
import shutil
import signal
import sys

import numpy as np
import pytest

import geneqn
from geneqn._parallel import open_cluster, parallel_map, using_client
from geneqn.errors import GeneqnError
from geneqn.run import Runner, demo_config

DATA_STAGES = ["targets", "tss", "features", "dataset"]
MODEL_STAGES = ["ridge", "nn", "search", "distill", "sr", "stability", "sweep", "nas_sr", "evaluate", "report"]
CELL_TYPES = ["type B pancreatic cell", "pancreatic A cell", "pancreatic D cell"]
COMPARED = ["ridge/metrics.json", "ridge/predictions.parquet", "nn/metrics.json", "nas/metrics.json",
            "nas/trials.csv", "nas/predictions.parquet", "distill/equations.json", "distill/predictions.parquet",
            "sr/metrics.json", "stability/stability.json", "sweep/table2.csv",
            *(f"tables/{t}.csv" for t in ("table1", "table2", "table3", "comparisons", "subsets", "residuals",
                                          "effects", "features_used")), "predictions.csv"]


def tiny(folder, **run):
    return demo_config(folder).replace(
        run={"cell_types": CELL_TYPES, **run},
        train={"max_epochs": 5, "patience": 2},
        search={"trials": 2, "group_size": 2, "retrain_seeds": 2, "dense_widths": [8, 16], "latent_widths": [2, 3]},
        nn={"layers": ["16-relu", "8-relu", "3-tanh", "8-relu", "16-relu"], "latent_layer": 2},
        sr={"max_evaluations": 2000, "restarts": 2, "max_samples": 600, "sweep": ["accuracy"]},
        stability={"seeds": 1, "bootstraps": 1, "budget": 0.5, "constant_bootstraps": 3})


def _untimed(x):
    """A JSON value without what measures time (seconds a search took) or names the folder."""
    if isinstance(x, dict):
        return {k: _untimed(v) for k, v in x.items() if k not in ("search_seconds", "created", "stages", "folder")}
    return [_untimed(v) for v in x] if isinstance(x, list) else x


def digests(folder):
    """The compared files, the evaluate stage's figures, and results.json and NAS|SR's metrics
    but for the times they record."""
    import json

    files = COMPARED + sorted(str(p.relative_to(folder)) for p in (folder / "downloads" / "figures").rglob("*.png"))
    out = {f: hashlib.sha256((folder / f).read_bytes()).hexdigest() for f in files}
    for f in ("results.json", "nas_sr/metrics.json"):
        out[f] = _untimed(json.loads((folder / f).read_text()))
    return out


@pytest.fixture(scope="module")
def data_run(tmp_path_factory):
    """The data stages, once; each test copies the folder."""
    base = tmp_path_factory.mktemp("cluster") / "data"
    geneqn.run(tiny(base), DATA_STAGES)
    return base


@pytest.fixture(scope="module")
def serial(data_run):
    """The model stages in this process (no cluster)."""
    folder = data_run.parent / "serial"
    shutil.copytree(data_run, folder)
    geneqn.run(tiny(folder), MODEL_STAGES)
    return folder


@pytest.fixture(scope="module")
def client():
    with open_cluster("local:2") as c:
        yield c


def test_tables_do_not_depend_on_the_cluster(data_run, serial, client):
    """geneqn.run(config, client=...): every cell type's share is a task of the cluster (and its SR
    restarts, training groups and refits are tasks too), the evaluate stage's tables and figures
    included; every file is the same, to the bit."""
    folder = data_run.parent / "dask"
    shutil.copytree(data_run, folder)
    results = geneqn.run(tiny(folder), MODEL_STAGES, client=client)
    assert set(results) == set(MODEL_STAGES)
    ours, theirs = digests(folder), digests(serial)
    assert len([f for f in ours if f.endswith(".png")]) == 3 * 7  # 6 figures a cell type and its stability's
    assert ours == theirs
    assert not (folder / ".stages" / "parts").exists() or not any((folder / ".stages" / "parts").iterdir())
    # the cluster is not part of a stage's fingerprint: the same run is up to date without it
    assert all(Runner(tiny(folder)).is_done(s) for s in MODEL_STAGES)


def test_evaluate_shares_in_one_process_or_several(serial, tmp_path):
    """Without a cluster the evaluate stage's shares (one cell type's tables, figures and
    analyses) run side by side in sr.n_jobs processes: in one process or in two they are the
    same files as the serial run's (one per core)."""
    for n_jobs in (1, 2):
        folder = tmp_path / f"jobs{n_jobs}"
        shutil.copytree(serial, folder)
        Runner(tiny(folder).replace(sr={"n_jobs": n_jobs})).run_stage("evaluate", force=True)
        ours, theirs = digests(folder), digests(serial)
        assert ours["results.json"]["config"]["sr"].pop("n_jobs") == n_jobs  # the config it ran with
        theirs["results.json"]["config"]["sr"].pop("n_jobs")
        assert ours == theirs


from distributed import WorkerPlugin  # noqa: E402


class KillOnce(WorkerPlugin):
    """A worker plugin: SIGKILL the worker the first time a task of ``prefix`` starts there."""

    def __init__(self, prefix, marker):
        self.prefix, self.marker = prefix, str(marker)

    def transition(self, key, start, finish, **kwargs):
        if finish == "executing" and str(key).startswith(self.prefix) and not os.path.exists(self.marker):
            with open(self.marker, "w") as fh:
                fh.write(str(os.getpid()))
            os.kill(os.getpid(), signal.SIGKILL)


def test_a_killed_workers_task_is_done_again_elsewhere(data_run, serial, client, tmp_path):
    import cloudpickle

    cloudpickle.register_pickle_by_value(sys.modules[__name__])  # the plugin travels by value
    folder = tmp_path / "run"
    shutil.copytree(data_run, folder)
    marker = tmp_path / "killed"
    pids = set(client.run(os.getpid).values())
    client.register_plugin(KillOnce("geneqn-nn-pancreatic_A_cell", marker), name="kill-once")
    try:
        geneqn.run(tiny(folder), ["ridge", "nn"], client=client)
    finally:
        client.unregister_worker_plugin("kill-once")
    assert marker.exists() and int(marker.read_text()) in pids  # a worker died running the task
    client.wait_for_workers(2, timeout=60)
    assert set(client.run(os.getpid).values()) != pids  # the nanny started a new one
    for f in ("nn/metrics.json", "ridge/metrics.json"):
        assert (folder / f).read_bytes() == (serial / f).read_bytes()


def test_a_killed_run_keeps_its_finished_cell_types(data_run, serial, tmp_path, monkeypatch):
    """Interrupted after one cell type, the stage is not done; run again, only the cell types
    that had not finished are computed, and the tables are those of an uninterrupted run."""
    import geneqn.run.stages.models as models

    folder = tmp_path / "run"
    shutil.copytree(data_run, folder)
    real = models._ridge_cell_type
    calls = []

    def dies_on_the_second(ctx, ct):
        calls.append(ct)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(ctx, ct)

    monkeypatch.setattr(models, "_ridge_cell_type", dies_on_the_second)
    with pytest.raises(KeyboardInterrupt):
        geneqn.run(tiny(folder), ["ridge"])
    assert not Runner(tiny(folder)).is_done("ridge")
    calls.clear()
    monkeypatch.setattr(models, "_ridge_cell_type", lambda ctx, ct: (calls.append(ct), real(ctx, ct))[1])
    geneqn.run(tiny(folder), ["ridge"])
    assert calls == CELL_TYPES[1:]  # the first was kept
    for f in ("ridge/metrics.json", "ridge/predictions.parquet"):
        assert (folder / f).read_bytes() == (serial / f).read_bytes()
    # --force: every cell type again
    calls.clear()
    Runner(tiny(folder)).run_stage("ridge", force=True)
    assert calls == CELL_TYPES


def _square_sum(job):
    a, b = job
    return float(np.sum(np.arange(a, b) ** 2))


def test_parallel_jobs_go_to_the_client_in_use(client):
    jobs = [(i, i + 1000) for i in range(0, 5000, 1000)]
    here = parallel_map(_square_sum, jobs, n_jobs=1, description=None)
    seen = []
    with using_client(client):
        there = parallel_map(_square_sum, jobs, n_jobs=2, description=None, on_result=lambda i, r: seen.append(i))
    assert there == here and sorted(seen) == list(range(len(jobs)))


def test_an_equation_is_the_same_fitted_through_the_cluster(client):
    rng = np.random.default_rng(3)
    X = rng.uniform(0.5, 2, size=(400, 3))
    y = X[:, 0] * X[:, 1] + 0.5 * X[:, 2]
    sr = geneqn.SymbolicRegressor(max_evaluations=3000, restarts=2, n_jobs=2, random_state=0)
    alone = sr.fit(X, y).equations_["equation"].tolist()
    with using_client(client):
        through = geneqn.SymbolicRegressor(**sr.get_params()).fit(X, y).equations_["equation"].tolist()
    assert through == alone


def test_cluster_names_are_checked(tmp_path):
    for bad in ("local:x", "localhost", "4"):
        with pytest.raises(GeneqnError, match="is not a cluster; write local:N"):
            demo_config(tmp_path).replace(run={"cluster": bad})
    with pytest.raises(GeneqnError, match="no such scheduler file"):
        open_cluster(str(tmp_path / "scheduler.json"))
    with pytest.raises(GeneqnError, match="cannot reach the Dask scheduler tcp://127.0.0.1:9"):
        with open_cluster("tcp://127.0.0.1:9", timeout="2s"):
            pass


def test_cli_run_takes_a_cluster(tmp_path):
    from typer.testing import CliRunner

    from geneqn.cli import app

    cfg = tmp_path / "c.toml"
    cfg.write_text(f'[run]\nfolder = "{tmp_path / "run"}"\n')
    r = CliRunner().invoke(app, ["run", str(cfg), "--cluster", "local:two"])
    assert r.exit_code != 0 and "local:two" in r.output and "write local:N" in r.output
    assert "--cluster" in CliRunner().invoke(app, ["run", "--help"]).output


def test_sei_chunks_are_scored_on_the_workers(tmp_path, client):
    """With a client in use, the missing chunks of Sei scores are tasks (the provider travels
    without weights read from files; here a small in-memory Sei travels with it): the same
    scores as here, and a deleted chunk is the only one computed again."""
    import pandas as pd
    import torch

    from geneqn.features import seqclass
    from geneqn.features.sei import SeiProvider, build_sei
    from test_sei import SMALL

    rng = np.random.default_rng(5)
    (tmp_path / "g.fa").write_text(">chr1\n" + "".join(np.array(list("ACGT"))[rng.integers(0, 4, 9000)]) + "\n")
    torch.manual_seed(0)
    model = build_sei(**SMALL).eval()
    unit = seqclass.unit_rows(np.random.default_rng(3).random((40, 30)).astype(np.float32))
    tss = pd.DataFrame({"gene": [f"g{i}" for i in range(7)], "chrom": "chr1",
                        "tss": [100, 2048, 3000, 4500, 6000, 8990, 50], "strand": ["+", "-"] * 3 + ["+"]})
    prov = SeiProvider(tmp_path / "g.fa", tmp_path, device="cpu", batch_size=2, chunk_size=2, model=model,
                       projection=unit)
    here = prov.compute(tss, tmp_path / "here")
    with using_client(client):
        there = prov.compute(tss, tmp_path / "there")
        chunks = sorted((tmp_path / "there").glob("chunk_*.parquet"))
        assert len(chunks) == 4
        chunks[2].unlink()
        before = {c: c.stat().st_mtime_ns for c in chunks if c.exists()}
        again = prov.compute(tss, tmp_path / "there")
    pd.testing.assert_index_equal(there.index, here.index)
    np.testing.assert_allclose(there.to_numpy(), here.to_numpy(), rtol=1e-5, atol=1e-6)
    pd.testing.assert_frame_equal(again, there)
    assert {c: c.stat().st_mtime_ns for c in before} == before  # the others were read back
    assert chunks[2].exists()
