# embedforge — set-up and everyday commands. `make run` and `make test` work on a fresh clone.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# CPU here (a local CPU wheel). On a GPU machine: make install TORCH_SPEC="torch==2.13.0 --index-url https://download.pytorch.org/whl/cu128"
TORCH_SPEC ?= torch==2.13.0

export PREFECT_HOME := $(CURDIR)/.prefect
export PREFECT_LOCAL_STORAGE_PATH := $(CURDIR)/.prefect/storage
export PREFECT_RESULTS_PERSIST_BY_DEFAULT := true
export PREFECT_SERVER_ANALYTICS_ENABLED := false
export PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS := 180
export PREFECT_LOGGING_EXTRA_LOGGERS := tasks
export DO_NOT_TRACK := 1
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false

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
	@echo "Prefect UI: http://127.0.0.1:4200  (API: http://127.0.0.1:4200/api)"
	$(BIN)/prefect server start --host 127.0.0.1 --port 4200

demo-data:
	$(PYTHON) data/demo/generate.py

clean:
	rm -rf .prefect .embedforge models runs
