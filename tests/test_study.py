import json
import os
import sys
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from geneqn import metrics, study
from geneqn.errors import GeneqnError
from geneqn.nas.space import Architecture
from geneqn.run import STAGES, Runner, cell_type_key, demo_config, run
from helpers import demo_subset


def test_subset_rule_hand_made():
    genes = list("abcdefgh")
    y = np.zeros(8)
    # absolute errors chosen by hand: A's 25th pct = 0.175, median = 0.45; B's likewise
    err_a = np.array([0.1, 0.1, 0.9, 0.9, 0.3, 0.5, 0.4, 0.6])
    err_b = np.array([0.9, 0.8, 0.1, 0.1, 0.3, 0.5, 0.4, 0.6])
    s = metrics.gene_subsets(genes, y, y + err_a, y - err_b)
    assert s == {"a_only": ["a", "b"], "b_only": ["c", "d"]}


def test_t_test_against_the_formula():
    a = np.array([1.0, 2.0, 3.0, 4.0])
    b = np.array([2.0, 4.0, 6.0])
    sp2 = ((len(a) - 1) * a.var(ddof=1) + (len(b) - 1) * b.var(ddof=1)) / (len(a) + len(b) - 2)
    t = (a.mean() - b.mean()) / np.sqrt(sp2 * (1 / len(a) + 1 / len(b)))
    res = metrics.t_test(a, b)
    assert res["t"] == pytest.approx(t)
    assert res["p"] == pytest.approx(2 * stats.t.sf(abs(t), len(a) + len(b) - 2))


def test_bootstrap_interval_covers_true_r_at_nominal_rate():
    rho, n, reps = 0.5, 150, 200
    rng = np.random.default_rng(1)
    covered = 0
    for i in range(reps):
        xy = rng.multivariate_normal([0, 0], [[1, rho], [rho, 1]], size=n)
        lo, hi = metrics.bootstrap_ci(xy[:, 0], xy[:, 1], n_boot=500, seed=i)
        covered += lo <= rho <= hi
    assert 0.88 <= covered / reps <= 0.99  # nominal 0.95; percentile intervals run slightly narrow


def test_paired_bootstrap_difference():
    rng = np.random.default_rng(0)
    y = rng.normal(size=400)
    good = y + 0.5 * rng.normal(size=400)
    bad = y + 1.5 * rng.normal(size=400)
    d = metrics.paired_bootstrap_difference(y, good, bad, seed=0)
    assert d["difference"] == pytest.approx(metrics.pearson_r(y, good) - metrics.pearson_r(y, bad))
    assert 0 < d["ci"][0] < d["difference"] < d["ci"][1] and d["p"] < 0.01
    same = metrics.paired_bootstrap_difference(y, good, good, seed=0)
    assert same["difference"] == 0 and same["ci"] == [0.0, 0.0]


def test_fdr_against_hand_computation():
    p = np.array([0.01, 0.04, 0.03, np.nan, 0.5])
    # sorted: 0.01, 0.03, 0.04, 0.5 (m = 4): 0.04, 0.06, 0.0533, 0.5 -> monotone: 0.04, 0.0533, 0.0533, 0.5
    np.testing.assert_allclose(metrics.fdr_bh(p), [0.04, 0.04 * 4 / 3, 0.04 * 4 / 3, np.nan, 0.5])


def test_binned_residuals_and_untested_small_bins():
    y = np.array([-0.95, -0.9, -0.85, 0.1, 0.15, 0.19, 0.99, 1.0])
    a = y - 0.1
    b = y + np.array([0.2, 0.3, 0.25, 0.0, 0.0, 0.0, 0.0, 0.0])
    rows = {r["bin"]: r for r in metrics.binned_residuals(y, a, b)}
    assert len(rows) == 10
    assert rows["[-1.0, -0.8)"]["n"] == 3 and rows["[0.8, 1.0]"]["n"] == 2
    expected = stats.ttest_rel(np.full(3, 0.1), np.array([0.2, 0.3, 0.25]))
    assert rows["[-1.0, -0.8)"]["p"] == pytest.approx(expected.pvalue)
    t = study.residual_bins(y, a, b, min_genes=3)
    assert t.loc[t["n"] < 3, "p"].isna().all() and t.loc[t["bin"] == "[-1.0, -0.8)", "tested"].item()


