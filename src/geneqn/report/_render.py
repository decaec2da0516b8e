"""Templates of the reports (``templates/*.html.j2``, jinja2 with autoescape on) and the filters
that format their numbers. The Python side gives plain data (names, numbers, PNG bytes); every
name from the inputs is escaped by the template engine, and only markup made by geneqn itself
(MathML of an equation, :func:`breakable` text) is marked safe."""

from __future__ import annotations

import base64
import math
from functools import lru_cache
from pathlib import Path

from markupsafe import Markup, escape

TEMPLATES = Path(__file__).parent / "templates"


def num(v, digits: int = 3) -> str:
    """``v`` to ``digits`` decimals; NaN and None as empty; text as itself."""
    if v is None:
        return ""
    try:
        v = float(v)
    except (TypeError, ValueError):
        return str(v)
    return "" if math.isnan(v) else f"{v:.{digits}f}"


def ci(lo, hi, digits: int = 3) -> str:
    return f"[{num(lo, digits)}, {num(hi, digits)}]"


def signed(v, digits: int = 3) -> str:
    """With its sign, a true minus (U+2212) for negatives."""
    v = float(v)
    return ("+" if v >= 0 else "\u2212") + f"{abs(v):.{digits}f}"


def pvalue(p) -> str:
    p = float(p)
    return "< 0.001" if p < 0.001 else f"{p:.3f}"


def thousands(v) -> str:
    return f"{int(v):,}"


def percent(v) -> str:
    return f"{float(v):.0%}"


class Linked(str):
    """A PNG file's path relative to the report (a figure shown by link, not embedded)."""


def png(data: bytes | Linked) -> str:
    """A PNG as a data: URI (the report fetches nothing), or a linked file's relative URL."""
    if isinstance(data, Linked):
        from urllib.parse import quote

        return quote(str(data))
    return "data:image/png;base64," + base64.b64encode(data).decode()


def breakable(text) -> Markup:
    """Equation text, escaped, that a browser may wrap only at token boundaries (after `` + ``,
    `` - ``, ``*``, ``/``): never inside a name or a number, never cut."""
    from geneqn.sr.equation import _BREAK

    return Markup("<wbr>").join(escape(p) for p in _BREAK.split(str(text)) if p)


@lru_cache(maxsize=1)
def environment():
    import jinja2

    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True,
                             undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True,
                             keep_trailing_newline=True)
    env.filters.update(num=num, ci=ci, signed=signed, pvalue=pvalue, thousands=thousands, percent=percent,
                       png=png, breakable=breakable)
    return env


def render(template: str, **context) -> str:
    return environment().get_template(template).render(**context)
