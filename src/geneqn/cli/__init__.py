"""The ``geneqn`` command: parses options, maps them to config keys, calls the library or a stage,
and prints. It has no logic of its own (see :mod:`geneqn.run` and the library)."""

from __future__ import annotations

import logging
import sys
from enum import Enum
from pathlib import Path
from typing import List, Optional

import typer

from geneqn import __version__
from geneqn.cli.session import Session, out
from geneqn.config import PRECISIONS, PROVIDERS, SAMPLERS, SELECTIONS, SR_ENGINES, Config
from geneqn.errors import GeneqnError

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False, rich_markup_mode=None,
                  help="geneqn: distil genomic equations that predict cell-type expression from the regulatory "
                       "code around each gene's TSS.")
features_app = typer.Typer(no_args_is_help=True, rich_markup_mode=None,
                           help="Compute the gene x feature table (stage 'features').")
app.add_typer(features_app, name="features")
fetch_app = typer.Typer(no_args_is_help=True, rich_markup_mode=None, help="Download model weights (needs internet).")
app.add_typer(fetch_app, name="fetch")


def _choices(name: str, values) -> type[Enum]:
    return Enum(name, {v: v for v in values}, type=str)


Engine = _choices("Engine", SR_ENGINES)
Selection = _choices("Selection", SELECTIONS)
Sampler = _choices("Sampler", SAMPLERS)
Provider = _choices("Provider", PROVIDERS)
Precision = _choices("Precision", PRECISIONS)
ExprFormat = _choices("ExprFormat", ("auto", "h5ad", "10x", "10x_h5", "soma", "table"))
AnnotFormat = _choices("AnnotFormat", ("auto", "mane", "gtf", "bed", "table"))

# shared options
ConfigOpt = typer.Option(None, "--config", "-c", help="TOML config (default: geneqn's defaults, the paper's but where README says).")
RunOpt = typer.Option(None, "--run", "-r", help="Run folder (sets run.folder).")
ForceOpt = typer.Option(False, "--force", help="Redo the stage even if its outputs are up to date.")
SetOpt = typer.Option([], "--set", help="Any config key: --set section.key=value (TOML value; repeatable).")
VerboseOpt = typer.Option(False, "--verbose", "-v", help="Debug logging.")
QuietOpt = typer.Option(False, "--quiet", "-q", help="Only errors and the final result.")
PlainOpt = typer.Option(False, "--plain", help="No live progress bars: one line per task (for logs and CI).")
ClusterOpt = typer.Option(None, "--cluster", help="Dask cluster for the cell types' work: local:N (N worker "
                          "processes here), tcp://HOST:8786 (a running scheduler) or a scheduler file (.json) "
                          "[run.cluster; default: this process]. The tables do not depend on it.")


def _version_callback(value: bool):
    if value:
        out.print(f"geneqn {__version__}", markup=False)
        raise typer.Exit()


@app.callback()
def main(version: bool = typer.Option(False, "--version", callback=_version_callback, is_eager=True,
                                      help="Print the version and exit.")):
    pass


def load(config: Optional[Path], run: Optional[Path], sets: List[str], options: dict) -> Config:
    """The config: the file (else the run folder's config.toml, which holds what its stages last
    ran with; else the defaults), then the command's options (each mapped to its config key;
    None: not given), then --set assignments; checked against the library."""
    from geneqn.config import load_config, parse_assignment
    from geneqn.run import check
    from geneqn.run.layout import RunLayout

    if config is None and run is not None and RunLayout(run).config.is_file():
        config = RunLayout(run).config
        logging.getLogger("geneqn").info("settings from %s (give --config to start from another file)", config)
    cfg = load_config(config)
    updates: dict[str, dict] = {}
    for key, value in options.items():
        if value is None:
            continue
        section, name = key.split(".")
        updates.setdefault(section, {})[name] = value.value if isinstance(value, Enum) else value
    if run is not None:
        updates.setdefault("run", {})["folder"] = str(run)
    for text in sets:
        section, name, value = parse_assignment(text)
        updates.setdefault(section, {})[name] = value
    if updates:
        cfg = cfg.replace(**updates)
    return check(cfg)


