"""Feature providers: TSS windows (or genes) -> a gene x feature table.

Every provider has the same small surface, so the rest of the pipeline never knows which one it
got:

* :class:`~geneqn.features.table.TableProvider`: a feature table the user brings (CSV/TSV/parquet).
* :class:`~geneqn.features.demo.DemoAnnotationProvider`: the embedded demo's regulatory
  annotation (REMO cCRE coverage per tissue), a real, offline stand-in for Sei.
* :class:`~geneqn.features.sei.SeiProvider`: Sei's 40 sequence-class scores (the paper's inputs).

``provider.compute(tss, run_dir)`` takes a TSS table (columns of :data:`geneqn.genes.TSS_COLUMNS`
plus the expression key ``gene``) and returns a DataFrame indexed by ``gene`` with one float
column per feature.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol, runtime_checkable

import pandas as pd


@runtime_checkable
class FeatureProvider(Protocol):
    name: str

    def compute(self, tss: pd.DataFrame, run_dir: Path | None = None) -> pd.DataFrame:
        """Gene x feature table (index ``gene``) for the genes of ``tss``."""
        ...


def make_provider(config) -> FeatureProvider:
    """The provider that ``config.features`` asks for."""
    from geneqn.errors import GeneqnError

    f = config.features
    if f.provider == "table":
        from geneqn.features.table import TableProvider

        if not f.table:
            raise GeneqnError("config: features.provider = 'table' needs features.table (a CSV/parquet "
                              "of genes x features).")
        return TableProvider(f.table)
    if f.provider == "demo":
        from geneqn.features.demo import DemoAnnotationProvider

        return DemoAnnotationProvider()
    if f.provider == "sei":
        from geneqn.features.sei import SeiProvider

        if not config.genome.path or not f.model_dir:
            raise GeneqnError("config: features.provider = 'sei' needs genome.path (FASTA/2bit) and "
                              "features.model_dir (folder with sei.pth and projvec_targets.npy; "
                              "`geneqn fetch sei` downloads it).")
        return SeiProvider(genome=config.genome.path, model_dir=f.model_dir, device=f.device,
                           batch_size=f.batch_size)
    raise GeneqnError(f"unknown feature provider {f.provider!r}; use sei, table or demo.")


__all__ = ["FeatureProvider", "make_provider"]
