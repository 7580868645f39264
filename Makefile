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
# Your workspace (`make start`): the student edition copied once, never regenerated. NOTEBOOKS=work makes
# `make report` and `make lab` use it instead of the solutions in notebooks/.
DEST ?= work
NOTEBOOKS ?=

.PHONY: help venv test test-fast test-unit test-notebooks lint-imports report lab data strip check-notebooks hooks clean assignment grade start

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

report: venv  ## the workbook as an offline book (report/index.html) + Markdown (report/markdown/REPORT.md); cached. NOTEBOOKS=work: your workspace's, into work/report/
ifeq ($(NOTEBOOKS),)
	$(PY) -m dipnb.report --out report
else
	DIPNB_FIGURES=$${DIPNB_FIGURES:-$(abspath $(NOTEBOOKS))/report/figures} \
		$(PY) -m dipnb.report --out $(NOTEBOOKS)/report $(sort $(wildcard $(NOTEBOOKS)/[0-9][0-9]_*.ipynb))
endif

assignment: venv  ## the student edition (dist/assignment/student/), the release to hand out (dist/assignment/release.zip) and the autograder
	$(PY) -m dipnb.assignment build

start: assignment  ## your workspace: copies the student edition into DEST=work/ (a notebook already there is never overwritten)
	$(PY) -m dipnb.assignment start --dest "$(DEST)"

grade: venv  ## grade a class, SUBMISSIONS=DIR (a folder or .zip per student), or one student, SUBMISSION=DIR: grades.csv, summary.csv, feedback/
	@test -n "$(SUBMISSIONS)$(SUBMISSION)" || { echo "usage: make grade SUBMISSIONS=DIR (one folder or .zip per student) | SUBMISSION=DIR (one student)   [GRADE_ARGS=\"--timeout S --jobs N\"]"; exit 2; }
	DIPNB_PROFILE=$${DIPNB_PROFILE:-ci} DIPNB_THREADS=$${DIPNB_THREADS:-1} OMP_NUM_THREADS=$${OMP_NUM_THREADS:-1} \
		$(PY) -m dipnb.assignment grade $(if $(SUBMISSIONS),--class "$(SUBMISSIONS)","$(SUBMISSION)") $(GRADE_ARGS)

lab: venv  ## JupyterLab opened at notebook 00 (loopback; IP=0.0.0.0 to expose, PORT=..., OPEN=1 opens a browser; NOTEBOOKS=work: your workspace's 00)
	$(PY) -m dipnb.lab --ip $(IP) --port $(PORT) $(if $(OPEN),--open) $(if $(NOTEBOOKS),--notebooks $(NOTEBOOKS))

data: venv  ## download facades and the course's Poisson pairs into data/ (DATASET=maps etc.: one pix2pix dataset)
	$(PY) -m dipnb.data download $(if $(DATASET),$(DATASET),facades course_poisson)

strip: venv  ## remove outputs and execution counts from every notebook (run before committing)
	$(PY) -m nbstripout --keep-id notebooks/*.ipynb

check-notebooks: venv  ## fail naming any notebook that holds outputs or execution counts
	$(PY) -m pytest -q tests/test_notebooks_clean.py

hooks: venv  ## install the git filter that strips notebook outputs on commit
	$(PY) -m nbstripout --install --attributes .gitattributes

clean:  ## remove the report (with its execution cache), dist/ and test caches (keeps .venv, data/, figures/, your work/); stops naming any notebook someone edited in dist/
	$(PYTHON) dipnb/assignment/workspace.py check dist/assignment/student dist/assignment/release
	rm -rf report .pytest_cache test-artifacts dist/assignment/build dist/assignment/autograder \
		dist/assignment/student dist/assignment/release dist/assignment/release.zip
	@if [ -d dist/assignment/kept ]; then echo "kept: dist/assignment/kept/ (copies of notebooks edited in dist/; move them, then rm -r it)"; \
		else rm -rf dist; fi
