"""The run layer: a run folder, its stages and their stamps.

* :mod:`geneqn.run.layout` - every path of a run folder (:class:`RunLayout`).
* :mod:`geneqn.run.engine` - stages, stamps, resume and the folder lock (:class:`Runner`).
* :mod:`geneqn.run.stages` - one module per group of stages; each stage is a thin adapter from
  config sections to library calls.

>>> from geneqn.run import Runner                      # doctest: +SKIP
>>> Runner(config).run()                               # every stage, resumable
"""

from __future__ import annotations

from geneqn.config import Config
from geneqn.run import stages as _stages  # noqa: F401  (registers the stages)
from geneqn.run.checks import check
from geneqn.run.demo import DEMO_CELL_TYPES, demo_config
from geneqn.run.engine import STAGES, Runner, StageContext
from geneqn.run.layout import RunLayout, cell_type_key
from geneqn.run.load import Run, load_run


def run(config: Config, stages: list[str] | None = None, force: tuple[str, ...] = (), on_stage=None) -> dict:
    """Run ``stages`` (default: all) of the run folder ``config.run.folder``; finished,
    up-to-date stages are skipped. Returns each stage's summary."""
    check(config)
    return Runner(config).run(stages, force=force, on_stage=on_stage)


__all__ = ["DEMO_CELL_TYPES", "STAGES", "Run", "RunLayout", "Runner", "StageContext", "cell_type_key", "check",
           "demo_config", "load_run", "run"]
