import pytest

from geneqn.config import Config, from_dict, load_config
from geneqn.errors import GeneqnError


def test_defaults_are_the_papers():
    c = Config().validate()
    assert c.expression.pseudocount == 0.001
    assert c.genome.window == 4096
    assert (c.split.test_fraction, c.split.valid_fraction) == (0.2, 0.1)


def test_toml_roundtrip_and_relative_paths(tmp_path):
    p = tmp_path / "run.toml"
    p.write_text('[run]\nseed = 7\nfolder = "out"\n[expression]\npath = "x.h5ad"\ncell_types = ["a", "b"]\n')
    c = load_config(p)
    assert c.run.seed == 7 and c.expression.cell_types == ["a", "b"]
    assert c.run.folder == str(tmp_path / "out") and c.expression.path == str(tmp_path / "x.h5ad")
    assert "seed = 7" in c.to_toml()


@pytest.mark.parametrize("data, message", [
    ({"run": {"sede": 1}}, r"unknown key\(s\) sede in \[run\]; valid keys: folder, seed"),
    ({"run": {"seed": -1}}, r"run.seed = -1 must be a non-negative integer"),
    ({"sr": {"complexity_limit": 1}}, r"sr.complexity_limit = 1 is too small"),
    ({"sr": {"max_samples": -1}}, r"sr.max_samples must be 0 \(all genes\) or positive"),
    ({"sr": {"residual_latents": -1}}, r"sr.residual_latents must be 0 \(none\) or positive"),
    ({"sr": {"residual_latents": 1.5}}, r"sr.residual_latents must be an integer"),
    ({"sr": {"engine": "gplearn"}}, r"sr.engine = 'gplearn' is not one of geneqn, operon, pysr"),
    ({"sr": {"latent_targets": "pca"}}, r"sr.latent_targets = 'pca' is not one of network, gradient, auto"),
    ({"sr": {"share_stage1": "yes"}}, r"sr.share_stage1 must be true or false, got 'yes'"),
    ({"train": {"learning_rate": 1e9}}, r"train.learning_rate = 1000000000.0 is far too large"),
    ({"features": {"baselines": ["enformer"]}}, r"features.baselines entry = 'enformer' is not one of expectosc"),
    ({"runn": {}}, r"unknown key\(s\) runn in the top level"),
    ({"run": {"seed": "one"}}, r"run.seed must be an integer"),
    ({"split": {"test_fraction": 1.5}}, r"split.test_fraction = 1.5 must lie strictly between 0 and 1"),
    ({"expression": {"values": "counts"}}, r"expression.values = 'counts' is not valid; use 'cp10k', 'log1p'"),
    ({"features": {"provider": "enformer"}}, r"features.provider = 'enformer' is not one of sei, table, demo"),
    ({"genome": {"window": 4095}}, r"genome.window = 4095 must be a positive even"),
    ({"expression": {"cell_types": "beta"}}, r"expression.cell_types must be a list"),
    ({"report": {"embed_figures": -1}}, r"report.embed_figures must be 0 \(always link the figures\) or positive"),
])
def test_bad_config_messages(data, message):
    with pytest.raises(GeneqnError, match=message):
        from_dict(data)


def test_bad_toml(tmp_path):
    p = tmp_path / "bad.toml"
    p.write_text("[run\nseed = 1\n")
    with pytest.raises(GeneqnError, match="not valid TOML"):
        load_config(p)
    with pytest.raises(GeneqnError, match="config file not found"):
        load_config(tmp_path / "nope.toml")


def test_config_imports_nothing_of_the_library():
    import ast
    from pathlib import Path

    import geneqn.config as c

    tree = ast.parse(Path(c.__file__).read_text())
    imported = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
    imported |= {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    assert {m for m in imported if m.startswith("geneqn")} == {"geneqn.errors"}


def test_replace_and_set_assignments():
    from geneqn.config import parse_assignment

    c = Config().validate()
    assert c.replace(sr={"complexity_limit": 15}).sr.complexity_limit == 15
    assert parse_assignment("sr.operators=['+', '*']") == ("sr", "operators", ["+", "*"])
    assert parse_assignment("features.provider=demo") == ("features", "provider", "demo")
    with pytest.raises(GeneqnError, match="SECTION.KEY=VALUE"):
        parse_assignment("complexity_limit=3")
    with pytest.raises(GeneqnError, match=r"unknown key\(s\) limit in \[sr\]"):
        c.replace(sr={"limit": 3})
    with pytest.raises(GeneqnError, match="sr.complexity_limit must be an integer"):
        c.replace(sr={"complexity_limit": "high"})


def test_distillation_defaults_are_the_estimators_and_reach_it():
    """The [sr] distillation keys default to GenomicEquationDistiller's defaults (auto targets,
    shared stage 1), and a run passes them on."""
    from geneqn import GenomicEquationDistiller
    from geneqn.config import Config, from_dict
    from geneqn.run.common import distiller_options

    opts = distiller_options(Config())
    params = GenomicEquationDistiller().get_params()
    assert opts == {k: params[k] for k in opts}
    assert opts["latent_targets"] == "auto" and opts["share"] is True
    paper = distiller_options(from_dict({"sr": {"latent_targets": "network", "share_stage1": False}}))
    assert paper["latent_targets"] == "network" and paper["share"] is False