def stage_command(name: str, config, run, sets, options, force, session: Session) -> dict:
    from geneqn.run import run_stage

    cfg = load(config, run, sets, options)
    result = run_stage(cfg, name, force=force)
    session.stage_done(name, result)
    return result


def _path(p: Optional[Path]) -> Optional[str]:
    return str(p.resolve()) if p is not None else None


# ---------------------------------------------------------------------- config, demo, run

@app.command("config")
def config_cmd(show: bool = typer.Option(False, "--show", help="Print the effective config as TOML."),
               config: Optional[Path] = ConfigOpt, run: Optional[Path] = RunOpt, sets: List[str] = SetOpt):
    """Check a config file; with --show print the effective config (defaults filled in)."""
    with Session(False, False, False) as session:
        cfg = load(config, run, sets, {})
        if show:
            out.print(cfg.to_toml(), markup=False, highlight=False)
        else:
            session.info(f"config OK ({config or 'defaults'})")


@app.command("demo")
def demo_cmd(run: Path = typer.Option(Path("geneqn-demo"), "--run", "-r", help="Run folder."),
             seed: int = typer.Option(0, help="Seed of the split, searches and equations."),
             force: bool = typer.Option(False, "--force", help="Redo every stage."),
             cluster: Optional[str] = ClusterOpt,
             verbose: bool = VerboseOpt, quiet: bool = QuietOpt, plain: bool = PlainOpt):
    """The whole study on the embedded demo bundle, with a quick budget.

    Human pancreas (3 endocrine cell types modelled), 17,638 genes, 28 REMO regulatory-annotation
    features standing in for Sei: ridge, NN, NAS|NN, SR, SR(NAS|NN), NAS|SR, SR(NAS|SR), Table 2,
    the analyses, and report.html.
    """
    from geneqn.run import STAGES, check, demo_config, run as run_stages

    with Session(verbose, quiet, plain) as session:
        cfg = demo_config(run, seed)
        if cluster:
            cfg = check(cfg.replace(run={"cluster": cluster}))
        run_stages(cfg, force=tuple(STAGES) if force else (), on_stage=session.stage_done)
        session.study(cfg)


@app.command("run")
def run_cmd(config: Path = typer.Argument(..., help="TOML config of the run."),
            run: Optional[Path] = RunOpt,
            force: List[str] = typer.Option([], "--force", help="Redo this stage (repeatable)."),
            until: Optional[str] = typer.Option(None, help="Stop after this stage."),
            cluster: Optional[str] = ClusterOpt, sets: List[str] = SetOpt, verbose: bool = VerboseOpt, quiet: bool = QuietOpt, plain: bool = PlainOpt):
    """Run every stage in order; finished, up-to-date stages are skipped (resumable).

    Stages: targets, tss, features, dataset, ridge, nn, search, distill, sr, sweep, nas_sr,
    evaluate, report (and expectosc when features.baselines asks for it). Ends with Table 1 and
    the path of report.html.
    """
    from geneqn.run import STAGES, run as run_stages

    with Session(verbose, quiet, plain) as session:
        cfg = load(config, run, sets, {"run.cluster": cluster})
        unknown = [f for f in force + ([until] if until else []) if f not in STAGES]
        if unknown:
            raise GeneqnError(f"no such stage: {', '.join(unknown)}; stages: {', '.join(STAGES)}.")
        names = list(STAGES)
        stages = names[: names.index(until) + 1] if until else names
        results = run_stages(cfg, stages, force=tuple(force), on_stage=session.stage_done)
        if "report" in results:
            session.study(cfg)
        else:
            session.info(f"run folder: {cfg.run.folder} (stopped after {stages[-1]})")


# ---------------------------------------------------------------------- data stages

