"""geneqn: distil genomic equations from sequence features of each gene's TSS window.

The pipeline (one direction, one module per stage):
expression -> :mod:`geneqn.targets`; annotation -> :mod:`geneqn.genes`;
genome -> :mod:`geneqn.genome`; windows -> :mod:`geneqn.features`;
targets + features -> :mod:`geneqn.dataset`; -> :mod:`geneqn.nas`; -> :mod:`geneqn.sr`;
-> :mod:`geneqn.evaluate` and :mod:`geneqn.report`.
"""

__version__ = "0.1.0"

from geneqn.errors import GeneqnError

__all__ = ["GeneqnError", "__version__"]
