"""The ``geneqn`` command."""

from __future__ import annotations

import contextlib
import logging
import sys
from pathlib import Path
from typing import Iterator, List, Optional

import typer
from rich.console import Console
from rich.table import Table

from geneqn import __version__, progress
from geneqn.errors import GeneqnError

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="geneqn: distil genomic equations that predict cell-type expression from the "
                       "regulatory code around each gene's TSS.")
features_app = typer.Typer(no_args_is_help=True, help="Compute the gene x feature table (stage 'features').")
app.add_typer(features_app, name="features")
fetch_app = typer.Typer(no_args_is_help=True, help="Download model weights (needs internet).")
app.add_typer(fetch_app, name="fetch")

console = Console(stderr=True)
out = Console()


class RichReporter:
    """Renders geneqn.progress tasks as rich progress bars with an ETA."""

    def __init__(self, console: Console):
        from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn,
                                   TimeElapsedColumn, TimeRemainingColumn)

        self._progress = Progress(TextColumn("[bold]{task.description}"), BarColumn(),
                                  MofNCompleteColumn(), TimeElapsedColumn(), TextColumn("eta"),
                                  TimeRemainingColumn(), console=console, transient=True,
                                  disable=not console.is_terminal)
        self._open = 0

    def start(self, description, total):
        if self._open == 0:
            self._progress.start()
        self._open += 1
        return self._progress.add_task(description, total=total)

    def advance(self, handle, amount=1.0):
        self._progress.advance(handle, amount)

    def finish(self, handle):
        self._progress.remove_task(handle)
        self._open -= 1
        if self._open == 0:
            self._progress.stop()


@contextlib.contextmanager
def _session(verbose: bool) -> Iterator[None]:
    from rich.logging import RichHandler

    handler = RichHandler(console=console, show_path=False, show_time=False)
    root = logging.getLogger("geneqn")
    root.handlers[:] = [handler]
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    root.propagate = False
    previous = progress.set_reporter(RichReporter(console))
    try:
        yield
    except GeneqnError as e:
        console.print(f"[bold red]error:[/] {e}")
        raise typer.Exit(2)
    except KeyboardInterrupt:
        console.print("[yellow]interrupted[/]: finished stages are kept; run the same command again "
                      "to resume.")
        raise typer.Exit(130)
    finally:
        progress.set_reporter(previous)


def _load(config: Optional[Path], run: Optional[Path]):
    from geneqn.config import load_config
    from geneqn.pipeline import config_replace

    cfg = load_config(config)
    if run is not None:
        cfg = config_replace(cfg, run={"folder": str(run)})
    return cfg


ConfigOpt = typer.Option(None, "--config", "-c", help="TOML config (default: the paper's defaults).")
RunOpt = typer.Option(None, "--run", "-r", help="Run folder (overrides run.folder of the config).")
ForceOpt = typer.Option(False, "--force", help="Redo the stage even if its outputs are up to date.")
VerboseOpt = typer.Option(False, "--verbose", "-v", help="Debug logging.")


def _version_callback(value: bool):
    if value:
        out.print(f"geneqn {__version__}")
        raise typer.Exit()


@app.callback()
def main(version: bool = typer.Option(False, "--version", callback=_version_callback, is_eager=True,
                                      help="Print the version and exit.")):
    pass


@app.command("config")
def config_cmd(show: bool = typer.Option(False, "--show", help="Print the effective config as TOML."),
               config: Optional[Path] = ConfigOpt, run: Optional[Path] = RunOpt):
    """Check a config file; with --show print the effective config (defaults filled in)."""
    with _session(False):
        cfg = _load(config, run)
        if show:
            out.print(cfg.to_toml(), markup=False, highlight=False)
        else:
            console.print(f"[green]config OK[/] ({config or 'defaults'})")


