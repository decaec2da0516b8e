"""Every operator, through every path: evaluation, derivatives, simplification, each export, the
JSON token format and the text parser. Truths: numpy's own functions, finite differences, sympy
and torch evaluating their exports, and hand counts of complexity."""

import json

import numpy as np
import pandas as pd
import pytest
import sympy as sp
import torch

from geneqn.errors import GeneqnError
from geneqn.metrics import pearson_r
from geneqn.sr.export import parse_equation, to_infix, to_latex, to_mathml, to_python, to_sympy, to_torch
from geneqn.sr.expr import Expr, evaluate, evaluate_with_gradient
from geneqn.sr.operators import ALL_OPERATORS, TABLE, complexity_weights, operator_codes
from geneqn.sr.regressor import SymbolicRegressor

NAMES = ["a", "b"]
# one equation per operator, valid on the sample below (a in [0.5, 2], b in [-1, 1])
CASES = {
    "+": ("a + b", lambda a, b: a + b), "-": ("a - b", lambda a, b: a - b), "*": ("a*b", lambda a, b: a * b),
    "/": ("b/a", lambda a, b: b / a), "^": ("a**(b + 0.5)", lambda a, b: a ** (b + 0.5)),
    "square": ("square(b - 0.3)", lambda a, b: (b - 0.3) ** 2), "cube": ("cube(b)", lambda a, b: b ** 3),
    "neg": ("neg(a*b)", lambda a, b: -a * b), "inv": ("inv(a)", lambda a, b: 1 / a),
    "exp": ("exp(0.7*b)", lambda a, b: np.exp(0.7 * b)), "log": ("log(a)", lambda a, b: np.log(a)),
    "sqrt": ("sqrt(a)", lambda a, b: np.sqrt(a)), "sin": ("sin(2.1*b)", lambda a, b: np.sin(2.1 * b)),
    "cos": ("cos(b)", lambda a, b: np.cos(b)), "tanh": ("tanh(3*b)", lambda a, b: np.tanh(3 * b)),
    "abs": ("abs(b)", lambda a, b: np.abs(b)),
}


def sample(n=200, seed=0):
    rng = np.random.default_rng(seed)
    return np.column_stack([rng.uniform(0.5, 2, n), rng.uniform(-1, 1, n)])


def parsed(text: str) -> Expr:
    return Expr.parse(text, NAMES)


def test_every_operator_has_a_case():
    assert set(CASES) == set(ALL_OPERATORS)
    assert set(operator_codes(ALL_OPERATORS)) == {op.code for op in TABLE if op.arity}


@pytest.mark.parametrize("name", sorted(CASES))
def test_evaluation_and_every_export_agree_with_numpy(name):
    text, f = CASES[name]
    e = parsed(text)
    X = sample()
    want = f(X[:, 0], X[:, 1])
    np.testing.assert_allclose(evaluate(e, X, NAMES), want, rtol=1e-13, atol=1e-15)
    # sympy, built from constructors
    s = to_sympy(e)
    np.testing.assert_allclose(sp.lambdify(sp.symbols(NAMES), s, "numpy")(X[:, 0], X[:, 1]) * np.ones(len(X)), want,
                               rtol=1e-12)
    # Python source
    scope: dict = {}
    exec(to_python(e, "f"), scope)  # our own generated source, in a test
    np.testing.assert_allclose(scope["f"]({"a": X[:, 0], "b": X[:, 1]}), want, rtol=1e-12)
    # torch
    np.testing.assert_allclose(to_torch(e, NAMES)(torch.tensor(X)).detach().numpy(), want, rtol=1e-12)
    # the text form reads back to the same values; JSON tokens read back to the same tree
    back = Expr.parse(to_infix(e, digits=None), NAMES)
    np.testing.assert_allclose(evaluate(back, X, NAMES), want, rtol=1e-12)
    assert Expr.from_json(json.loads(json.dumps(e.to_json())), NAMES) == e
    # LaTeX and MathML name the variables and are balanced
    tex, ml = to_latex(e), to_mathml(e)
    assert tex.count("{") == tex.count("}") and "X_{\\mathrm{" in tex
    assert ml.count("<mrow>") == ml.count("</mrow>") and "<mtext>" in ml


@pytest.mark.parametrize("name", sorted(CASES))
def test_derivatives_match_finite_differences(name):
    text, _ = CASES[name]
    e = parsed(text)
    t = e.indexed(NAMES)
    X = sample(50)
    cols = [X[:, 0], X[:, 1]]
    f, J = evaluate_with_gradient(t, cols, 50)
    consts = [i for i, (op, _) in enumerate(t) if op == 0]
    for j, i in enumerate(consts):
        h = 1e-6 * max(1.0, abs(t[i][1]))
        up = list(t)
        up[i] = (0, t[i][1] + h)
        dn = list(t)
        dn[i] = (0, t[i][1] - h)
        fd = (evaluate_with_gradient(tuple(up), cols, 50)[0] - evaluate_with_gradient(tuple(dn), cols, 50)[0]) / (2 * h)
        np.testing.assert_allclose(J[j], fd, rtol=1e-5, atol=1e-7)


