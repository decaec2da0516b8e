"""What the terminal shows (issue 19.9) and how the package is installed (issue 19.10)."""

import importlib.metadata
import subprocess
import sys

import pytest
from typer.testing import CliRunner

import geneqn
from geneqn import progress
from geneqn.cli import app
from geneqn.features.demo import demo_path

runner = CliRunner()


class Recorder:
    """A progress reporter that keeps every event, in order."""

    def __init__(self):
        self.events = []

    def start(self, description, total):
        self.events.append(("start", description, total))
        return description

    def advance(self, handle, amount=1.0):
        self.events.append(("advance", handle, amount))

    def note(self, handle, text):
        self.events.append(("note", handle, text))

    def finish(self, handle):
        self.events.append(("finish", handle, None))


@pytest.fixture
def recorder():
    rec = Recorder()
    previous = progress.set_reporter(rec)
    yield rec
    progress.set_reporter(previous)


def test_plain_prints_each_stage_once(tmp_path):
    rd = tmp_path / "r"
    first = runner.invoke(app, ["targets", str(demo_path("expression.parquet")), "--run", str(rd), "--plain"])
    again = runner.invoke(app, ["targets", str(demo_path("expression.parquet")), "--run", str(rd), "--plain"])
    tss = runner.invoke(app, ["tss", str(demo_path("tss.parquet")), "--run", str(rd), "--plain"])
    assert first.exit_code == again.exit_code == tss.exit_code == 0
    assert again.output.count("up to date") == 1 and "- targets: up to date" in again.output
    assert tss.output.count("matched a TSS") == 1  # the stage line only, not a log record too
    assert "17,638 of 33,053 genes matched a TSS (17,638 by Ensembl id)" in tss.output


def test_search_bar_ends_with_the_last_trial_told(tmp_path, recorder):
    """With a reward of its own (the NAS|SR ablation's), the bar must not read 100% while no trial
    is told: at every note "k/N trials" the bar is short of its total unless k = N, and it ends
    exactly at its total."""
    from geneqn.nas.search import run_search
    from geneqn.nas.space import space_from_config
    from test_nas import SMALL, TRAIN, toy_data

    told = []

    def reward(net, result):
        told.append(result.reward)
        return result.reward

    run_search(toy_data(), space_from_config(SMALL), storage=f"sqlite:///{tmp_path / 'study.db'}", study_name="s",
               trials=2, group_size=3, train_kw=TRAIN, reward=reward, label="NAS|SR search")
    (_, name, total), = [e for e in recorder.events if e[0] == "start"]
    assert name == "NAS|SR search" and len(told) == 2
    done, shown = 0.0, "0/2 trials"
    for kind, _, value in recorder.events:
        if kind == "note":
            shown = value
        elif kind == "advance":
            done += value
            assert done <= total + 1e-9
            if done >= total - 1e-9:  # a full bar says every trial was told
                assert shown.startswith("2/2 trials"), (shown, done, total)
            else:  # and it is never further on than the trials told
                assert done <= int(shown.split("/")[0]) * total / 2 + total / 2 + 1e-9, (shown, done, total)
    assert done == pytest.approx(total)


def test_ridge_fits_only_the_asked_cell_types_with_a_bar(tmp_path, recorder):
    import json

    from geneqn.run import demo_config, run as run_stages

    cfg = demo_config(tmp_path / "r").replace(run={"cell_types": ["pancreatic A cell"]})
    run_stages(cfg, ["targets", "tss", "features", "dataset", "ridge"])
    metrics = json.loads((tmp_path / "r" / "ridge" / "metrics.json").read_text())
    assert list(metrics) == ["pancreatic A cell"]
    starts = [e for e in recorder.events if e[0] == "start" and e[1] == "ridge"]
    assert starts == [("start", "ridge", 1)]
    assert [e for e in recorder.events if e[0] == "advance" and e[1] == "ridge"] == [("advance", "ridge", 1.0)]


def _inner_progress(job):
    """A job that reports progress of its own, as an SR fit inside a stability refit does."""
    with progress.task(f"inner {job}", total=1) as t:
        t.note("told")
        t.advance()
    return type(progress._reporter).__name__


def test_worker_processes_report_no_progress_of_their_own(recorder):
    """Jobs in local worker processes (forked: they inherit the reporter) stay silent; the parent's
    bar advances once per job. A forked worker's copy of the CLI's rich display had printed the
    parent's bars as they were at the fork ("stability refits 0%") as lines left in the terminal."""
    from geneqn._parallel import parallel_map

    got = parallel_map(_inner_progress, [0, 1, 2, 3], n_jobs=2, description="outer")
    assert got == ["_Silent"] * 4
    assert recorder.events[0] == ("start", "outer", 4) and recorder.events[-1] == ("finish", "outer", None)
    assert [e[0] for e in recorder.events[1:-1]] == ["advance"] * 4
    # in this process (one job at a time) the job's own task is reported, nested in the outer one
    recorder.events.clear()
    assert parallel_map(_inner_progress, [0], n_jobs=1, description="outer") == ["Recorder"]
    assert ("start", "inner 0", 1) in recorder.events


def test_installed_version_is_the_packages():
    assert importlib.metadata.version("geneqn") == geneqn.__version__
    r = runner.invoke(app, ["--version"])
    assert r.output.strip() == f"geneqn {geneqn.__version__}"


def test_importable_without_fcntl(tmp_path):
    """As on Windows: no module of the run layer needs fcntl (the lock is the filelock package's)."""
    code = ("import sys; sys.modules['fcntl'] = None\n"
            "from geneqn.run import Runner, demo_config\n"
            f"r = Runner(demo_config({str(tmp_path / 'r')!r}))\n"
            "with r.locked():\n    print('locked')\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.strip() == "locked", out.stderr


def test_declared_dependencies_cover_what_the_package_imports():
    """tqdm, filelock, pooch and (before Python 3.11) tomli are imported by geneqn: declared;
    scikit-learn's floor is the first release with sklearn.utils.validation.validate_data (1.6)."""
    reqs = importlib.metadata.requires("geneqn")
    names = {r.split(";")[0].split(">")[0].split("=")[0].split("<")[0].strip().lower() for r in reqs}
    assert {"tqdm", "filelock", "pooch", "tomli", "scikit-learn"} <= names
    assert any(r.startswith("tomli>") and "python_version < \"3.11\"" in r for r in reqs), reqs
    assert any(r.startswith("scikit-learn>=1.6") for r in reqs), reqs
    from sklearn.utils.validation import validate_data  # noqa: F401  (exists in the installed one)
