"""What the terminal shows: progress bars (rich), plain lines for logs and CI, a persistent
one-line summary per finished stage, errors as messages (never tracebacks), and the results."""

from __future__ import annotations

import logging
import time

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from geneqn import progress
from geneqn.errors import GeneqnError

console = Console(stderr=True, highlight=False, soft_wrap=True)  # paths are not cut mid-word
out = Console(highlight=False, soft_wrap=True)


class RichReporter:
    """geneqn.progress tasks as rich bars with percentage, elapsed time, ETA and a status note."""

    def __init__(self, console: Console):
        from rich.progress import (BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn,
                                   TimeRemainingColumn)

        self._progress = Progress(TextColumn("{task.description}", markup=False), BarColumn(),
                                  TaskProgressColumn(), TimeElapsedColumn(), TextColumn("eta"),
                                  TimeRemainingColumn(), TextColumn("{task.fields[note]}", markup=False),
                                  console=console, transient=True, disable=not console.is_terminal,
                                  refresh_per_second=4)
        self._open = 0

    def start(self, description, total):
        if self._open == 0:
            self._progress.start()
        self._open += 1
        return self._progress.add_task(description, total=total, note="")

    def advance(self, handle, amount=1.0):
        self._progress.advance(handle, amount)

    def note(self, handle, text):
        self._progress.update(handle, note=text)

    def finish(self, handle):
        task = next((t for t in self._progress.tasks if t.id == handle), None)
        if task is not None and task.fields.get("note") and self._progress.console.is_terminal:
            # a task that reported a key number leaves one line behind (e.g. a search's best r)
            self._progress.console.print(f"  {task.description}: {_duration(task.elapsed)} ({task.fields['note']})",
                                         markup=False)
        self._progress.remove_task(handle)
        self._open -= 1
        if self._open == 0:
            self._progress.stop()


class PlainReporter:
    """One line when a long task starts and one when it ends (for logs and CI)."""

    def __init__(self, console: Console):
        self.console = console

    def start(self, description, total):
        self.console.print(f"... {description}", markup=False)
        return [description, time.perf_counter(), ""]

    def advance(self, handle, amount=1.0):
        pass

    def note(self, handle, text):
        handle[2] = text

    def finish(self, handle):
        description, t0, note = handle
        self.console.print(f"    {description}: done in {_duration(time.perf_counter() - t0)}"
                           + (f" ({note})" if note else ""), markup=False)


def _duration(seconds: float) -> str:
    seconds = float(seconds or 0)
    if seconds < 60:
        return f"{seconds:.1f} s"
    m, s = divmod(int(round(seconds)), 60)
    return f"{m} min {s:02d} s" if m < 60 else f"{m // 60} h {m % 60:02d} min"


def stage_line(name: str, summary: dict) -> str:
    """One line saying what a finished stage produced, e.g. "search: 2 min 13 s; best valid r ..."."""
    if summary.get("skipped"):
        return f"- {name}: skipped ({summary['skipped']})"
    took = "up to date" if summary.get("up_to_date") else _duration(summary.get("seconds", 0))
    keys = {k: v for k, v in summary.items() if k not in ("seconds", "up_to_date")}
    detail = ""
    if name == "targets":
        detail = f"{keys.get('n_genes', 0):,} genes, {len(keys.get('cell_types', {}))} cell types"
    elif name == "tss":
        by = ", ".join(f"{n:,} by {how}" for how, n in (keys.get("by") or {}).items() if n)
        detail = (f"{keys.get('matched', 0):,} TSS rows kept (no targets yet to match)" if keys.get("without_targets")
                  else f"{keys.get('matched', 0):,} of {keys.get('expression_genes', 0):,} genes matched a TSS"
                  + (f" ({by})" if by else ""))
    elif name == "features":
        detail = f"{keys.get('n_genes', 0):,} genes x {keys.get('n_features', 0)} features ({keys.get('provider')})"
    elif name == "dataset":
        detail = (f"{keys.get('n_genes', 0):,} genes: train {keys.get('n_train', 0):,}, valid {keys.get('n_valid', 0):,}, "
                  f"test {keys.get('n_test', 0):,}")
    elif name == "sweep":
        knee = "; ".join(f"{ct}: {v}" for ct, v in (keys.get("knee") or {}).items())
        detail = f"{keys.get('rows', 0)} rows of Table 2" + (f"; knee {knee}" if knee else "")
    elif name == "report":
        detail = str(keys.get("report", ""))
    else:
        rs = {k: v for k, v in keys.items() if isinstance(v, (int, float))}
        if rs:
            label = {"ridge": "Ridge", "nn": "NN", "search": "NAS|NN", "distill": "SR(NAS|NN)", "sr": "SR",
                     "nas_sr": "SR(NAS|SR)", "evaluate": "SR(NAS|NN)", "expectosc": "ExPectoSC"}.get(name, name)
            shown = list(rs.items())[:4]
            more = f" and {len(rs) - len(shown)} more" if len(rs) > len(shown) else ""
            detail = f"{label} test r: " + ", ".join(f"{k} {v:.3f}" for k, v in shown) + more
    return f"- {name}: {took}" + (f"; {detail}" if detail else "")


