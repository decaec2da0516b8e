"""The README's Python API example runs as written (on the demo bundle)."""

import re
from pathlib import Path

import numpy as np

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_python_example_runs(capsys):
    text = README.read_text()
    section = text[text.index("## Python API"):]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    scope: dict = {}
    exec(compile(code, "README.md", "exec"), scope)  # the README's own example
    eq, Xt, yt = scope["eq"], scope["Xt"], scope["yt"]
    assert eq.complexity == eq.composed.complexity > 0
    r = np.corrcoef(eq.predict(Xt), yt)[0, 1]
    assert r > 0.35  # ridge reaches 0.45 on these genes; the equation is at least in its range
    assert "g = " in capsys.readouterr().out
    t2 = scope["table2"]  # one knee, on the front of valid r against complexity
    assert t2["knee"].sum() == 1 and {"valid_r", "r", "complexity", "genomic_equation"} <= set(t2.columns)
