"""The study's report: one self-contained ``report.html`` (no network: images are embedded as
PNG data, equations are MathML that browsers render offline) beside ``results.json``."""

from __future__ import annotations

import base64
import html
import json
from pathlib import Path

import pandas as pd
import sympy as sp

from geneqn._io import write_text
from geneqn.report import figures

CSS = """
body { font-family: -apple-system, Segoe UI, Helvetica, Arial, sans-serif; margin: 2em auto; max-width: 1100px;
       color: #222; line-height: 1.45; padding: 0 1em; }
table { border-collapse: collapse; margin: 0.6em 0 1.2em; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: right; }
th { background: #f3f3f3; } td:first-child, th:first-child { text-align: left; }
h1 { font-size: 1.6em; } h2 { margin-top: 1.8em; border-bottom: 1px solid #ddd; }
.eq { overflow-x: auto; background: #fafafa; border: 1px solid #eee; padding: 0.5em 1em; margin: 0.5em 0; }
.note { color: #555; font-size: 0.9em; } pre { background: #f7f7f7; padding: 0.8em; overflow-x: auto; }
img { max-width: 100%; }
"""


def _img(png: bytes, alt: str) -> str:
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{base64.b64encode(png).decode()}">'


def _table(df: pd.DataFrame, table_id: str, floats: str = "{:.3f}") -> str:
    def fmt(v):
        if isinstance(v, float):
            return floats.format(v) if pd.notna(v) else ""
        if isinstance(v, bool):
            return "yes" if v else "no"
        return html.escape(str(v))

    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in df.columns)
    body = "".join("<tr>" + "".join(f"<td>{fmt(v)}</td>" for v in row) + "</tr>" for row in df.itertuples(index=False))
    return f'<table id="{table_id}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def _mathml(lhs: str, expr: sp.Expr) -> str:
    from sympy.printing.mathml import mathml

    from geneqn.sr.expr import round_for_display

    body = mathml(round_for_display(expr), printer="presentation")
    left = mathml(sp.Symbol(lhs), printer="presentation")
    return f'<math display="block"><mrow>{left}<mo>=</mo>{body}</mrow></math>'


def equation_html(eq) -> str:
    parts = [_mathml(k, eq.latents[k]) for k in eq.used_latents]
    parts.append(_mathml("ĝ", eq.output))
    return "".join(f'<div class="eq">{p}</div>' for p in parts)


def build_report(run_dir: str | Path) -> Path:
    """Write ``report.html`` of a finished run folder and return its path."""
    from geneqn.sr.equation import GenomicEquation

    run_dir = Path(run_dir)
    results = json.loads((run_dir / "results.json").read_text())
    tables = {n: pd.read_csv(run_dir / "tables" / f"{n}.csv") for n in
              ("table1", "table2", "table3", "subsets", "residuals", "classes")}
    cell_types = results["cell_types"]
    focus = cell_types[0]
    t1 = tables["table1"]
    focus_t1 = t1[t1.cell_type == focus][["model", "explainable", "pearson_r", "pearson_r_ci_low",
                                          "pearson_r_ci_high", "spearman_r", "mse", "n_genes"]]
    from geneqn.pipeline import MODELS

    preds = {}
    for name, f, _ in MODELS:
        d = pd.read_parquet(run_dir / f)
        preds[name] = d[d["cell_type"] == focus]
    equations = {ct: GenomicEquation.from_dict(d) for ct, d in results["equations"].items()}
    feature_order = equations[focus].feature_names
    analyses = results["analyses"][focus]
    subsets = tables["subsets"][tables["subsets"].cell_type == focus]
    residuals = tables["residuals"][tables["residuals"].cell_type == focus]
    s = []
    s.append(f"<h1>geneqn report</h1><p class='note'>geneqn {html.escape(results['geneqn_version'])}; "
             f"cell types: {html.escape(', '.join(cell_types))}. Pearson r on held-out test genes; intervals are "
             "95% bootstrap intervals over genes (1,000 resamples).</p>")
    s.append(f"<h2>Table 1: models compared ({html.escape(focus)})</h2>")
    s.append(_table(focus_t1, "table1"))
    s.append("<h2>Table 3: every cell type</h2>")
    s.append(_table(tables["table3"], "table3"))
    s.append("<h2>Table 2: test r against equation complexity</h2><p class='note'>Per-latent complexity "
             "limit of stage 1 (stage 2: limit 20); classes = features the composed equation uses.</p>")
    s.append(_table(tables["table2"].drop(columns=["equation"]), "table2"))
    s.append("<h2>Genomic equations: SR(NAS|NN)</h2>")
    for ct, eq in equations.items():
        m = next((r for r in results["table1"] if r["cell_type"] == ct and r["model"] == "SR(NAS|NN)"), {})
        s.append(f"<h3>{html.escape(ct)}</h3><p class='note'>complexity {eq.complexity}; test r "
                 f"{m.get('pearson_r', float('nan')):.3f}; features: {html.escape(', '.join(eq.sequence_classes))}</p>")
        s.append(equation_html(eq))
    s.append("<h2>Predicted against measured</h2>")
    s.append(_img(figures.scatter_grid(preds, f"{focus}: test genes"), "scatter"))
    s.append("<h2>Linear and nonlinear gene subsets</h2><p class='note'>Nonlinear: genes whose equation "
             "error is below its 25th percentile while ridge's is above its median; linear: the reverse. "
             "Mean expression compared by a two-sample t-test.</p>")
    test = analyses["t_test_nonlinear_vs_linear_expression"]
    s.append(_img(figures.subset_boxplot(subsets, test, focus), "subsets"))
    for label in ("nonlinear", "linear"):
        names = subsets.loc[subsets.subset == label].apply(
            lambda r: r["symbol"] if isinstance(r["symbol"], str) else r["gene"], axis=1).tolist()
        s.append(f"<p><b>{label}</b> ({len(names)}): {html.escape(', '.join(map(str, names)))}</p>")
    s.append("<h2>Residuals by expression</h2>")
    s.append(_img(figures.residual_plot(residuals, focus), "residuals"))
    s.append(_table(residuals.drop(columns=["cell_type", "left", "right"]), "residuals", "{:.3g}"))
    s.append("<h2>Features used by each equation</h2>")
    s.append(_img(figures.class_heatmap(tables["classes"], feature_order, cell_types), "heatmap"))
    s.append(_table(tables["classes"], "classes"))
    s.append("<h2>Config and versions</h2>")
    from geneqn.config import from_dict

    s.append(f"<pre>{html.escape(from_dict(results['config']).to_toml())}</pre>")
    s.append(_table(pd.DataFrame(list(results["versions"].items()), columns=["package", "version"]), "versions"))
    page = (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>geneqn report</title>"
            f"<style>{CSS}</style></head><body>{''.join(s)}</body></html>")
    return write_text(page, run_dir / "report.html")