@app.command("targets")
def targets_cmd(
    expression: Optional[Path] = typer.Argument(None, help="h5ad, 10x folder, or CSV/TSV/parquet of "
                                                "genes x cell types (already averaged)."),
    cell_type_column: Optional[str] = typer.Option(None, help="obs column with cell-type labels."),
    cell_types: Optional[str] = typer.Option(None, help="Comma-separated cell types (default: all "
                                             "with at least --min-cells cells)."),
    min_cells: Optional[int] = typer.Option(None, help="Smallest cell count for a cell type."),
    values: Optional[str] = typer.Option(None, help="cp10k (raw counts per 10,000; default), X, or "
                                         "layer:NAME."),
    format: Optional[str] = typer.Option(None, help="auto | h5ad | 10x | table"),
    config: Optional[Path] = ConfigOpt, run: Optional[Path] = RunOpt, force: bool = ForceOpt,
    verbose: bool = VerboseOpt,
):
    """Expression -> per-cell-type targets g (log2(mean + 0.001) scaled to [-1, 1]).

    Writes targets.parquet in the run folder.
    """
    from geneqn.pipeline import Run, config_replace

    with _session(verbose):
        cfg = _load(config, run)
        updates = {k: v for k, v in dict(
            path=str(expression.resolve()) if expression else None, cell_type_column=cell_type_column,
            cell_types=[c.strip() for c in cell_types.split(",")] if cell_types else None,
            min_cells=min_cells, values=values, format=format).items() if v is not None}
        cfg = config_replace(cfg, expression=updates)
        summary = Run(cfg).run_stage("targets", force=force)
        table = Table("cell type", "cells", title=f"targets: {summary['n_genes']:,} genes")
        for ct, n in summary["cell_types"].items():
            table.add_row(ct, "" if n is None else str(n))
        out.print(table)


@app.command("tss")
def tss_cmd(
    annotation: Optional[Path] = typer.Argument(None, help="MANE summary (.txt.gz), GTF, BED6, or a "
                                                "geneqn TSS table (.parquet)."),
    format: Optional[str] = typer.Option(None, help="auto | mane | gtf | bed | table"),
    config: Optional[Path] = ConfigOpt, run: Optional[Path] = RunOpt, force: bool = ForceOpt,
    verbose: bool = VerboseOpt,
):
    """Annotation -> one TSS per expression gene (Ensembl id, then symbol, then NCBI GeneID).

    Writes tss.parquet and unmatched_genes.txt in the run folder.
    """
    from geneqn.pipeline import Run, config_replace

    with _session(verbose):
        cfg = _load(config, run)
        updates = {k: v for k, v in dict(path=str(annotation.resolve()) if annotation else None,
                                         format=format).items() if v is not None}
        cfg = config_replace(cfg, annotation=updates)
        s = Run(cfg).run_stage("tss", force=force)
        out.print(f"{s['matched']:,} of {s['expression_genes']:,} expression genes matched a TSS "
                  f"({', '.join(f'{n:,} by {k}' for k, n in s['by'].items() if n)}); "
                  f"{s['unmatched']:,} unmatched, listed in {Path(cfg.run.folder) / 'unmatched_genes.txt'}")