def test_effects_of_a_known_function():
    X = pd.DataFrame({"a": np.linspace(0, 10, 101), "b": np.linspace(-1, 1, 101)})
    e = study.effects(lambda d: 2 * d["a"] - 3 * d["b"] ** 2, X).set_index("feature")
    # a: 10th pct 1 -> 90th pct 9: +16; b at its 10th/90th pct (-0.8, 0.8): no change
    assert e.loc["a", "effect"] == pytest.approx(16.0)
    assert e.loc["b", "effect"] == pytest.approx(0.0, abs=1e-12)
    assert list(e.index) == ["a", "b"]


def tiny_config(folder):
    """The whole study on 2,000 demo genes (seeded; INS and GCG among them) and two cell types."""
    folder = Path(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    expr = demo_subset(folder.parent / "expression.parquet", 2000, keep_symbols=("INS", "GCG"))
    return demo_config(folder).replace(
        # seed 3: NAS|SR keeps NAS|NN's network in beta cells and another in alpha cells (both
        # cases of the equation memo are exercised)
        run={"cell_types": ["type B pancreatic cell", "pancreatic A cell"], "seed": 3}, expression={"path": str(expr)},
        train={"max_epochs": 6, "patience": 2},
        search={"trials": 3, "group_size": 3, "retrain_seeds": 1, "nas_sr_trials": 2, "nas_sr_budget": 0.5,
                "dense_widths": [8, 16], "latent_widths": [2, 3]},
        nn={"layers": ["16-relu", "16-relu", "8-relu", "3-tanh", "8-relu", "16-relu", "16-relu"]},
        sr={"max_evaluations": 3000, "restarts": 1, "max_samples": 800, "sweep": ["3", "accuracy"], "n_jobs": 1,
            "latent_targets": "auto"},   # the library's default (the demo's config fits the latent units only)
        stability={"seeds": 1, "bootstraps": 1, "constant_bootstraps": 3})


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    cfg = tiny_config(tmp_path_factory.mktemp("study") / "run")
    return cfg, run(cfg)


def test_whole_study_outputs(tiny):
    cfg, results = tiny
    L = Runner(cfg).layout
    res = json.loads(L.results.read_text())
    assert res["models"] == ["Ridge", "SR", "NN", "NAS|SR", "NAS|NN", "SR(NAS|SR)", "SR(NAS|NN)"]
    for r in res["table1"]:
        assert -1 <= r["pearson_r_ci_low"] <= r["pearson_r"] <= r["pearson_r_ci_high"] <= 1
        assert r["n_genes"] == res["dataset"]["n_test"]
    t3 = pd.read_csv(L.table("table3"))
    assert t3["cell_type"].tolist() == ["type B pancreatic cell", "pancreatic A cell"]
    assert set(pd.read_csv(L.table2).latent_limit.astype(str)) == {"3", "accuracy"}
    cmp = pd.read_csv(L.table("comparisons"))
    assert set(cmp.model) == {"Ridge", "SR", "NN", "NAS|SR", "NAS|NN", "SR(NAS|SR)"}
    assert ((cmp.ci_low <= cmp.difference) & (cmp.difference <= cmp.ci_high)).all()
    c = res["cells"]["pancreatic A cell"]
    assert set(c["equation"]["stage1_fidelity"]) == set(c["equation"]["latents"])
    assert c["equation"]["complexity"] == sum(1 for _ in c["equation"]["output"]) + sum(
        len(c["equation"]["latents"][k]) - 1 for op in c["equation"]["output"] if op[0] == "var" for k in [op[1]])
    # predictions.csv: every gene of the dataset (its split beside it), every model's prediction
    p = pd.read_csv(L.predictions_csv)
    assert {"gene", "symbol", "cell_type", "split", "measured_g", "Ridge", "SR(NAS|NN)"} <= set(p.columns)
    split = pd.read_parquet(L.split)
    for ct in ("type B pancreatic cell", "pancreatic A cell"):
        sub = p[p["cell_type"] == ct].set_index("gene")
        assert len(sub) == res["dataset"]["n_genes"] and not sub[list(res["models"])].isna().any().any()
        assert (sub["split"] == split["split"].reindex(sub.index.astype(str))).all()
        assert {"INS", "GCG"} <= set(sub["symbol"].dropna())  # marker genes whichever split they fell in
    # each model's test r in Table 1 is scipy's Pearson r of its column's test rows (an independent computation)
    t1 = pd.read_csv(L.table("table1"))
    for row in t1.itertuples():
        sub = p[(p["cell_type"] == row.cell_type) & (p["split"] == "test")]
        if sub[row.model].nunique() == 1:  # a constant prediction (e.g. an equation ĝ = c): r is 0 by definition
            assert row.pearson_r == 0.0  # (metrics.pearson_r's documented convention; scipy gives NaN)
        else:
            assert row.pearson_r == pytest.approx(stats.pearsonr(sub["measured_g"], sub[row.model])[0], abs=1e-9)
    assert res["cells"]["type B pancreatic cell"]["equation"]["meta"]["target_scaling"]["g1_min"] < 0
    # stability: one seed and one bootstrap refit per cell type; shares are counts over 2 refits
    refits = json.loads(L.stability.read_text())
    for ct, c in res["cells"].items():
        st = c["stability"]
        assert st["n_refits"] == 2 and len(refits[ct]["refits"]) == 2
        for f, share in st["features"].items():
            assert share == sum(f in r["features"] for r in refits[ct]["refits"]) / 2
        assert set(st["headline"]["features"]) == set(c["equation"]["features_used"])
        assert st["test_r"]["values"] == [r["test_r"] for r in refits[ct]["refits"]]


def test_nas_sr_keeps_the_architecture_its_equations_chose(tiny):
    """NAS|SR retrains the architecture of its best trial by the equations' reward (not the best
    network among several, NAS|NN's criterion) and distils it as the distill stage does: stage 1
    chosen on the valid genes, the equation's valid r the one its predictions give."""
    import optuna

    cfg, _ = tiny
    L = Runner(cfg).layout
    m = json.loads((L.root / "nas_sr" / "metrics.json").read_text())
    preds = pd.read_parquet(L.predictions("nas_sr"))
    storage = f"sqlite:///{L.study_db.resolve()}"
    for ct in cfg.run.cell_types:
        study = optuna.load_study(study_name=m[ct]["study"], storage=storage)
        best = max((t for t in study.trials if t.value is not None), key=lambda t: (t.value, -t.number))
        assert m[ct]["architecture_text"] == str(Architecture.from_json(best.user_attrs["arch"]))
        assert m[ct]["retrained"] == [m[ct]["architecture_text"]]
        assert len(m[ct]["valid_r_per_seed"]) == cfg.search.retrain_seeds
        assert m[ct]["diagnostics"]["genes"] == "valid"
        v = preds[(preds["cell_type"] == ct) & (preds["split"] == "valid")]
        if v["yhat"].nunique() == 1:  # a constant equation: r 0 (metrics.pearson_r's convention)
            assert m[ct]["valid_r"] == 0.0
        else:
            assert m[ct]["valid_r"] == pytest.approx(stats.pearsonr(v["y"], v["yhat"])[0], abs=1e-9)


def test_retraining_starts_from_the_trials_own_seed(tiny):
    """NAS|NN retrains each of its best architectures first with the seed its best trial was
    trained with: a trial that trained alone in its round (layer widths no other trial shared)
    is the same computation, so its network is read from the training memo and its valid r is
    the trial's to the bit; further seeds are run.seed + 10000 + i."""
    import optuna

    from geneqn.run.stages.models import retrain_seeds

    cfg, _ = tiny
    L = Runner(cfg).layout
    m = json.loads((L.root / "nas" / "metrics.json").read_text())
    storage = f"sqlite:///{L.study_db.resolve()}"
    alone = 0
    for ct in cfg.run.cell_types:
        trials = [t for t in optuna.load_study(study_name=m[ct]["study"], storage=storage).trials if t.value is not None]
        kept = [t for t in trials if str(Architecture.from_json(t.user_attrs["arch"])) == m[ct]["architecture_text"]]
        best = max(kept, key=lambda t: (t.value, -t.number))
        assert best.user_attrs["seed"] == cfg.run.seed + best.user_attrs["round"] * cfg.search.group_size + best.user_attrs["slot"]
        assert m[ct]["seeds"] == [best.user_attrs["seed"]] + [cfg.run.seed + 10_000 + i for i in range(cfg.search.retrain_seeds - 1)]
        widths = Architecture.from_json(best.user_attrs["arch"]).widths
        if sum(Architecture.from_json(t.user_attrs["arch"]).widths == widths for t in trials
               if t.user_attrs["round"] == best.user_attrs["round"]) == 1:
            alone += 1
            assert m[ct]["valid_r_per_seed"][0] == best.value
    assert alone  # the memo's case is exercised
    seed0 = cfg.replace(run={"seed": 0})
    assert retrain_seeds(seed0.replace(search={"retrain_seeds": 3}), 10_001) == [10_001, 10_000, 10_002]
    assert retrain_seeds(seed0.replace(search={"retrain_seeds": 3}), 5) == [5, 10_000, 10_001]
    assert retrain_seeds(seed0.replace(search={"retrain_seeds": 2}), None) == [10_000, 10_001]


def test_nas_sr_reads_back_the_equation_of_the_same_network(tiny):
    """Where NAS|SR retrained the very network NAS|NN kept (beta cells here: the same architecture
    and seed), its equation is the distill stage's, read from the equation memo, and its
    predictions are SR(NAS|NN)'s to the bit; where the networks differ (alpha cells) it was
    distilled. The memo's key changes with one weight's last bit, the data, the SR budget, the
    distiller's options and the cell type, not with the number of processes; a damaged file is a
    miss."""
    import torch

    from geneqn.nas.estimator import BottleneckRegressor
    from geneqn.nas.network import BottleneckMLP
    from geneqn.run.common import EquationMemo, distiller_options, load_equations, sr_estimator
    from geneqn.sr.distill import GenomicEquationDistiller

    cfg, _ = tiny
    L = Runner(cfg).layout
    m = json.loads((L.root / "nas_sr" / "metrics.json").read_text())
    eqs = load_equations(L.equations)
    ours, theirs = pd.read_parquet(L.predictions("nas_sr")), pd.read_parquet(L.predictions("distill"))
    same = {}
    for ct in cfg.run.cell_types:
        a, b = BottleneckMLP.load(L.network("nas_sr", ct)), BottleneckMLP.load(L.network("nas", ct))
        sa, sb = a.state_dict(), b.state_dict()
        same[ct] = a.arch == b.arch and all(torch.equal(sa[k], sb[k]) for k in sa)
        assert m[ct]["equation_reused"] == same[ct]
        if same[ct]:
            eq = eqs[ct].to_dict()
            eq["meta"].pop("target_scaling")  # the distill stage adds it to its file
            assert m[ct]["equation"] == eq
            assert (ours[ours.cell_type == ct]["yhat"].to_numpy() == theirs[theirs.cell_type == ct]["yhat"].to_numpy()).all()
    assert set(same.values()) == {True, False}  # both cases are exercised

    ds = Runner(cfg).context("distill").dataset()
    ct = cfg.run.cell_types[0]
    X, y = ds.xy(ct, "train")
    Xv, yv = ds.xy(ct, "valid")
    est = BottleneckRegressor.load(L.network("nas", ct))

    def distiller(c=cfg, cell_type=ct):
        return GenomicEquationDistiller(est, sr=sr_estimator(c), cell_type=cell_type, **distiller_options(c))

    memo = EquationMemo(L.equation_memo)
    key = memo.key(distiller(), X, y, Xv, yv)
    assert memo.get(key) is not None  # the distill stage left it
    assert memo.key(distiller(cfg.replace(sr={"n_jobs": 1})), X, y, Xv, yv) == key
    assert memo.key(distiller(cfg.replace(sr={"max_evaluations": cfg.sr.max_evaluations + 1})), X, y, Xv, yv) != key
    assert memo.key(distiller(cfg.replace(sr={"stage2_input": "latent"})), X, y, Xv, yv) != key
    assert memo.key(distiller(cell_type="other"), X, y, Xv, yv) != key
    assert memo.key(distiller(), X, y + 1e-12, Xv, yv) != key
    with torch.no_grad():
        w = est.network_.layers[0].weight
        w[0, 0] = torch.nextafter(w[0, 0], torch.tensor(float("inf")))
    assert memo.key(distiller(), X, y, Xv, yv) != key
    damaged = EquationMemo(L.root.parent / "memo-copy")
    damaged.put("ab" + key[2:], eqs[ct], {})
    damaged._path("ab" + key[2:]).write_text('{"equation": {"format": 1')
    assert damaged.get("ab" + key[2:]) is None


def test_every_stage_reads_only_what_it_declares(tiny):
    """Each stage re-run under a spy on file opens: every file it reads in the run folder is
    among its declared inputs (or its own outputs)."""
    cfg, _ = tiny
    r = Runner(cfg)
    root = r.layout.root.resolve()
    opened: list[Path] = []

    def hook(event, args):
        if event == "open" and isinstance(args[0], (str, bytes, Path)):
            mode = args[1] if len(args) > 1 and isinstance(args[1], str) else "r"
            flags = args[2] if len(args) > 2 and isinstance(args[2], int) else 0
            if flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT):
                return  # os.open for writing (atomic writes' temporary files)
            if "r" in mode and "+" not in mode and "w" not in mode and "a" not in mode:
                p = Path(args[0] if not isinstance(args[0], bytes) else args[0].decode())
                try:
                    opened.append(p.resolve())
                except OSError:
                    pass

    sys.addaudithook(hook)
    for name, st in STAGES.items():
        if not st.enabled(cfg):
            continue
        ctx = r.context(name)
        declared = [p.resolve() for p in st.inputs(ctx) + st.outputs(ctx)]
        opened.clear()
        r.run_stage(name, force=True)
        engine_files = {".lock", ".lock.owner", "config.toml", "geneqn-run.json"}  # the runner's, not the stage's
        # .cache/networks (TrainingMemo) and .cache/equations (EquationMemo) are content-addressed: a
        # file is found only under the hash of every input that determines it, so reading it adds no
        # input (tests/test_nas.py and test_nas_sr_reads_back... check the keys)
        memos = (r.layout.training_memo.resolve(), r.layout.equation_memo.resolve())
        inside = {p for p in opened if root in p.parents and ".stages" not in p.parts and p.name not in engine_files
                  and not any(m in p.parents for m in memos)}
        undeclared = [str(p.relative_to(root)) for p in inside if not any(p == d or d in p.parents for d in declared)]
        assert not undeclared, f"stage {name} read undeclared files: {undeclared}"
        opened.clear()


