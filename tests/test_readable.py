"""Readable equations: the system form, wrapping at token boundaries, the knee of a front."""

import numpy as np
import pandas as pd
import pytest

from geneqn.sr.distill import knee
from geneqn.sr.equation import GenomicEquation, wrap_equation
from geneqn.sr.export import parse_equation
from geneqn.sr.expr import Expr


def _expr(text, names):
    return Expr.parse(text, names)


def test_knee_by_hand():
    # front (complexity, valid r): (1, .10) (5, .40) (9, .45) (20, .46); scaled: c 0, .21, .42, 1;
    # r 0, .833, .972, 1; r - c: 0, .623, .551, 0 -> the knee is complexity 5
    t = pd.DataFrame({"complexity": [20, 1, 9, 5, 30], "valid_r": [0.46, 0.10, 0.45, 0.40, 0.44]},
                     index=list("abcde"))
    assert knee(t.complexity, t.valid_r) == "d"
    # a dominated row (30, .44) never is the knee; a straight front has none above the chord
    assert knee(pd.Series([1, 2, 3]), pd.Series([0.1, 0.2, 0.3])) == 2
    assert knee(pd.Series([4]), pd.Series([0.3])) == 0
    # differences past the 4th decimal do not move it (same answer on any machine)
    assert knee(pd.Series([1, 5, 9]), pd.Series([0.1, 0.45 + 1e-7, 0.45])) == 1
    assert knee(pd.Series([1, 5, 9]), pd.Series([0.1, 0.45, 0.45 + 1e-7])) == 1


def test_wrap_keeps_names_numbers_and_powers_whole():
    text = "g = 0.193*((TF4_long_name - 1.16)*((E10 - 0.725)**2 + PC3)) - 0.0121*exp(HET1/(P + 2.5))"
    for width in (12, 20, 35, 60):
        w = wrap_equation(text, width, indent="    ")
        lines = w.split("\n")
        assert "".join(x.strip() for x in lines).replace(" ", "") == text.replace(" ", "")
        for line in lines:  # every break is after an operator, so each line ends with one (or the text)
            assert line == lines[-1] or line.rstrip()[-1] in "+-*/,", line
        assert not any(a.endswith("*") and b.strip().startswith("*") for a, b in zip(lines, lines[1:]))  # ** whole
        assert not any(a[-1].isalnum() and b.strip()[0].isalnum() for a, b in zip(lines, lines[1:]))  # names whole
        assert max(map(len, lines)) <= max(width, len("    ((TF4_long_name -"))
    assert wrap_equation(text, None) == text


def test_system_text_is_python_that_parses_back():
    names = ["a", "b"]
    eq = GenomicEquation("t", names, {"x0": _expr("0.5*a + b**2", names), "x1": _expr("exp(a)", names)},
                         _expr("2*x0 - 1/x0", ["x0", "x1"]))
    assert eq.system() == [("x0", "0.5*a + b**2"), ("g", "2*x0 - 1/x0")]  # x1 is not used by g
    assert eq.text(width=None) == "x0 = 0.5*a + b**2\ng = 2*x0 - 1/x0"
    X = np.array([[0.3, -1.2], [1.5, 0.4]])
    # the printed system, read back by the whitelist parser, computes the same g
    x0 = Expr.parse(eq.system()[0][1], names)
    g = Expr.parse(eq.system()[1][1], ["x0"])
    from geneqn.sr.expr import evaluate

    z = evaluate(x0, X, names)
    assert np.allclose(evaluate(g, z[:, None], ["x0"]), eq.predict(X))
    with pytest.raises(Exception):
        parse_equation("__import__('os')", names)
