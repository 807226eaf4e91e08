"""Snakemake script: the plan's run files -> results/<experiment>/{runs.nc, runs.csv}."""

import sys

from dln.data.aggregate import aggregate
from dln.data.io import job_log

sm = snakemake  # noqa: F821 (injected by Snakemake)
job_log(sm)
n = aggregate(
    sm.input.plan,
    sm.output.dataset,
    sm.output.table,
    sm.params.experiment,
    sm.params.config_hash,
    workers=sm.threads,
)
print(f"aggregated {n} runs of experiment {sm.params.experiment}", file=sys.stderr)
