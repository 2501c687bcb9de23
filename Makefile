# nma: `make all` runs every analysis, `make test` runs every test. Both bootstrap .venv themselves.
.DEFAULT_GOAL := help
.PHONY: help all test test-fast check bench clean
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
ANALYSES := $(basename $(notdir $(wildcard analyses/*.toml)))

help: ## list targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-10s %s\n", $$1, $$2}'

$(VENV)/done: pyproject.toml
	$(PYTHON) -c 'import sys; assert sys.version_info[:2] == (3, 11), "nma needs Python 3.11 (set PYTHON=python3.11)"'
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $@

check: $(VENV)/done ## validate data/ and print the network of every setting x outcome and of every analysis, with its loops
	$(PY) -m nma check data analyses

all: $(VENV)/done check ## set up, validate the evidence, and run every analysis in analyses/ into outputs/<name>/
	@set -e; for a in $(ANALYSES); do echo "== $$a"; $(PY) -m nma run analyses/$$a.toml --out outputs/$$a; done

test: $(VENV)/done ## every test, validation against closed-form and published results included (CI runs this)
	$(PY) -m pytest -n 2 --dist loadfile

test-fast: $(VENV)/done ## tests that do not run MCMC
	$(PY) -m pytest -m "not slow"

bench: $(VENV)/done ## time the engines on synthetic networks (see benchmarks/README.md)
	$(PY) benchmarks/run.py

clean: ## remove outputs/ (keeps .venv)
	rm -rf outputs
