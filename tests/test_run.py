import json
import os
import shutil
import stat
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from geneqn.cli import app
from geneqn.errors import GeneqnError
from geneqn.features.demo import demo_path
from geneqn.run import Runner, cell_type_key, demo_config, run
from helpers import demo_subset, ridge_test_r_by_formula

runner = CliRunner()
DATA_STAGES = ["targets", "tss", "features", "dataset"]


def test_demo_bundle_known_biology():
    expr = pd.read_parquet(demo_path("expression.parquet"))
    expr = expr[expr["gene"] != "n_cells"].set_index("symbol")
    top = {g: expr.loc[g].drop("gene").astype(float).idxmax() for g in ["INS", "GCG", "SST", "PPY"]}
    assert top == {"INS": "type B pancreatic cell", "GCG": "pancreatic A cell",
                   "SST": "pancreatic D cell", "PPY": "pancreatic PP cell"}
    feats = pd.read_parquet(demo_path("features.parquet"))
    assert feats.shape[1] == 28 and np.isfinite(feats.to_numpy()).all()


def test_stages_resume_and_force(tmp_path):
    cfg = demo_config(tmp_path / "run")
    stages = DATA_STAGES + ["ridge"]
    res = run(cfg, stages)
    assert 17000 < res["tss"]["matched"] < 18500
    assert res["dataset"]["n_test"] == round(res["dataset"]["n_genes"] * 0.2)
    # the ridge stage's test r is that of the closed-form ridge on the run's own files
    assert res["ridge"]["type B pancreatic cell"] == pytest.approx(
        ridge_test_r_by_formula(tmp_path / "run", "type B pancreatic cell"), abs=1e-4)  # the summary rounds
    r = Runner(cfg)
    before = {p.name: p.stat().st_mtime_ns for p in r.layout.root.glob("*.parquet")}
    again = run(cfg, stages)  # everything up to date: nothing rewritten
    assert all(v.get("up_to_date") for v in again.values())
    assert {p.name: p.stat().st_mtime_ns for p in r.layout.root.glob("*.parquet")} == before
    r.run_stage("dataset", force=True)  # redone, same content: ridge stays up to date
    assert r.is_done("dataset") and r.is_done("ridge")
    cfg2 = cfg.replace(split={"test_fraction": 0.25})  # another split: ridge is stale
    assert not Runner(cfg2).is_done("dataset")
    Runner(cfg2).run_stage("dataset")
    assert not Runner(cfg2).is_done("ridge")


def test_moved_run_folder_stays_up_to_date(tmp_path):
    cfg = demo_config(tmp_path / "a")
    run(cfg, DATA_STAGES)
    shutil.copytree(tmp_path / "a", tmp_path / "b")  # new paths, new modification times
    moved = Runner(cfg.replace(run={"folder": str(tmp_path / "b")}))
    assert all(moved.is_done(s) for s in DATA_STAGES)


