"""Every path of a run folder, in one place.

::

    config.toml              the config each stage last ran with (sections merged per stage)
    geneqn-run.json          the geneqn version that made the folder
    .stages/<stage>.json     stamps: fingerprint of what the stage read, digests of what it wrote
    .stages/parts/<stage>/<ct>/  a cell type's finished share of a stage (kept until the stage is done)
    .cache/networks/         every network group trained in the run, found again by its inputs
                             (geneqn.nas.train.TrainingMemo); safe to delete
    .lock                    held while a geneqn process works in the folder
    .lock.owner              which process holds it (left behind only by a process that was killed)
    targets.parquet          tidy targets: gene, symbol, cell_type, n_cells, g0, g1, g
    tss.parquet              one TSS per matched gene (column gene = expression key)
    unmatched_genes.txt      expression genes without a TSS
    features.parquet         gene x feature table; features.json says which provider made it
    sei_chunks/              Sei results in resumable chunks
    split.parquet            gene -> train / valid / test
    <model>/metrics.json     per cell type; <model>/predictions.parquet (gene, cell_type, y, yhat)
    <model>/networks/<ct>.pt networks (nn, nas, nas_sr); nas/study.db, nas/trials.csv
    distill/<ct>/            stage-1 / stage-2 Pareto tables; distill/equations.json
    stability/               stability.json and each refit (resumable) when [stability] seeds or bootstraps > 0
    variants/                geneqn variants: effects.parquet (+ sidecars, report) and chunks/ of window features
    sweep/table2.csv         the complexity sweep (valid r, test r, the knee); sweep/equations.json
    expectosc/               ExPecto features (chunks) and the ExPectoSC model (coef.parquet)
    tables/*.csv, results.json, report.html, predictions.csv, downloads/
    downloads/figures/<ct>/  the report's figures of each cell type (PNG), drawn by the evaluate stage

Cell types become file names through :func:`cell_type_key`, which never maps two names to one.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

MODELS = ("ridge", "nn", "nas", "sr", "distill", "nas_sr", "expectosc")


def cell_type_key(cell_type: str) -> str:
    """A file-name-safe key for a cell type: the name itself when it is safe, else its safe
    characters plus a short hash of the name (so "T+" and "T/" never share a file)."""
    name = str(cell_type)
    safe = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in name).strip(".") or "_"
    if safe == name and len(name) <= 80:
        return name
    return f"{safe[:60]}-{hashlib.sha1(name.encode()).hexdigest()[:8]}"


class RunLayout:
    """Paths of one run folder."""

    def __init__(self, root: str | Path):
        self.root = Path(root).expanduser()

    def __truediv__(self, rel: str) -> Path:
        return self.root / rel

    def rel(self, path: Path) -> str:
        """``path`` relative to the run folder (as stamps record it)."""
        return Path(path).resolve().relative_to(self.root.resolve()).as_posix()

    # the run itself
    @property
    def config(self) -> Path:
        return self.root / "config.toml"

    @property
    def marker(self) -> Path:
        return self.root / "geneqn-run.json"

    @property
    def stamps(self) -> Path:
        return self.root / ".stages"

    def stamp(self, stage: str) -> Path:
        return self.stamps / f"{stage}.json"

    def parts(self, stage: str) -> Path:
        """The finished per-cell-type shares of a stage that is not yet done."""
        return self.stamps / "parts" / stage

    def part(self, stage: str, cell_type: str) -> Path:
        return self.parts(stage) / cell_type_key(cell_type)

    @property
    def digests(self) -> Path:
        return self.stamps / "digests.json"

    @property
    def lock(self) -> Path:
        return self.root / ".lock"

    @property
    def lock_owner(self) -> Path:
        return self.root / ".lock.owner"

    # data stages
    @property
    def targets(self) -> Path:
        return self.root / "targets.parquet"

    @property
    def tss(self) -> Path:
        return self.root / "tss.parquet"

    @property
    def unmatched(self) -> Path:
        return self.root / "unmatched_genes.txt"

    @property
    def features(self) -> Path:
        return self.root / "features.parquet"

    @property
    def features_info(self) -> Path:
        return self.root / "features.json"

    @property
    def sei_chunks(self) -> Path:
        return self.root / "sei_chunks"

    @property
    def sei_skipped(self) -> Path:
        return self.root / "sei_skipped_genes.txt"

    @property
    def split(self) -> Path:
        return self.root / "split.parquet"

    # models
    def model_dir(self, model: str) -> Path:
        if model not in MODELS and model != "sweep":
            raise ValueError(f"unknown model folder {model!r}")
        return self.root / model

    def metrics(self, model: str) -> Path:
        return self.model_dir(model) / "metrics.json"

    def predictions(self, model: str) -> Path:
        return self.model_dir(model) / "predictions.parquet"

    def networks(self, model: str) -> Path:
        return self.model_dir(model) / "networks"

    @property
    def training_memo(self) -> Path:
        return self.root / ".cache" / "networks"

    @property
    def equation_memo(self) -> Path:
        return self.root / ".cache" / "equations"

    def network(self, model: str, cell_type: str) -> Path:
        return self.networks(model) / f"{cell_type_key(cell_type)}.pt"

    @property
    def nas_net_predictions(self) -> Path:
        return self.root / "nas_sr" / "net_predictions.parquet"

    @property
    def study_db(self) -> Path:
        return self.root / "nas" / "study.db"

    @property
    def trials(self) -> Path:
        return self.root / "nas" / "trials.csv"

    def pareto_root(self, model: str) -> Path:
        """Folder of every cell type's Pareto tables of a model's fits (distill or sr)."""
        return self.model_dir(model) / "tables"

    def pareto_tables(self, model: str, cell_type: str) -> Path:
        """Folder of one cell type's Pareto tables (distill: stage1_x0.csv ..., stage2.csv; sr: pareto.csv)."""
        return self.pareto_root(model) / cell_type_key(cell_type)

    @property
    def equations(self) -> Path:
        return self.root / "distill" / "equations.json"

    @property
    def equations_tex(self) -> Path:
        return self.root / "distill" / "equations.tex"

    @property
    def table2(self) -> Path:
        return self.root / "sweep" / "table2.csv"

    @property
    def sweep_equations(self) -> Path:
        """{cell type: {per-latent limit: equation}} of the sweep (the knee among them)."""
        return self.root / "sweep" / "equations.json"

    @property
    def expectosc_features(self) -> Path:
        return self.root / "expectosc" / "features.parquet"

    @property
    def expectosc_coef(self) -> Path:
        """ExPectoSC's ridge: feature x cell type coefficients (raw feature units; intercepts in metrics.json)."""
        return self.root / "expectosc" / "coef.parquet"

    @property
    def expectosc_chunks(self) -> Path:
        return self.root / "expectosc" / "beluga_chunks"

    @property
    def stability(self) -> Path:
        """{cell type: stability of its equation} (the [stability] section)."""
        return self.root / "stability" / "stability.json"

    @property
    def stability_refits_root(self) -> Path:
        return self.root / "stability" / "refits"

    def stability_refits(self, cell_type: str) -> Path:
        return self.stability_refits_root / cell_type_key(cell_type)

    # variant effects (geneqn variants; not a stage)
    @property
    def variant_effects(self) -> Path:
        """The default output of ``geneqn variants`` (sidecar files beside it)."""
        return self.root / "variants" / "effects.parquet"

    def variant_chunks(self, digest: str) -> Path:
        """Resumable window features of one set of (variant, gene) pairs."""
        return self.root / "variants" / "chunks" / digest

    # study outputs
    @property
    def tables(self) -> Path:
        return self.root / "tables"

    def table(self, name: str) -> Path:
        return self.tables / f"{name}.csv"

    @property
    def results(self) -> Path:
        return self.root / "results.json"

    @property
    def report(self) -> Path:
        return self.root / "report.html"

    @property
    def predictions_csv(self) -> Path:
        return self.root / "predictions.csv"

    @property
    def downloads(self) -> Path:
        return self.root / "downloads"

    @property
    def figures_root(self) -> Path:
        """The report's figures of every cell type, as PNG files (the evaluate stage draws them)."""
        return self.downloads / "figures"

    def figures(self, cell_type: str) -> Path:
        """One cell type's figures: scatter.png, pareto.png, effects.png, history.png, subsets.png,
        residuals.png and, with a stability stage, stability.png."""
        return self.figures_root / cell_type_key(cell_type)
