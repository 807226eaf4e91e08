# Two commands do everything on a fresh machine with Python 3.11+ and pip:
#   make reproduce   build .venv if needed, rebuild every figure and the report
#   make test        build .venv if needed, run the test suite
# Other targets: make lint, make format-check, make bench, make clean, make lock (regenerate
# requirements-lock.txt). CORES=N limits the cores used.

VENV ?= .venv
PYTHON ?= python3
CORES ?= all
BIN := $(abspath $(VENV))/bin
# jobs call `dln run`, so the venv must come first on PATH
export PATH := $(BIN):$(PATH)
# Local runs read no Slurm config: every Snakemake start imports the Slurm executor plugin,
# which runs `scontrol show config` on import, ~9 s where Slurm's clients are installed but no
# controller answers (docs/slurm.md, "Start-up cost"). With an empty config scontrol fails at once.
LOCAL := SLURM_CONF=/dev/null

.PHONY: reproduce test lint format-check bench clean env lock

env: $(VENV)/.installed

# Rebuilt when the pins, the lock or the C kernel change. Debian's system Python may lack the
# venv module (package python3-venv); virtualenv from pip is the fallback. The whole environment
# comes from the lock (every package pinned with its hashes, from PyPI), then dln itself without
# dependencies; each run file records the lock's digest.
LOCK := requirements-lock.txt
$(VENV)/.installed: pyproject.toml $(LOCK) workflow/dln/solve/_kernel.c
	$(PYTHON) -m venv $(VENV) || { $(PYTHON) -m pip install --user --quiet virtualenv && $(PYTHON) -m virtualenv $(VENV); }
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet --require-hashes -r $(LOCK)
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $@

# Regenerate the lock after a pin changes in pyproject.toml (and environment.yml), with pip-tools
# in a venv of its own (it is not part of the environment): Python 3.11, packages from PyPI.
lock:
	$(PYTHON) -m venv .venv-lock && .venv-lock/bin/python -m pip install --quiet pip-tools==7.5.1
	.venv-lock/bin/pip-compile --quiet --generate-hashes --extra dev --strip-extras --allow-unsafe \
	  --no-emit-index-url --no-emit-find-links -o $(LOCK) pyproject.toml

EXPERIMENT ?= paper

reproduce: env
	$(LOCAL) snakemake --workflow-profile workflow/profiles/default --cores $(CORES)
	$(LOCAL) snakemake --report results/$(EXPERIMENT)/report.html
	python -c "from dln.analysis.claims import refresh_readme; refresh_readme('README.md', 'results/$(EXPERIMENT)/summary.md')"
	@echo "figures: results/$(EXPERIMENT)/figures/   report: results/$(EXPERIMENT)/report.html   table: results/$(EXPERIMENT)/runs.csv"

test: env
	pytest

lint: env
	ruff check .
	ruff format --check .
	$(LOCAL) snakemake --lint
	snakefmt --check .

format-check: env
	ruff format --check .

bench: env
	python bench/bench_kernel.py
	$(LOCAL) python bench/bench_workflow.py
	$(LOCAL) python bench/bench_scale.py

clean:
	rm -rf results/runs results/logs results/$(EXPERIMENT) .snakemake