@app.command("targets")
def targets_cmd(
    expression: Optional[Path] = typer.Argument(None, help="h5ad, 10x folder, CellRanger .h5, SOMA experiment, or CSV/TSV/parquet "
                                                "of genes x cell types (already averaged)."),
    cell_type_column: Optional[str] = typer.Option(None, help="obs column (or labels CSV column) with cell-type "
                                                   "labels [expression.cell_type_column; default cell_type]."),
    cell_types: Optional[str] = typer.Option(None, help="Comma-separated cell types [default: all with at least "
                                             "--min-cells cells]."),
    min_cells: Optional[int] = typer.Option(None, min=1, help="Smallest cell count of a cell type [default 20]."),
    values: Optional[str] = typer.Option(None, help="cp10k (raw counts per 10,000; the default), log1p "
                                         "(log-normalised values), X, or layer:NAME."),
    format: Optional[ExprFormat] = typer.Option(None, help="Input format [default auto]."),
    labels: Optional[Path] = typer.Option(None, help="10x input: CSV of barcode,cell_type labels."),
    obs_filter: Optional[str] = typer.Option(None, help="SOMA input: keep the cells of this tiledbsoma value filter "
                                             "of obs, e.g. \"tissue_general == 'pancreas'\" [expression.obs_filter]."),
    config: Optional[Path] = ConfigOpt, run: Optional[Path] = RunOpt, sets: List[str] = SetOpt,
    force: bool = ForceOpt, verbose: bool = VerboseOpt, quiet: bool = QuietOpt, plain: bool = PlainOpt,
):
    """Expression -> per-cell-type targets g (log2(mean + 0.001) scaled to [-1, 1]): targets.parquet."""
    with Session(verbose, quiet, plain) as session:
        stage_command("targets", config, run, sets, {
            "expression.path": _path(expression), "expression.cell_type_column": cell_type_column,
            "expression.cell_types": [c.strip() for c in cell_types.split(",")] if cell_types else None,
            "expression.min_cells": min_cells, "expression.values": values, "expression.format": format,
            "expression.labels": _path(labels), "expression.obs_filter": obs_filter}, force, session)


@app.command("tss")
def tss_cmd(
    annotation: Optional[Path] = typer.Argument(None, help="MANE summary (.txt.gz), GTF, BED6, or a geneqn TSS "
                                                "table (.parquet)."),
    format: Optional[AnnotFormat] = typer.Option(None, help="Annotation format [default auto]."),
    synonyms: Optional[Path] = typer.Option(None, help="HGNC complete set: match outdated symbols through "
                                            "previous and alias symbols."),
    config: Optional[Path] = ConfigOpt, run: Optional[Path] = RunOpt, sets: List[str] = SetOpt,
    force: bool = ForceOpt, verbose: bool = VerboseOpt, quiet: bool = QuietOpt, plain: bool = PlainOpt,
):
    """Annotation -> one TSS per expression gene (Ensembl id, symbol, NCBI GeneID, HGNC synonyms).

    Writes tss.parquet and unmatched_genes.txt in the run folder.
    """
    with Session(verbose, quiet, plain) as session:
        stage_command("tss", config, run, sets, {"annotation.path": _path(annotation), "annotation.format": format,
                                                 "annotation.synonyms": _path(synonyms)}, force, session)


@app.command("windows")
def windows_cmd(
    genome: Path = typer.Option(..., help="FASTA (plain or bgzip) or 2bit genome."),
    tss: Path = typer.Option(..., help="TSS table (.parquet from `geneqn tss`) or annotation file."),
    output: Path = typer.Option(..., "--out", "-o", help="Output .npz: genes and uint8 codes (A,C,G,T,N = 0..4)."),
    length: int = typer.Option(4096, help="Window length in bp (positive, even)."),
    verbose: bool = VerboseOpt, quiet: bool = QuietOpt, plain: bool = PlainOpt,
):
    """Extract the TSS windows of every gene as compact uint8 codes (for other tools)."""
    import numpy as np

    from geneqn import genes as genes_mod
    from geneqn._io import atomic_path
    from geneqn.genome import windows

    with Session(verbose, quiet, plain) as session:
        names, codes = windows(genome, genes_mod.tss(tss), length)
        with atomic_path(output) as tmp:
            with open(tmp, "wb") as fh:
                np.savez_compressed(fh, genes=np.array(names), codes=codes)
        session.result(f"{len(names):,} windows of {length:,} bp -> {output}")