class _Collector(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tables, self.imgs, self.maths, self.scripts = [], [], 0, []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "table":
            self.tables.append(a.get("id"))
        if tag == "img":
            self.imgs.append(a.get("src", ""))
        if tag == "math":
            self.maths += 1
        if tag in ("script", "link", "iframe", "object"):
            self.scripts.append(a)


def test_report_has_every_cell_type_and_numbers_of_results(tiny):
    cfg, _ = tiny
    L = Runner(cfg).layout
    html = L.report.read_text()
    res = json.loads(L.results.read_text())
    p = _Collector()
    p.feed(html)
    assert {"summary", "table2", "table3", "comparisons", "versions"} <= set(p.tables)
    for ct in res["cell_types"]:
        assert f"table1-{ct}" in p.tables and f"latents-{ct}" in p.tables and f"effects-{ct}" in p.tables
    # per cell type: stability, Pareto, effects, search history, scatter, subsets, residuals; and the heatmap
    assert all(s.startswith("data:image/png;base64,") for s in p.imgs) and len(p.imgs) == 1 + 7 * 2
    for ct in res["cell_types"]:  # the stability block and the knee beside the equation
        assert f"stability-{ct}" in p.tables and f"constants-{ct}" in p.tables and f"knee-{ct}" in p.tables
    # one <math> per line of each equation: the stage-1 equations that stage 2 uses, then g-hat
    lines = sum(1 + len({op[1] for op in c["equation"]["output"] if op[0] == "var"}) for c in res["cells"].values())
    assert p.maths >= lines >= len(res["cell_types"]) and not p.scripts
    for ct, c in res["cells"].items():  # a constant equation is said to be one
        assert (f'id="constant-{ct}"' in html) == (not c["equation"]["features_used"])
        scores = c["equation"]["meta"]["latent_targets_scores"]   # "auto", the default: both ways, scored
        assert set(scores) == {"network", "gradient"} and f'id="targets-{ct}"' in html
        assert f"(latent units {scores['network']:.3f}, active directions {scores['gradient']:.3f})" in " ".join(html.split())
        # residual latents (sr.residual_latents = 2, the default): named, with r after each round
        meta = c["equation"]["meta"]
        kept = meta.get("residual_latents", [])
        assert (f'id="residual-{ct}"' in html) == bool(kept)
        if kept:
            rounds = " → ".join(f"{r:.3f}" for r in meta["residual_scores"]["network_r"][:len(kept) + 1])
            words = " ".join(html.replace("&rarr;", "→").split())
            assert f' <span id="residual-{ct}">{", ".join(kept)}: residual latent' in words
            assert f"rounds: {rounds} (r with expression" in words
    m_nas = json.loads((L.root / "nas" / "metrics.json").read_text())
    for ct in res["cell_types"]:  # the retraining's seeds: how many, and the kept network's
        assert (f"{m_nas[ct]['retrained'][-1]} ({cfg.search.retrain_seeds} seed(s) each, the first that of the "
                f"architecture's best trial); "
                f"kept: seed {m_nas[ct]['seed']}.") in " ".join(html.split())
    assert "http://" not in html.replace("http://www.w3.org", "") and "https://" not in html
    for row in res["table1"]:  # the numbers the report shows are results.json's
        assert f"{row['pearson_r']:.3f}" in html
    assert html.index("Summary") < html.index("Table 1") < html.index("Table 2") < html.index("Table 3")
    assert "<details><summary>Config, stages and versions</summary>" in html
    # the kernel settings that decide the networks' last bits are recorded with the versions
    from geneqn._reproducible import PINNED

    kernels = res["versions"]["torch CPU kernels"]
    assert kernels in html
    if os.environ.get("MKL_CBWR") == PINNED["MKL_CBWR"]:  # pinned in this process (x86 with AVX2)
        assert f"MKL_CBWR={PINNED['MKL_CBWR']}" in kernels and "ATEN_CPU_CAPABILITY=avx2" in kernels


def test_report_renders_the_results_of_a_run_made_before_retraining_seeds(tiny, monkeypatch):
    """A results.json written before the retraining recorded its seeds (no "seeds" and "seed"
    in a cell's search) still renders; the sentence on the seeds is left out."""
    import geneqn.report as report
    from geneqn.report._render import render

    cfg, _ = tiny
    L = Runner(cfg).layout
    original = report.read_json

    def older(path):
        data = original(path)
        if Path(path) == L.results:
            for c in data["cells"].values():
                c["search"].pop("seeds"), c["search"].pop("seed")
        return data

    monkeypatch.setattr(report, "read_json", older)
    html = render("report.html.j2", **report.report_context(L.root))
    assert "Retrained:" in html and "kept: seed" not in html


def test_report_figures_are_the_ones_its_own_inputs_draw(tiny, tmp_path):
    """The evaluate stage draws each cell type's figures where it computes its tables (on the
    cluster's workers with --cluster) and the report embeds those files. A copy of the run
    folder without them draws them from what the report reads (results.json, predictions.csv,
    tables/): the same report, to the byte."""
    import shutil

    from geneqn.report import build_report
    from geneqn.run.layout import RunLayout

    cfg, _ = tiny
    L = Runner(cfg).layout
    res = json.loads(L.results.read_text())
    for ct in res["cell_types"]:
        names = sorted(p.name for p in L.figures(ct).iterdir())
        assert names == sorted(f"{n}.png" for n in ("scatter", "pareto", "effects", "history", "subsets",
                                                   "residuals", "stability"))
        assert all((L.figures(ct) / n).read_bytes().startswith(b"\x89PNG") for n in names)
    copy = RunLayout(tmp_path / "run")
    shutil.copytree(L.root, copy.root)
    shutil.rmtree(copy.figures_root)
    build_report(copy.root)
    assert copy.report.read_bytes() == L.report.read_bytes()


def test_predict_applies_saved_equations_and_networks(tiny, tmp_path):
    from typer.testing import CliRunner

    from geneqn.cli import app
    from geneqn.run.common import load_equations

    cfg, _ = tiny
    L = Runner(cfg).layout
    feats = pd.read_parquet(L.features).head(30)
    src = tmp_path / "f.csv"
    feats.to_csv(src)
    out = tmp_path / "p.csv"
    r = CliRunner().invoke(app, ["predict", str(src), "--run", cfg.run.folder, "-o", str(out)])
    assert r.exit_code == 0, r.output
    pred = pd.read_csv(out, index_col=0)
    eq = load_equations(L.equations)["pancreatic A cell"]
    np.testing.assert_allclose(pred["pancreatic A cell"], eq.predict(feats), rtol=1e-9)
    r = CliRunner().invoke(app, ["predict", str(src), "--run", cfg.run.folder, "-o", str(out), "--log2"])
    assert r.exit_code == 0, r.output
    s = eq.target_scaling
    np.testing.assert_allclose(pd.read_csv(out, index_col=0)["pancreatic A cell"],
                               (eq.predict(feats) + 1) / 2 * (s["g1_max"] - s["g1_min"]) + s["g1_min"], rtol=1e-9)
    net = L.network("nas", "pancreatic A cell")
    r = CliRunner().invoke(app, ["predict", str(src), "--network", str(net), "-o", str(out)])
    assert r.exit_code == 0, r.output


def test_too_few_genes(tmp_path):
    cfg = tiny_config(tmp_path / "run")
    run(cfg, ["targets", "tss", "features"])
    L = Runner(cfg).layout
    f = pd.read_parquet(L.features).head(20)
    f.to_parquet(L.features)
    with pytest.raises(GeneqnError, match="stage features did not finish it"):
        Runner(cfg).run_stage("dataset")
    Runner(cfg).run_stage("features", force=True)
    assert Runner(cfg).run_stage("dataset")["n_genes"] == 2000


def test_load_run_gives_the_run_back_as_objects(tiny, tmp_path):
    """load_run's objects reproduce the files they come from (independent readers: pandas on
    the CSVs, the predictions in predictions.csv), and the README's notebook example runs."""
    import re

    import geneqn
    from geneqn.sr.regressor import SymbolicRegressor

    cfg, _ = tiny
    L = Runner(cfg).layout
    r = geneqn.load_run(L.root)
    assert r.cell_types == ["type B pancreatic cell", "pancreatic A cell"] and r.missing == []
    p = pd.read_csv(L.predictions_csv)
    ds_features = pd.read_parquet(L.features)
    for ct in r.cell_types:
        rows = p[p.cell_type == ct].set_index("gene")
        X = ds_features.loc[rows.index.astype(str)]
        assert np.allclose(r.equations[ct].predict(X), rows["SR(NAS|NN)"], atol=1e-9)
        assert np.allclose(r.networks[ct].predict(X), rows["NAS|NN"], atol=1e-5)
        front = r.pareto["sr"][ct]["pareto"]
        csv = pd.read_csv(L.root / "sr" / "tables" / cell_type_key(ct) / "pareto.csv")
        assert front.equations_["complexity"].tolist() == csv["complexity"].tolist()
        assert np.allclose(front.predict(X), rows["SR"], atol=1e-9)  # its selection is the SR row's
        knee = pd.read_csv(L.table2)
        knee = knee[(knee.cell_type == ct) & knee.knee]
        assert len(knee) == 1 and r.knee_equations[ct].complexity == int(knee.complexity.iloc[0])
    with pytest.raises(KeyError, match="no nas networks for 'T cell'"):
        r.networks["T cell"]
    with pytest.raises(GeneqnError, match="not a geneqn run folder"):
        geneqn.load_run(tmp_path)
    with pytest.raises(GeneqnError, match="tokens"):
        SymbolicRegressor.from_pareto(L.table("table1"), ["a"])
    # the README's notebook example, on this run
    text = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    section = text[text.index("### A finished run in a notebook"):]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1).replace('"geneqn-run"', repr(str(L.root)))
    scope: dict = {}
    exec(compile(code, "README.md", "exec"), scope)
    assert scope["test"]["split"].eq("test").all() and len(scope["test"]) == res_n_test(L)