def test_domains_are_pysrs_nan_and_never_an_error():
    X = np.array([[-1.0, 0.0], [0.0, -2.0], [4.0, 0.5]])
    with np.errstate(all="ignore"):
        assert np.isnan(evaluate(parsed("log(a)"), X, NAMES)[0])
        assert evaluate(parsed("log(a)"), X, NAMES)[1] == -np.inf
        assert np.isnan(evaluate(parsed("sqrt(a)"), X, NAMES)[0])
        assert np.isinf(evaluate(parsed("inv(b)"), X, NAMES)[0])
        p = evaluate(parsed("a**b"), X, NAMES)
    assert p[0] == 1.0           # (-1)**0
    assert np.isnan(p[1])        # 0 ** -2 (PySR: NaN)
    assert p[2] == pytest.approx(2.0)
    assert evaluate(parsed("a**b"), np.array([[-2.0, 3.0]]), NAMES)[0] == pytest.approx(-8.0)  # integer power
    with np.errstate(all="ignore"):
        assert np.isnan(evaluate(parsed("a**b"), np.array([[-8.0, 0.5]]), NAMES)[0])


def test_a_regressor_with_users_operators_recovers_a_planted_law():
    rng = np.random.default_rng(3)
    X = pd.DataFrame({"a": rng.uniform(0.5, 3, 1500), "b": rng.uniform(-2, 2, 1500), "c": rng.normal(size=1500)})
    truth = np.log(X.a) + np.sin(X.b) / X.a
    m = SymbolicRegressor(operators=["+", "-", "*", "/", "log", "sqrt", "sin"], max_evaluations=60_000, restarts=2,
                          random_state=0).fit(X, truth + 0.01 * rng.normal(size=1500))
    assert pearson_r(truth, m.predict(X)) > 0.999
    assert set(m.expr_.variables) == {"a", "b"}
    assert set(m.expr_.operators) <= {"add", "sub", "mul", "div", "log", "sqrt", "sin"}
    assert "log" in m.expr_.operators and "sin" in m.expr_.operators


def test_complexity_of_operators_counts_as_pysr_does():
    w = complexity_weights(["+", "*", "exp"], {"exp": 3, "*": 2}, complexity_of_constants=2)
    # 0.5*exp(a) + b: add 1, mul 2, const 2, exp 3, a 1, b 1
    assert parsed("0.5*exp(a) + b").weighted_complexity(w) == 10
    assert parsed("0.5*exp(a) + b").complexity == 6
    rng = np.random.default_rng(1)
    X = pd.DataFrame({"a": rng.normal(size=500), "b": rng.normal(size=500)})
    m = SymbolicRegressor(operators=["+", "*", "exp"], complexity_of_operators={"exp": 3}, complexity_limit=12,
                          max_evaluations=8000, restarts=1).fit(X, np.exp(X.a) + X.b)
    for e, c in zip(m.equations_.expr, m.equations_.complexity):
        assert c == e.weighted_complexity(complexity_weights(["+", "*", "exp"], {"exp": 3})) <= 12
    with pytest.raises(ValueError, match="unknown operator"):
        SymbolicRegressor(operators=["+", "erf"]).fit(X, X.a)
    with pytest.raises(ValueError, match="positive integer"):
        SymbolicRegressor(complexity_of_operators={"exp": 0}).fit(X, X.a)


def test_parser_keeps_to_the_operator_set_and_refuses_the_unknown():
    paper = ["+", "-", "*", "square", "neg", "exp", "inv"]
    assert Expr.from_indexed(parse_equation("a/b", NAMES, paper), NAMES).operators == ["mul", "inv"]
    assert Expr.from_indexed(parse_equation("a/b", NAMES), NAMES).operators == ["div"]
    assert Expr.from_indexed(parse_equation("a**2 + b**3", NAMES, ["+", "square", "cube"]), NAMES).complexity == 5
    for bad in ("a + erf(b)", "a ** b", "__import__('os')", "a; b", "a +", "(a", "c + 1"):
        with pytest.raises(ValueError):
            parse_equation(bad, NAMES, paper)
    with pytest.raises(ValueError, match="nested too deeply"):
        parse_equation("(" * 300 + "a" + ")" * 300, NAMES)
    with pytest.raises(GeneqnError, match="unknown operator"):
        Expr.from_json([["erf"], ["var", "a"]], NAMES)


def test_typesetting_stays_legible_at_depth():
    e = parsed("exp(exp(a*b - 1) + b)")
    tex = to_latex(e)
    assert "\\exp\\left(" in tex and "e^{" not in tex.split("\\exp", 1)[0]
    assert to_latex(parsed("exp(0.5*a)")) == "e^{0.5 \\, X_{\\mathrm{a}}}"
    assert to_latex(parsed("a*inv(b)")) == "\\frac{X_{\\mathrm{a}}}{X_{\\mathrm{b}}}"
    assert to_infix(parsed("square(a)*inv(b + 1) - neg(b)")) == "a**2/(b + 1) - (-b)"


def test_names_are_data_in_every_generated_source():
    hostile = 'x"""\nimport os; os.system("echo owned")\n"""'
    e = Expr.from_json([["add"], ["var", hostile], ["const", 1.0]])
    src = to_python(e, "f")
    scope: dict = {}
    exec(src, scope)  # our own generated source; the name must stay a string
    assert scope["FEATURES"] == (hostile,)
    assert scope["f"]({hostile: np.array([1.0])})[0] == 2.0
    assert "\n" not in to_latex(e)
    tex = to_latex(Expr.from_json([["var", "a%b\\c"]]))
    assert tex.replace("\\%", "").count("%") == 0 and "\\textbackslash{}" in tex
    assert "<script>" not in to_mathml(Expr.from_json([["var", "<script>"]]))
