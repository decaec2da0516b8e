# Two commands for a new user: `make demo` and `make test`. Each creates .venv if needed and
# installs the project into it (PyTorch pinned to the 2.13.0 CPU wheel): the demo what it runs,
# the tests the test extras too.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
CORE := $(VENV)/.geneqn-core
STAMP := $(VENV)/.geneqn-installed
# pip's compiling every module of every package is half of an installation's time: the packages
# install without it, then the modules a run imports are compiled (written beside their sources,
# even where PYTHONDONTWRITEBYTECODE is set); the tests' installation compiles all the rest.
WARM := import geneqn.cli, geneqn.run.stages, geneqn.study, geneqn.report, geneqn.sr.distill, \
        geneqn.nas.search, geneqn.baselines, torch, optuna, sklearn.linear_model, scipy.stats, \
        matplotlib.pyplot, pyarrow.parquet, sympy

.PHONY: demo test test-slow install bench

$(CORE): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q --no-compile torch==2.13.0
	$(BIN)/python -m pip install -q --no-compile -e .
	PYTHONDONTWRITEBYTECODE= $(BIN)/python -c "$(WARM)"
	touch $@

$(STAMP): $(CORE)
	$(BIN)/python -m pip install -q -e '.[test]'
	$(BIN)/python -m compileall -q -j 0 "$$($(BIN)/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')" >/dev/null || true
	touch $@

install: $(STAMP)

demo: $(CORE)
	$(BIN)/geneqn demo

# The PostgreSQL two-worker test runs when GENEQN_TEST_POSTGRES_URL names a server
# (.ci/run starts one with scripts/start_postgres.sh).
test: $(STAMP)
	$(BIN)/python -m pytest -m "not slow"

# Long tests (minutes): full-size searches and distillations.
test-slow: $(STAMP)
	$(BIN)/python -m pytest -m slow

bench: $(STAMP)
	for b in benchmarks/bench_*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done
