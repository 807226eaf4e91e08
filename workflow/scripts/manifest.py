"""Snakemake script: the plan's run files -> results/<experiment>/manifest.csv (their digests)."""

import sys

from dln.data.io import job_log
from dln.data.manifest import write_manifest

sm = snakemake  # noqa: F821 (injected by Snakemake)
job_log(sm)
n = write_manifest(sm.input.plan, sm.output[0])
print(f"manifest of {n} runs: {sm.output[0]}", file=sys.stderr)
