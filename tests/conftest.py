import numpy as np
import pytest

# geneqn pins PyTorch's CPU kernels when it is imported before torch (geneqn._reproducible): import
# it before any test module imports torch, or a run's networks would depend on which test files
# were collected (test_nas.py imports torch first) and on the machine's instruction set
import geneqn  # noqa: E402,F401


@pytest.fixture
def rng():
    return np.random.default_rng(0)


def pytest_collection_modifyitems(config, items):
    """PostgreSQL tests need a server: without GENEQN_TEST_POSTGRES_URL they are deselected (and
    said so at the end); .ci/run starts a server and sets it, so CI always runs them."""
    import os

    if os.environ.get("GENEQN_TEST_POSTGRES_URL"):
        return
    keep = [i for i in items if "postgres" not in i.keywords]
    dropped = [i for i in items if "postgres" in i.keywords]
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = keep
        config._geneqn_pg_dropped = len(dropped)


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    n = getattr(config, "_geneqn_pg_dropped", 0)
    if n:
        terminalreporter.write_line(f"{n} PostgreSQL test(s) deselected: GENEQN_TEST_POSTGRES_URL is not set "
                                    "(GENEQN_TEST_POSTGRES_URL=$(bash scripts/start_postgres.sh) make test runs them)")
