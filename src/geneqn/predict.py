"""Apply saved genomic equations (or networks) to a new feature table."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd

from geneqn._io import atomic_path, read_json
from geneqn.errors import GeneqnError
from geneqn.targets import g_to_log2

log = logging.getLogger(__name__)


def predict_frame(features: pd.DataFrame, equations=None, networks=(), log2: bool = False) -> pd.DataFrame:
    """gene x cell type predictions of saved models on a gene x feature DataFrame.

    ``equations``: an equations.json path or {cell type: GenomicEquation}; ``networks``: network
    files (.pt). ``log2``: log2(expression + pseudocount) instead of g, from the target scaling
    saved with each model. Predictions that are not finite (a feature far outside the range the
    model was fitted on) become NaN, with a warning.
    """
    from geneqn.nas.network import BottleneckMLP

    cols = {}
    if networks:
        for p in networks:
            net = BottleneckMLP.load(p)
            names = net.extra.get("feature_names") or list(features.columns)
            missing = [n for n in names if n not in features.columns]
            if missing:
                raise GeneqnError(f"the feature table lacks column(s) {', '.join(map(str, missing[:5]))} that "
                                  f"{p} needs.")
            values = net.predict(features[names].to_numpy(dtype=np.float64))
            if log2:
                values = g_to_log2(values, net.extra.get("target_scaling"), str(p))
            cols[str(net.extra.get("cell_type", Path(p).stem))] = values
    else:
        if equations is None:
            raise GeneqnError("predict needs equations or networks.")
        if not isinstance(equations, dict):
            path = Path(equations)
            if not path.exists():
                raise GeneqnError(f"no equations at {path}; pass --equations FILE or --run DIR of a finished run "
                                  "(or --network FILE.pt).")
            data = read_json(path)
            if not isinstance(data, dict):
                raise GeneqnError(f"{path}: expected a JSON object of cell type -> equation.")
            equations = {ct: _read_equation(d, f"{path}: {ct}", ct) for ct, d in data.items()}
        for ct, eq in equations.items():
            try:
                values = eq.predict(features)
            except RecursionError:
                raise GeneqnError(f"the equation of {ct} is nested too deeply to evaluate; it is damaged or not "
                                  "one geneqn wrote (its equations have complexity <= a few hundred).") from None
            cols[ct] = g_to_log2(values, eq.target_scaling, f"the equation of {ct}") if log2 else values
    df = pd.DataFrame(cols, index=features.index)
    bad = ~np.isfinite(df.to_numpy(dtype=np.float64))
    if bad.any():
        log.warning("%d prediction(s) are not finite (features far outside the range the models were fitted on) "
                    "and are left empty", int(bad.sum()))
        df = df.mask(bad)
    return df


def _read_equation(d, where: str, cell_type: str):
    """An equation from a file's JSON, with every failure said in words (never a traceback); it is
    named by its key in the file when it names no cell type itself."""
    from geneqn.sr.equation import GenomicEquation

    try:
        return GenomicEquation.from_dict(d, where, cell_type=str(cell_type))
    except OverflowError:
        raise GeneqnError(f"{where}: a constant is too large for a floating-point number; the file is damaged "
                          "or edited. Use the equations.json of a geneqn run.") from None
    except (RecursionError, ValueError, TypeError, AttributeError, KeyError) as e:
        raise GeneqnError(f"{where}: malformed equation ({type(e).__name__}); the file is damaged or edited. "
                          "Use the equations.json of a geneqn run.") from None


def predict_table(features_path, output, equations=None, networks=(), log2: bool = False) -> pd.DataFrame:
    """:func:`predict_frame` on a feature table file; writes ``output`` (CSV) atomically."""
    from geneqn.features.table import read_feature_table

    table = read_feature_table(features_path)
    df = predict_frame(table, equations, networks, log2)
    with atomic_path(output) as tmp:
        df.to_csv(tmp)
    return df
