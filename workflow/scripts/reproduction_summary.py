"""Snakemake script: runs.csv -> results/<experiment>/summary.{md,html}."""

import os
import sys
import warnings

import pandas as pd

from dln.io import write_text
from dln.reproduction import claims, to_csv, to_html, to_markdown

sm = snakemake  # noqa: F821 (injected by Snakemake)
sys.stderr = open(sm.log[0], "w")  # noqa: SIM115 (the log stays open for the whole job)
if os.environ.get("DLN_FIGURE_GATE") == "1":  # the tests' quality gate: a warning is an error
    warnings.simplefilter("error")

table = pd.read_csv(sm.input.table, index_col="run")
items = claims(table, dict(sm.params.tolerances))
write_text(to_markdown(items, sm.params.config_hash), sm.output.markdown)
write_text(to_html(items, sm.params.config_hash), sm.output.html)
write_text(to_csv(items), sm.output.claims)
for c in items:
    print(f"{c.verdict:5} {c.text}", file=sys.stderr)
