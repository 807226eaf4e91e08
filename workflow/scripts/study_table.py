"""Snakemake script: one study's run files -> results/<experiment>/tables/<study>.csv."""

import sys

from dln.data.aggregate import study_table
from dln.data.io import job_log

sm = snakemake  # noqa: F821 (injected by Snakemake)
job_log(sm)
n = study_table(list(sm.params.runs), sm.output[0], sm.wildcards.study, sm.params.levels)
print(f"{n} runs of study {sm.wildcards.study}", file=sys.stderr)