@app.command("windows")
def windows_cmd(
    genome: Path = typer.Option(..., help="FASTA (plain or bgzip) or 2bit genome."),
    tss: Path = typer.Option(..., help="TSS table (.parquet from `geneqn tss`) or annotation file."),
    output: Path = typer.Option(..., "--out", "-o", help="Output .npz: genes and uint8 codes (A,C,G,T,N = 0..4)."),
    length: int = typer.Option(4096, help="Window length in bp."),
    verbose: bool = VerboseOpt,
):
    """Extract the TSS windows of every gene as compact uint8 codes (for other tools)."""
    import numpy as np

    from geneqn._io import atomic_path
    from geneqn.genes import read_tss
    from geneqn.genome import Genome, check_chromosomes, iter_windows

    with _session(verbose):
        g = Genome(genome)
        table = read_tss(tss)
        table, skipped = check_chromosomes(g, table)
        genes, codes = [], []
        for batch in progress.track(iter_windows(g, table, 256, length), "windows",
                                    total=-(-len(table) // 256)):
            genes += batch.genes
            codes.append(batch.codes)
        with atomic_path(output) as tmp:
            with open(tmp, "wb") as fh:
                np.savez_compressed(fh, genes=np.array(genes), codes=np.concatenate(codes))
        out.print(f"{len(genes):,} windows of {length:,} bp -> {output}"
                  + (f"; {len(skipped)} gene(s) skipped (chromosome not in genome)" if skipped else ""))


def _features(provider: str, config, run, force, verbose, **fields):
    from geneqn.pipeline import Run, config_replace

    with _session(verbose):
        cfg = _load(config, run)
        sections = {"features": {"provider": provider, **{k: v for k, v in fields.items()
                                                           if v is not None and k not in ("genome", "tss")}}}
        if fields.get("genome"):
            sections["genome"] = {"path": fields["genome"]}
        cfg = config_replace(cfg, **sections)
        r = Run(cfg)
        if fields.get("tss"):
            _install_tss(r, Path(fields["tss"]))
        s = r.run_stage("features", force=force)
        out.print(f"features ({s['provider']}): {s['n_genes']:,} genes x {s['n_features']} -> "
                  f"{r.path('features.parquet')}")


@features_app.command("table")
def features_table(table: Path = typer.Argument(..., help="CSV/TSV/parquet: first column gene id "
                                                "(Ensembl or symbol), then numeric features."),
                   config: Optional[Path] = ConfigOpt, run: Optional[Path] = RunOpt,
                   force: bool = ForceOpt, verbose: bool = VerboseOpt):
    """Use a feature table you bring (one row per gene)."""
    _features("table", config, run, force, verbose, table=str(table.resolve()))


@features_app.command("demo")
def features_demo(config: Optional[Path] = ConfigOpt, run: Optional[Path] = RunOpt,
                  force: bool = ForceOpt, verbose: bool = VerboseOpt):
    """The embedded demo's regulatory-annotation features (REMO cCRE coverage; a stand-in for Sei)."""
    _features("demo", config, run, force, verbose)


def _install_tss(run, tss: Path) -> None:
    """Use a TSS table from outside the run folder as the run's tss.parquet."""
    from geneqn._io import write_parquet
    from geneqn.genes import read_tss

    target = run.path("tss.parquet")
    if target.exists() and target.resolve() == tss.resolve():
        return
    table = read_tss(tss)
    if "gene" not in table.columns:
        table.insert(0, "gene", table["gene_id"].fillna(table["symbol"]).astype("string"))
    write_parquet(table, target)


@features_app.command("sei")
def features_sei(genome: Optional[Path] = typer.Option(None, help="FASTA (plain/bgzip) or 2bit genome "
                                                       "(GRCh38 for the published weights)."),
                 tss: Optional[Path] = typer.Option(None, help="TSS table or annotation file (default: "
                                                    "the run folder's tss.parquet)."),
                 model_dir: Optional[Path] = typer.Option(None, help="Folder with sei.pth and "
                                                          "projvec_targets.npy (`geneqn fetch sei`)."),
                 device: Optional[str] = typer.Option(None, help="auto | cpu | cuda | cuda:N"),
                 batch_size: Optional[int] = typer.Option(None, help="Windows per batch (each runs "
                                                          "with its reverse complement)."),
                 config: Optional[Path] = ConfigOpt, run: Optional[Path] = RunOpt,
                 force: bool = ForceOpt, verbose: bool = VerboseOpt):
    """Sei's 40 sequence-class scores of every TSS window (the paper's features).

    Streams windows from the genome, runs on CUDA when present (bf16 autocast) or CPU (fp32),
    and writes results in chunks: an interrupted run resumes where it stopped.
    """
    _features("sei", config, run, force, verbose,
              genome=str(genome.resolve()) if genome else None, tss=str(tss) if tss else None,
              model_dir=str(model_dir.resolve()) if model_dir else None, device=device,
              batch_size=batch_size)


@fetch_app.command("sei")
def fetch_sei_cmd(dest: Path = typer.Option(Path("sei_model"), "--dest", help="Folder to unpack into."),
                  url: str = typer.Option(None, help="Archive URL (default: the authors' Zenodo record)."),
                  md5: Optional[str] = typer.Option(None, help="Expected MD5 (default: Zenodo's)."),
                  verbose: bool = VerboseOpt):
    """Download and unpack the Sei weights (Zenodo 10.5281/zenodo.4906996, about 3.1 GB)."""
    from geneqn.fetch import SEI_URL, fetch_sei

    with _session(verbose):
        folder = fetch_sei(dest, url=url or SEI_URL, md5=md5)
        out.print(f"Sei weights in {folder.resolve()}: use --model-dir {folder}")


@app.command("dataset")
def dataset_cmd(config: Optional[Path] = ConfigOpt, run: Optional[Path] = RunOpt,
                seed: Optional[int] = typer.Option(None, help="Split seed (default: run.seed)."),
                force: bool = ForceOpt, verbose: bool = VerboseOpt):
    """Join targets and features on gene and make the seeded 72/8/20 split (split.parquet)."""
    from geneqn.pipeline import Run, config_replace

    with _session(verbose):
        cfg = _load(config, run)
        if seed is not None:
            cfg = config_replace(cfg, run={"seed": seed})
        s = Run(cfg).run_stage("dataset", force=force)
        out.print(f"dataset: {s['n_genes']:,} genes x {s['n_features']} features; train {s['n_train']:,}, "
                  f"valid {s['n_valid']:,}, test {s['n_test']:,}; cell types: {', '.join(s['cell_types'])}")


@app.command("ridge")
def ridge_cmd(config: Optional[Path] = ConfigOpt, run: Optional[Path] = RunOpt,
              force: bool = ForceOpt, verbose: bool = VerboseOpt):
    """Ridge baseline (alpha chosen on valid): test Pearson r per cell type."""
    from geneqn.pipeline import Run

    with _session(verbose):
        cfg = _load(config, run)
        s = Run(cfg).run_stage("ridge", force=force)
        _print_r_table("ridge", s)


@app.command("nn")
def nn_cmd(config: Optional[Path] = ConfigOpt, run: Optional[Path] = RunOpt,
           force: bool = ForceOpt, verbose: bool = VerboseOpt):
    """The hand-tuned network (config section nn), trained like every candidate: test r per cell type."""
    from geneqn.pipeline import Run

    with _session(verbose):
        s = Run(_load(config, run)).run_stage("nn", force=force)
        _print_r_table("hand-tuned NN", s)


@app.command("search")
def search_cmd(config: Optional[Path] = ConfigOpt, run: Optional[Path] = RunOpt,
               storage: Optional[str] = typer.Option(None, help="SQLAlchemy URL of the study storage, "
                                                     "e.g. postgresql://user:pw@host/db (default: "
                                                     "sqlite file nas/study.db in the run folder)."),
               study: Optional[str] = typer.Option(None, help="Study name prefix (the cell type is appended)."),
               trials: Optional[int] = typer.Option(None, help="Budget: finished trials per cell type."),
               sampler: Optional[str] = typer.Option(None, help="tpe | random | reinforce"),
               cell_type: List[str] = typer.Option([], "--cell-type", help="Cell type to search (repeatable; "
                                                   "default: run.cell_types, else all)."),
               worker: bool = typer.Option(False, "--worker", help="Only run trials of the shared study; "
                                           "do not retrain or write the run folder's results."),
               force: bool = ForceOpt, verbose: bool = VerboseOpt):
    """Neural architecture search (Optuna) over the bottleneck model space.

    Several `geneqn search --worker --storage postgresql://... --study NAME` processes, on one or
    many machines, share one study and together finish the budget; then one
    `geneqn search --storage ... --study NAME` retrains the best architecture and saves it.
    """
    from geneqn.pipeline import Run, config_replace

    with _session(verbose):
        cfg = _load(config, run)
        updates = {k: v for k, v in dict(storage=storage, study=study, trials=trials, sampler=sampler).items()
                   if v is not None}
        cfg = config_replace(cfg, search=updates, **({"run": {"cell_types": cell_type}} if cell_type else {}))
        r = Run(cfg)
        if worker:
            from geneqn.nas.search import describe
            from geneqn.pipeline import load_dataset, model_cell_types, search_cell_type

            ds = load_dataset(r)
            for ct in model_cell_types(r, ds):
                res = search_cell_type(r, ds, ct)
                d = describe(res)
                out.print(f"{ct}: this worker ran {res.trials_run} trial(s); study has {d['trials']}; "
                          f"best valid r {d['best_valid_r']:.3f}")
            return
        s = r.run_stage("search", force=force)
        _print_r_table("NAS|NN (best architecture, retrained)", s)


def _sr_updates(engine, selection, complexity_limit, n_jobs) -> dict:
    return {k: v for k, v in dict(engine=engine, selection=selection, complexity_limit=complexity_limit,
                                  n_jobs=n_jobs).items() if v is not None}


EngineOpt = typer.Option(None, help="operon (default) | pysr (needs Julia + PySR)")
SelectionOpt = typer.Option(None, help="accuracy (lowest loss; the paper's) | best (PySR's rule)")
LimitOpt = typer.Option(None, help="Complexity limit per equation (PySR's count; default 20).")
JobsOpt = typer.Option(None, help="Parallel SR processes (0: one per core).")


@app.command("distill")
def distill_cmd(config: Optional[Path] = ConfigOpt, run: Optional[Path] = RunOpt,
                engine: Optional[str] = EngineOpt, selection: Optional[str] = SelectionOpt,
                complexity_limit: Optional[int] = LimitOpt, n_jobs: Optional[int] = JobsOpt,
                force: bool = ForceOpt, verbose: bool = VerboseOpt):
    """Distil the searched network into one genomic equation per cell type (two-stage SR).

    Stage 1: features -> each latent unit; stage 2: stage-1 predicted latents -> expression.
    Writes distill/: Pareto tables (CSV), equations.json, equations.tex, predictions, metrics.
    """
    from geneqn.pipeline import Run, config_replace, load_equations

    with _session(verbose):
        cfg = config_replace(_load(config, run), sr=_sr_updates(engine, selection, complexity_limit, n_jobs))
        r = Run(cfg)
        s = r.run_stage("distill", force=force)
        _print_r_table("SR(NAS|NN): the genomic equations", s)
        for ct, eq in load_equations(r).items():
            out.print(f"[bold]{ct}[/] (complexity {eq.complexity}; classes: {', '.join(eq.sequence_classes)})")
            out.print(f"  g = {eq.composed}", markup=False, highlight=False)


@app.command("sr")
def sr_cmd(config: Optional[Path] = ConfigOpt, run: Optional[Path] = RunOpt,
           engine: Optional[str] = EngineOpt, selection: Optional[str] = SelectionOpt,
           complexity_limit: Optional[int] = LimitOpt, force: bool = ForceOpt, verbose: bool = VerboseOpt):
    """Direct symbolic regression from features to expression (the paper's "SR" baseline)."""
    from geneqn.pipeline import Run, config_replace

    with _session(verbose):
        cfg = config_replace(_load(config, run), sr=_sr_updates(engine, selection, complexity_limit, None))
        _print_r_table("direct SR", Run(cfg).run_stage("sr", force=force))


@app.command("sweep")
def sweep_cmd(config: Optional[Path] = ConfigOpt, run: Optional[Path] = RunOpt,
              limits: Optional[str] = typer.Option(None, help="Comma-separated per-latent limits, e.g. "
                                                   "3,5,7,9,18,best,accuracy."),
              force: bool = ForceOpt, verbose: bool = VerboseOpt):
    """Complexity sweep (the paper's Table 2): per-latent limit -> classes used and test r."""
    import pandas as pd

    from geneqn.pipeline import Run, config_replace

    with _session(verbose):
        cfg = _load(config, run)
        if limits:
            cfg = config_replace(cfg, sr={"sweep": [v.strip() for v in limits.split(",")]})
        r = Run(cfg)
        r.run_stage("sweep", force=force)
        t = pd.read_csv(r.path("sweep/table2.csv"))
        table = Table("cell type", "per-latent limit", "classes", "complexity", "test r", title="Table 2")
        for row in t.itertuples():
            table.add_row(row.cell_type, str(row.latent_limit), str(row.n_classes), str(row.complexity),
                          f"{row.test_r:.3f}")
        out.print(table)


def _print_r_table(title: str, results: dict) -> None:
    table = Table("cell type", "test Pearson r", title=title)
    for ct, r in results.items():
        table.add_row(ct, f"{r:.3f}")
    out.print(table)


def _print_study(cfg) -> None:
    """Table 1 of every cell type (test Pearson r with 95% bootstrap intervals)."""
    import pandas as pd

    t = pd.read_csv(Path(cfg.run.folder) / "tables" / "table1.csv")
    for ct, d in t.groupby("cell_type", sort=False):
        table = Table("model", "explainable", "test Pearson r", "95% CI", title=f"Table 1: {ct}")
        for row in d.itertuples():
            table.add_row(row.model, "yes" if row.explainable else "no", f"{row.pearson_r:.3f}",
                          f"[{row.pearson_r_ci_low:.3f}, {row.pearson_r_ci_high:.3f}]")
        out.print(table)


@app.command("run")
def run_cmd(config: Path = typer.Argument(..., help="TOML config of the run."),
            run: Optional[Path] = RunOpt,
            force: List[str] = typer.Option([], "--force", help="Redo this stage (repeatable)."),
            until: Optional[str] = typer.Option(None, help="Stop after this stage."),
            verbose: bool = VerboseOpt):
    """Run every stage in order; finished, up-to-date stages are skipped (resumable).

    Stages: targets, tss, features, dataset, ridge, nn, search, distill, sr, sweep, nas_sr,
    evaluate, report. Ends with the path of report.html.
    """
    from geneqn.pipeline import STAGES, run_all

    with _session(verbose):
        cfg = _load(config, run)
        unknown = [f for f in force + ([until] if until else []) if f not in STAGES]
        if unknown:
            raise GeneqnError(f"no such stage: {', '.join(unknown)}; stages: {', '.join(STAGES)}.")
        names = list(STAGES)
        stages = names[: names.index(until) + 1] if until else names
        results = run_all(cfg, stages, force=tuple(force))
        if "report" in results:
            _print_study(cfg)
            out.print(f"report: {results['report']['report']}")
        else:
            out.print(f"run folder: {cfg.run.folder} (stopped after {stages[-1]})")


@app.command("demo")
def demo_cmd(run: Path = typer.Option(Path("geneqn-demo"), "--run", "-r", help="Run folder."),
             seed: int = typer.Option(0, help="Seed of the split, searches and equations."),
             force: bool = typer.Option(False, "--force", help="Redo every stage."),
             verbose: bool = VerboseOpt):
    """The whole study on the embedded demo bundle, with a quick budget.

    Human pancreas (3 endocrine cell types modelled), 17,638 genes, 28 REMO regulatory-annotation
    features standing in for Sei: ridge, NN, NAS|NN, SR, SR(NAS|NN), NAS|SR, SR(NAS|SR), Table 2,
    the analyses, and report.html.
    """
    from geneqn.pipeline import STAGES, demo_config, run_all

    with _session(verbose):
        cfg = demo_config(run, seed)
        results = run_all(cfg, force=tuple(STAGES) if force else ())
        s = results["tss"]
        console.print(f"{s['matched']:,} genes with expression and a TSS; "
                      f"{results['dataset']['n_features']} regulatory-annotation features "
                      "(REMO cCRE coverage per tissue; a stand-in for Sei)")
        _print_study(cfg)
        from geneqn.pipeline import Run, load_equations

        eqs = load_equations(Run(cfg))
        ct = cfg.run.cell_types[0]
        out.print(f"genomic equation of {ct}:")
        out.print(f"  g = {eqs[ct].composed}", markup=False, highlight=False)
        out.print(f"report: {results['report']['report']}")


@app.command("predict")
def predict_cmd(features: Path = typer.Argument(..., help="Feature table (CSV/TSV/parquet; first column "
                                                "gene id) with the columns the models use."),
                output: Path = typer.Option(..., "--out", "-o", help="Output CSV: gene x cell type predictions."),
                equations: Optional[Path] = typer.Option(None, help="equations.json (default: the run's "
                                                         "distill/equations.json)."),
                network: List[Path] = typer.Option([], "--network", help="Saved network(s) (.pt) to apply "
                                                   "instead of equations (repeatable)."),
                run: Optional[Path] = RunOpt, verbose: bool = VerboseOpt):
    """Apply saved genomic equations (or networks) to a new feature table."""
    import pandas as pd

    from geneqn._io import atomic_path
    from geneqn.features.table import read_feature_table

    with _session(verbose):
        table = read_feature_table(features)
        cols = {}
        if network:
            from geneqn.nas.network import BottleneckMLP

            for p in network:
                net = BottleneckMLP.load(p)
                names = net.extra.get("feature_names") or list(table.columns)
                missing = [n for n in names if n not in table.columns]
                if missing:
                    raise GeneqnError(f"{features} lacks feature column(s) {', '.join(missing[:5])} that {p} needs.")
                cols[net.extra.get("cell_type", p.stem)] = net.predict(table[names].to_numpy())
        else:
            import json

            from geneqn.sr.equation import GenomicEquation

            path = equations or (run or Path("geneqn-run")) / "distill" / "equations.json"
            if not path.exists():
                raise GeneqnError(f"no equations at {path}; pass --equations FILE or --run DIR of a "
                                  "finished run (or --network FILE.pt).")
            for ct, d in json.loads(path.read_text()).items():
                cols[ct] = GenomicEquation.from_dict(d).predict(table)
        df = pd.DataFrame(cols, index=table.index)
        with atomic_path(output) as tmp:
            df.to_csv(tmp)
        out.print(f"{len(df):,} genes x {df.shape[1]} cell type(s) -> {output}")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(app())
