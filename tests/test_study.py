import json
from html.parser import HTMLParser

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from geneqn import evaluate as ev
from geneqn.errors import GeneqnError
from geneqn.pipeline import Run, config_replace, demo_config, run_all


def test_subset_rule_hand_made():
    genes = list("abcdefgh")
    y = np.zeros(8)
    # absolute errors chosen by hand: A's 25th pct = 0.175, median = 0.45; B's likewise
    err_a = np.array([0.1, 0.1, 0.9, 0.9, 0.3, 0.5, 0.4, 0.6])
    err_b = np.array([0.9, 0.8, 0.1, 0.1, 0.3, 0.5, 0.4, 0.6])
    s = ev.gene_subsets(genes, y, y + err_a, y - err_b)
    assert s == {"a_only": ["a", "b"], "b_only": ["c", "d"]}


def test_t_test_against_the_formula():
    a = np.array([1.0, 2.0, 3.0, 4.0])
    b = np.array([2.0, 4.0, 6.0])
    sp2 = ((len(a) - 1) * a.var(ddof=1) + (len(b) - 1) * b.var(ddof=1)) / (len(a) + len(b) - 2)
    t = (a.mean() - b.mean()) / np.sqrt(sp2 * (1 / len(a) + 1 / len(b)))
    res = ev.t_test(a, b)
    assert res["t"] == pytest.approx(t)
    assert res["p"] == pytest.approx(2 * stats.t.sf(abs(t), len(a) + len(b) - 2))
    assert (res["n_a"], res["n_b"]) == (4, 3)


def test_bootstrap_interval_covers_true_r_at_nominal_rate():
    rho, n, reps = 0.5, 150, 200
    rng = np.random.default_rng(1)
    cov = [[1, rho], [rho, 1]]
    covered = 0
    for i in range(reps):
        xy = rng.multivariate_normal([0, 0], cov, size=n)
        lo, hi = ev.bootstrap_ci(xy[:, 0], xy[:, 1], n_boot=500, seed=i)
        covered += lo <= rho <= hi
    assert 0.88 <= covered / reps <= 0.99  # nominal 0.95; percentile intervals run slightly narrow


def test_binned_residuals_hand_made():
    y = np.array([-0.95, -0.9, -0.85, 0.1, 0.15, 0.19, 0.99, 1.0])
    a = y - 0.1
    b = y + np.array([0.2, 0.3, 0.25, 0.0, 0.0, 0.0, 0.0, 0.0])
    rows = {r["bin"]: r for r in ev.binned_residuals(y, a, b)}
    assert len(rows) == 10
    assert rows["[-1.0, -0.8)"]["n"] == 3 and rows["[0.8, 1.0]"]["n"] == 2
    assert rows["[-1.0, -0.8)"]["mean_residual_a"] == pytest.approx(0.1)
    assert rows["[-1.0, -0.8)"]["mean_residual_b"] == pytest.approx(-0.25)
    expected = stats.ttest_rel(np.full(3, 0.1), np.array([0.2, 0.3, 0.25]))
    assert rows["[-1.0, -0.8)"]["p"] == pytest.approx(expected.pvalue)


def tiny_config(folder):
    cfg = demo_config(folder)
    return config_replace(cfg, run={"cell_types": ["type B pancreatic cell", "pancreatic A cell"]},
                          train={"max_epochs": 6, "patience": 2},
                          search={"trials": 3, "group_size": 3, "retrain_seeds": 1, "nas_sr_trials": 2,
                                  "dense_widths": [8, 16], "latent_widths": [2, 3]},
                          nn={"layers": ["16-relu", "16-relu", "8-relu", "3-tanh", "8-relu", "16-relu", "16-relu"]},
                          sr={"population_size": 60, "generations": 5, "max_evaluations": 3000,
                              "max_samples": 1000, "sweep": ["3", "accuracy"], "n_jobs": 1})


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    cfg = tiny_config(tmp_path_factory.mktemp("study") / "run")
    results = run_all(cfg)
    return cfg, results


