"""How well variant effects agree with measured eQTLs: the sign AUROC of each model's delta.

Given fine-mapped eQTLs (a gene, a variant and the sign of its effect on expression), the AUROC
of a model's delta as a score for "the alternative allele raises expression" (0.5: chance).
Published anchors on GTEx fine-mapped eQTLs: Sei-based causal-eQTL classification about 0.75;
Borzoi about 0.75 and AlphaGenome about 0.80 sign AUROC (their papers; not measured here).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from geneqn.errors import GeneqnError


def sign_auroc(effects, eqtls: pd.DataFrame, cell_type: str | None = None) -> pd.DataFrame:
    """Sign AUROC of every ``delta_<model>`` column of ``effects`` (a :class:`VariantEffects`
    or its ``effects`` table) on ``eqtls``: columns ``gene``, ``variant`` (``chrom:pos:ref>alt``,
    or the ID of the VCF) and ``sign`` (or ``effect``/``slope``/``beta``: only its sign is
    used), and optionally ``cell_type``. Rows are matched on (variant or id, gene[, cell type]);
    ``cell_type`` picks one cell type of the effects first. Returns one row per model: ``model``,
    ``n`` (matched eQTLs), ``positives``, ``auroc``."""
    from sklearn.metrics import roc_auc_score

    from geneqn.variants.effects import MODELS

    df = getattr(effects, "effects", effects)
    if cell_type is not None:
        df = df[df["cell_type"].astype(str) == str(cell_type)]
    q = eqtls.rename(columns={c: str(c).lower() for c in eqtls.columns})
    sign_col = next((c for c in ("sign", "effect", "slope", "beta") if c in q.columns), None)
    if sign_col is None or "gene" not in q.columns or "variant" not in q.columns:
        raise GeneqnError("the eQTL table needs columns gene, variant and sign (or effect/slope/beta); it has "
                          f"{', '.join(map(str, eqtls.columns))}.")
    q = q.assign(_up=pd.to_numeric(q[sign_col], errors="coerce")).dropna(subset=["_up"])
    q = q[q["_up"] != 0]
    keys = ["gene"] + (["cell_type"] if "cell_type" in q.columns and "cell_type" in df.columns else [])
    by_key = df.merge(q[["variant", "_up"] + keys], on=["variant"] + keys, how="inner")
    by_id = df.merge(q[["variant", "_up"] + keys].rename(columns={"variant": "id"}), on=["id"] + keys, how="inner")
    m = pd.concat([by_key, by_id]).drop_duplicates(subset=["variant", "gene", "cell_type"])
    rows = []
    for model in MODELS:
        col = f"delta_{model}"
        if col not in m.columns:
            continue
        part = m.dropna(subset=[col])
        y = (part["_up"] > 0).to_numpy()
        auc = float(roc_auc_score(y, part[col].to_numpy())) if 0 < y.sum() < len(y) else np.nan
        rows.append({"model": model, "n": len(part), "positives": int(y.sum()), "auroc": auc})
    return pd.DataFrame(rows, columns=["model", "n", "positives", "auroc"])
