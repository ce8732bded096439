# Two commands on a fresh machine: `make book` and `make test` (both set themselves up).
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
PROFILE ?= default
KERNEL := jointvae-ad
LAB_PORT ?= 8888
export PYTHONHASHSEED := 0
export MPLBACKEND := Agg

.PHONY: help setup data book html lab test test-unit test-smoke bench lint clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-11s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	@echo "[setup] creating $(VENV) with $(PYTHON) ($$($(PYTHON) --version))"
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 11) else "Python 3.11 is required")'
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e .
	$(PY) -m ipykernel install --sys-prefix --name $(KERNEL) --display-name "Python 3.11 ($(KERNEL) .venv)"
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

lab: setup  ## JupyterLab on the project venv: open notebooks/NN_name.py as a notebook (LAB_PORT=8888)
	$(VENV)/bin/jupyter lab --no-browser --port $(LAB_PORT) --ServerApp.root_dir="$(CURDIR)" \
	    $(if $(filter 0,$(shell id -u)),--allow-root) \
	    --LabApp.default_url=/lab/tree/notebooks --MappingKernelManager.default_kernel_name=$(KERNEL)

test: setup  ## everything: pytest -m "not smoke" (unit tests with the hls4ml C++ builds), then -m smoke
	@echo "[test] 1/2 unit tests, including the hls4ml C++ builds: pytest -m 'not smoke'"
	$(PY) -m pytest -m "not smoke"
	@echo "[test] 2/2 smoke regeneration of every chapter and the book build: pytest -m smoke"
	$(PY) -m pytest -m smoke
	@echo "[test] all tests passed"

test-unit: setup  ## fast unit tests: pytest -m "not smoke and not hls" (no C++ builds, no notebooks)
	$(PY) -m pytest -m "not smoke and not hls"

test-smoke: setup  ## pytest -m smoke: every chapter with the smoke profile into build/smoke, book built
	$(PY) -m pytest -m smoke

bench: setup  ## benchmarks: writes bench/results.json and bench/results.md
	$(PY) -m src bench --out bench

lint: setup  ## static checks
	$(PY) -m ruff check src tests notebooks

clean:  ## remove build products (keeps data, models and the venv)
	rm -rf build book/_build
