"""The study's report: one self-contained ``report.html`` (no network and no script: images are
embedded as PNG data, equations are MathML that browsers render offline, cell types fold with
``<details>``), built from ``results.json``, ``predictions.csv`` and ``tables/`` only.

Every name that comes from the inputs (cell types, features, gene symbols) is escaped.
"""

from __future__ import annotations

import base64
import html
from pathlib import Path

import numpy as np
import pandas as pd

from geneqn._io import read_csv, read_json, write_text
from geneqn.report import figures

CSS = """
body { font-family: -apple-system, Segoe UI, Helvetica, Arial, sans-serif; margin: 1.5em auto; max-width: 1150px;
       color: #222; line-height: 1.45; padding: 0 1em; }
table { border-collapse: collapse; margin: 0.5em 0 1.1em; font-size: 0.88em; }
th, td { border: 1px solid #ccc; padding: 0.22em 0.55em; text-align: right; vertical-align: top; }
th { background: #f3f3f3; } td:first-child, th:first-child { text-align: left; }
td.l, th.l { text-align: left; }
h1 { font-size: 1.6em; margin-bottom: 0.2em; } h2 { margin-top: 1.6em; border-bottom: 1px solid #ddd; }
h3 { margin-bottom: 0.3em; }
.eq { overflow-x: auto; background: #fafafa; border: 1px solid #eee; padding: 0.4em 0.9em; margin: 0.4em 0; }
.note { color: #555; font-size: 0.88em; } pre { background: #f7f7f7; padding: 0.8em; overflow-x: auto; }
.code { font-family: ui-monospace, Menlo, Consolas, monospace; font-size: 0.85em; word-break: break-all; }
.eqn { font-family: ui-monospace, Menlo, Consolas, monospace; font-size: 0.85em; word-break: normal; overflow-wrap: normal; text-align: left; display: block; min-width: 24em; }
img { max-width: 100%; } details { margin: 0.6em 0; } summary { cursor: pointer; font-weight: 600; }
details.cell > summary { font-size: 1.15em; padding: 0.3em 0; border-bottom: 1px solid #ddd; }
.grid { display: flex; flex-wrap: wrap; gap: 1em; } .grid > div { flex: 1 1 480px; }
.good { color: #1a7f37; } .bad { color: #b3261e; }
"""

LABELS = {"model": "Model", "explainable": "Explainable", "pearson_r": "Pearson r", "spearman_r": "Spearman r",
          "mse": "MSE", "n_genes": "Test genes", "cell_type": "Cell type", "latent_limit": "Per-latent limit",
          "n_features": "Features used", "complexity": "Complexity", "test_r": "Test Pearson r"}


def esc(x) -> str:
    return html.escape(str(x), quote=True)


def _img(png: bytes, alt: str) -> str:
    return f'<img alt="{esc(alt)}" src="data:image/png;base64,{base64.b64encode(png).decode()}">'


def _f(v, digits: int = 3) -> str:
    try:
        v = float(v)
    except (TypeError, ValueError):
        return esc(v)
    if v != v:
        return ""
    return f"{v:.{digits}f}"


def _ci(lo, hi, digits: int = 3) -> str:
    return f"[{_f(lo, digits)}, {_f(hi, digits)}]"


def _table(headers: list[str], rows: list[list[str]], table_id: str = "", left: int = 1) -> str:
    """Headers and cells are HTML already (escape before)."""
    head = "".join(f"<th{' class=l' if i < left else ''}>{h}</th>" for i, h in enumerate(headers))
    body = "".join("<tr>" + "".join(f"<td{' class=l' if i < left else ''}>{c}</td>" for i, c in enumerate(r)) + "</tr>"
                   for r in rows)
    return f'<table id="{esc(table_id)}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def _math(lhs: str, rhs: str) -> str:
    return f'<div class="eq"><math display="block"><mrow>{lhs}<mo>=</mo>{rhs}</mrow></math></div>'