def res_n_test(L) -> int:
    return json.loads(L.results.read_text())["dataset"]["n_test"]


def test_a_partial_run_loads_what_it_has(tmp_path):
    import geneqn
    from geneqn.run import run as run_stages

    cfg = tiny_config(tmp_path / "run")
    run_stages(cfg, stages=["targets", "tss", "features", "dataset"])
    r = geneqn.load_run(cfg.run.folder)
    assert r.equations == {} and len(r.networks) == 0 and r.cell_types
    assert "distill/equations.json (the distill stage)" in r.missing and "results.json" in r.missing
    assert "missing" in repr(r)


def test_cell_type_analyses_by_hand():
    """The per-cell-type analyses from plain frames: 10 test genes, 3 of them not expressed."""
    from types import SimpleNamespace

    genes = [f"g{i}" for i in range(10)]
    y = np.array([-1, -1, -1, -0.5, 0, 0.2, 0.4, 0.6, 0.8, 1.0])
    ridge = pd.DataFrame({"gene": genes, "y": y, "yhat": y + np.linspace(-0.3, 0.3, 10)})
    eq = pd.DataFrame({"gene": genes, "y": y, "yhat": y + 0.01})
    X = pd.DataFrame({"a": np.arange(20.0), "b": np.arange(20.0)[::-1]})
    equation = SimpleNamespace(predict=lambda d: 2 * d["a"].to_numpy())
    out = study.cell_type_analyses({"Ridge": ridge, "SR(NAS|NN)": eq}, X, equation, {"a": 0.5, "b": -1.0})
    assert out["test_not_expressed"] == {"n": 3, "share": 0.3}
    eff = out["effects"].set_index(["model", "feature"])["effect"]
    span = X["a"].quantile(0.9) - X["a"].quantile(0.1)  # 17.1, for a and for b
    assert eff[("SR(NAS|NN)", "a")] == pytest.approx(2 * span) and eff[("SR(NAS|NN)", "b")] == 0
    assert eff[("Ridge", "a")] == pytest.approx(0.5 * span) and eff[("Ridge", "b")] == pytest.approx(-1.0 * span)
    c = out["subset_counts"]
    assert c["nonlinear"] == (out["subsets"]["subset"] == "nonlinear").sum() and c["linear"] == 0


