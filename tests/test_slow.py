"""Long tests (minutes): `make test-slow`."""

import json

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from geneqn.cli import app

pytestmark = pytest.mark.slow


def test_full_size_sei_forward_on_cpu():
    from geneqn.features.sei import build_sei, predict, reverse_complement
    from geneqn.genome import one_hot

    torch.manual_seed(0)
    model = build_sei().eval()
    x = torch.from_numpy(one_hot(np.random.default_rng(0).integers(0, 5, (1, 4096)).astype(np.uint8)))
    p = predict(model, x)
    assert p.shape == (1, 21907) and ((p > 0) & (p < 1)).all()
    torch.testing.assert_close(p, predict(model, reverse_complement(x)), rtol=1e-4, atol=1e-5)


def test_demo_command_runs_the_whole_study(tmp_path):
    run = tmp_path / "demo"
    r = CliRunner().invoke(app, ["demo", "--run", str(run)])
    assert r.exit_code == 0, r.output
    assert "report:" in r.output and (run / "report.html").exists()
    res = json.loads((run / "results.json").read_text())
    t1 = {(x["cell_type"], x["model"]): x["pearson_r"] for x in res["table1"]}
    assert len(t1) == 3 * 7
    # the ridge baseline is deterministic given the seed: about 0.45 for beta cells
    assert t1[("type B pancreatic cell", "Ridge")] == pytest.approx(0.449, abs=0.01)
    # networks beat ridge on these features; equations lie between ridge and the networks
    for ct in res["cell_types"]:
        assert t1[(ct, "NAS|NN")] > t1[(ct, "Ridge")]
        assert t1[(ct, "SR(NAS|NN)")] > t1[(ct, "Ridge")] - 0.05
