"""GenomicEquation: the two-stage equation of one cell type, composed into one formula.

Stage 1 gives each latent unit ``x_j`` as an equation of the features (sequence classes);
stage 2 gives the expression ``g`` as an equation of the ``x_j``. Substituting stage 1 into stage 2
gives the genomic equation. ``predict`` evaluates the composed formula; ``predict_chained``
evaluates stage 1, then stage 2 on its outputs; the two agree to float precision.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import sympy as sp

from geneqn.sr.expr import complexity, evaluate, round_for_display, variables


@dataclass
class GenomicEquation:
    cell_type: str
    feature_names: list[str]
    latents: dict[str, sp.Expr]          # latent symbol name -> equation of the features
    output: sp.Expr                       # equation of the latent symbols
    meta: dict = field(default_factory=dict)

    @property
    def composed(self) -> sp.Expr:
        return self.output.xreplace({sp.Symbol(k): v for k, v in self.latents.items()})

    @property
    def used_latents(self) -> list[str]:
        return [k for k in self.latents if sp.Symbol(k) in self.output.free_symbols]

    @property
    def complexity(self) -> int:
        return complexity(self.composed)

    @property
    def sequence_classes(self) -> list[str]:
        """Features that the composed equation uses, in feature order."""
        used = set(variables(self.composed))
        return [f for f in self.feature_names if f in used]

    def classes_table(self) -> pd.DataFrame:
        from geneqn.features.seqclass import describe

        rows = [(c, *describe(c)) for c in self.sequence_classes]
        return pd.DataFrame(rows, columns=["label", "name", "group"])

    def _matrix(self, X) -> np.ndarray:
        if isinstance(X, pd.DataFrame):
            missing = [f for f in self.feature_names if f not in X.columns]
            if missing:
                from geneqn.errors import GeneqnError

                raise GeneqnError(f"feature table lacks column(s) {', '.join(missing[:5])} that the "
                                  f"equation of {self.cell_type} needs.")
            X = X[self.feature_names].to_numpy(dtype=np.float64)
        return np.asarray(X, dtype=np.float64)

    def predict(self, X) -> np.ndarray:
        """Evaluate the composed equation on a feature matrix or table."""
        return evaluate(self.composed, self._matrix(X), self.feature_names)

    def latent_values(self, X) -> np.ndarray:
        X = self._matrix(X)
        return np.column_stack([evaluate(e, X, self.feature_names) for e in self.latents.values()])

    def predict_chained(self, X) -> np.ndarray:
        """Stage 1 on the features, then stage 2 on its outputs."""
        return evaluate(self.output, self.latent_values(X), list(self.latents))

    def latex(self, digits: int = 3) -> str:
        """The equations as a LaTeX ``aligned`` block (constants rounded for display)."""
        def sym(name: str) -> sp.Symbol:
            return sp.Symbol("X_{" + (name if name.isalnum() else r"\mathrm{" + name.replace("_", r"\_") + "}") + "}")

        fmap = {sp.Symbol(f): sym(f) for f in self.feature_names}
        lines = [f"{sp.latex(sp.Symbol(k))} &= {sp.latex(round_for_display(self.latents[k].xreplace(fmap), digits))}"
                 for k in self.used_latents]
        lines.append(r"\hat{g} &= " + sp.latex(round_for_display(self.output, digits)))
        return "\\begin{aligned}\n" + " \\\\\n".join(lines) + "\n\\end{aligned}"

    def to_python(self, name: str = "genomic_equation") -> str:
        """Source of a plain numpy function of the features it uses."""
        from sympy.printing.numpy import NumPyPrinter

        used = self.sequence_classes
        args = {f: sp.Symbol(f"X_{i}") for i, f in enumerate(used)}
        body = NumPyPrinter({"fully_qualified_modules": True}).doprint(self.composed.xreplace(
            {sp.Symbol(f): s for f, s in args.items()}))
        doc = ", ".join(f"X_{i} = {f}" for i, f in enumerate(used))
        return (f"import numpy\n\n\ndef {name}({', '.join(str(s) for s in args.values())}):\n"
                f'    """Genomic equation of {self.cell_type}: {doc}."""\n    return {body}\n')

    def to_dict(self) -> dict:
        return {"cell_type": self.cell_type, "feature_names": self.feature_names,
                "latents": {k: sp.srepr(v) for k, v in self.latents.items()},
                "output": sp.srepr(self.output), "composed": str(self.composed),
                "complexity": self.complexity, "sequence_classes": self.sequence_classes,
                "latex": self.latex(), "meta": self.meta}

    @classmethod
    def from_dict(cls, d: dict) -> "GenomicEquation":
        # sympify(srepr(e)) == e is sympy's documented exact round trip
        return cls(d["cell_type"], list(d["feature_names"]),
                   {k: sp.sympify(v) for k, v in d["latents"].items()}, sp.sympify(d["output"]),
                   d.get("meta", {}))