def build_report(run_dir: str | Path) -> Path:
    """Write ``report.html`` of a finished run folder and return its path."""
    from geneqn.sr.equation import GenomicEquation

    from geneqn.run.layout import RunLayout

    L = RunLayout(run_dir)
    res = read_json(L.results)
    preds = read_csv(L.predictions_csv)
    if "split" in preds:  # every gene is there; the figures show the test genes, as Table 1
        preds = preds[preds["split"] == "test"]
    t = {n: read_csv(L.table(n)) for n in
         ("table1", "table2", "table3", "comparisons", "subsets", "residuals", "effects", "features_used")}
    cell_types = res["cell_types"]
    models = res["models"]
    t1, t2, cmp = t["table1"], t["table2"], t["comparisons"]
    feat = res["features"]
    ds = res["dataset"]
    s: list[str] = []

    # ------------------------------------------------------------------ header and summary
    s.append("<h1>geneqn report</h1>")
    s.append(f"<p class='note'>geneqn {esc(res['geneqn_version'])}, {esc(res.get('created', ''))}. "
             f"{ds['n_genes']:,} genes ({ds['n_train']:,} train, {ds['n_valid']:,} valid, {ds['n_test']:,} test) x "
             f"{feat['n_features']} features from <b>{esc(feat.get('description') or feat['provider'])}</b>. "
             f"Cell types modelled: {esc(', '.join(cell_types))}.</p>")
    s.append("<p class='note'><b>g</b> is the target of every model: for each cell type, "
             "g<sub>1</sub> = log<sub>2</sub>(mean expression + 0.001) over its cells, scaled to [&minus;1, 1] "
             "over all genes (g = &minus;1: the lowest, typically not expressed). Pearson r is on held-out test "
             "genes; intervals are 95% bootstrap intervals over genes (1,000 resamples). Each equation stores "
             "its scaling, so <span class='code'>geneqn predict --log2</span> returns log<sub>2</sub>(expression "
             "+ 0.001).</p>")
    s.append("<h2>Summary</h2>")
    rows = []
    for ct in cell_types:
        c = res["cells"][ct]
        r = {m: t1[(t1.cell_type == ct) & (t1.model == m)].iloc[0] for m in models if
             ((t1.cell_type == ct) & (t1.model == m)).any()}
        eq = GenomicEquation.from_dict(c["equation"], f"{ct}", cell_type=ct)
        text = "<br>".join(_breakable(f"{lhs} = {rhs}") for lhs, rhs in eq.system(3))

        def rcell(m):
            return (f"{_f(r[m]['pearson_r'])} <span class=note>{_ci(r[m]['pearson_r_ci_low'], r[m]['pearson_r_ci_high'])}"
                    "</span>") if m in r else ""

        rows.append([esc(ct), rcell("SR(NAS|NN)"), rcell("NAS|NN"), rcell("Ridge"), str(c["equation"]["complexity"]),
                     esc(", ".join(c["equation"]["features_used"][:12]) + (" ..." if len(c["equation"]["features_used"]) > 12 else "")),
                     f"<span class=eqn>{text}</span>"])
    s.append(_table(["Cell type", "SR(NAS|NN) r", "NAS|NN r", "Ridge r", "Complexity", "Features used",
                     "Genomic equation (stage 1, then g; constants to 3 significant digits)"], rows, "summary", left=1))
    s.append(_significance(cmp, cell_types))

    # ------------------------------------------------------------------ tables 1, 2, 3
    s.append("<h2>Table 1: models compared on the test genes</h2>")
    for ct in cell_types:
        d = t1[t1.cell_type == ct]
        rows = [[esc(row.model), "yes" if row.explainable else "no", _f(row.pearson_r),
                 _ci(row.pearson_r_ci_low, row.pearson_r_ci_high), _f(row.spearman_r),
                 _ci(row.spearman_r_ci_low, row.spearman_r_ci_high), _f(row.mse, 4), f"{int(row.n_genes):,}"]
                for row in d.itertuples()]
        s.append(f"<h3>{esc(ct)}</h3>")
        s.append(_table(["Model", "Explainable", "Pearson r", "95% CI", "Spearman r", "95% CI", "MSE", "Test genes"],
                        rows, f"table1-{ct}"))
    s.append("<h2>Table 2: genomic equations against complexity</h2><p class='note'>Stage-1 equations re-selected "
             "at each per-latent complexity limit (PySR's count); stage 2 refitted; complexity of the composed "
             "equation; features it uses; test Pearson r.</p>")
    has_valid = "valid_r" in t2 and "knee" in t2
    rows = [[esc(row.cell_type), esc(row.latent_limit), str(row.n_features), str(row.complexity)]
            + ([_f(row.valid_r)] if has_valid else []) + [_f(row.test_r)]
            + (["knee" if bool(row.knee) else ""] if has_valid else []) for row in t2.itertuples()]
    s.append(_table(["Cell type", "Per-latent limit", "Features used", "Complexity"] + (["Valid r"] if has_valid else [])
                    + ["Test Pearson r"] + (["Knee"] if has_valid else []), rows, "table2"))
    s.append("<h2>Table 3: every cell type</h2><p class='note'>Test Pearson r with its 95% bootstrap interval.</p>")
    rows = []
    for ct in cell_types:
        cells = [esc(ct)]
        for m in models:
            x = t1[(t1.cell_type == ct) & (t1.model == m)]
            cells.append(f"{_f(x.pearson_r.iloc[0])}<br><span class=note>{_ci(x.pearson_r_ci_low.iloc[0], x.pearson_r_ci_high.iloc[0])}</span>"
                         if len(x) else "")
        rows.append(cells)
    s.append(_table(["Cell type"] + [esc(m) for m in models], rows, "table3"))
    s.append("<h2>Are the differences real?</h2><p class='note'>Each model minus SR(NAS|NN) in test Pearson r on the "
             "same genes, with a paired bootstrap 95% interval (1,000 resamples of genes) and p-value. An interval "
             "that excludes 0 is a real difference on these genes.</p>")
    rows = [[esc(row.cell_type), esc(row.model), _signed(row.difference), _ci(row.ci_low, row.ci_high), _p(row.p)]
            for row in cmp.itertuples()]
    s.append(_table(["Cell type", "Model", "r(model) &minus; r(SR(NAS|NN))", "95% CI", "p"], rows, "comparisons"))

    # ------------------------------------------------------------------ per cell type
    s.append("<h2>Cell types</h2>")
    for k, ct in enumerate(cell_types):
        s.append(_cell_section(ct, res, preds, t, models, open_=(k == 0)))
    s.append("<h2>Features used by the equations</h2>")
    used = t["features_used"]
    feature_order = feat.get("features") or sorted(set(used.feature))
    s.append(_img(figures.features_heatmap(used, feature_order, cell_types), "features used"))
    rows = [[esc(r.cell_type), esc(r.model), esc(r.feature), esc(r.name if isinstance(r.name, str) else ""),
             esc(r.group if isinstance(r.group, str) else "")] for r in used.itertuples()]
    s.append("<details><summary>Table of features used</summary>" +
             _table(["Cell type", "Model", "Feature", "Name", "Group"], rows, "features_used", left=5) + "</details>")

    # ------------------------------------------------------------------ downloads, config
    s.append("<h2>Downloads</h2><ul>"
             "<li><a href='predictions.csv'>predictions.csv</a>: gene, symbol, cell type, split (train, valid, "
             "test), measured g and every model's prediction, for every gene</li>"
             "<li><a href='downloads/'>downloads/</a>: each equation as LaTeX, Python and JSON (with its target "
             "scaling), and the Pareto tables of every fit (PySR-style CSV)</li>"
             "<li><a href='results.json'>results.json</a>: every number of this report; <a href='tables/'>tables/</a>"
             "</li></ul>")
    from geneqn.config import from_dict

    try:
        toml = from_dict(res["config"]).to_toml()
    except Exception:  # a config of another version: show it as JSON
        import json

        toml = json.dumps(res["config"], indent=2)
    stages = res.get("stages", {})
    srows = [[esc(n), _f(v.get("seconds"), 1), esc(_brief(v.get("summary", {})))] for n, v in stages.items()]
    s.append("<details><summary>Config, stages and versions</summary>"
             f"<pre>{esc(toml)}</pre>" + _table(["Stage", "Seconds", "Summary"], srows, "stages", left=3) +
             _table(["Package", "Version"], [[esc(k), esc(v)] for k, v in res["versions"].items()], "versions") +
             "</details>")
    page = ("<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>geneqn report</title>"
            "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; img-src data:; "
            "style-src 'unsafe-inline'\">"
            f"<style>{CSS}</style></head><body>{''.join(s)}</body></html>")
    return write_text(page, L.report)


