# Two commands on a fresh machine: `make run` and `make test`. Everything else is a detail.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
HOST   ?= 127.0.0.1
PORT   ?= 8000
INSTALLED := $(VENV)/.installed

.PHONY: install run test lint typecheck pytest fuzz bench bench-quick clean

# Re-installs only when pyproject.toml changes.
$(INSTALLED): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

install: $(INSTALLED)

## Install, write local defaults to .env (kept if present), serve on embedded SQLite + Temporal.
run: install
	$(BIN)/hub init
	$(BIN)/hub serve --host $(HOST) --port $(PORT)

## Install, then lint, type-check and run the whole test suite.
test: install lint typecheck pytest

lint: install
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/lint-imports

typecheck: install
	$(BIN)/mypy

pytest: install
	$(BIN)/pytest

## Longer, randomized property and fuzz run: FUZZ_EXAMPLES (5000) examples per test instead of CI's 10-200.
FUZZ_EXAMPLES ?= 5000
fuzz: install
	HUB_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) $(BIN)/pytest tests/properties tests/fuzz -q -p no:logging

## Benchmarks and the kill -9 durability run (about 15 minutes); writes bench/RESULTS.md.
bench: install
	bench/ensure_wrk.sh
	$(BIN)/python -m bench.run

bench-quick: install
	bench/ensure_wrk.sh
	$(BIN)/python -m bench.run --quick --output bench/out/RESULTS-quick.md

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
