"""Snakemake script: the plan's run files -> results/<experiment>/{runs.nc, runs.csv}."""

import os
import sys
import warnings

from dln.aggregate import aggregate

sm = snakemake  # noqa: F821 (injected by Snakemake)
sys.stderr = open(sm.log[0], "w")  # noqa: SIM115 (the log stays open for the whole job)
if os.environ.get("DLN_FIGURE_GATE") == "1":  # the tests' quality gate: a warning is an error
    warnings.simplefilter("error")
n = aggregate(
    sm.input.plan, sm.output.dataset, sm.output.table, sm.params.experiment, sm.params.config_hash
)
print(f"aggregated {n} runs of experiment {sm.params.experiment}", file=sys.stderr)