class _LevelFormatter(logging.Formatter):
    """Information as plain text; warnings and errors say what they are."""

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        return text if record.levelno < logging.WARNING else f"{record.levelname.lower()}: {text}"


class Session:
    """Logging, progress and error handling of one command."""

    def __init__(self, verbose: bool, quiet: bool, plain: bool):
        self.verbose, self.quiet, self.plain = verbose, quiet, plain

    def __enter__(self) -> "Session":
        from rich.logging import RichHandler

        if self.plain or not console.is_terminal:
            handler: logging.Handler = logging.StreamHandler()
            handler.setFormatter(logging.Formatter("%(levelname)s: %(message)s"))
        else:
            handler = RichHandler(console=console, show_path=False, show_time=False, show_level=False, markup=False)
            handler.setFormatter(_LevelFormatter())
        root = logging.getLogger("geneqn")
        root.handlers[:] = [handler]
        root.setLevel(logging.DEBUG if self.verbose else logging.WARNING if self.quiet else logging.INFO)
        root.propagate = False
        if self.quiet:
            reporter = None
        elif self.plain or not console.is_terminal:
            reporter = PlainReporter(console)
        else:
            reporter = RichReporter(console)
        self._previous = progress.set_reporter(reporter)
        return self

    def __exit__(self, kind, err, tb):
        progress.set_reporter(self._previous)
        if err is None:
            return False
        if isinstance(err, GeneqnError):
            console.print(f"[bold red]error:[/] {escape(str(err))}")
            raise typer.Exit(2)
        if isinstance(err, KeyboardInterrupt):
            console.print("[yellow]interrupted[/]: finished stages are kept; run the same command again to resume.")
            raise typer.Exit(130)
        return False

    # -------------------------------------------------------------- printing
    def info(self, text: str) -> None:
        if not self.quiet:
            console.print(text, markup=False)

    def result(self, text: str) -> None:
        out.print(text, markup=False)

    def stage_done(self, name: str, summary: dict) -> None:
        if not self.quiet:
            console.print(stage_line(name, summary), markup=False)

    def study(self, cfg) -> None:
        """Table 1 of every cell type, the first genomic equation and the report's path."""
        from geneqn._io import read_csv
        from geneqn.run import RunLayout

        L = RunLayout(cfg.run.folder)
        t = read_csv(L.table("table1"))
        for ct, d in t.groupby("cell_type", sort=False):
            table = Table("model", "explainable", "test Pearson r", "95% CI", title=f"Table 1: {escape(str(ct))}")
            for row in d.itertuples():
                table.add_row(escape(row.model), "yes" if row.explainable else "no", f"{row.pearson_r:.3f}",
                              f"[{row.pearson_r_ci_low:.3f}, {row.pearson_r_ci_high:.3f}]")
            out.print(table)
        self.equations(cfg, first_only=True)
        out.print(f"report: {L.report}", markup=False)

    def equations(self, cfg, first_only: bool = False) -> None:
        from geneqn.run import RunLayout
        from geneqn.run.common import load_equations
        from geneqn.sr.equation import wrap_equation

        eqs = load_equations(RunLayout(cfg.run.folder).equations)
        for ct, eq in list(eqs.items())[: 1 if first_only else None]:
            out.print(f"genomic equation of {ct} (complexity {eq.complexity}; features: "
                      f"{', '.join(eq.features_used)}):", markup=False, soft_wrap=False)
            width = max(40, (out.width or 100) - 2)
            for line in eq.text(width=width - 2).splitlines():
                out.print(f"  {line}", markup=False, soft_wrap=True)
            composed = wrap_equation(f"composed: g = {eq.composed}", width - 2, indent="    ")
            out.print("  " + composed.replace("\n", "\n  "), markup=False, soft_wrap=True)

    def table2(self, cfg) -> None:
        from geneqn._io import read_csv
        from geneqn.run import RunLayout

        t = read_csv(RunLayout(cfg.run.folder).table2)
        table = Table("cell type", "per-latent limit", "features", "complexity", "test r", title="Table 2")
        for row in t.itertuples():
            table.add_row(escape(str(row.cell_type)), str(row.latent_limit), str(row.n_features), str(row.complexity),
                          f"{row.test_r:.3f}")
        out.print(table)
