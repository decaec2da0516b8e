"""GenomicEquation: the two-stage equation of one cell type, composed into one formula.

Stage 1 gives each latent unit ``x_j`` as an equation of the features (sequence classes);
stage 2 gives the expression ``g`` as an equation of the ``x_j``. Substituting stage 1 into stage 2
gives the genomic equation, whose complexity is counted on the composed tree. ``predict``
evaluates the composed formula; ``predict_chained`` evaluates stage 1, then stage 2 on its
outputs; the two agree to float precision.

Stored as JSON (:meth:`to_dict` / :meth:`from_dict`): trees as token lists that are read back as
data (operators from a fixed table, variables among the equation's features), never evaluated.
With the target scaling (min and max of g1 over the genes, and the pseudocount) an equation's g
can be turned back into log2 expression: :meth:`to_log2`.
"""

from __future__ import annotations

import re

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from geneqn.errors import GeneqnError
from geneqn.sr.export import to_infix, to_latex, to_mathml, to_python, to_sympy, to_torch
from geneqn.sr.expr import Expr, evaluate

FORMAT = "geneqn-equation-2"


@dataclass
class GenomicEquation:
    cell_type: str
    feature_names: list[str]
    latents: dict[str, Expr]          # latent symbol name -> equation of the features
    output: Expr                       # equation of the latent symbols
    meta: dict = field(default_factory=dict)

    # ------------------------------------------------------------------ structure
    @property
    def composed(self) -> Expr:
        return self.output.substitute({k: v for k, v in self.latents.items()})

    @property
    def used_latents(self) -> list[str]:
        used = set(self.output.variables)
        return [k for k in self.latents if k in used]

    @property
    def complexity(self) -> int:
        """PySR complexity of the composed tree (stage 1 substituted into stage 2)."""
        return self.composed.complexity

    @property
    def features_used(self) -> list[str]:
        """Features that the composed equation uses, in feature order."""
        used = set(self.composed.variables)
        return [f for f in self.feature_names if f in used]

    sequence_classes = features_used  # the paper's name for the features

    def classes_table(self) -> pd.DataFrame:
        from geneqn.features.seqclass import describe

        rows = [(c, *describe(c)) for c in self.features_used]
        return pd.DataFrame(rows, columns=["label", "name", "group"])

    # ------------------------------------------------------------------ evaluation
    def _matrix(self, X) -> np.ndarray:
        if isinstance(X, pd.DataFrame):
            missing = [f for f in self.feature_names if f not in X.columns]
            if missing:
                raise GeneqnError(f"the feature table lacks column(s) {', '.join(map(str, missing[:5]))} "
                                  f"that the equation of {self.cell_type} needs.")
            X = X[self.feature_names].to_numpy(dtype=np.float64)
        X = np.asarray(X, dtype=np.float64)
        if X.ndim != 2 or X.shape[1] != len(self.feature_names):
            raise GeneqnError(f"the equation of {self.cell_type} needs {len(self.feature_names)} feature "
                              f"columns, got an array of shape {X.shape}; pass a DataFrame with named columns.")
        return X

    def predict(self, X) -> np.ndarray:
        """Evaluate the composed equation on a feature matrix or table (columns by name)."""
        return evaluate(self.composed, self._matrix(X), self.feature_names)

    def latent_values(self, X) -> np.ndarray:
        X = self._matrix(X)
        return np.column_stack([evaluate(e, X, self.feature_names) for e in self.latents.values()])

    def predict_chained(self, X) -> np.ndarray:
        """Stage 1 on the features, then stage 2 on its outputs."""
        return evaluate(self.output, self.latent_values(X), list(self.latents))

    # ------------------------------------------------------------------ target scale
    @property
    def target_scaling(self) -> dict | None:
        return self.meta.get("target_scaling")

    def to_log2(self, g) -> np.ndarray:
        """log2(expression + pseudocount) from g: g1 = (g + 1) / 2 * (max g1 - min g1) + min g1
        (:func:`geneqn.targets.g_to_log2`, which checks the scaling the equation carries)."""
        from geneqn.targets import g_to_log2

        return g_to_log2(g, self.target_scaling, f"the equation of {self.cell_type or 'this cell type'}")

    # ------------------------------------------------------------------ views and exports
    def sympy(self):
        """The composed equation as a sympy expression (a view; sympy may expand it)."""
        return to_sympy(self.composed)

    def latex(self, digits: int = 3) -> str:
        """Stage-1 equations and stage 2 as a LaTeX ``aligned`` block (constants rounded)."""
        lines = [f"{_latent_tex(k)} &= {to_latex(self.latents[k], digits)}" for k in self.used_latents]
        lines.append(r"\hat{g} &= " + to_latex(self.output, digits, name=_latent_tex))
        return "\\begin{aligned}\n" + " \\\\\n".join(lines) + "\n\\end{aligned}"

    def mathml(self, digits: int = 3) -> list[tuple[str, str]]:
        """(left-hand side, MathML of the right-hand side) per line, names escaped."""
        import html

        def latent(name: str) -> str:
            base, sub = (name[0], name[1:]) if name[1:].isdigit() else (name, "")
            return f"<msub><mi>{html.escape(base)}</mi><mn>{html.escape(sub)}</mn></msub>" if sub else \
                f"<mi>{html.escape(name)}</mi>"

        out = [(latent(k), to_mathml(self.latents[k], digits)) for k in self.used_latents]
        out.append(("<mover><mi>g</mi><mo>^</mo></mover>", to_mathml(self.output, digits, name=latent)))
        return out

    def pytorch(self):
        """A torch module computing the composed equation from a (n, n_features) tensor."""
        return to_torch(self.composed, self.feature_names)

    def system(self, digits: int | None = 4) -> list[tuple[str, str]]:
        """The equation as a system in Python/sympy notation: (name, right-hand side) for each
        stage-1 equation that stage 2 uses, then ("g", stage 2 of those names)."""
        rows = [(k, to_infix(self.latents[k], digits)) for k in self.used_latents]
        return rows + [("g", to_infix(self.output, digits))]

    def text(self, width: int | None = 100, digits: int | None = 4) -> str:
        """:meth:`system` as lines ``x1 = ...`` / ``g = ...``, wrapped at ``width`` characters
        at token boundaries (never inside a name or number); ``width=None``: one line each."""
        return "\n".join(wrap_equation(f"{lhs} = {rhs}", width, indent=" " * (len(lhs) + 3))
                         for lhs, rhs in self.system(digits))

    def to_python(self, name: str = "genomic_equation") -> str:
        return to_python(self.composed, name)

    def to_dict(self) -> dict:
        return {"format": FORMAT, "cell_type": self.cell_type, "feature_names": list(self.feature_names),
                "latents": {k: v.to_json() for k, v in self.latents.items()},
                "output": self.output.to_json(), "composed": str(self.composed),
                "complexity": self.complexity, "features_used": self.features_used,
                "latex": self.latex(), "meta": self.meta}

    @classmethod
    def from_dict(cls, d: dict, where: str = "equation", cell_type: str = "") -> "GenomicEquation":
        """Read :meth:`to_dict` output (e.g. from a file someone sent): checked, never executed.
        ``cell_type`` names the equation when the file does not (e.g. the key it is stored under)."""
        if not isinstance(d, dict) or d.get("format") != FORMAT:
            raise GeneqnError(f"{where}: not a geneqn equation (format {FORMAT}); equations written before "
                              "geneqn 0.2 must be distilled again.")
        try:
            names = [str(n) for n in d["feature_names"]]
            latents = {str(k): Expr.from_json(v, names, f"{where}: latent {k}") for k, v in d["latents"].items()}
            output = Expr.from_json(d["output"], list(latents), f"{where}: output")
            meta = d.get("meta", {})
        except (KeyError, TypeError, AttributeError) as e:
            raise GeneqnError(f"{where}: malformed equation ({e}).") from None
        name = d.get("cell_type")
        return cls(str(name) if name else cell_type, names, latents, output, meta if isinstance(meta, dict) else {})


def _latent_tex(name: str) -> str:
    if name[:1].isalpha() and name[1:].isdigit():
        return f"{name[0]}_{{{name[1:]}}}"
    from geneqn.sr.export import latex_escape

    return r"\mathrm{" + latex_escape(name) + "}"


_BREAK = re.compile(r"(?<= [+-] )|(?<=[^*]\*)(?!\*)|(?<=/)|(?<=, )")


def wrap_equation(text: str, width: int | None, indent: str = "    ") -> str:
    """``text`` broken into lines of at most ``width`` characters where possible, only after
    `` + ``/`` - ``, a product's ``*`` (never ``**``), ``/`` or ``, ``: names, numbers and
    ``**`` stay whole. Continuation lines start with ``indent``."""
    if width is None or len(text) <= width:
        return text
    pieces = [p for p in _BREAK.split(text) if p]
    lines, line = [], ""
    for piece in pieces:
        limit = width - (len(indent) if lines else 0)
        if line and len(line) + len(piece) > limit:
            lines.append(line.rstrip())
            line = piece.lstrip()
        else:
            line += piece
    lines.append(line.rstrip())
    return ("\n" + indent).join(lines)
