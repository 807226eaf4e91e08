"""Snakemake script: runs.csv -> results/<experiment>/claims.csv, and summary.{md,html} rendered
from that table (so the three say the same)."""

import sys

import pandas as pd

from dln.analysis.claims import claims, from_csv, to_csv, to_html, to_markdown
from dln.data.io import job_log, write_text

sm = snakemake  # noqa: F821 (injected by Snakemake)
job_log(sm)

table = pd.read_csv(sm.input.table, index_col="run")
text = to_csv(claims(table, dict(sm.params.tolerances)))
write_text(text, sm.output.claims)
items = from_csv(text)
write_text(to_markdown(items, sm.params.config_hash), sm.output.markdown)
write_text(to_html(items, sm.params.config_hash), sm.output.html)
for c in items:
    print(f"{c.verdict:5} {c.text}", file=sys.stderr)
