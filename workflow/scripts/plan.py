"""Snakemake script: the run plan as data, results/<experiment>/plan.csv (one row per run).

It plans again from the workflow's config (0.1 s for the paper's runs, ~2 s for 10^4) and
refuses to write a plan whose digest differs from the one the workflow's DAG was built from.
"""

import sys
from pathlib import Path

from dln.plan.runplan import plan_digest, plan_runs, write_plan

sm = snakemake  # noqa: F821 (injected by Snakemake)
runs = plan_runs(sm.config)
digest = plan_digest(runs)
if digest != sm.params.digest:
    sys.exit(
        f"plan: the job planned {len(runs)} runs with digest {digest}, the workflow "
        f"{sm.params.digest}: dln/plan.py or the config changed after the workflow started; rerun"
    )
write_plan(runs, sm.output[0], sm.params.batches)
Path(sm.log[0]).write_text(f"{len(runs)} runs planned, digest {digest}\n")
