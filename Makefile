# Two commands for a new user: `make demo` and `make test`. Each creates .venv if needed and
# installs the project into it (PyTorch pinned to the 2.13.0 CPU wheel).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.geneqn-installed

.PHONY: demo test test-slow install bench

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q torch==2.13.0
	$(BIN)/python -m pip install -q -e '.[test]'
	touch $@

install: $(STAMP)

demo: $(STAMP)
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