def _features(provider: str, config, run, sets, force, options, session):
    stage_command("features", config, run, sets, {"features.provider": provider, **options}, force, session)


@features_app.command("table")
def features_table(table: Path = typer.Argument(..., help="CSV/TSV/parquet: first column gene id (Ensembl or "
                                                "symbol), then numeric features."),
                   config: Optional[Path] = ConfigOpt, run: Optional[Path] = RunOpt, sets: List[str] = SetOpt,
                   force: bool = ForceOpt, verbose: bool = VerboseOpt, quiet: bool = QuietOpt,
                   plain: bool = PlainOpt):
    """Use a feature table you bring (one row per gene)."""
    with Session(verbose, quiet, plain) as session:
        _features("table", config, run, sets, force, {"features.table": _path(table)}, session)


@features_app.command("demo")
def features_demo(config: Optional[Path] = ConfigOpt, run: Optional[Path] = RunOpt, sets: List[str] = SetOpt,
                  force: bool = ForceOpt, verbose: bool = VerboseOpt, quiet: bool = QuietOpt, plain: bool = PlainOpt):
    """The embedded demo's regulatory-annotation features (REMO cCRE coverage; a stand-in for Sei)."""
    with Session(verbose, quiet, plain) as session:
        _features("demo", config, run, sets, force, {}, session)


@features_app.command("sei")
def features_sei(genome: Optional[Path] = typer.Option(None, help="FASTA (plain/bgzip) or 2bit genome (GRCh38 "
                                                       "for the published weights)."),
                 tss: Optional[Path] = typer.Option(None, help="TSS table or annotation file (default: the run "
                                                    "folder's tss.parquet, from `geneqn tss`)."),
                 model_dir: Optional[Path] = typer.Option(None, help="Folder with sei.pth and projvec_targets.npy "
                                                          "(`geneqn fetch sei`)."),
                 device: Optional[str] = typer.Option(None, help="auto | cpu | cuda | cuda:N [default auto]."),
                 precision: Optional[Precision] = typer.Option(None, help="Arithmetic [default auto: fp32; bf16 "
                                                               "is opt-in, see README]."),
                 batch_size: Optional[int] = typer.Option(None, min=1, help="Windows per batch (each with its "
                                                          "reverse complement) [default 16]."),
                 config: Optional[Path] = ConfigOpt, run: Optional[Path] = RunOpt, sets: List[str] = SetOpt,
                 force: bool = ForceOpt, verbose: bool = VerboseOpt, quiet: bool = QuietOpt, plain: bool = PlainOpt):
    """Sei's 40 sequence-class scores of every TSS window (the paper's features).

    Streams windows from the genome, runs on CUDA when present or on the CPU, and writes results
    in chunks: an interrupted run resumes where it stopped. With --tss, that TSS table is used
    instead of the tss stage's (the annotation is read as the tss stage would).
    """
    with Session(verbose, quiet, plain) as session:
        options = {"genome.path": _path(genome), "features.model_dir": _path(model_dir), "features.device": device,
                   "features.precision": precision, "features.batch_size": batch_size}
        if tss is not None:
            stage_command("tss", config, run, sets, {"annotation.path": _path(tss)}, force, session)
        _features("sei", config, run, sets, force, options, session)


@fetch_app.command("sei")
def fetch_sei_cmd(dest: Path = typer.Option(Path("sei_model"), "--dest", help="Folder to unpack into."),
                  url: Optional[str] = typer.Option(None, help="Archive URL [default: the authors' Zenodo record]."),
                  md5: Optional[str] = typer.Option(None, help="Expected MD5 of the archive [default: the hash "
                                                    "pinned in geneqn, else the MD5 Zenodo publishes]."),
                  sha256: Optional[str] = typer.Option(None, help="Expected SHA-256 of the archive (instead of --md5)."),
                  verbose: bool = VerboseOpt, quiet: bool = QuietOpt, plain: bool = PlainOpt):
    """Download and unpack the Sei weights (Zenodo 10.5281/zenodo.4906996, about 3.1 GB); the archive's
    hash is checked before it is unpacked."""
    from geneqn.fetch import SEI_URL, fetch_sei

    with Session(verbose, quiet, plain) as session:
        folder = fetch_sei(dest, url=url or SEI_URL, md5=md5, sha256=sha256)
        session.result(f"Sei weights in {folder.resolve()}: use --model-dir {folder}")