def test_interrupted_stage_leaves_nothing_taken_as_done(tmp_path, monkeypatch):
    cfg = demo_config(tmp_path / "run")
    r = Runner(cfg)
    r.run_stage("targets")
    import geneqn.run.stages.data as data

    def boom(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(data, "write_text", boom)  # dies while writing the tss outputs
    with pytest.raises(KeyboardInterrupt):
        r.run_stage("tss")
    monkeypatch.undo()
    assert not r.is_done("tss")
    assert not list(r.layout.root.rglob("*.tmp"))
    # the half-written tss.parquet is not trusted by the next stage
    assert r.layout.tss.exists()
    with pytest.raises(GeneqnError, match="stage tss did not finish it"):
        r.run_stage("features")
    r.run_stage("tss")
    assert r.is_done("tss")


def test_missing_input_and_version_mismatch(tmp_path):
    cfg = demo_config(tmp_path / "run")
    r = Runner(cfg)
    with pytest.raises(GeneqnError, match="needs .*tss.parquet.*geneqn tss"):
        r.run_stage("features")
    r.run_stage("targets")
    (r.layout.marker).write_text(json.dumps({"geneqn_version": "0.0.1"}))
    with pytest.raises(GeneqnError, match="written by geneqn 0.0.1"):
        r.run_stage("tss")


def test_outputs_respect_the_umask_and_config_records_each_stage(tmp_path):
    old = os.umask(0o022)
    try:
        cfg = demo_config(tmp_path / "run")
        run(cfg, ["targets", "tss"])
    finally:
        os.umask(old)
    mode = stat.S_IMODE(os.stat(tmp_path / "run" / "targets.parquet").st_mode)
    assert mode == 0o644
    import tomllib

    recorded = tomllib.loads((tmp_path / "run" / "config.toml").read_text())
    assert set(recorded) == {"run", "expression", "annotation"}
    Runner(cfg.replace(split={"test_fraction": 0.3})).run_stage("features")
    recorded = tomllib.loads((tmp_path / "run" / "config.toml").read_text())
    assert recorded["expression"]["format"] == "table" and "features" in recorded and "split" not in recorded


def test_a_run_folders_config_loads_back_with_its_own_folder(tmp_path, monkeypatch):
    """A config built in Python with a relative run folder (as `geneqn demo` builds it) is
    recorded so that load_config of <run>/config.toml names that folder, not <run>/<run>."""
    from geneqn.config import load_config

    monkeypatch.chdir(tmp_path)
    shutil.copy(demo_path("expression.parquet"), tmp_path / "expression.parquet")
    run(demo_config("rel-run").replace(expression={"path": "expression.parquet"}), ["targets"])
    monkeypatch.chdir("/")
    cfg = load_config(tmp_path / "rel-run" / "config.toml")
    assert Path(cfg.run.folder) == (tmp_path / "rel-run").resolve()
    assert Path(cfg.expression.path) == (tmp_path / "expression.parquet").resolve()


def test_cell_type_keys_never_collide():
    names = ["T+", "T/", "T_", "a b", "ok-name.1", "../etc", "x" * 200]
    keys = [cell_type_key(n) for n in names]
    assert len(set(keys)) == len(keys)
    assert cell_type_key("ok-name.1") == "ok-name.1"
    assert all("/" not in k and not k.startswith(".") for k in keys)


# ---------------------------------------------------------------------- the CLI

def test_cli_help_everywhere():
    for cmd in [[], ["demo"], ["run"], ["config"], ["targets"], ["tss"], ["windows"], ["features"],
                ["features", "table"], ["features", "sei"], ["fetch", "sei"], ["dataset"], ["ridge"], ["nn"],
                ["search"], ["distill"], ["sr"], ["sweep"], ["stability"], ["nas-sr"], ["evaluate"], ["report"], ["predict"]]:
        r = runner.invoke(app, cmd + ["--help"])
        assert r.exit_code == 0, (cmd, r.output)
        assert "Usage" in r.output


def test_cli_checks_choices_when_parsing():
    r = runner.invoke(app, ["distill", "--engine", "gplearn"])
    assert r.exit_code == 2 and "'gplearn' is not one of" in r.output
    r = runner.invoke(app, ["search", "--sampler", "bayes"])
    assert r.exit_code == 2 and "bayes" in r.output


def test_cli_config_show_set_and_errors(tmp_path):
    r = runner.invoke(app, ["config", "--show", "--set", "sr.complexity_limit=15"])
    assert r.exit_code == 0 and "complexity_limit = 15" in r.output and "pseudocount = 0.001" in r.output
    bad = tmp_path / "bad.toml"
    bad.write_text("[split]\ntest_fraction = 2\n")
    r = runner.invoke(app, ["config", "--config", str(bad)])
    assert r.exit_code == 2 and "split.test_fraction" in r.output
    r = runner.invoke(app, ["config", "--set", "sr.operators=['+', 'erf']"])
    assert r.exit_code == 2 and "unknown operator(s) 'erf'" in r.output
    r = runner.invoke(app, ["targets", str(tmp_path / "missing.h5ad"), "--run", str(tmp_path / "r")])
    assert r.exit_code == 2 and "expression input not found" in r.output
    assert "Traceback" not in r.output


def test_cli_stage_commands_on_demo_files(tmp_path):
    rd = tmp_path / "r"
    assert runner.invoke(app, ["targets", str(demo_path("expression.parquet")), "--run", str(rd)]).exit_code == 0
    r = runner.invoke(app, ["tss", str(demo_path("tss.parquet")), "--run", str(rd)])
    assert r.exit_code == 0 and "matched a TSS" in r.output
    assert (rd / "unmatched_genes.txt").read_text().count("\n") > 1000
    assert runner.invoke(app, ["features", "demo", "--run", str(rd)]).exit_code == 0
    r = runner.invoke(app, ["dataset", "--run", str(rd)])
    assert r.exit_code == 0 and "train" in r.output
    r = runner.invoke(app, ["ridge", "--run", str(rd)])
    # the terminal line names the first cell types; every one is in ridge/metrics.json
    metrics = json.loads((rd / "ridge" / "metrics.json").read_text())
    first = next(iter(metrics))
    assert r.exit_code == 0 and f"{first} {metrics[first]['test_r']:.3f}" in r.output and "and 5 more" in r.output
    assert len(metrics) == 9
    assert metrics["type B pancreatic cell"]["test_r"] == pytest.approx(
        ridge_test_r_by_formula(rd, "type B pancreatic cell"), abs=1e-9)


def test_cli_features_sei_wiring_and_missing_weights(tmp_path):
    """`geneqn features sei` takes genome, TSS and model folder from the command line; without
    the weights it stops with a clear message and writes no features."""
    genome = tmp_path / "g.fa"
    genome.write_text(">chr1\n" + "ACGT" * 3000 + "\n")
    tss = tmp_path / "t.bed"
    tss.write_text("chr1\t5000\t6000\tGENE1\t0\t+\nchr1\t7000\t8000\tGENE2\t0\t-\n")
    rd = tmp_path / "r"
    r = runner.invoke(app, ["features", "sei", "--genome", str(genome), "--tss", str(tss),
                            "--model-dir", str(tmp_path / "nomodel"), "--device", "cpu", "--run", str(rd)])
    assert r.exit_code == 2 and "projvec_targets.npy" in r.output and "Traceback" not in r.output
    assert (rd / "tss.parquet").exists() and not (rd / "features.parquet").exists()
    assert pd.read_parquet(rd / "tss.parquet")["gene"].tolist() == ["GENE1", "GENE2"]


def test_cli_run_until(tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_text(f'[run]\nfolder = "{tmp_path / "r"}"\n[expression]\npath = "{demo_path("expression.parquet")}"\n'
                   f'[annotation]\npath = "{demo_path("tss.parquet")}"\n[features]\nprovider = "demo"\n')
    r = runner.invoke(app, ["run", str(cfg), "--until", "dataset", "--plain"])
    assert r.exit_code == 0, r.output
    assert "- dataset: " in r.output  # a persistent line per finished stage
    assert (tmp_path / "r" / "split.parquet").exists() and not (tmp_path / "r" / "ridge").exists()
    r = runner.invoke(app, ["run", str(cfg), "--until", "bogus"])
    assert r.exit_code == 2 and "no such stage: bogus" in r.output


def test_stage_commands_start_from_the_run_folders_config(tmp_path):
    """Without --config, a stage command on an existing folder starts from <run>/config.toml
    (what its stages last ran with), not from the defaults; --config still wins."""
    rd = tmp_path / "r"
    expr = demo_subset(tmp_path / "expression.parquet")  # 1,500 demo genes: the settings matter, not the size
    r = runner.invoke(app, ["targets", str(expr), "--run", str(rd),
                            "--set", "run.cell_types=['type B pancreatic cell']"])
    assert r.exit_code == 0, r.output
    assert runner.invoke(app, ["tss", str(demo_path("tss.parquet")), "--run", str(rd)]).exit_code == 0
    assert runner.invoke(app, ["features", "demo", "--run", str(rd)]).exit_code == 0
    assert runner.invoke(app, ["dataset", "--run", str(rd)]).exit_code == 0
    r = runner.invoke(app, ["ridge", "--run", str(rd)])
    assert r.exit_code == 0, r.output
    assert "settings from" in r.output
    # ridge ran with the folder's run section (without it, the defaults would have replaced it)
    assert "type B pancreatic cell" in (rd / "config.toml").read_text()
    # an explicit config replaces the folder's
    cfg = tmp_path / "c.toml"
    cfg.write_text(f'[run]\nfolder = "{rd}"\n[expression]\npath = "{expr}"\n'
                   f'[annotation]\npath = "{demo_path("tss.parquet")}"\n[features]\nprovider = "demo"\n')
    r = runner.invoke(app, ["ridge", "--config", str(cfg)])
    assert r.exit_code == 0, r.output
    assert "settings from" not in r.output
    assert "type B pancreatic cell" not in (rd / "config.toml").read_text()


def test_pareto_tables_of_an_earlier_distillation_are_removed(tmp_path):
    """A distillation with fewer stage-1 targets (3 directions after 8 latent units) leaves no
    stale stage-1 table behind for load_run to read."""
    from geneqn.run.common import write_tables
    from geneqn.sr.regressor import SymbolicRegressor

    X = pd.DataFrame({"a": np.linspace(-1, 1, 60), "b": np.linspace(2, 3, 60) ** 2})
    table = SymbolicRegressor(max_evaluations=600, restarts=1, random_state=0).fit(X, 2 * X.a + 1).equations_
    folder = tmp_path / "tables"
    write_tables(folder, {"stage1_x0": table, "stage1_x1": table, "stage2": table})
    write_tables(folder, {"stage1_x0": table, "stage2": table})
    assert sorted(p.name for p in folder.glob("*.csv")) == ["stage1_x0.csv", "stage2.csv"]
