"""Symbolic regression and the distillation of genomic equations.

* :mod:`geneqn.sr.expr`: PySR-style complexity, evaluation and cleaning of sympy expressions.
* :mod:`geneqn.sr.backend`: one regressor over two engines (pyoperon default, PySR optional);
  every fit gives a Pareto table like PySR's ``equations_``.
* :mod:`geneqn.sr.equation`: :class:`GenomicEquation`, the composed two-stage equation.
* :mod:`geneqn.sr.distill`: stage 1 (features -> each latent unit), stage 2 (stage-1 predicted
  latents -> expression), composition, the direct-SR baseline and the complexity sweep.
"""
