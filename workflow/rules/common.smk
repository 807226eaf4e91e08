# Config loading and validation, and the run plan shared by all stages.
import sys
from pathlib import Path

from snakemake.exceptions import WorkflowError
from snakemake.utils import validate

# The workflow plans with this repository's dln; jobs run the installed one (pip install -e .),
# and the simulate rule checks that the two have the same numerics (--expect-code).
sys.path.insert(0, str(Path(workflow.basedir) / "workflow"))

from dln.configcheck import check_config_files, check_workflow_config  # noqa: E402
from dln.problem import ConfigError  # noqa: E402

# A bad config stops here, before any job, with one line naming the key, the value and what is
# allowed (a WorkflowError prints without a Python traceback). The heavier imports come after.
try:
    check_config_files(workflow.configfiles)
    check_workflow_config(
        config,
        str(Path(workflow.basedir) / "workflow/schemas/config.schema.yaml"),
        validate,
    )
    from dln.grid import plan_runs

    RUNS = plan_runs(config)
except ConfigError as err:
    msg = str(err)
    raise WorkflowError(
        msg if msg.startswith("config error") else f"config error: {msg}"
    ) from None

from dln.aggregate import config_hash, planned_config_jsons  # noqa: E402
from dln.run import source_fingerprint  # noqa: E402

CODE_FINGERPRINT = source_fingerprint()
# the aggregate's config_hash, known before it is built: the report shows it (aggregate rule)
CONFIG_HASH = config_hash(planned_config_jsons(RUNS).values())
# code that later stages import: a change reruns them (Snakemake tracks only the script itself)
ANALYSIS_CODE = source_fingerprint(
    ("analysis.py", "aggregate.py", "theory.py", "io.py")
)
PLOTTING_CODE = source_fingerprint(
    ("plotting.py", "analysis.py", "theory.py", "problem.py")
)
REPRODUCTION_CODE = source_fingerprint(("reproduction.py",))


def run_files():
    return [f"results/runs/{rid}.nc" for rid in RUNS]


wildcard_constraints:
    run=r"g[df]/.+?/lr[^/]+_seed\d+",


# Figures: one script each (workflow/scripts/figures), a PDF and a PNG with a report caption.
FIGURE_NAMES = [
    "fig1_loss_by_k",
    "fig2_rate_stages",
    "fig3_alignments",
    "fig4_stuck_vs_lr",
    "fig5_gd_vs_flow",
    "fig6_escape_model",
    "fig7_precision",
    "fig8_gaussian",
    "fig9_depth",
    "fig10_rates",
]
FIGURES = expand("results/figures/{name}.{ext}", name=FIGURE_NAMES, ext=["pdf", "png"])
AGGREGATE = {
    "dataset": "results/aggregate/runs.nc",
    "summary": "results/aggregate/summary.csv",
}


def figure_output(name):
    from dln.report_entries import figure_report_args

    # report labels, until the figure registry holds them; fig6-fig10 go beyond the paper
    titles = {
        "fig1_loss_by_k": "Where GD goes from a start aimed at saddle k",
        "fig2_rate_stages": "The convergence rate by stage",
        "fig3_alignments": "Which saddle is visited and when it is left",
        "fig4_stuck_vs_lr": "Stuck time against the step size",
        "fig5_gd_vs_flow": "GD against gradient flow",
        "fig6_escape_model": "Stuck time against the escape model",
        "fig7_precision": "float32 against float64",
        "fig8_gaussian": "Unbalanced Gaussian starts",
        "fig9_depth": "Stuck time against depth",
        "fig10_rates": "Rates by stage, every run",
    }
    number = FIGURE_NAMES.index(name) + 1
    return {
        "pdf": f"results/figures/{name}.pdf",
        "png": report(
            f"results/figures/{name}.png",
            caption=f"../report/{name}.rst",
            **figure_report_args(name, number, titles[name], beyond_paper=number > 5),
        ),
    }