def _breakable(text: str) -> str:
    """Equation text, escaped, that a browser may wrap only at token boundaries (after
    `` + ``, `` - ``, ``*``, ``/``): never inside a name or a number, never cut."""
    from geneqn.sr.equation import _BREAK

    return "<wbr>".join(esc(p) for p in _BREAK.split(text) if p)


def _stability(ct: str, st: dict | None, test_r) -> str:
    """Which features and terms of the equation recur over refits; its stable core; constants."""
    if not st:
        return ("<p class='note'>Stability: not measured (set <span class=code>stability.seeds</span> and "
                "<span class=code>stability.bootstraps</span> to refit over seeds and bootstrap resamples).</p>")
    share = int(round(100 * st["core_share"]))
    budget = st.get("budget", {})
    head = st["headline"]
    s = [f"<h4>Stability over {st['n_refits']} refits</h4><p class='note'>{st['n_seeds']} other SR seed(s) and "
         f"{st['n_bootstraps']} bootstrap resample(s) of the training genes, each a whole distillation of the same "
         f"network" + (f" at {int(budget['max_evaluations']):,} evaluations per fit" if budget else "") +
         f". Test r over refits: {_f(st['test_r']['min'])} to {_f(st['test_r']['max'])} (mean "
         f"{_f(st['test_r']['mean'])}). <b>Stable core</b> (features in &ge; {share}% of refits): "
         f"{esc(', '.join(st['core']['features'])) or 'none'}; the equation with every other feature at its "
         f"median, constants refitted: test r {_f(st['core']['r'])} (the whole equation: {_f(test_r)}).</p>"]
    if head["below_core_share"]:
        listed = ", ".join(f"{f} ({head['features'][f]:.0%})" for f in head["below_core_share"])
        s.append(f"<p class='note'>Features of this equation in fewer than {share}% of refits: {esc(listed)}.</p>")
    else:
        s.append(f"<p class='note'>Every feature of this equation appears in &ge; {share}% of refits.</p>")
    s.append(_img(figures.stability(st, f"{ct}: features over refits"), "stability"))
    rows = [[esc(f), f"{v:.0%}", "yes" if f in head["features"] else ""] for f, v in list(st["features"].items())[:15]]
    s.append("<details><summary>Table of features over refits</summary>" +
             _table(["Feature", "Share of refits", "In this equation"], rows, f"stability-{ct}") + "</details>")
    trows = [[esc(k), esc(t), f"{v:.0%}"] for k, ts in st["terms"].items() for t, v in list(ts.items())[:6]]
    crows = [[esc(c["equation"]), str(c["position"]), _f(c["value"], 4),
              _ci(c["lo"], c["hi"], 4) if c["lo"] is not None else "not moved by any refit"] for c in st["constants"]]
    s.append("<details><summary>Stage-1 terms over refits, and 95% intervals of the constants</summary>" +
             _table(["Latent", "Term (constants as c)", "Share of refits"], trows, f"terms-{ct}", left=2) +
             f"<p class='note'>Constants of this equation, its structure fixed, refitted together on "
             f"{st['constant_bootstraps']} bootstrap samples of the training genes, starting from its values (2.5th and "
             "97.5th percentiles; the values come from the stage-wise fit and can lie outside):</p>" +
             _table(["Equation", "Constant", "Value", "95% interval"], crows, f"constants-{ct}") + "</details>")
    return "".join(s)