@fetch_app.command("beluga")
def fetch_beluga_cmd(dest: Path = typer.Option(Path("beluga_model"), "--dest", help="Folder to unpack into."),
                     url: Optional[str] = typer.Option(None, help="Archive URL [default: ExPecto's resources]."),
                     md5: Optional[str] = typer.Option(None, help="Expected MD5 of the archive [default: the hash "
                                                       "pinned in geneqn; its host publishes none]."),
                     sha256: Optional[str] = typer.Option(None, help="Expected SHA-256 of the archive."),
                     unverified: bool = typer.Option(False, "--unverified", help="Download without a hash to check "
                                                     "(its SHA-256 is printed, to pin or compare)."),
                     verbose: bool = VerboseOpt, quiet: bool = QuietOpt, plain: bool = PlainOpt):
    """Download ExPecto's Beluga weights (deepsea.beluga.pth, in a multi-GB resources archive)."""
    from geneqn.fetch import BELUGA_URL, fetch_beluga

    with Session(verbose, quiet, plain) as session:
        folder = fetch_beluga(dest, url=url or BELUGA_URL, md5=md5, sha256=sha256, unverified=unverified)
        session.result(f"Beluga weights in {folder.resolve()}: set features.beluga_dir = \"{folder}\"")


@app.command("dataset")
def dataset_cmd(config: Optional[Path] = ConfigOpt, run: Optional[Path] = RunOpt,
                seed: Optional[int] = typer.Option(None, min=0, help="Split seed [run.seed; default 0]."),
                sets: List[str] = SetOpt, force: bool = ForceOpt, verbose: bool = VerboseOpt,
                quiet: bool = QuietOpt, plain: bool = PlainOpt):
    """Join targets and features on gene and make the seeded 72/8/20 split (split.parquet)."""
    with Session(verbose, quiet, plain) as session:
        stage_command("dataset", config, run, sets, {"run.seed": seed}, force, session)


# ---------------------------------------------------------------------- model stages

def _simple_stage(name: str, doc: str):
    def command(config: Optional[Path] = ConfigOpt, run: Optional[Path] = RunOpt, sets: List[str] = SetOpt,
                force: bool = ForceOpt, verbose: bool = VerboseOpt, quiet: bool = QuietOpt, plain: bool = PlainOpt):
        with Session(verbose, quiet, plain) as session:
            stage_command(name, config, run, sets, {}, force, session)
    command.__doc__ = doc
    app.command(name.replace("_", "-"))(command)


_simple_stage("ridge", "Ridge baseline (alpha of the highest valid Pearson r, the paper's rule): test r per cell type.")
_simple_stage("expectosc", "The ExPectoSC baseline (features.baselines = [\"expectosc\"]): Beluga over +-20 kb of "
                           "each TSS, ExPecto's decay features, ExPectoSC's ridge.")
_simple_stage("nn", "The hand-tuned network (config section nn), trained like every candidate.")
_simple_stage("nas_sr", "The NAS|SR ablation: a search rewarded by each candidate's equations, then SR(NAS|SR).")
_simple_stage("stability", "Refit each equation over SR seeds and bootstrap resamples ([stability] seeds, bootstraps): "
              "which features and terms recur, the stable core, intervals of the constants.")
_simple_stage("evaluate", "Tables 1-3, paired model comparisons, subsets, residuals, effects; results.json; each "
                          "cell type's figures (downloads/figures/), on the cluster of run.cluster when set.")
_simple_stage("report", "report.html: self-contained, readable offline (embeds the figures evaluate drew; "
              "beyond report.embed_figures cell types, links them in downloads/figures/).")