def test_whole_study_outputs(study):
    cfg, results = study
    run = Run(cfg)
    res = json.loads(run.path("results.json").read_text())
    models = {r["model"] for r in res["table1"]}
    assert models == {"Ridge", "NN", "NAS|NN", "SR", "SR(NAS|NN)", "NAS|SR", "SR(NAS|SR)"}
    for r in res["table1"]:
        assert -1 <= r["pearson_r_ci_low"] <= r["pearson_r"] <= r["pearson_r_ci_high"] <= 1
        assert r["n_genes"] == res["stages"]["dataset"]["n_test"]
    t3 = pd.read_csv(run.path("tables/table3.csv"))
    assert t3["cell_type"].tolist() == ["type B pancreatic cell", "pancreatic A cell"]
    assert set(pd.read_csv(run.path("tables/table2.csv")).latent_limit.astype(str)) == {"3", "accuracy"}
    subsets = pd.read_csv(run.path("tables/subsets.csv"))
    a = res["analyses"]["type B pancreatic cell"]
    assert (subsets.query("cell_type == 'type B pancreatic cell' and subset == 'nonlinear'").shape[0]
            == a["nonlinear_genes"])
    assert res["versions"]["geneqn"] and res["config"]["run"]["seed"] == 0
    # every model scored on the same test genes
    genes = {name: set(pd.read_parquet(run.path(f)).query("cell_type == 'pancreatic A cell'").gene)
             for name, f, _ in __import__("geneqn.pipeline", fromlist=["MODELS"]).MODELS}
    assert len({frozenset(g) for g in genes.values()}) == 1


class _Collector(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tables, self.imgs, self.maths, self.links = [], [], 0, []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "table":
            self.tables.append(a.get("id"))
        if tag == "img":
            self.imgs.append(a.get("src", ""))
        if tag == "math":
            self.maths += 1
        if tag in ("script", "link"):
            self.links.append(a)


def test_report_is_self_contained_and_has_every_table(study):
    cfg, results = study
    html = Run(cfg).path("report.html").read_text()
    p = _Collector()
    p.feed(html)
    assert {"table1", "table2", "table3", "residuals", "classes", "versions"} <= set(p.tables)
    assert len(p.imgs) == 4 and all(s.startswith("data:image/png;base64,") for s in p.imgs)
    assert p.maths >= 2 and not p.links
    assert "http://" not in html.replace("http://www.w3.org", "") and "https://" not in html
    assert "SR(NAS|SR)" in html and "type B pancreatic cell" in html


def test_predict_applies_saved_equations(study, tmp_path):
    from typer.testing import CliRunner

    from geneqn.cli import app
    from geneqn.pipeline import load_equations

    cfg, _ = study
    feats = pd.read_parquet(Run(cfg).path("features.parquet")).head(30)
    src = tmp_path / "f.csv"
    feats.to_csv(src)
    out = tmp_path / "p.csv"
    r = CliRunner().invoke(app, ["predict", str(src), "--run", cfg.run.folder, "-o", str(out)])
    assert r.exit_code == 0, r.output
    pred = pd.read_csv(out, index_col=0)
    eq = load_equations(Run(cfg))["pancreatic A cell"]
    np.testing.assert_allclose(pred["pancreatic A cell"], eq.predict(feats), rtol=1e-9)
    net = Run(cfg).path("nas/pancreatic_A_cell.pt")
    r = CliRunner().invoke(app, ["predict", str(src), "--network", str(net), "-o", str(out)])
    assert r.exit_code == 0, r.output


def test_interrupted_run_resumes_without_redoing(tmp_path, monkeypatch):
    cfg = tiny_config(tmp_path / "run")
    stages = ["targets", "tss", "features", "dataset", "ridge", "nn"]
    import geneqn.pipeline as pl

    real = pl.STAGES["nn"].fn

    def interrupted(run):
        raise KeyboardInterrupt

    monkeypatch.setattr(pl.STAGES["nn"], "fn", interrupted)
    with pytest.raises(KeyboardInterrupt):
        run_all(cfg, stages)
    run = Run(cfg)
    done = {s: run.is_done(s) for s in stages}
    assert done == {"targets": True, "tss": True, "features": True, "dataset": True, "ridge": True, "nn": False}
    stamps = {s: run._stamp_path(s).stat().st_mtime_ns for s in stages[:-1]}
    monkeypatch.setattr(pl.STAGES["nn"], "fn", real)
    run_all(cfg, stages)
    assert {s: run._stamp_path(s).stat().st_mtime_ns for s in stages[:-1]} == stamps
    assert run.is_done("nn")


def test_disk_full_leaves_nothing_taken_as_done(tmp_path, monkeypatch):
    cfg = tiny_config(tmp_path / "run")
    run = Run(cfg)
    run.run_stage("targets")

    def full(self, *a, **k):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(pd.DataFrame, "to_parquet", full)
    with pytest.raises(OSError):
        run.run_stage("tss")
    monkeypatch.undo()
    assert not run.path("tss.parquet").exists() and not run.is_done("tss")
    assert not list(run.dir.rglob("*.tmp"))


def test_too_few_genes(tmp_path):
    cfg = tiny_config(tmp_path / "run")
    run = Run(cfg)
    run_all(cfg, ["targets", "tss", "features"])
    f = pd.read_parquet(run.path("features.parquet")).head(20)
    f.to_parquet(run.path("features.parquet"))
    with pytest.raises(GeneqnError, match="only 20 gene"):
        run.run_stage("dataset")