def _knee(ct: str, sweep: pd.DataFrame, c: dict) -> str:
    """The knee of the composed front beside the most accurate equation (both with test r)."""
    if "knee" not in sweep or "valid_r" not in sweep or not sweep["knee"].astype(bool).any():
        return ""
    k = sweep[sweep["knee"].astype(bool)].iloc[0]
    top = sweep.sort_values(["valid_r", "complexity"], ascending=[False, True]).iloc[0]
    rows = [["knee (Kneedle rule on valid r)", esc(k.latent_limit), str(int(k.complexity)), _f(k.valid_r), _f(k.test_r),
             f"<span class=eqn>g = {_breakable(str(k.equation))}</span>"],
            ["most accurate on the valid genes", esc(top.latent_limit), str(int(top.complexity)), _f(top.valid_r),
             _f(top.test_r), f"<span class=eqn>g = {_breakable(str(top.equation))}</span>"]]
    if k.latent_limit == top.latent_limit:  # one row: no simpler equation is worth its loss in accuracy
        rows = [["knee = the most accurate on the valid genes"] + rows[0][1:]]
    return ("<p class='note'>The knee of the composed front (Table 2's rows, valid r against complexity): the row "
            "farthest above the line from the simplest to the most accurate row, where more complexity stops buying "
            "accuracy. Chosen on the valid genes; test r beside it.</p>" +
            _table(["Equation", "Per-latent limit", "Complexity", "Valid r", "Test r", "Composed equation"], rows,
                   f"knee-{ct}", left=1))


