import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from geneqn.cli import app
from geneqn.errors import GeneqnError
from geneqn.features.demo import demo_path
from geneqn.pipeline import Run, demo_config, run_all

runner = CliRunner()


def test_demo_bundle_known_biology():
    expr = pd.read_parquet(demo_path("expression.parquet"))
    expr = expr[expr["gene"] != "n_cells"].set_index("symbol")
    top = {g: expr.loc[g].drop("gene").astype(float).idxmax() for g in ["INS", "GCG", "SST", "PPY"]}
    assert top == {"INS": "type B pancreatic cell", "GCG": "pancreatic A cell",
                   "SST": "pancreatic D cell", "PPY": "pancreatic PP cell"}
    feats = pd.read_parquet(demo_path("features.parquet"))
    assert feats.shape[1] == 28 and np.isfinite(feats.to_numpy()).all()
    assert ((feats.filter(like="cov_") >= 0) & (feats.filter(like="cov_") <= 1)).all().all()


def test_demo_stages_resume_and_force(tmp_path):
    cfg = demo_config(tmp_path / "run")
    stages = ["targets", "tss", "features", "dataset", "ridge"]
    res = run_all(cfg, stages)
    assert 17000 < res["tss"]["matched"] < 18500
    assert res["dataset"]["n_test"] == round(res["dataset"]["n_genes"] * 0.2)
    assert res["ridge"]["type B pancreatic cell"] > 0.3
    run = Run(cfg)
    before = {p.name: p.stat().st_mtime_ns for p in run.dir.glob("*.parquet")}
    run_all(cfg, stages)  # everything up to date: nothing rewritten
    after = {p.name: p.stat().st_mtime_ns for p in run.dir.glob("*.parquet")}
    assert before == after
    run.run_stage("dataset", force=True)  # forced: split rewritten, then ridge is stale
    assert run.is_done("dataset") and not run.is_done("ridge")


def test_interrupted_stage_leaves_nothing_taken_as_done(tmp_path, monkeypatch):
    cfg = demo_config(tmp_path / "run")
    run = Run(cfg)
    run.run_stage("targets")
    import geneqn.pipeline as pl

    def boom(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(pl, "write_text", boom)  # dies while writing tss outputs
    with pytest.raises(KeyboardInterrupt):
        run.run_stage("tss")
    monkeypatch.undo()
    assert not run.is_done("tss")
    assert not list(run.dir.glob("*.tmp"))
    run.run_stage("tss")
    assert run.is_done("tss")


def test_missing_input_and_version_mismatch(tmp_path):
    cfg = demo_config(tmp_path / "run")
    run = Run(cfg)
    with pytest.raises(GeneqnError, match="needs .*targets.parquet.*geneqn targets"):
        run.run_stage("tss")
    run.run_stage("targets")
    (run.dir / "geneqn-run.json").write_text(json.dumps({"geneqn_version": "0.0.1"}))
    with pytest.raises(GeneqnError, match="written by geneqn 0.0.1"):
        run.run_stage("tss")


def test_cli_help_everywhere():
    for cmd in [[], ["demo"], ["run"], ["config"], ["targets"], ["tss"], ["windows"], ["features"],
                ["features", "table"], ["features", "sei"], ["fetch", "sei"], ["dataset"], ["ridge"], ["nn"],
                ["search"], ["distill"], ["sr"], ["sweep"]]:
        r = runner.invoke(app, cmd + ["--help"])
        assert r.exit_code == 0, (cmd, r.output)
        assert "Usage" in r.output


def test_cli_config_show_and_errors(tmp_path):
    r = runner.invoke(app, ["config", "--show"])
    assert r.exit_code == 0 and "pseudocount = 0.001" in r.output
    bad = tmp_path / "bad.toml"
    bad.write_text("[split]\ntest_fraction = 2\n")
    r = runner.invoke(app, ["config", "--config", str(bad)])
    assert r.exit_code == 2 and "split.test_fraction" in r.output
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
    assert r.exit_code == 0 and "type B pancreatic cell" in r.output


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
    r = runner.invoke(app, ["run", str(cfg), "--until", "dataset"])
    assert r.exit_code == 0, r.output
    assert (tmp_path / "r" / "split.parquet").exists() and not (tmp_path / "r" / "ridge").exists()
    r = runner.invoke(app, ["run", str(cfg), "--until", "bogus"])
    assert r.exit_code == 2 and "no such stage: bogus" in r.output