@app.command("search")
def search_cmd(config: Optional[Path] = ConfigOpt, run: Optional[Path] = RunOpt,
               storage: Optional[str] = typer.Option(None, help="Database URL of the study storage: "
                                                     "sqlite:///study.db (a file) or postgresql://user:pw@host/db "
                                                     "[default: sqlite file nas/study.db in the run folder]."),
               study: Optional[str] = typer.Option(None, help="Study name prefix (the cell type and a fingerprint "
                                                   "of the search's inputs are appended)."),
               trials: Optional[int] = typer.Option(None, min=1, help="Budget: finished trials per cell type "
                                                    "[default 100]."),
               sampler: Optional[Sampler] = typer.Option(None, help="Search strategy [default tpe]."),
               cell_type: List[str] = typer.Option([], "--cell-type", help="Cell type to search (repeatable) "
                                                   "[default: run.cell_types, else all]."),
               worker: bool = typer.Option(False, "--worker", help="Only run trials of the shared study; do not "
                                           "retrain or write the run folder's results."),
               sets: List[str] = SetOpt, force: bool = ForceOpt, verbose: bool = VerboseOpt,
               quiet: bool = QuietOpt, plain: bool = PlainOpt):
    """Neural architecture search (Optuna) over the bottleneck model space (NAS|NN).

    Several `geneqn search --worker --storage postgresql://... --study NAME` processes, on one or
    many machines, share one study and together finish the budget; then one
    `geneqn search --storage ... --study NAME` retrains the best architecture and saves it.
    A study is bound to a fingerprint of its inputs: new data or settings start a new study.
    """
    with Session(verbose, quiet, plain) as session:
        options = {"search.storage": storage, "search.study": study, "search.trials": trials,
                   "search.sampler": sampler, "run.cell_types": cell_type or None}
        if not worker:
            stage_command("search", config, run, sets, options, force, session)
            return
        from geneqn.nas.search import describe
        from geneqn.run import Runner
        from geneqn.run.stages.models import search_cell_type

        cfg = load(config, run, sets, options)
        runner = Runner(cfg)
        ctx = runner.context("search")
        fingerprint = runner.fingerprint("search")
        for ct in ctx.cell_types():
            res, name = search_cell_type(ctx, ct, fingerprint)
            d = describe(res)
            session.result(f"{ct}: this worker ran {res.trials_run} trial(s) of study {name}; it has {d['trials']}; "
                           f"best valid r {d['best_valid_r']:.3f}")


EngineOpt = typer.Option(None, help="SR engine [default geneqn; operon; pysr needs Julia].")
SelectionOpt = typer.Option(None, help="Equation chosen from each Pareto front [default validation (the simplest "
                            "within one paired standard error, or 1%, of the lowest MSE on the valid genes); accuracy "
                            "(lowest training loss; the paper's); best (PySR's rule)].")
OperatorsOpt = typer.Option(None, help="Comma-separated SR operators, PySR's names, e.g. +,-,*,/,exp,log "
                            "[sr.operators; default the paper's +,-,*,square,neg,exp,inv].")
LimitOpt = typer.Option(None, min=5, help="Complexity limit per equation, PySR's count [default 20].")
JobsOpt = typer.Option(None, min=0, help="Parallel SR processes [default 0: one per core].")
EvalsOpt = typer.Option(None, min=1, help="SR budget per fit, in tree evaluations [default 400000].")


def _sr_options(engine, selection, complexity_limit, n_jobs, max_evaluations, operators=None) -> dict:
    ops = [o.strip() for o in operators.split(",") if o.strip()] if operators else None
    return {"sr.engine": engine, "sr.selection": selection, "sr.complexity_limit": complexity_limit,
            "sr.n_jobs": n_jobs, "sr.max_evaluations": max_evaluations, "sr.operators": ops}