def _signed(v) -> str:
    return ("+" if float(v) >= 0 else "&minus;") + f"{abs(float(v)):.3f}"


def _p(p) -> str:
    p = float(p)
    return "&lt; 0.001" if p < 0.001 else f"{p:.3f}"


def _brief(summary: dict) -> str:
    items = [f"{k}: {v}" for k, v in summary.items() if not isinstance(v, (dict, list))]
    return "; ".join(items)[:200]


def _significance(cmp: pd.DataFrame, cell_types: list[str]) -> str:
    out = []
    for ct in cell_types:
        parts = []
        for model in ("NAS|NN", "Ridge", "SR"):
            x = cmp[(cmp.cell_type == ct) & (cmp.model == model)]
            if not len(x):
                continue
            row = x.iloc[0]
            sig = row.ci_low > 0 or row.ci_high < 0
            word = ("above" if row.difference > 0 else "below") if sig else "not distinguishable from"
            parts.append(f"{esc(model)} is {word} the equation ({_signed(row.difference)}, 95% CI "
                         f"{_ci(row.ci_low, row.ci_high)})")
        if parts:
            out.append(f"<li><b>{esc(ct)}</b>: " + "; ".join(parts) + ".</li>")
    return "<ul class='note'>" + "".join(out) + "</ul>" if out else ""


def _selection_rule(rule: str) -> str:
    """How a selection rule chose (for a sentence of the report)."""
    rule = str(rule)
    if rule == "validation":
        return ("the validation rule: the simplest equation whose mean squared error on the valid genes is within "
                "one paired standard error (or 1%) of the lowest (sr.selection = \"validation\")")
    if rule == "accuracy":
        return "the paper's rule: the lowest loss on the training genes (sr.selection = \"accuracy\")"
    if rule == "best":
        return ("PySR's rule: the highest score among equations with at most 1.5 x the lowest loss "
                "(sr.selection = \"best\")")
    return f"the lowest loss within complexity {rule} (sr.selection = {rule})"


