"""The run layer: a run folder, its stages and their stamps.

* :mod:`geneqn.run.layout` - every path of a run folder (:class:`RunLayout`).
* :mod:`geneqn.run.engine` - stages, stamps, resume and the folder lock (:class:`Runner`).
* :mod:`geneqn.run.stages` - one module per group of stages; each stage is a thin adapter from
  config sections to library calls.

>>> import geneqn                                      # doctest: +SKIP
>>> geneqn.run(config)                                 # every stage, resumable
>>> geneqn.run(config, client=dask_client)             # cell types as tasks of a Dask cluster
"""

from __future__ import annotations

import contextlib
import logging
import sys
import types

from geneqn.config import Config
from geneqn.run import stages as _stages  # noqa: F401  (registers the stages)
from geneqn.run.checks import check
from geneqn.run.demo import DEMO_CELL_TYPES, demo_config
from geneqn.run.engine import STAGES, Runner, StageContext
from geneqn.run.layout import RunLayout, cell_type_key
from geneqn.run.load import Run, load_run

log = logging.getLogger(__name__)


def run(config: Config, stages: list[str] | None = None, force: tuple[str, ...] = (), on_stage=None,
        client=None) -> dict:
    """Run ``stages`` (default: all) of the run folder ``config.run.folder``; finished,
    up-to-date stages are skipped. Returns each stage's summary.

    ``client``: a ``dask.distributed.Client``; each cell type's share of the model, search and
    equation stages becomes a task on its cluster (and parallel jobs of other stages go there
    too). Without one, ``run.cluster`` of the config (``local:4``, ``tcp://HOST:8786``, a
    scheduler file) names the cluster to use; empty: this process. The tables do not depend on
    it. Every worker must see the run folder at the same path (shared storage on a cluster)."""
    check(config)
    with _cluster(config, client) as c:
        return Runner(config, client=c).run(stages, force=force, on_stage=on_stage)


def run_stage(config: Config, name: str, force: bool = False, client=None) -> dict:
    """Run one stage (as :func:`run` does, cluster included)."""
    check(config)
    with _cluster(config, client) as c:
        return Runner(config, client=c).run_stage(name, force=force)


@contextlib.contextmanager
def _cluster(config: Config, client):
    from geneqn._parallel import open_cluster, using_client

    if client is None and config.run.cluster:
        with open_cluster(config.run.cluster) as opened, using_client(opened):
            log.info("cluster %s: %d worker(s)", config.run.cluster, len(opened.scheduler_info()["workers"]))
            yield opened
    elif client is not None:
        with using_client(client):
            yield client
    else:
        yield None


class _CallableModule(types.ModuleType):
    """``geneqn.run(config, ...)`` is :func:`run`: the module can be called."""

    def __call__(self, *args, **kwargs):
        return run(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule


__all__ = ["DEMO_CELL_TYPES", "STAGES", "Run", "RunLayout", "Runner", "StageContext", "cell_type_key", "check",
           "demo_config", "load_run", "run", "run_stage"]
