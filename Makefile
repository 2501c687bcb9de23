# nma: `make all` runs every analysis, `make test` runs every test. Both bootstrap .venv themselves.
#
# Each analysis is a target, outputs/<name>/run.json, whose prerequisites are its config, its sensitivity
# companions' configs, the evidence in data/ and the package's source: a second `make all` with nothing changed
# does nothing, a changed config reruns only that analysis, `make -j2 all` runs two side by side. A failing
# analysis is reported and the others still run (make -k); the summary at the end names the failures and
# `make all` exits non-zero. outputs/index.html and outputs/manifest.json (every analysis, its hashes, engine and
# warnings, from the run.json files) are rebuilt once, last.
.DEFAULT_GOAL := help
.SECONDEXPANSION:
.PHONY: help all check analyses test validate test-fast bench bench-jags example clean
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
#: analyses run side by side, one per core (each MCMC run samples its chains in one thread)
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
ANALYSES := $(basename $(notdir $(wildcard analyses/*.toml)))
N := $(words $(ANALYSES))
RUNS := $(ANALYSES:%=outputs/%/run.json)
PACKAGE := $(shell find nma -name '*.py' -o -name '*.html') pyproject.toml
DATA := $(wildcard data/*.csv data/*.toml)

help: ## list targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-10s %s\n", $$1, $$2}'

$(VENV)/done: pyproject.toml
	$(PYTHON) -c 'import sys; assert sys.version_info[:2] == (3, 11), "nma needs Python 3.11 (set PYTHON=python3.11)"'
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $@

outputs/check.txt: $(VENV)/done $(DATA) $(wildcard analyses/*.toml) $(PACKAGE)
	@mkdir -p outputs
	@$(PY) -m nma check data analyses > $@.tmp 2>&1 || { tail -n 3 $@.tmp; rm -f $@.tmp; echo check >> outputs/failed.txt; exit 1; }
	@mv $@.tmp $@
	@echo "evidence and every analysis's network: valid (outputs/check.txt)"

check: outputs/check.txt ## validate data/ and describe the network of every setting x outcome and every analysis
	@cat $<

# [i/N] name ... done in 1.2 s (exact); the analysis's own output goes to outputs/logs/<name>.log
outputs/%/run.json: analyses/%.toml $$(wildcard analyses/$$*_sensitivity_*.toml) $(DATA) $(PACKAGE) | $(VENV)/done
	@mkdir -p outputs/logs; i=$$(echo $(ANALYSES) | tr ' ' '\n' | grep -nx '$*' | cut -d: -f1); \
	start=$$(date +%s%N); \
	if NMA_NO_INDEX=1 $(PY) -m nma run $< --out outputs/$* > outputs/logs/$*.log 2>&1; then \
	  engine=$$($(PY) -c 'import json,sys; print(json.load(open(sys.argv[1]))["engine"])' $@); \
	  tenths=$$(( ($$(date +%s%N) - start) / 100000000 )); \
	  printf '[%s/%s] %s ... done in %d.%d s (%s)\n' $$i $(N) $* $$((tenths / 10)) $$((tenths % 10)) $$engine; \
	else \
	  printf '[%s/%s] %s ... FAILED (see outputs/logs/%s.log)\n' $$i $(N) $* $*; tail -n 3 outputs/logs/$*.log; \
	  echo $* >> outputs/failed.txt; exit 1; \
	fi

outputs/index.html: $(RUNS)
	@$(PY) -c 'from nma.reporting.report import write_index; write_index(__import__("pathlib").Path("outputs"))'
	@$(PY) -m nma manifest outputs
	@echo "outputs/index.html: $(N) analyses"

analyses: $(RUNS)

all: $(VENV)/done ## set up, validate the evidence, and run every analysis in analyses/ into outputs/<name>/
	@mkdir -p outputs; rm -f outputs/failed.txt; $(MAKE) --no-print-directory -k -j$(JOBS) outputs/check.txt analyses; \
	if [ ! -s outputs/failed.txt ]; then $(MAKE) --no-print-directory outputs/index.html; else \
	  $(PY) -c 'from nma.reporting.report import write_index; write_index(__import__("pathlib").Path("outputs"))'; \
	  $(PY) -m nma manifest outputs; fi; \
	if [ -s outputs/failed.txt ]; then echo "FAILED: $$(sort -u outputs/failed.txt | tr '\n' ' ')(see outputs/logs/)"; exit 1; fi; \
	echo "all $(N) analyses up to date; outputs/index.html"

example: $(VENV)/done ## run the example of README "Your own data": examples/own_data/ (HRs and CIs as published)
	$(PY) -m nma run examples/own_data/analysis.toml --out outputs/example

test: $(VENV)/done ## every test but the long MCMC validations, closed-form and published results included (CI runs this)
	$(PY) -m pytest -n 2 --dist worksteal -m "not validation"

validate: $(VENV)/done ## the long MCMC validations (tests marked validation), besides `make test`
	$(PY) -m pytest -m validation

test-fast: $(VENV)/done ## tests that do not run MCMC
	$(PY) -m pytest -m "not slow"

bench: $(VENV)/done ## time the engines on synthetic networks (see benchmarks/README.md)
	$(PY) benchmarks/run.py

bench-jags: $(VENV)/done ## nma against JAGS on the same networks, whole processes (needs R and JAGS; see benchmarks/README.md)
	$(PY) benchmarks/jags.py

clean: ## remove outputs/ (keeps .venv)
	rm -rf outputs
