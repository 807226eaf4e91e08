"""Snakemake script: the resolved config -> results/<experiment>/config.yaml (atomically)."""

from dln.data.io import job_log, write_text

sm = snakemake  # noqa: F821 (injected by Snakemake)
job_log(sm)
write_text(sm.params.text, sm.output[0])
