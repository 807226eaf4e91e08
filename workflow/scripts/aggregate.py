"""Snakemake script: all run files -> results/aggregate/{runs.nc, summary.csv}."""

import sys
from pathlib import Path

from dln.aggregate import aggregate, planned_config_jsons, write_summary
from dln.grid import plan_runs
from dln.io import write_run

sm = snakemake  # noqa: F821 (injected by Snakemake)
sys.stderr = open(sm.log[0], "w")

run_ids = [str(Path(p).relative_to("results/runs").with_suffix("")) for p in sm.input]
# every run file must hold the run the config plans (not, say, one copied from another setup)
expected = planned_config_jsons(plan_runs(sm.config))
dataset, summary = aggregate(list(sm.input), run_ids, sm.params.studies, sm.params.level_tol,
                             expected=expected)
if dataset.attrs["config_hash"] != sm.params.config_hash:
    sys.exit(f"config hash {dataset.attrs['config_hash']} of the run files differs from the "
             f"plan's {sm.params.config_hash}")
write_run(dataset, sm.output.dataset)
write_summary(summary, sm.output.summary)
print(f"aggregated {len(run_ids)} runs; config hash {dataset.attrs['config_hash']}", file=sys.stderr)
