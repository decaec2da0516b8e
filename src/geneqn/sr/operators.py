"""The operators of geneqn's equations: one table that evaluation, derivatives, simplification,
every export and the file parser read, so that an operator is never known to one and missing
from another.

Names follow PySR: binary ``+ - * / ^`` (``^`` is also accepted as ``pow``), unary ``square``,
``cube``, ``neg``, ``inv``, ``exp``, ``log``, ``sqrt``, ``sin``, ``cos``, ``tanh``, ``abs``.
The paper's seven (``+ - * square neg exp inv``) are the default of genomic equations.

Domains are PySR's: ``log`` and ``sqrt`` of a negative number, ``x / 0``, ``inv(0)``, ``0 ^ -1``
and ``(-8) ^ 0.5`` are NaN or infinite, and a candidate that produces a non-finite value on the
data is invalid (never an error).
"""

from __future__ import annotations

from dataclasses import dataclass

from geneqn.errors import GeneqnError

# op codes: token (code, arg). The first nine are the paper's and keep their codes.
CONST, VAR, ADD, SUB, MUL, SQUARE, NEG, EXP, INV, DIV, POW, LOG, SQRT, SIN, COS, TANH, ABS, CUBE = range(18)


@dataclass(frozen=True)
class Operator:
    code: int
    token: str           # name in the JSON token format ("add", "square", ...)
    names: tuple          # the names a user may write in ``operators`` (first: the canonical one)
    arity: int


TABLE = (
    Operator(CONST, "const", (), 0),
    Operator(VAR, "var", (), 0),
    Operator(ADD, "add", ("+", "add"), 2),
    Operator(SUB, "sub", ("-", "sub"), 2),
    Operator(MUL, "mul", ("*", "mul", "mult"), 2),
    Operator(SQUARE, "square", ("square",), 1),
    Operator(NEG, "neg", ("neg",), 1),
    Operator(EXP, "exp", ("exp",), 1),
    Operator(INV, "inv", ("inv",), 1),
    Operator(DIV, "div", ("/", "div"), 2),
    Operator(POW, "pow", ("^", "pow", "**"), 2),
    Operator(LOG, "log", ("log",), 1),
    Operator(SQRT, "sqrt", ("sqrt",), 1),
    Operator(SIN, "sin", ("sin",), 1),
    Operator(COS, "cos", ("cos",), 1),
    Operator(TANH, "tanh", ("tanh",), 1),
    Operator(ABS, "abs", ("abs",), 1),
    Operator(CUBE, "cube", ("cube",), 1),
)
ARITY = tuple(op.arity for op in TABLE)
OP_NAMES = tuple(op.token for op in TABLE)
OP_CODES = {op.token: op.code for op in TABLE}
# every name a user may give -> op code
BY_NAME = {name: op.code for op in TABLE for name in op.names}
CANONICAL = {op.code: op.names[0] for op in TABLE if op.names}
PAPER_OPERATORS = ("+", "-", "*", "square", "neg", "exp", "inv")
ALL_OPERATORS = tuple(CANONICAL[c] for c in range(ADD, len(TABLE)))
BINARY_CODES = tuple(op.code for op in TABLE if op.arity == 2)
UNARY_CODES = tuple(op.code for op in TABLE if op.arity == 1)


def operator_codes(operators) -> tuple[int, ...]:
    """Op codes of operator names (PySR's: ``+``, ``-``, ``*``, ``/``, ``^``, ``square``,
    ``cube``, ``neg``, ``inv``, ``exp``, ``log``, ``sqrt``, ``sin``, ``cos``, ``tanh``, ``abs``);
    duplicates are dropped, the order kept."""
    if isinstance(operators, str):
        raise GeneqnError(f"operators must be a list of names, got the string {operators!r}; e.g. "
                          "[\"+\", \"-\", \"*\", \"/\", \"log\"].")
    unknown = [o for o in operators if not isinstance(o, str) or o not in BY_NAME]
    if unknown:
        raise GeneqnError(f"unknown operator(s) {', '.join(map(repr, unknown))}; the operators are "
                          f"{', '.join(ALL_OPERATORS)} (the paper's: {', '.join(PAPER_OPERATORS)}).")
    return tuple(dict.fromkeys(BY_NAME[o] for o in operators))


def complexity_weights(operators=(), complexity_of_operators=None, complexity_of_constants: int = 1,
                       complexity_of_variables: int = 1) -> tuple[int, ...]:
    """The complexity of each op code (PySR's ``complexity_of_operators``,
    ``complexity_of_constants``, ``complexity_of_variables``; every one 1 by default)."""
    w = [1] * len(TABLE)
    for name, value in ((("constants", complexity_of_constants), ("variables", complexity_of_variables))):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise GeneqnError(f"complexity_of_{name} must be a positive integer, got {value!r}.")
    w[CONST], w[VAR] = complexity_of_constants, complexity_of_variables
    for name, value in (complexity_of_operators or {}).items():
        if name not in BY_NAME:
            raise GeneqnError(f"complexity_of_operators: unknown operator {name!r}; the operators are "
                              f"{', '.join(ALL_OPERATORS)}.")
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise GeneqnError(f"complexity_of_operators: {name!r} needs a positive integer, got {value!r}.")
        w[BY_NAME[name]] = value
    return tuple(w)
