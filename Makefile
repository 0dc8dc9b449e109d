# Data Labeling Labs. `make` alone lists the targets.
#
#   make book   set up everything on a fresh machine and build the course site (the main job)
#   make test   set up everything and run the project's tests
#
# Offline: COURSE_MIRROR=<folder laid out like the mirror> make book  (see README.md).

SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PY := $(BIN)/python
export PIP_DISABLE_PIP_VERSION_CHECK := 1
# nbgrader runs `alembic` (and the tests run `jupyter-book`, `nbgrader`) from PATH: use the venv's.
export PATH := $(abspath $(BIN)):$(PATH)

.DEFAULT_GOAL := help
.PHONY: help setup setup-dev resources system-deps book test test-fast release check-release grade mutants bench lint clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/:.*## /\t/' | expand -t 16

$(BIN)/activate:
	$(PYTHON) -m venv $(VENV)

# Torch first, pinned: snorkel's unbounded `torch` would otherwise pull a multi-GB CUDA build.
$(VENV)/.installed: requirements.txt pyproject.toml | $(BIN)/activate
	$(PY) -m pip install --quiet "$$(grep -E '^torch==' requirements.txt)"
	$(PY) -m pip install --quiet -r requirements.txt
	@touch $@

$(VENV)/.installed-dev: requirements-dev.txt $(VENV)/.installed
	$(PY) -m pip install --quiet -r requirements-dev.txt
	@touch $@

setup: $(VENV)/.installed ## create .venv and install the pinned requirements
setup-dev: $(VENV)/.installed-dev ## setup, plus what the tests need

resources: setup ## fetch and verify the data set, WordNet and the spaCy model (no-op when done)
	$(PY) -m labeling_labs fetch

system-deps: ## Debian/Ubuntu packages the tests use: Chromium (browser test), bubblewrap (grading sandbox)
	@bash scripts/install-system-deps.sh

# A course with its own JupyterHub gets a JupyterHub launch button (an nbgitpuller link) on every
# chapter: `make book JUPYTERHUB_URL=https://hub.example.edu`.
BOOK_CONFIG := $(if $(JUPYTERHUB_URL),--config _build/_config.jupyterhub.yml,)

book: resources ## build the course site into _build/html (executes every chapter; cached)
ifdef JUPYTERHUB_URL
	@mkdir -p _build
	sed -e 's|^  jupyterhub_url: ""|  jupyterhub_url: "$(JUPYTERHUB_URL)"|' -e 's|: book/_ext$$|: $(CURDIR)/book/_ext|' _config.yml > _build/_config.jupyterhub.yml
endif
	$(BIN)/jupyter-book build . -W -n --keep-going $(BOOK_CONFIG)

test: setup-dev resources system-deps ## run the whole test suite (builds the book, grades fixtures)
	$(BIN)/pytest

test-fast: setup-dev resources ## the tests that take seconds, not minutes
	$(BIN)/pytest -m "not slow and not browser"

release: setup ## regenerate exercises/ from solutions/ with nbgrader
	$(PY) -m autograder.authoring.release

check-release: setup ## fail if exercises/ is not what nbgrader generates from solutions/
	$(PY) -m autograder.authoring.release --check

grade: setup ## grade every collected submission of ASSIGNMENT in the sandbox, in parallel
	$(BIN)/course-grade all $(ASSIGNMENT)

# Every solution's mutants and the hand-written wrong answers, graded: the mutation score per task and per
# assignment; fails on a survivor that tests/fixtures/equivalent-mutants/<lab>.yml does not list (for the
# assignments whose list says `enforced: true`). ARGS=... passes options, e.g. ARGS="02-transformation-functions --only q1-synonym".
mutants: setup-dev resources ## mutation analysis of the hidden tests: score per task, fails on an unlisted survivor
	$(PY) -m autograder.authoring.mutants $(ARGS)

bench: setup-dev resources system-deps ## print build, execution and grading figures
	$(PY) scripts/bench_book.py
	$(PY) scripts/bench_grading.py

lint: setup-dev ## ruff and codespell
	$(BIN)/ruff check labeling_labs autograder tests scripts solutions
	$(BIN)/codespell README.md book labeling_labs autograder

clean: ## remove the built site and the execution cache (keeps .venv and data)
	rm -rf _build
