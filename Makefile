# Two commands on a fresh machine: `make book` and `make test` (both set themselves up).
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
PROFILE ?= default
export PYTHONHASHSEED := 0
export MPLBACKEND := Agg

.PHONY: help setup data book html test test-unit test-smoke bench lint clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-11s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	@echo "[setup] creating $(VENV) with $(PYTHON) ($$($(PYTHON) --version))"
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 11) else "Python 3.11 is required")'
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e .
	@touch $(STAMP)
	@echo "[setup] environment ready"

setup: $(STAMP)  ## create or refresh the pinned virtual environment

data: setup  ## generate the jet samples of PROFILE (default: default)
	$(PY) -m src data --profile $(PROFILE)

book: setup  ## generate data, train, evaluate and build the HTML book (PROFILE=default)
	$(PY) -m src data --profile $(PROFILE)
	$(PY) -m src train --profile $(PROFILE)
	$(PY) -m src book --profile $(PROFILE)

html: setup  ## render the committed notebooks into HTML without executing them
	$(PY) -m src book --profile default --no-execute

test: setup  ## every test: unit tests with the C++ builds, then smoke regeneration and a book build
	@echo "[test] unit tests, including the hls4ml C++ builds"
	$(PY) -m pytest -m "not smoke"
	@echo "[test] smoke regeneration of every chapter and the book build"
	$(PY) -m pytest -m smoke

test-unit: setup  ## fast unit tests: no C++ builds, no notebook regeneration
	$(PY) -m pytest -m "not smoke and not hls"

bench: setup  ## benchmarks: writes bench/results.json and bench/results.md
	$(PY) -m src bench --out bench

lint: setup  ## static checks
	$(PY) -m ruff check src tests notebooks

clean:  ## remove build products (keeps data, models and the venv)
	rm -rf build book/_build
