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
    ({"runn": {}}, r"unknown key\(s\) runn in the top level"),
    ({"run": {"seed": "one"}}, r"run.seed must be an integer"),
    ({"split": {"test_fraction": 1.5}}, r"split.test_fraction = 1.5 must lie strictly between 0 and 1"),
    ({"expression": {"values": "counts"}}, r"expression.values = 'counts' is not valid"),
    ({"features": {"provider": "enformer"}}, r"features.provider = 'enformer' is not one of sei, table, demo"),
    ({"genome": {"window": 4095}}, r"genome.window = 4095 must be a positive even"),
    ({"expression": {"cell_types": "beta"}}, r"expression.cell_types must be a list"),
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