@app.command("distill")
def distill_cmd(config: Optional[Path] = ConfigOpt, run: Optional[Path] = RunOpt,
                engine: Optional[Engine] = EngineOpt, selection: Optional[Selection] = SelectionOpt,
                complexity_limit: Optional[int] = LimitOpt, n_jobs: Optional[int] = JobsOpt,
                max_evaluations: Optional[int] = EvalsOpt, operators: Optional[str] = OperatorsOpt,
                sets: List[str] = SetOpt, force: bool = ForceOpt,
                verbose: bool = VerboseOpt, quiet: bool = QuietOpt, plain: bool = PlainOpt):
    """Distil the searched network into one genomic equation per cell type (two-stage SR).

    Stage 1: features -> each latent unit (and, with sr.latent_targets = "auto", the default,
    also -> each active direction, the better on the valid genes kept); stage 2: stage-1
    predicted latents -> expression; then sr.residual_latents rounds (default 2), each one more
    equation of the features fitted to what the network's output still differs from the equation.
    Writes distill/: Pareto tables (CSV), equations.json, equations.tex, predictions, metrics.
    """
    with Session(verbose, quiet, plain) as session:
        stage_command("distill", config, run, sets, _sr_options(engine, selection, complexity_limit, n_jobs,
                                                                max_evaluations, operators), force, session)
        session.equations(load(config, run, sets, {}))


@app.command("sr")
def sr_cmd(config: Optional[Path] = ConfigOpt, run: Optional[Path] = RunOpt, engine: Optional[Engine] = EngineOpt,
           selection: Optional[Selection] = SelectionOpt, complexity_limit: Optional[int] = LimitOpt,
           n_jobs: Optional[int] = JobsOpt, max_evaluations: Optional[int] = EvalsOpt,
           operators: Optional[str] = OperatorsOpt, sets: List[str] = SetOpt,
           force: bool = ForceOpt, verbose: bool = VerboseOpt, quiet: bool = QuietOpt, plain: bool = PlainOpt):
    """Direct symbolic regression from features to expression (the paper's "SR" baseline)."""
    with Session(verbose, quiet, plain) as session:
        stage_command("sr", config, run, sets, _sr_options(engine, selection, complexity_limit, n_jobs,
                                                           max_evaluations, operators), force, session)


@app.command("sweep")
def sweep_cmd(config: Optional[Path] = ConfigOpt, run: Optional[Path] = RunOpt,
              limits: Optional[str] = typer.Option(None, help="Comma-separated per-latent limits, e.g. "
                                                   "3,5,7,9,18,validation,best,accuracy [sr.sweep]."),
              sets: List[str] = SetOpt, force: bool = ForceOpt, verbose: bool = VerboseOpt, quiet: bool = QuietOpt,
              plain: bool = PlainOpt):
    """Complexity sweep (the paper's Table 2): per-latent limit -> features used and test r."""
    with Session(verbose, quiet, plain) as session:
        cfg_limits = [v.strip() for v in limits.split(",")] if limits else None
        stage_command("sweep", config, run, sets, {"sr.sweep": cfg_limits}, force, session)
        session.table2(load(config, run, sets, {"sr.sweep": cfg_limits}))


# ---------------------------------------------------------------------- predict

@app.command("predict")
def predict_cmd(features: Path = typer.Argument(..., help="Feature table (CSV/TSV/parquet; first column gene id) "
                                                "with the columns the models use."),
                output: Path = typer.Option(..., "--out", "-o", help="Output CSV: gene x cell type predictions."),
                equations: Optional[Path] = typer.Option(None, help="equations.json [default: the run's "
                                                         "distill/equations.json]."),
                network: List[Path] = typer.Option([], "--network", help="Saved network(s) (.pt) to apply instead "
                                                   "of equations (repeatable)."),
                log2: bool = typer.Option(False, "--log2", help="Return log2(expression + pseudocount) instead of "
                                          "g (uses the target scaling stored with each equation or network)."),
                run: Optional[Path] = RunOpt, verbose: bool = VerboseOpt, quiet: bool = QuietOpt,
                plain: bool = PlainOpt):
    """Apply saved genomic equations (or networks) to a new feature table."""
    from geneqn.predict import predict_table

    with Session(verbose, quiet, plain) as session:
        if not network:
            from geneqn.run.layout import RunLayout

            equations = equations or RunLayout(run or Path("geneqn-run")).equations
        df = predict_table(features, output, equations=None if network else equations, networks=network, log2=log2)
        session.result(f"{len(df):,} genes x {df.shape[1]} cell type(s) -> {output}")


