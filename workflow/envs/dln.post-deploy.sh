#!/usr/bin/env bash
# Run by Snakemake (--sdm conda) after creating the rules' environment: install this
# repository's dln package into it. Snakemake runs it from the workflow's working directory,
# which is the repository root in the documented usage.
set -euo pipefail
python -m pip install --no-deps --no-build-isolation -e .
