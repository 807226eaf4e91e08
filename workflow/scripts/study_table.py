"""Snakemake script: one study's run files -> results/<experiment>/tables/<study>.csv."""

import sys

from dln.aggregate import study_table
from dln.io import job_log

sm = snakemake  # noqa: F821 (injected by Snakemake)
job_log(sm)
n = study_table(list(sm.input.runs), sm.output[0], sm.wildcards.study, sm.params.levels)
print(f"{n} runs of study {sm.wildcards.study}", file=sys.stderr)
