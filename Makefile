# Two commands for a newcomer: `make demo` and `make test`. Each creates the virtual
# environment in .venv (Python >= 3.11) and installs what it needs first.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.kizuki-installed
# pytest-xdist workers: the suite waits on brokers, servers and browsers more than it
# computes, so two workers finish in about half the time even on two cores; 0 runs it
# in one process (easier to read when debugging one test)
PYTEST_WORKERS ?= 2

.PHONY: demo test lint bench evaluate clean

$(STAMP): pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c requirements.lock -e ".[test]"
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/kizuki demo

test: $(STAMP) lint
	bash scripts/test-env.sh
	$(BIN)/pytest -n $(PYTEST_WORKERS) --dist worksteal $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

bench: $(STAMP)
	$(BIN)/python bench/ingest.py
	$(BIN)/python bench/detectors.py

evaluate: $(STAMP)
	$(BIN)/kizuki evaluate

clean:
	rm -rf $(VENV) .kizuki test-output .pytest_cache