def _cell_section(ct: str, res: dict, preds: pd.DataFrame, t: dict, models: list[str], open_: bool) -> str:
    from geneqn.sr.equation import GenomicEquation

    c = res["cells"][ct]
    eq = GenomicEquation.from_dict(c["equation"], ct, cell_type=ct)
    s = [f"<details class='cell'{' open' if open_ else ''}><summary>{esc(ct)}</summary>"]
    # equations
    s.append("<h3>Genomic equation (SR(NAS|NN))</h3>")
    directions = eq.meta.get("latent_targets") == "gradient"
    unit = "active direction" if directions else "latent unit"
    target = ("active direction x<sub>j</sub> of the network (a combination of standardised features along "
              "which its prediction changes; <span class=code>sr.latent_targets = \"gradient\"</span>)"
              if directions else "latent unit x<sub>j</sub> of the network")
    s.append(f"<p class='note'>Complexity {eq.complexity} (PySR's count on the composed tree); test r "
             f"{_f(c['equation']['test_r'])}; features: {esc(', '.join(eq.features_used))}. Stage 1 gives each "
             f"{target} from the features X; stage 2 gives g&#770; from the x<sub>j</sub>. Each equation was "
             f"chosen from its Pareto front by {esc(_selection_rule(eq.meta.get('selection', 'accuracy')))}.</p>")
    for lhs, rhs in eq.mathml():
        s.append(_math(lhs, rhs))
    fid = c["equation"]["stage1_fidelity"]
    comp = c["equation"]["stage1_complexity"]
    used = set(eq.used_latents)
    rows = [[esc(k), str(comp.get(k, "")), _f(fid.get(k)), "yes" if k in used else "no (not in stage 2)"]
            for k in eq.latents]
    if directions:
        W = np.asarray(eq.meta.get("directions", []), dtype=float)
        for j, row in enumerate(rows):
            top = np.argsort(-np.abs(W[:, j]))[:4] if W.ndim == 2 and W.shape[1] > j else []
            row.insert(1, esc(", ".join(f"{eq.feature_names[i]} {W[i, j]:+.2f}" for i in top)))
    s.append("<div class='grid'><div>")
    s.append(_table([unit.capitalize()] + (["Largest loadings"] if directions else [])
                    + ["Complexity", f"Fidelity r (equation vs {'direction' if directions else 'unit'})", "Used"],
                    rows, f"latents-{ct}"))
    dg = c["equation"]["diagnostics"]
    rows = [["the network (NAS|NN)", _f(dg.get("network_r"))]]
    if "network_head_on_stage1_r" in dg:
        rows.append(["the network's head on the stage-1 equations", _f(dg.get("network_head_on_stage1_r"))])
    rows += [[f"stage 2 on the network's {'directions' if directions else 'latents'}",
              _f(dg.get("stage2_on_network_latents_r"))],
             ["the genomic equation (stage 1 + stage 2)", _f(dg.get("equation_r"))]]
    s.append(_stability(ct, c.get("stability"), c["equation"]["test_r"]))
    s.append(f"<p class='note'>Where accuracy is lost (Pearson r on the {esc(dg.get('genes', 'valid'))} genes):</p>")
    s.append(_table(["Model", "r"], rows, f"diagnostics-{ct}"))
    s.append("</div><div>")
    sweep = t["table2"][t["table2"].cell_type == ct]
    ds = c["direct_sr"]
    s.append(_img(figures.pareto(ds["front"], sweep, int(ds["complexity"]), f"{ct}: accuracy against complexity"),
                  "pareto"))
    s.append(_knee(ct, sweep, c))
    s.append(f"<p class='note'>Direct SR (the SR row): <span class=eqn style='display:inline'>{_breakable(ds['equation'])}</span> "
             f"(complexity {ds['complexity']}, test r {_f(ds['test_r'])}).</p>")
    s.append("</div></div>")
    # effects
    eff = t["effects"][t["effects"].cell_type == ct]
    s.append("<h3>What drives the equation</h3><div class='grid'><div>")
    s.append(_img(figures.effects(eff, f"{ct}: effects"), "effects"))
    s.append("</div><div>")
    e = eff.pivot_table(index="feature", columns="model", values="effect", aggfunc="first")
    coef = pd.Series(c["ridge"]["coef"])
    e = e.reindex(e.abs().max(axis=1).sort_values(ascending=False).index[:12])
    rows = [[esc(f), _signed(e.at[f, "SR(NAS|NN)"]) if "SR(NAS|NN)" in e else "",
             _signed(e.at[f, "Ridge"]) if "Ridge" in e else "", _f(coef.get(f), 4)] for f in e.index]
    s.append("<p class='note'>Change in predicted g when one feature moves from its 10th to its 90th percentile on "
             "the training genes, all others at their median; ridge's coefficient beside it.</p>")
    s.append(_table(["Feature", "Equation effect", "Ridge effect", "Ridge coefficient"], rows, f"effects-{ct}"))
    s.append("</div></div>")
    # search
    se = c["search"]
    s.append("<h3>The architecture search</h3><div class='grid'><div>")
    s.append(f"<p>Found: <span class=code>{esc(se['architecture'])}</span> (latent layer in brackets), valid r "
             f"{_f(se['valid_r'])}; hand-tuned NN: <span class=code>{esc(c['nn']['architecture'])}</span>.</p>")
    s.append(f"<p class='note'>{esc(se['sampler'])} sampler, {se['trials']} trials over a space of "
             f"{int(se['space_size']):,} architectures (7 layers: "
             f"{esc('; '.join(f'layer {i}: ' + ', '.join(o[:3]) + (' ...' if len(o) > 3 else '') for i, o in enumerate(se['space'])))}). "
             f"Retrained: {esc(', '.join(se['retrained']))}.</p>")
    s.append("</div><div>")
    s.append(_img(figures.search_history(se["history"], f"{ct}: valid r over trials"), "search history"))
    s.append("</div></div>")
    # predictions
    d = preds[preds.cell_type == ct].reset_index(drop=True)
    show = [m for m in ("Ridge", "NAS|NN", "SR", "SR(NAS|NN)") if m in d.columns]
    ne = c["test_not_expressed"]
    s.append("<h3>Predicted against measured (test genes)</h3>")
    s.append(f"<p class='note'>{ne['n']:,} of the test genes ({ne['share']:.0%}) are not expressed in {esc(ct)} "
             "(g = &minus;1, grey): they form the vertical stripe at the left. Marker genes: "
             f"{esc(', '.join(c['markers'])) or 'none of the configured ones among the test genes'}.</p>")
    s.append(_img(figures.scatter_row(d, show, ct, c["markers"]), "scatter"))
    # subsets and residuals
    sub = t["subsets"][t["subsets"].cell_type == ct]
    st = c["subsets"]
    s.append("<h3>Linear and nonlinear gene subsets</h3><div class='grid'><div>")
    s.append(_img(figures.subset_boxplot(sub, st["t_test_g"], ct), "subsets"))
    s.append("</div><div>")
    s.append(f"<p class='note'>Nonlinear: genes whose equation error is below its 25th percentile while ridge's "
             f"is above its median; linear: the reverse (the paper's section 4.3). Of the {st['nonlinear']} "
             f"nonlinear genes, {st['not_expressed_nonlinear']} are not expressed in this cell type (g = &minus;1); "
             f"of the {st['linear']} linear genes, {st['not_expressed_linear']}: a subset made of silent genes says "
             "more about predicting silence than about regulation.</p>")
    for label in ("nonlinear", "linear"):
        names = [r.symbol if isinstance(r.symbol, str) else r.gene for r in sub[sub.subset == label].itertuples()]
        s.append(f"<details><summary>{label} ({len(names)})</summary><p class=code>{esc(', '.join(map(str, names)))}</p>"
                 "</details>")
    s.append("</div></div>")
    resid = t["residuals"][t["residuals"].cell_type == ct]
    s.append("<h3>Residuals by expression</h3>")
    s.append(_img(figures.residual_plot(resid, ct), "residuals"))
    rows = [[esc(r.bin), f"{int(r.n):,}", _f(r.mean_residual_ridge), _f(r.mean_residual_equation),
             _f(r.p, 4) if r.tested else "not tested (n &lt; 10)", _f(r.q, 4) if r.tested else ""]
            for r in resid.itertuples()]
    s.append("<details><summary>Residual table</summary>" +
             _table(["Bin of measured g", "Genes", "Mean residual, ridge", "Mean residual, equation", "p (paired t)",
                     "q (FDR)"], rows, f"residuals-{ct}") + "</details>")
    s.append("</details>")
    return "".join(s)
