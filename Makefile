# Two commands for a fresh machine: `make run` (the demo pipeline) and `make test`.
# The virtual environment (about 6 GB, torch included) lives outside the clone, keyed by the
# hash of the pinned requirements, so every clone and CI run on this machine reuses it.
SHELL := /bin/bash
PYTHON ?= python3
ENV_HASH := $(shell cat requirements.txt requirements.lock | sha256sum | cut -c1-16)
VENV_ROOT ?= $(or $(POSEPIPE_VENV_ROOT),$(HOME)/.cache/posepipe)
VENV := $(VENV_ROOT)/venv-$(ENV_HASH)
CORES ?= $(shell nproc)
TARGET ?= all
PYTEST_ARGS ?=

.PHONY: run test test-fast venv lint bench

# Built once per set of pins and shared (workflow/posepipe/infra/shared_env.py): under a lock, into a
# folder of its own, published by a symlink only when complete and checked, so that two clones,
# CI and a Slurm job may start at once. No file prerequisites: the folder name holds the hash of
# the pins, and a fresh clone's files are always newer than an environment another clone built.
venv:
	@$(PYTHON) workflow/posepipe/infra/shared_env.py $(VENV) -- bash -c '$(PYTHON) -m venv "$$0" && \
		"$$0/bin/pip" install --quiet --disable-pip-version-check -r requirements.txt -c requirements.lock && \
		"$$0/bin/python" -c "import snakemake, torch, onnxruntime, importlib.util as u; assert u.find_spec(\"ultralytics\")"' {}
	@ln -sfn $(VENV) .venv

run: venv
	$(VENV)/bin/snakemake $(TARGET) --cores $(CORES)

# A worker per core (pytest-xdist); the tests that share a costly session fixture (a trained
# and quantized model) run on one worker, so it is built once (tests/conftest.py, SHARED_BUILDS).
# pytest exits 5 when it collects no test (e.g. a -k that matches nothing): say so, exit 0.
test: venv
	$(VENV)/bin/pytest -n auto --dist loadscope $(PYTEST_ARGS) || { rc=$$?; [ $$rc -eq 5 ] && echo "pytest: no tests collected"; [ $$rc -eq 5 ]; }

# Everything but the tests that train or run TPU-MLIR (pytest marker `slow`, tests/conftest.py),
# a test file per core at a time (pytest-xdist): they are mostly Snakemake runs of a few seconds.
test-fast: venv
	$(VENV)/bin/pytest -m "not slow" -n auto --dist loadfile $(PYTEST_ARGS)

lint: venv
	$(VENV)/bin/ruff check workflow tests bench
	$(VENV)/bin/snakefmt --check workflow/Snakefile workflow/rules
	$(VENV)/bin/snakemake --lint

bench: venv
	$(VENV)/bin/python bench/convert_speed.py
