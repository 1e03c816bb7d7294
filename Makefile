# embedforge — set-up and everyday commands. `make run` and `make test` work on a fresh clone.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# CPU here (a local CPU wheel). On a GPU machine: make install TORCH_SPEC="torch==2.13.0 --index-url https://download.pytorch.org/whl/cu128"
TORCH_SPEC ?= torch==2.13.0

# Prefect's and the libraries' settings (state under .prefect/, offline, no analytics) are set by the embedforge
# command itself (flows/cli.py: local_defaults) and, for the tests, by tests/conftest.py: one definition.

.PHONY: install run test lint ui demo-data clean

install: $(VENV)/.installed

# torch first and on its own, so nothing else can pull a different (multi-GB CUDA) build
$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet $(TORCH_SPEC)
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

run: install
	mkdir -p runs
	$(BIN)/embedforge run --config configs/demo.yaml --json runs/demo.json

test: install
	$(BIN)/python -m pytest

# ruff's linter and formatter, configured in pyproject.toml; CI runs this before the tests
lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# a local Prefect server on loopback with the project's SQLite database; the UI shows every run and its reports
ui: install
	$(BIN)/embedforge ui

demo-data:
	$(PYTHON) data/demo/generate.py

clean:
	rm -rf .prefect .embedforge models runs
