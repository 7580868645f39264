# dipnb — the two commands a newcomer needs are `make test` and `make report`.
# Everything runs from a project-local virtual environment (.venv), created on first use.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
IP ?= 127.0.0.1
PORT ?= 8888
# The ci profile is tiny and pins one torch thread (measured fastest on 2 shared cores: see README).
TEST_ENV := DIPNB_PROFILE=ci DIPNB_THREADS=1 OMP_NUM_THREADS=1 DIPNB_FIGURES=$(CURDIR)/test-artifacts/figures
PYTEST_ARGS ?=
# Jupyter refuses to run as root unless told; containers and CI machines run as root.
ROOT_FLAG := $(if $(filter 0,$(shell id -u)),--allow-root)

.PHONY: help venv test test-fast test-unit test-notebooks lint-imports report lab data strip check-notebooks hooks clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/:.*## /\t/' | expand -t 18

venv: $(VENV)/.installed  ## create .venv and install dipnb with its pinned dependencies

$(VENV)/.installed: pyproject.toml requirements.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --disable-pip-version-check -c requirements.txt -e '.[dev]'
	@touch $@

test: venv lint-imports  ## the layers contract, unit tests of dipnb + every notebook under nbval (ci profile)
	$(TEST_ENV) $(PY) -m pytest tests notebooks --nbval-lax --nbval-current-env --nbval-cell-timeout=900 $(PYTEST_ARGS)

test-fast: venv lint-imports  ## the edit-test loop: unit tests without the slow and browser ones (under a minute)
	$(TEST_ENV) $(PY) -m pytest tests -m "not slow and not browser" -q $(PYTEST_ARGS)

lint-imports: venv  ## check the import layers of dipnb (.importlinter): no cycle, no upward import
	$(VENV)/bin/lint-imports

test-unit: venv  ## only the unit tests
	$(TEST_ENV) $(PY) -m pytest tests $(PYTEST_ARGS)

test-notebooks: venv  ## only the notebooks under nbval
	$(TEST_ENV) $(PY) -m pytest notebooks --nbval-lax --nbval-current-env --nbval-cell-timeout=900 $(PYTEST_ARGS)

report: venv  ## execute every notebook offline and write report/index.html
	$(PY) -m dipnb.report --out report

lab: venv  ## JupyterLab on the workbook (loopback only; IP=0.0.0.0 to expose, PORT=...)
	$(PY) -m jupyter lab --no-browser --ServerApp.ip=$(IP) --ServerApp.port=$(PORT) --ServerApp.root_dir=$(CURDIR) $(ROOT_FLAG) notebooks/00_getting_started.ipynb

data: venv  ## download the real datasets (facades) into data/
	$(PY) -m dipnb.data download facades

strip: venv  ## remove outputs and execution counts from every notebook (run before committing)
	$(PY) -m nbstripout --keep-id notebooks/*.ipynb

check-notebooks: venv  ## fail naming any notebook that holds outputs or execution counts
	$(PY) -m pytest -q tests/test_notebooks_clean.py

hooks: venv  ## install the git filter that strips notebook outputs on commit
	$(PY) -m nbstripout --install --attributes .gitattributes

clean:  ## remove the report and caches (keeps .venv, data/ and figures/)
	rm -rf report .pytest_cache test-artifacts