@app.command("variants")
def variants_cmd(variants: Path = typer.Argument(..., help="VCF, VCF.gz or BCF (cyvcf2), or a TSV/CSV with columns "
                                                 "chrom, pos (1-based), ref, alt [, id]."),
                 run: Path = typer.Option(Path("geneqn-run"), "--run", "-r", help="A finished run folder (its "
                                          "equations, networks, ridge and stable cores)."),
                 output: Optional[Path] = typer.Option(None, "--out", "-o", help="Effects table: .parquet, or .csv/.tsv "
                                                       "[default: RUN/variants/effects.parquet]; sidecar files beside "
                                                       "it (.features.parquet, .attributions.parquet, .json)."),
                 cell_type: List[str] = typer.Option([], "--cell-type", help="Only these cell types (repeatable)."),
                 model: List[str] = typer.Option([], "--model", help="Models to score: sr, core, nas, ridge, "
                                                 "expectosc (repeatable) [default: all the run has]."),
                 genome: Optional[Path] = typer.Option(None, help="FASTA/2bit genome [default: the run's genome.path]."),
                 model_dir: Optional[Path] = typer.Option(None, "--model-dir", help="Sei folder [default: the run's]."),
                 device: Optional[str] = typer.Option(None, help="auto | cpu | cuda | cuda:N [default: the run's]."),
                 batch_size: Optional[int] = typer.Option(None, "--batch-size", help="Windows per Sei batch."),
                 report: Optional[Path] = typer.Option(None, "--report", help="HTML report [default: the output "
                                                       "with .html]."),
                 top: int = typer.Option(3, "--top", help="Classes and latents named per effect."),
                 verbose: bool = VerboseOpt, quiet: bool = QuietOpt, plain: bool = PlainOpt):
    """Score genetic variants through a run's equations: per variant, gene and cell type, the
    change of expression through SR(NAS|NN) (term by term), its stable core, NAS|NN, ridge and
    ExPectoSC."""
    import pandas as pd

    from geneqn.variants import MODELS, variant_effects

    with Session(verbose, quiet, plain) as session:
        bad = [m for m in model if m not in MODELS]
        if bad:
            raise GeneqnError(f"--model {', '.join(bad)}: choose among {', '.join(MODELS)}.")
        cfg = load(None, run, [], {"genome.path": _path(genome), "features.model_dir": _path(model_dir),
                                   "features.device": device, "features.batch_size": batch_size})
        fx = variant_effects(variants, run, config=cfg, genome=cfg.genome.path or None,
                             cell_types=cell_type or None, models=tuple(model) or tuple(MODELS), top=top)
        from geneqn.run.layout import RunLayout

        output = output or RunLayout(run).variant_effects
        paths = fx.save(output)
        html = fx.report(report or output.with_suffix(".html"))
        s = fx.summary
        left = ", ".join(f"{v:,} {k.replace('_', ' ')}" for k, v in s["skipped"].items() if v)
        session.result(f"{s['alleles_read']:,} alleles read; {s['variants_scored']:,} variants scored in "
                       f"{s['pairs']:,} (variant, gene) pairs x {len(s['cell_types'])} cell type(s)"
                       + (f"; left out: {left}" if left else ""))
        key = next(iter(s["models"]["used"]), None)
        for ct in s["cell_types"] if len(fx.effects) and key else []:
            for _, r in fx.top(ct, n=3, model=key).iterrows():
                terms = f"  [{r['top_classes']}]" if "top_classes" in r and r["top_classes"] else ""
                log2 = (f" (log2 {r[f'delta_{key}_log2']:+.4f})" if f"delta_{key}_log2" in r
                        and pd.notna(r[f"delta_{key}_log2"]) else "")
                session.result(f"  {ct}: {r['id']} in {r['symbol'] or r['gene']} ({int(r['distance']):+,} bp): "
                               f"delta g {MODELS[key]} {r[f'delta_{key}']:+.4f}{log2}{terms}")
        session.result(f"-> {paths['effects']} (+ {paths['features'].name}, {paths['attributions'].name}, "
                       f"{paths['summary'].name}); report {html}")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(app())
