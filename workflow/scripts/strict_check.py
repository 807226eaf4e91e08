"""Snakemake script: fail the workflow when a claim of summary.md failed and strict mode is on."""

import sys

sm = snakemake  # noqa: F821 (injected by Snakemake)
with open(sm.input[0]) as summary:
    failed = [line for line in summary if line.rstrip().endswith("**FAIL**")]
with open(sm.log[0], "w") as log:
    for line in failed:
        print(line.rstrip(), file=log)
    if failed and sm.params.strict:
        print(f"strict mode: {len(failed)} claim(s) failed, see results/summary.md", file=log)
        sys.exit(f"strict mode: {len(failed)} claim(s) of results/summary.md failed")
