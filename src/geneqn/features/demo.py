"""The demo's regulatory-annotation features: a real, offline stand-in for Sei.

Built by ``scripts/build_demo_data.py`` from REMO v1 (``remopy`` 1.1.0): for each gene's
4,096-bp MANE Select TSS window, the fraction of the window covered by cCREs whose module is
accessible in any cell type of each of 25 tissues (``cov_<Tissue>``), the fraction covered by any
cCRE (``cov_any``), the number of cCREs overlapping it (``ccre_count``, scaled by 1/10) and the
overlap-weighted mean GC content of those cCREs (``gc_mean``; the genome-wide cCRE mean when the
window has none). They are not Sei sequence classes: they describe accessibility across tissues
rather than sequence activity, but they carry real signal about expression, so the whole
pipeline can be run and judged offline. See ``geneqn/data/demo/README.md`` for provenance.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

import pandas as pd

from geneqn.features.table import align_to_tss

DEMO_DIR = Path(str(files("geneqn").joinpath("data/demo")))


def demo_path(name: str) -> Path:
    return DEMO_DIR / name


class DemoAnnotationProvider:
    name = "demo"
    description = ("the demo's regulatory annotation: REMO cCRE coverage of each TSS window per tissue "
                   "(a stand-in for Sei's sequence classes)")

    def compute(self, tss: pd.DataFrame, cache_dir: Path | None = None) -> pd.DataFrame:
        features = pd.read_parquet(demo_path("features.parquet")).astype("float64")
        return align_to_tss(features, tss, "demo features")
