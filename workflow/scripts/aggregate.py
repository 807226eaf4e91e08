"""Snakemake script: all run files -> results/aggregate/{runs.nc, summary.csv}."""

import sys
from pathlib import Path

from dln.aggregate import aggregate, write_summary
from dln.io import write_run

sm = snakemake  # noqa: F821 (injected by Snakemake)
sys.stderr = open(sm.log[0], "w")

run_ids = [str(Path(p).relative_to("results/runs").with_suffix("")) for p in sm.input]
dataset, summary = aggregate(list(sm.input), run_ids, sm.params.studies, sm.params.level_tol)
write_run(dataset, sm.output.dataset)
write_summary(summary, sm.output.summary)
print(f"aggregated {len(run_ids)} runs; config hash {dataset.attrs['config_hash']}", file=sys.stderr)
