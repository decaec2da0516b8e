"""geneqn.pl: plots that draw on the Axes they are given and leave matplotlib's backend alone."""

import subprocess
import sys

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

import geneqn
from geneqn import pl


def _ax():
    return Figure().add_subplot()


def test_plots_draw_on_the_given_axes():
    y = np.array([-1.0, -1.0, 0.2, 0.5, 0.9])
    ax = _ax()
    assert pl.predicted_vs_measured(y, y * 0.5, ax, symbols=["A", "B", "INS", "D", "E"], markers=["INS"]) is ax
    # expressed and not-expressed genes as two scatters (3 + 2 points), the marker as a third
    sizes = [len(c.get_offsets()) for c in ax.collections]
    assert sizes == [3, 2, 1] and ax.texts[0].get_text() == "INS"
    assert ax.get_title().endswith(f"r = {np.corrcoef(y, y * 0.5)[0, 1]:.3f}")
    sweep = pd.DataFrame({"latent_limit": ["3", "validation"], "complexity": [5, 30], "test_r": [0.4, 0.5],
                          "knee": [True, False]})
    ax = _ax()
    assert pl.pareto([{"complexity": 3, "test_r": 0.3}, {"complexity": 9, "test_r": 0.45}], sweep, 9, ax) is ax
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "SR(NAS|NN): knee (on valid r)" in labels and "SR(NAS|NN): chosen (validation)" in labels
    st = {"features": {"f1": 1.0, "f2": 0.75, "f3": 0.25}, "headline": {"features": {"f1": 1.0, "f3": 0.25}},
          "core_share": 0.8}
    ax = _ax()
    assert pl.stability(st, ax) is ax
    bars = sorted((p.get_width(), p.get_facecolor()[:3]) for p in ax.patches)
    assert [w for w, _ in bars] == [0.25, 0.75, 1.0]
    assert bars[0][1] == bars[2][1] != bars[1][1]  # the equation's features share one colour
    assert ax.lines[0].get_xdata()[0] == 0.8  # the core line
    eff = pd.DataFrame({"feature": ["a", "b", "a", "b"], "model": ["SR(NAS|NN)", "SR(NAS|NN)", "Ridge", "Ridge"],
                        "effect": [0.3, -0.1, 0.2, 0.05]})
    ax = _ax()
    pl.effects(eff, ax)
    assert sorted(round(p.get_width(), 2) for p in ax.patches) == [-0.1, 0.05, 0.2, 0.3]
    frame = pd.DataFrame({"term": ["f1", "f2"], "frequency": [0.9, 0.1]})
    assert len(pl.stability(frame, _ax()).patches) == 2


def test_importing_geneqn_and_rendering_keeps_the_backend():
    """A notebook's backend survives import geneqn and a report figure (no matplotlib.use)."""
    code = ("import matplotlib; matplotlib.use('svg'); import geneqn, geneqn.report, geneqn.report.figures as f\n"
            "import pandas as pd\n"
            "png = f.search_history([0.1, None, 0.3], 't')\n"
            "assert png[:4] == b'\\x89PNG', png[:8]\n"
            "print(matplotlib.get_backend())")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "svg"


def test_study_is_part_of_the_public_face():
    assert geneqn.study.table1 is not None and geneqn.pl.pareto is pl.pareto


def test_study_tables_take_the_wide_predictions_table():
    """Table 1 from predictions.csv's shape equals Table 1 from the long frames (test rows only),
    and its r is numpy's on the hand-made rows."""
    wide = pd.DataFrame({"gene": list("abcdefgh"), "symbol": list("ABCDEFGH"), "cell_type": "T",
                         "split": ["test"] * 5 + ["train"] * 3,
                         "measured_g": [0.1, 0.4, -1.0, 0.8, 0.3, 9.0, 9.0, 9.0],
                         "Ridge": [0.2, 0.3, -0.5, 0.6, 0.1, 0.0, 1.0, 0.0],
                         "SR(NAS|NN)": [0.0, 0.5, -0.9, 0.7, 0.35, 1.0, 0.0, 1.0]})
    t = geneqn.study.table1(wide, n_boot=50)
    test = wide[wide.split == "test"]
    for row in t.itertuples():
        assert row.n_genes == 5
        assert abs(row.pearson_r - np.corrcoef(test["measured_g"], test[row.model])[0, 1]) < 1e-12
    assert set(geneqn.study.compare(wide, n_boot=50)["model"]) == {"Ridge"}
