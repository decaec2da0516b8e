"""Symbolic regression and the distillation of genomic equations.

* :mod:`geneqn.sr.expr`: equations as the trees that were searched (:class:`Expr`): PySR's
  complexity (with a weight per operator), evaluation, simplification, and a JSON form read
  back as data.
* :mod:`geneqn.sr.operators`: the operator table (PySR's names, arities, domains).
* :mod:`geneqn.sr.export`: text (Python/sympy notation) and its whitelist parser, LaTeX,
  MathML, sympy, Python and torch exports.
* :mod:`geneqn.sr.seeds`: seeds from simple forms (sums of terms, power and exponential laws).
* :mod:`geneqn.sr.search`: geneqn's own regularized evolution over PySR's expression space.
* :mod:`geneqn.sr.engines`: the engines (geneqn, operon, pysr) behind one job interface.
* :mod:`geneqn.sr.regressor`: :class:`SymbolicRegressor`, a scikit-learn estimator whose result
  is a PySR-style Pareto table ``equations_``.
* :mod:`geneqn.sr.equation`: :class:`GenomicEquation`, the composed two-stage equation.
* :mod:`geneqn.sr.distill`: :class:`GenomicEquationDistiller` (stage 1, stage 2, composition),
  the direct-SR baseline and the complexity sweep.
"""
