"""Snakemake script: fail the workflow when a claim failed (claims.csv) and strict mode is on."""

import sys

from dln.analysis.claims import failed_claims

sm = snakemake  # noqa: F821 (injected by Snakemake)
failed = failed_claims(sm.input.claims)
with open(sm.log[0], "w") as log:
    for row in failed:
        print(f"FAIL  {row['section']}: {row['claim']}", file=log)
    if failed and sm.params.strict:
        print(f"strict mode: {len(failed)} claim(s) failed, see {sm.input.claims}", file=log)
        sys.exit(f"strict mode: {len(failed)} claim(s) of {sm.input.claims} failed")
