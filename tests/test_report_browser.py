"""The report as a person sees it: rendered by headless Chromium (Debian's chromium, installed by
.ci/run), with hostile cell-type, feature and gene names that must stay text."""

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from geneqn.features.demo import demo_path
from geneqn.run import Runner, run
from helpers import demo_subset

HOSTILE_CT = "<img src=x onerror=\"document.title='PWNED'\">beta & co"
HOSTILE_FEATURE = "<script>document.title='PWNED'</script>cov_any"
# cov_any: ridge's largest effect on these genes (0.21 against 0.05 for the next ridge feature),
# so the report names it whichever equations the search finds
HOSTILE_SYMBOL = "<b onmouseover=alert(1)>INS</b>"


def chromium() -> str:
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    assert exe, "Debian's chromium is needed (.ci/run installs it: apt-get install chromium)"
    return exe


def browse(html: Path, tmp: Path, *args: str) -> subprocess.CompletedProcess:
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             f"--user-data-dir={tmp / 'profile'}", "--virtual-time-budget=3000"]
    return subprocess.run([chromium(), *flags, *args, html.as_uri()], capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def hostile_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("hostile")
    expr = pd.read_parquet(demo_subset(tmp / "subset.parquet", 2000, keep_symbols=("INS", "GCG")))
    expr = expr.rename(columns={"type B pancreatic cell": HOSTILE_CT})
    expr.loc[expr["symbol"] == "INS", "symbol"] = HOSTILE_SYMBOL
    expr.to_parquet(tmp / "expression.parquet")
    feats = pd.read_parquet(demo_path("features.parquet"))
    feats = feats.rename(columns={"cov_any": HOSTILE_FEATURE})
    feats.to_parquet(tmp / "features.parquet")
    from geneqn.run import demo_config

    cfg = demo_config(tmp / "run").replace(
        run={"cell_types": [HOSTILE_CT]}, expression={"path": str(tmp / "expression.parquet")},
        features={"provider": "table", "table": str(tmp / "features.parquet")},
        train={"max_epochs": 6, "patience": 2},
        search={"trials": 3, "group_size": 3, "retrain_seeds": 1, "nas_sr_trials": 2, "nas_sr_budget": 0.5,
                "dense_widths": [8, 16], "latent_widths": [2, 3]},
        nn={"layers": ["16-relu", "16-relu", "8-relu", "3-tanh", "8-relu", "16-relu", "16-relu"]},
        # stage 1 on the network's active directions: their loadings table names features too
        sr={"max_evaluations": 3000, "restarts": 1, "max_samples": 800, "sweep": ["accuracy"], "n_jobs": 1,
            "latent_targets": "gradient"},
        report={"marker_genes": [HOSTILE_SYMBOL, "GCG"]})
    run(cfg)
    return cfg, tmp


def test_hostile_names_stay_text_and_no_script_runs(hostile_run):
    cfg, tmp = hostile_run
    report = Runner(cfg).layout.report
    html = report.read_text()
    assert "<script" not in html and "<img src=x" not in html and "<b onmouseover" not in html  # no raw tag
    assert "&lt;script&gt;document.title=" in html  # the hostile feature name, shown as text
    assert "Largest loadings" in html and "active direction" in html
    r = browse(report, tmp, "--dump-dom")
    assert r.returncode == 0, r.stderr[-2000:]
    dom = r.stdout
    assert "<title>geneqn report</title>" in dom and "PWNED" not in dom.split("<title>")[1].split("</title>")[0]
    assert "<script" not in dom.lower().replace("&lt;script", "")
    assert "&lt;img src=x onerror=" in dom  # the hostile cell type, as text


def test_report_screenshot(hostile_run, tmp_path):
    cfg, tmp = hostile_run
    report = Runner(cfg).layout.report
    shot = tmp_path / "report.png"
    r = browse(report, tmp, f"--screenshot={shot}", "--window-size=1200,1600", "--hide-scrollbars")
    assert r.returncode == 0 and shot.exists(), r.stderr[-2000:]
    from matplotlib.image import imread

    img = imread(shot)
    assert img.shape[0] == 1600 and img.shape[1] == 1200
    # a rendered page: text and figures, not a blank or an error page
    assert (img[..., :3] < 0.5).mean() > 0.005 and np.unique(img[..., 0]).size > 20


def test_linked_figures_show_as_the_embedded_ones(hostile_run, tmp_path):
    """With more cell types than report.embed_figures (0 here: always), the cell sections show
    the PNG files of downloads/figures/ by relative link (a file name made of a hostile cell
    type's name, quoted) and the page is a fraction of the embedded one's size; the browser
    shows them (the content security policy lets the report's own files in): the rendered page
    has as much drawn on it as the embedded report's."""
    import json
    from html.parser import HTMLParser
    from urllib.parse import unquote

    from matplotlib.image import imread

    from geneqn.report import build_report

    cfg, tmp = hostile_run
    embedded = Runner(cfg).layout.report
    folder = tmp_path / "run"
    shutil.copytree(embedded.parent, folder)
    res = json.loads((folder / "results.json").read_text())
    res["config"].setdefault("report", {})["embed_figures"] = 0
    (folder / "results.json").write_text(json.dumps(res))
    linked = build_report(folder)
    html = linked.read_text()

    class Imgs(HTMLParser):
        srcs: list = []

        def handle_starttag(self, tag, attrs):
            if tag == "img":
                self.srcs.append(dict(attrs)["src"])

    p = Imgs()
    p.feed(html)
    files = [s for s in p.srcs if not s.startswith("data:")]
    assert len(files) == 7 and len(p.srcs) == 8  # the cell type's 7 figures; the features heatmap stays embedded
    assert all((folder / unquote(s)).is_file() and s.startswith("downloads/figures/") for s in files)
    assert "keep that folder beside this file" in html
    assert len(html) < len(embedded.read_text()) / 3
    shots = {}
    for name, page in (("embedded", embedded), ("linked", linked)):
        shots[name] = tmp_path / f"{name}.png"
        r = browse(page, tmp, f"--screenshot={shots[name]}", "--window-size=1200,6000", "--hide-scrollbars")
        assert r.returncode == 0 and shots[name].exists(), r.stderr[-2000:]
    drawn = {k: (imread(v)[..., :3] < 0.9).mean() for k, v in shots.items()}
    # (the same page with the images blocked had 80% of the embedded page's drawn pixels)
    assert drawn["linked"] > 0.95 * drawn["embedded"] > 0
