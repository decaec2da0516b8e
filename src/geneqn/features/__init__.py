"""Feature providers: TSS windows (or genes) -> a gene x feature table.

Every provider has the same small surface, so the rest of the pipeline never knows which one it
got:

* :class:`~geneqn.features.table.TableProvider`: a feature table the user brings (CSV/TSV/parquet).
* :class:`~geneqn.features.demo.DemoAnnotationProvider`: the embedded demo's regulatory
  annotation (REMO cCRE coverage per tissue), a real, offline stand-in for Sei.
* :class:`~geneqn.features.sei.SeiProvider`: Sei's 40 sequence-class scores (the paper's inputs).

``provider.compute(tss, cache_dir)`` takes a TSS table (columns of :data:`geneqn.genes.TSS_COLUMNS`
plus the expression key ``gene``) and returns a DataFrame indexed by ``gene`` with one float
column per feature (genes it had to leave out listed in ``.attrs["skipped"]``); ``cache_dir``
holds resumable partial results. ``provider.description`` says in words what the features are.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol, runtime_checkable

import pandas as pd


@runtime_checkable
class FeatureProvider(Protocol):
    name: str
    description: str

    def compute(self, tss: pd.DataFrame, cache_dir: Path | None = None) -> pd.DataFrame:
        """Gene x feature table (index ``gene``) for the genes of ``tss``."""
        ...


__all__ = ["FeatureProvider"]
