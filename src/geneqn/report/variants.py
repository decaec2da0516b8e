"""The variant-effects report: one self-contained HTML page (no network, no script) from the
tables of :func:`geneqn.variant_effects`: what was read, left out and scored, then per cell type
the largest effects, a waterfall of the largest one's terms and the equation against a second
model. Every name from the inputs (variant ids, genes, cell types, features) is escaped."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from geneqn._io import write_text
from geneqn.report import CSS, _f, _img, _table, esc, figures

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
    models = [m for m in summary.get("models", {}).get("used", []) if f"delta_{m}" in effects.columns]
    skipped = summary.get("skipped", {})
    rows = [[esc(REASONS.get(k, k)), f"{int(v):,}"] for k, v in skipped.items() if v]
    parts = [f"<h1>Variant effects</h1><p class=note>{esc(summary.get('source', ''))}; genome "
             f"{esc(Path(str(summary.get('genome', ''))).name)}; features: {esc(summary.get('provider', ''))} "
             f"({int(summary.get('window', 0)):,}-bp TSS windows, alternative window cut from the alternative "
             "haplotype).</p>",
             f"<p>{int(summary.get('alleles_read', 0)):,} alleles read; <b>{int(summary.get('variants_scored', 0)):,} "
             f"variants scored</b> in {int(summary.get('pairs', 0)):,} (variant, gene) pairs, "
             f"{len(summary.get('cell_types', []))} cell type(s). Models: "
             f"{esc(', '.join(NAMES.get(m, m) for m in models) or 'none')}"
             + (f"; not in the run: {esc(', '.join(summary['models']['not_in_run'].values()))}"
                if summary.get("models", {}).get("not_in_run") else "") + ".</p>"]
    if rows:
        parts.append("<h2>Left out</h2>" + _table(["Reason", "Alleles"], rows, "skipped"))
    if summary.get("ref_mismatches"):
        parts.append("<p class=note>REF mismatches (never scored): "
                     f"{esc(', '.join(summary['ref_mismatches']))}{' ...' if skipped.get('ref_mismatch', 0) > len(summary['ref_mismatches']) else ''}</p>")
    att = summary.get("attribution", {})
    if att:
        err = "" if att.get("max_error") is None else f"{att['max_error']:.1e}"
        parts.append(f"<p class=note>Terms: each feature's share of the equation's change of g by {esc(att.get('method', ''))} "
                     f"({int(att.get('steps', 0))} nodes); largest completeness error "
                     f"{err} (|sum of shares - change|). "
                     "Δ log2 is the change in log2(expression + pseudocount).</p>")
    key = models[0] if models else None
    for i, ct in enumerate(summary.get("cell_types", [])):
        df = effects[effects["cell_type"].astype(str) == str(ct)]
        if df.empty or key is None:
            continue
        order = df[f"delta_{key}"].abs().sort_values(ascending=False, kind="stable").index
        shown = df.loc[order[:top]]
        heads = ["Variant", "Gene", "Distance"] + [f"Δ g {esc(NAMES.get(m, m))}" for m in models] + \
                ([f"Δ log2 {esc(NAMES[key])}"] if f"delta_{key}_log2" in df else []) + \
                (["Top classes", "Top latents"] if "top_classes" in df else [])
        body = []
        for _, r in shown.iterrows():
            cells = [esc(r["id"]), esc(_gene(r)), f"{int(r['distance']):+,}"]
            cells += [_f(r[f"delta_{m}"], 4) for m in models]
            if f"delta_{key}_log2" in df:
                cells.append(_f(r[f"delta_{key}_log2"], 4))
            if "top_classes" in df:
                cells += [f"<span class=code>{esc(r['top_classes'])}</span>", f"<span class=code>{esc(r['top_latents'])}</span>"]
            body.append(cells)
        figs = []
        # the waterfall: the largest effect with more than one term, else the largest
        several = shown[shown["top_classes"].astype(str).str.contains(",")] if "top_classes" in shown else shown
        first = (several if len(several) else shown).iloc[0]
        if len(attributions) and "top_classes" in df:
            a = attributions[(attributions["variant"] == first["variant"]) & (attributions["gene"] == first["gene"])
                             & (attributions["cell_type"].astype(str) == str(ct))]
            if len(a):
                title = f"{first['id']} in {_gene(first)}: terms of the change of g"
                figs.append(_img(figures.variant_waterfall(a, float(first["g_ref_sr"]), title), title))
        other = next((m for m in ("ridge", "nas", "core") if m in models and m != key), None)
        if other:
            figs.append(_img(figures.variant_scatter(df, f"delta_{other}", f"delta_{key}", f"{ct}"),
                             f"{NAMES[key]} against {NAMES[other]}"))
        parts.append(f"<details class=cell{' open' if i == 0 else ''}><summary>{esc(ct)}: {len(df):,} pairs</summary>"
                     f"<h3>Largest effects ({esc(NAMES[key])})</h3>"
                     + _table(heads, body, f"top-{i}", left=2)
                     + "<div class=grid>" + "".join(f"<div>{f}</div>" for f in figs) + "</div></details>")
    html = (f"<!doctype html><html lang=en><head><meta charset=utf-8><title>geneqn variant effects</title>"
            f"<style>{CSS}</style></head><body>{''.join(parts)}</body></html>")
    out = Path(path)
    write_text(html, out)
    return out
