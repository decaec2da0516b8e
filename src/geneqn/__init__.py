"""geneqn: distil genomic equations from the regulatory code around each gene's TSS.

The library is the product; the run folder (:mod:`geneqn.run`) and the ``geneqn`` command are
faces on it. The pipeline goes one way::

    expression -> targets()           annotation -> tss()           genome -> windows()
    windows -> features (Sei, a table you bring, the demo's)  -> dataset()
    dataset -> BottleneckRegressor (found by the architecture search) -> GenomicEquationDistiller
            -> GenomicEquation;   SymbolicRegressor (direct SR);   RidgeRegressor, ExPectoSC
    study: the paper's tables over predictions;   report: report.html

>>> import geneqn
>>> t = geneqn.targets(adata, cell_type_column="cell_type")            # doctest: +SKIP
>>> net = geneqn.BottleneckRegressor().fit(X, y, X_valid, y_valid)       # doctest: +SKIP
>>> eq = geneqn.GenomicEquationDistiller(net).fit(X, y).equation_        # doctest: +SKIP
"""

__version__ = "0.2.0"

from geneqn._reproducible import pin_cpu_kernels as _pin

_pin()  # before anything imports torch: the same networks on AVX2 and AVX-512 machines

from geneqn.baselines import ExPectoSC, RidgeRegressor
from geneqn.dataset import Dataset, build_dataset as dataset
from geneqn.errors import GeneqnError
from geneqn.genes import tss
from geneqn.genome import Genome, one_hot, windows
from geneqn.nas.estimator import BottleneckRegressor
from geneqn.progress import show_progress
from geneqn.sr.distill import GenomicEquationDistiller
from geneqn.sr.equation import GenomicEquation
from geneqn.sr.expr import Expr
from geneqn.sr.regressor import SymbolicRegressor
from geneqn.targets import targets
from geneqn import pl, study  # noqa: E402  geneqn.pl (plots on an Axes), geneqn.study (the paper's tables)



def __getattr__(name):
    if name == "run":  # geneqn.run(config, client=...): the run layer, a callable module
        import importlib

        return importlib.import_module("geneqn.run")
    if name == "load_run":  # the run layer is imported when it is first asked for
        from geneqn.run.load import load_run

        return load_run
    if name in ("variant_effects", "read_variants"):  # variants read run folders: imported on first use
        import geneqn.variants as variants

        return getattr(variants, name)
    raise AttributeError(f"module 'geneqn' has no attribute {name!r}")


__all__ = [
    "BottleneckRegressor", "Dataset", "ExPectoSC", "Expr", "GeneqnError", "GenomicEquation", "GenomicEquationDistiller",
    "Genome", "load_run", "RidgeRegressor", "SymbolicRegressor", "__version__", "dataset", "pl", "study", "one_hot", "show_progress",
    "read_variants", "run", "targets", "tss", "variant_effects", "windows",
]
