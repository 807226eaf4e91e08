# Two commands do everything on a fresh machine with Python 3.11+ and pip:
#   make reproduce   build .venv if needed, rebuild every figure and the report
#   make test        build .venv if needed, run the test suite
# Other targets: make lint, make format-check, make bench, make clean, make lock (regenerate
# requirements-lock.txt), make refresh-docs (update the tracked figures, manifest and README
# result block from the workflow's outputs). CORES=N limits the cores used. Another experiment:
# CONFIG=overlay.yaml (merged over config.yaml) and/or EXPERIMENT=name (results/<name>/).

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

.PHONY: reproduce refresh-docs test lint format-check bench clean env lock

env: $(VENV)/.installed

# Rebuilt when the pins, the lock or the C code (GD kernel, the laws' flows) change. Debian's
# system Python may lack the venv module (package python3-venv); virtualenv from pip is the
# fallback. The whole environment comes from the lock (every package pinned with its hashes, from
# PyPI), then dln itself without dependencies; each run file records the lock's digest.
LOCK := requirements-lock.txt
$(VENV)/.installed: pyproject.toml $(LOCK) workflow/dln/solve/_kernel.c workflow/dln/model/_ode.c
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

CONFIG ?=
EXPERIMENT ?=
# the experiment's name: EXPERIMENT, else the overlay's `experiment:`, else config.yaml's
EXP := $(or $(EXPERIMENT),$(firstword $(shell sed -n 's/^experiment: *\([A-Za-z0-9_.-]*\).*/\1/p' $(CONFIG) config.yaml)))
SNAKE_CONFIG := $(if $(CONFIG),--configfile $(CONFIG)) $(if $(EXPERIMENT),--config experiment=$(EXPERIMENT))

# Tracked files stay as they are: a fresh output that differs from its tracked version (README
# figures, manifest.csv, README.md's result block) is named, kept as <name>.new.<ext>, and the
# target fails (dln/cli/tracked.py); `make refresh-docs` then takes the new versions on purpose.
reproduce: env
	python -m dln.cli.tracked save $(EXP)
	{ $(LOCAL) snakemake --workflow-profile workflow/profiles/default --cores $(CORES) $(SNAKE_CONFIG) && \
	  $(LOCAL) snakemake $(SNAKE_CONFIG) --report results/$(EXP)/report.html; }; status=$$?; \
	  python -m dln.cli.tracked check $(EXP) || status=1; exit $$status
	@echo "page: results/$(EXP)/index.html   figures: results/$(EXP)/figures/   report: results/$(EXP)/report.html   table: results/$(EXP)/runs.csv"

# Update the tracked outputs (figures, manifest.csv, README.md's result block: dln.analysis.readme)
# from a run of the default experiment: after a change that is meant to change them (the lead's
# regeneration step).
refresh-docs: env
	python -m dln.cli.tracked save paper
	$(LOCAL) snakemake --workflow-profile workflow/profiles/default --cores $(CORES)
	python -m dln.cli.tracked check paper || true
	python -m dln.cli.tracked refresh paper

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
	rm -rf results/runs results/logs results/$(EXP) .snakemake
