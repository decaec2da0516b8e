"""The variant-effects report: one self-contained HTML page (no network, no script) from the
tables of :func:`geneqn.variant_effects`: what was read, left out and scored, then per cell type
the largest effects, a waterfall of the largest one's terms and the equation against a second
model. ``templates/variants.html.j2`` lays it out; every name from the inputs (variant ids, genes,
cell types, features) is escaped by the template engine."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from geneqn._io import write_text
from geneqn.report import figures
from geneqn.report._render import render

NAMES = {"sr": "SR(NAS|NN)", "core": "stable core", "nas": "NAS|NN", "ridge": "Ridge", "expectosc": "ExPectoSC"}
REASONS = {"symbolic_or_missing": "symbolic or missing ALT (<DEL>, *, .)", "not_acgtn": "letters other than ACGTN",
           "too_long": "allele longer than 50 bp", "alt_equals_ref": "ALT equal to REF",
           "chromosome_not_in_genome": "chromosome not in the genome",
           "outside_windows": "outside every modelled gene's TSS window", "ref_mismatch": "REF differs from the genome",
           "duplicate": "the same allele again"}


def _gene(r) -> str:
    """A row's gene symbol, else its gene id (a CSV read back gives NaN for a missing symbol)."""
    sym = r.get("symbol")
    return str(sym) if isinstance(sym, str) and sym else str(r["gene"])


def build_variant_report(effects: pd.DataFrame, attributions: pd.DataFrame, summary: dict, path,
                         top: int = 15) -> Path:
    """Write the report to ``path`` and return it."""
    return write_text(render("variants.html.j2", **variant_report_context(effects, attributions, summary, top)),
                      Path(path))


def variant_report_context(effects: pd.DataFrame, attributions: pd.DataFrame, summary: dict, top: int = 15) -> dict:
    """What the variant report shows, as data: counts, the left-out reasons, and per cell type the
    largest effects with their figures."""
    models = [m for m in summary.get("models", {}).get("used", []) if f"delta_{m}" in effects.columns]
    skipped = summary.get("skipped", {})
    key = models[0] if models else None
    sections = []
    for i, ct in enumerate(summary.get("cell_types", [])):
        df = effects[effects["cell_type"].astype(str) == str(ct)]
        if df.empty or key is None:
            continue
        order = df[f"delta_{key}"].abs().sort_values(ascending=False, kind="stable").index
        shown = df.loc[order[:top]]
        rows = [{"id": r["id"], "gene": _gene(r), "distance": int(r["distance"]),
                 "deltas": [r[f"delta_{m}"] for m in models],
                 "log2": r.get(f"delta_{key}_log2"), "classes": r.get("top_classes"), "latents": r.get("top_latents")}
                for _, r in shown.iterrows()]
        figs = []
        # the waterfall: the largest effect with more than one term, else the largest
        several = shown[shown["top_classes"].astype(str).str.contains(",")] if "top_classes" in shown else shown
        first = (several if len(several) else shown).iloc[0]
        if len(attributions) and "top_classes" in df:
            a = attributions[(attributions["variant"] == first["variant"]) & (attributions["gene"] == first["gene"])
                             & (attributions["cell_type"].astype(str) == str(ct))]
            if len(a):
                title = f"{first['id']} in {_gene(first)}: terms of the change of g"
                figs.append((figures.variant_waterfall(a, float(first["g_ref_sr"]), title), title))
        other = next((m for m in ("ridge", "nas", "core") if m in models and m != key), None)
        if other:
            figs.append((figures.variant_scatter(df, f"delta_{other}", f"delta_{key}", f"{ct}"),
                         f"{NAMES[key]} against {NAMES[other]}"))
        sections.append({"index": i, "cell_type": ct, "pairs": len(df), "rows": rows, "figures": figs,
                         "log2": f"delta_{key}_log2" in df, "terms": "top_classes" in df})
    att = summary.get("attribution", {})
    return {"summary": summary, "genome": Path(str(summary.get("genome", ""))).name,
            "models": [NAMES.get(m, m) for m in models], "key": NAMES.get(key, key) if key else None,
            "not_in_run": list(summary.get("models", {}).get("not_in_run", {}).values()),
            "skipped": [(REASONS.get(k, k), int(v)) for k, v in skipped.items() if v],
            "more_mismatches": skipped.get("ref_mismatch", 0) > len(summary.get("ref_mismatches", [])),
            "attribution": att, "attribution_error": None if att.get("max_error") is None else f"{att['max_error']:.1e}",
            "sections": sections}
