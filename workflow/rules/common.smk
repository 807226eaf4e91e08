# Config loading and validation, and the run plan shared by all stages.
import os
import sys
from pathlib import Path

from snakemake.utils import validate

# Jobs import the dln package from this repository, whatever is installed elsewhere.
PACKAGE_DIR = str(Path(workflow.basedir) / "workflow")
sys.path.insert(0, PACKAGE_DIR)
os.environ["PYTHONPATH"] = os.pathsep.join(
    p for p in (PACKAGE_DIR, os.environ.get("PYTHONPATH")) if p
)

from dln.configcheck import check_workflow_config  # noqa: E402
from dln.run import source_fingerprint  # noqa: E402

check_workflow_config(config, "workflow/schemas/config.schema.yaml", validate)

from dln.grid import plan_runs  # noqa: E402

RUNS = plan_runs(config)
CODE_FINGERPRINT = source_fingerprint()


def run_files(study=None):
    return [
        f"results/runs/{rid}.nc"
        for rid, run in RUNS.items()
        if study is None or study in run.studies
    ]


wildcard_constraints:
    run=r"g[df]/[^/]+/k\d+/lr[^/]+_seed\d+",