def test_resampled_ranks_are_scipys_rankdata_and_spearman_ci_unchanged():
    """Ranks of every bootstrap resample at once equal scipy's average ranks of each (ties from
    repeated genes and from equal values), and the Spearman interval equals the one computed
    resample by resample with scipy."""
    rng = np.random.default_rng(5)
    y = np.round(rng.normal(size=300), 1)  # many equal values
    yhat = np.round(y + rng.normal(size=300), 2)
    idx = np.random.default_rng(9).integers(0, 300, size=(50, 300))
    R = metrics.resampled_ranks(y, idx)
    for k in range(50):
        np.testing.assert_array_equal(R[k], stats.rankdata(y[idx[k]]))
    assert metrics.resampled_ranks(np.array([3.0, 1.0, 3.0]), np.array([[0, 1, 2], [1, 1, 0]])).tolist() == \
        [[2.5, 1.0, 2.5], [1.5, 1.5, 3.0]]  # by hand
    lo, hi = metrics.bootstrap_ci(y, yhat, metrics.spearman_r, n_boot=50, seed=9)
    again = np.random.default_rng(9).integers(0, 300, size=(50, 300))
    by_scipy = [stats.pearsonr(stats.rankdata(y[i]), stats.rankdata(yhat[i]))[0] for i in again]
    np.testing.assert_allclose([lo, hi], np.quantile(by_scipy, [0.025, 0.975]), rtol=1e-12)
