"""Dependencies point one way: cli -> run -> study/report -> models (nas, sr, features, baselines)
-> data modules -> io/errors. An import that points back up fails this test."""

import ast
from pathlib import Path

import geneqn

SRC = Path(geneqn.__file__).parent

RANK = {
    "geneqn.errors": 0, "geneqn._io": 0, "geneqn._parallel": 0, "geneqn._torch": 0, "geneqn.progress": 0,
    "geneqn.config": 0, "geneqn.metrics": 0, "geneqn._reproducible": 0, "geneqn.numeric": 0,
    "geneqn._numeric_jit": 0,  # numeric's compiled loops (numeric imports it at the first call)
    "geneqn.targets": 1, "geneqn.genes": 1, "geneqn.genome": 1, "geneqn.dataset": 1, "geneqn.fetch": 1,
    "geneqn.features": 2, "geneqn.nas": 2, "geneqn.sr": 2, "geneqn.baselines": 2,
    "geneqn.study": 3, "geneqn.report": 3, "geneqn.predict": 3, "geneqn.pl": 3,
    "geneqn.run": 4, "geneqn.variants": 4,
    "geneqn.run.layout": 1,  # every run-folder path; pure paths, so the report and variants may name them
    "geneqn.cli": 5,
}


def rank(module: str) -> int:
    parts = module.split(".")
    for k in range(len(parts), 0, -1):
        name = ".".join(parts[:k])
        if name in RANK:
            return RANK[name]
    raise AssertionError(f"module {module} has no layer; add it to RANK")


def modules():
    for path in sorted(SRC.rglob("*.py")):
        rel = path.relative_to(SRC.parent).with_suffix("")
        name = ".".join(rel.parts)
        if name.endswith(".__init__"):
            name = name[: -len(".__init__")]
        yield name, path


def imports(path: Path, module: str) -> set[str]:
    tree = ast.parse(path.read_text())
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative import
                base = module.split(".")[: -node.level + (1 if path.name == "__init__.py" else 0) or None]
                out.add(".".join(base + ([node.module] if node.module else [])))
            elif node.module:
                out.add(node.module)
                out |= {f"{node.module}.{a.name}" for a in node.names}
    return {m for m in out if m.startswith("geneqn.")}


def test_every_import_points_down():
    wrong = []
    for name, path in modules():
        if name == "geneqn":
            continue  # the public face re-exports from every layer
        own = rank(name)
        for target in imports(path, name):
            try:
                r = rank(target)
            except AssertionError:
                continue  # an attribute import such as geneqn.sr.expr.Expr resolved at its module
            if r > own:
                wrong.append(f"{name} (layer {own}) imports {target} (layer {r})")
    assert not wrong, "\n".join(wrong)


def test_every_module_has_a_layer():
    for name, _ in modules():
        if name != "geneqn":
            rank(name)


def test_public_face():
    assert set(geneqn.__all__) >= {"targets", "tss", "windows", "dataset", "BottleneckRegressor",
                                   "GenomicEquationDistiller", "SymbolicRegressor", "RidgeRegressor",
                                   "GenomicEquation", "GeneqnError"}
    for name in geneqn.__all__:
        assert getattr(geneqn, name) is not None


def test_no_stage_imports_another_stage():
    """What stages share lives in run/common.py; a stage imports no sibling stage."""
    wrong = []
    for name, path in modules():
        if name.startswith("geneqn.run.stages.") :
            for target in imports(path, name):
                if target.startswith("geneqn.run.stages.") and not target.startswith(name):
                    wrong.append(f"{name} imports {target}")
    assert not wrong, "\n".join(wrong)


RUN_ENTRIES = ("distill", "sr", "nas", "nn", "ridge", "nas_sr", "expectosc", "sweep", "stability", "variants",
               "tables", "downloads", "networks", "refits", "chunks", "results.json", "predictions.csv",
               "report.html", "config.toml", "targets.parquet", "tss.parquet", "features.parquet", "features.json",
               "split.parquet", "equations.json", "metrics.json", "predictions.parquet", "sei_chunks", "figures")


def test_run_folder_paths_are_named_only_in_the_layout():
    """No path of the run folder is built by hand (``root / "distill" / "tables"``) outside
    run/layout.py: every module asks RunLayout."""
    import re

    joined = re.compile(r'/\s*f?"(%s)"' % "|".join(re.escape(e) for e in RUN_ENTRIES))
    wrong = []
    for name, path in modules():
        if name == "geneqn.run.layout":
            continue
        for i, line in enumerate(path.read_text().splitlines(), 1):
            if joined.search(line) and not line.lstrip().startswith("#"):
                wrong.append(f"{path.relative_to(SRC.parent)}:{i}: {line.strip()}")
    assert not wrong, "\n".join(wrong)


def test_reports_lay_out_html_only_in_templates():
    """The reports' Python gathers data; their HTML is in report/templates (jinja2, autoescape on):
    no tag is written by a report module, and the engine escapes what the data brings."""
    import re

    from markupsafe import Markup

    from geneqn.report._render import breakable, environment

    tag = re.compile(r"<(table|tr|td|th|p|h[1-6]|div|span|img|details|summary|ul|li|b|br|pre|math)\b")
    wrong = [f"{path.relative_to(SRC.parent)}:{i}" for name, path in modules() if name.startswith("geneqn.report")
             for i, line in enumerate(path.read_text().splitlines(), 1)
             if tag.search(line.replace("``<details>``", ""))]
    assert not wrong, "\n".join(wrong)
    env = environment()
    assert env.autoescape and {"report.html.j2", "cell.html.j2", "variants.html.j2"} <= set(env.list_templates())
    out = env.from_string("{{ x }}|{{ y | breakable }}").render(x="<b>a&b</b>", y="<i>a + b*c**2")
    # breaks after " + " and after a product's "*", never inside "**"; the names stay text
    assert out == "&lt;b&gt;a&amp;b&lt;/b&gt;|&lt;i&gt;a + <wbr>b*<wbr>c**2"
    assert isinstance(breakable("a + b"), Markup)
