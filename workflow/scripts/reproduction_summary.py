"""Snakemake script: summary.csv + runs.nc -> results/summary.{md,html}."""

import sys

import pandas as pd
import xarray as xr

from dln.io import write_text
from dln.reproduction import claims, to_html, to_markdown

sm = snakemake  # noqa: F821 (injected by Snakemake)
sys.stderr = open(sm.log[0], "w")

table = pd.read_csv(sm.input.summary, index_col="run")
with xr.open_dataset(sm.input.dataset, engine="netcdf4") as ds:
    levels = ds["critical_level"].values
    config_hash = ds.attrs["config_hash"]
items = claims(table, levels, dict(sm.params.tolerances))
write_text(to_markdown(items, config_hash), sm.output.markdown)
write_text(to_html(items, config_hash), sm.output.html)
for c in items:
    print(f"{c.verdict:5} {c.text}", file=sys.stderr)
