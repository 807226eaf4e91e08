# Config check, the run plan and the figure registry: everything the rules share.
import os
import sys
from pathlib import Path

import yaml
from snakemake.exceptions import WorkflowError

# The workflow plans with this repository's dln; jobs run the installed one (pip install -e .),
# and the simulate rule checks that the two have the same numerics (--expect-code).
sys.path.insert(0, str(Path(workflow.basedir) / "workflow"))

from dln.plan.configcheck import (  # noqa: E402
    check_config_files,
    check_experiment,
    check_experiment_name,
    check_workflow_config,
    config_copy_text,
    normalize_axes,
)
from dln.model.problem import ConfigError  # noqa: E402

# A bad config stops here, before any job, with one line naming the key, the value and what is
# allowed (a WorkflowError prints without a Python traceback).
# An experiment is its config: results/<experiment>/config.yaml (rule experiment_config) holds
# it, and another config under the same name is refused unless --config overwrite=true.
OVERWRITE = config.pop("overwrite", False)
# (--config passes text)
OVERWRITE = {"true": True, "false": False}.get(str(OVERWRITE).lower(), OVERWRITE)
try:
    if not isinstance(OVERWRITE, bool):
        raise ConfigError(
            f"overwrite = {OVERWRITE!r} is not allowed (allowed: true or false, e.g. "
            f"--config overwrite=true)"
        )
    check_config_files(workflow.configfiles)
    config.setdefault("experiment", "paper")
    from dln.plan.runplan import STUDIES, plan_digest, plan_runs, select

    normalize_axes(config, STUDIES)  # a scalar axis (lr: 1.0e-3) is a one-element list
    check_workflow_config(
        config, str(Path(workflow.basedir) / "workflow/schemas/config.schema.yaml")
    )
    check_experiment_name(config["experiment"])
    check_experiment(config, f"results/{config['experiment']}/config.yaml", OVERWRITE)
    from dln.plan.runplan import (
        DEFAULT_BATCHES,
        batch_resources,
        plan_batches,
        members_file,
        sync_plan_files,
    )

    RUNS = plan_runs(config)
except ConfigError as err:
    msg = str(err)
    raise WorkflowError(
        msg if msg.startswith("config error") else f"config error: {msg}"
    ) from None

from dln.plan.registry import (  # noqa: E402
    DATA_CATEGORY,
    FIGURES_CATEGORY,
    SUMMARY_CATEGORY,
    figure_report_args,
)
from dln.plan.batchstate import batch_state  # noqa: E402
from dln.solve.run import source_fingerprint  # noqa: E402
from dln import __version__ as dln_version  # noqa: E402

EXPERIMENT = config["experiment"]
OUT = f"results/{EXPERIMENT}"  # this experiment's aggregate, figures, summary, report
PLAN_DIGEST = plan_digest(RUNS)
# Simulation jobs: one per batch of runs (workflow/rules/simulate.smk); the DAG holds batches,
# each leaving a manifest, not one job per run file.
N_BATCHES = config.get("batches", DEFAULT_BATCHES)
BATCHES = plan_batches(RUNS, N_BATCHES)
BATCH_DIR = f"{OUT}/batches"


def batch_manifest(name):
    return f"{BATCH_DIR}/{name}.tsv"


def batch_members(wildcards):
    return members_file(OUT, wildcards.batch, BATCHES[wildcards.batch])


# The plan (plan.csv) and each batch's members file, written here (only what is new) rather
# than by a job: a job upstream of the batches that reruns (a new seed) would rerun them all,
# or, with ancient(), keep Snakemake from checking their own reasons (it masks the jobs
# downstream of a rerun job). So the plan is on disk before any job, and a batch's input (its
# members file, named by its runs) is newer than its manifest exactly when its runs are new.
try:
    sync_plan_files(RUNS, OUT, N_BATCHES)
except OSError as err:  # read-only or full results/: one line, before any job
    raise WorkflowError(
        f"{OUT}: cannot write the plan ({err.strerror or err}: {err.filename}); is the "
        f"directory writable and the disk not full?"
    ) from None


# code a run file depends on (simulation and its analysis): an edit reruns the simulations
CODE_FINGERPRINT = source_fingerprint()
# forcing jobs (the command the check below recommends), or a job Snakemake started on a node
# (the submitting Snakemake checked already): read from sys.argv, parsed before the DAG
# settings exist
FORCING = any(
    a.split("=")[0] in ("-R", "--forcerun", "-F", "--forceall", "--target-jobs")
    for a in sys.argv
)
# What the finished batches left (one read per manifest, one stat per run): the run files
# changed since, and the settled runs (dln.plan.batchstate).
BATCH_STATE = batch_state([batch_manifest(b) for b in BATCHES], CODE_FINGERPRINT)


def batch_manifests(runs):
    """Manifests of the batches that hold these runs, what a job reading their files waits
    for. A manifest is ancient() when all these runs in its batch are settled (computed by
    the current code, files unchanged): a batch rerunning for another run then does not rerun
    the reader. The paths stay the same either way (Snakemake reruns a job whose set of
    inputs changed); a reader's own changes reach it through its spec (rule spec)."""
    pending = {r.batch(N_BATCHES) for r in runs if r.run_id not in BATCH_STATE.settled}
    return [
        batch_manifest(b) if b in pending else ancient(batch_manifest(b))
        for b in sorted({r.batch(N_BATCHES) for r in runs})
    ]


def check_batches_have_their_runs():
    """Snakemake sees only the batches' manifests, so a run file deleted or changed by hand
    after its batch finished would go unnoticed. Say so before any job, with the command
    that reruns those batches (they recompute just those files; deleting the manifest would
    not do: Snakemake does not rebuild a missing intermediate file whose consumers are up to
    date). Skipped when forcing jobs (the recommended command)."""
    stale = BATCH_STATE.changed
    if stale:
        example = next(iter(stale.values()))[0]
        raise WorkflowError(
            f"run files of {len(stale)} finished batches are missing or changed since (e.g. "
            f"{example}); recompute just those files with: snakemake --forcerun "
            f"{' '.join(stale)}"
        )


if not FORCING:
    check_batches_have_their_runs()
# code that later stages import: a change reruns them (Snakemake tracks only the script itself)
AGGREGATE_CODE = source_fingerprint(
    ("data/aggregate.py", "data/columns.py", "data/io.py", "data/checksum.py")
)
MANIFEST_CODE = source_fingerprint(
    ("data/manifest.py", "data/aggregate.py", "data/io.py")
)
PLOTTING_CODE = source_fingerprint(
    (
        "figures/plotting.py",
        "figures/figcheck.py",
        "data/io.py",
        "data/checksum.py",
        "model/theory.py",
        "model/problem.py",
        "analysis/stages.py",
    )
)
REPRODUCTION_CODE = source_fingerprint(
    ("analysis/claims.py", "analysis/calibrate_escape.py")
)
CONFIG_COPY = config_copy_text(
    config, f"dln {dln_version}, numerics {CODE_FINGERPRINT}"
)

FIGURE_REGISTRY = yaml.safe_load(
    (Path(workflow.basedir) / "workflow/figures.yaml").read_text()
)
FIGURE_NAMES = list(FIGURE_REGISTRY)


def check_figure_tables(registry):
    """Each figure's `tables` names known studies (or all) and its width is a paper's: a typo
    fails here, not in a job."""
    for name, entry in registry.items():
        tables = entry.get("tables", [])
        if tables != "all" and not set(tables) <= set(STUDIES):
            raise WorkflowError(
                f"workflow/figures.yaml: {name}.tables = {tables!r}; allowed: all, or a "
                f"list of the studies {', '.join(STUDIES)}"
            )
        if entry.get("width") not in (3.25, 6.75):
            raise WorkflowError(
                f"workflow/figures.yaml: {name}.width = {entry.get('width')!r}; allowed: "
                "6.75 (full width) or 3.25 (one column)"
            )


check_figure_tables(FIGURE_REGISTRY)


def figure_drawn(entry):
    """Whether the plan has runs of the figure's studies (its `tables`, else its first run
    selector's study): a switched-off study's figure is not built, nor listed in the report.
    """
    tables = entry.get("tables")
    if tables == "all":
        return bool(RUNS)
    studies = tables or [s["study"] for s in entry.get("runs", [])[:1]]
    return any(select(RUNS, study=study) for study in studies)


# the figures this config builds, in registry order
DRAWN_FIGURES = [n for n in FIGURE_NAMES if figure_drawn(FIGURE_REGISTRY[n])]
FIGURES = expand(
    f"{OUT}/figures/{{name}}.{{ext}}", name=DRAWN_FIGURES, ext=["pdf", "png"]
)
TABLE = f"{OUT}/runs.csv"


wildcard_constraints:
    run=r"g[df]-[^/]+/[^/]+/[^/]+",
    figure="|".join(FIGURE_NAMES),
    study="|".join(STUDIES),
    batch=r"b\d+",


def figure_runs(name):
    """Run files a figure draws: the union of its registry selectors over the plan."""
    paths = []
    for selector in FIGURE_REGISTRY[name].get("runs", []):
        selector = dict(selector)
        if selector.get("seed") == "main_seed":
            selector["seed"] = config["figures"]["main_seed"]
        for run in select(RUNS, **selector):
            if run.path not in paths:
                paths.append(run.path)
    return sorted(paths)


def figure_inputs(wildcards):
    """Run files and tables a figure draws: its study tables, or the whole table for `all`."""
    entry = FIGURE_REGISTRY[wildcards.figure]
    runs = figure_runs(wildcards.figure)  # (the figure reads them: params.runs)
    inputs = {
        "batches": batch_manifests([RUNS[r[len("results/runs/") : -3]] for r in runs]),
        "spec": job_spec_file("figure", wildcards.figure),
    }
    tables = entry.get("tables")
    if tables == "all":
        inputs["table"] = TABLE
    elif tables:
        inputs["tables"] = [f"{OUT}/tables/{study}.csv" for study in tables]
    return inputs


def study_run_files(wildcards):
    return [run.path for run in select(RUNS, study=wildcards.study)]


def study_table_inputs(wildcards):
    return {
        "batches": batch_manifests(select(RUNS, study=wildcards.study)),
        "spec": job_spec_file("table", wildcards.study),
    }


def job_spec_file(kind, name):
    return f"{OUT}/specs/{kind}/{name}.sha256"


def job_spec_digest(wildcards):
    """sha256 of what a figure or study table draws and how (its runs, options, caption, code
    and script): rule spec writes it, so a change reruns the reader even when Snakemake skips
    the reader's own checks (it does so for every job downstream of a job that reruns).
    """
    import hashlib
    import json

    from types import SimpleNamespace

    kind, name = wildcards.kind, wildcards.name
    if kind == "figure":
        ns = SimpleNamespace(figure=name)
        spec = {
            "runs": figure_runs(name),
            "options": figure_params(ns),
            "caption": figure_caption(ns),
            "entry": FIGURE_REGISTRY[name],
            "code": PLOTTING_CODE,
            "script": f"workflow/scripts/figures/{name}.py",
        }
    else:
        ns = SimpleNamespace(study=name)
        spec = {
            "runs": study_run_files(ns),
            "levels": study_levels(ns),
            "code": AGGREGATE_CODE,
            "script": "workflow/scripts/study_table.py",
        }
    spec["script"] = hashlib.sha256(
        (Path(workflow.basedir) / spec["script"]).read_bytes()
    ).hexdigest()
    spec["numerics"] = CODE_FINGERPRINT
    text = json.dumps(spec, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def study_levels(wildcards):
    """Columns steps_at_L0.. of a study's table: one per level of its largest problem."""
    runs = select(RUNS, study=wildcards.study)
    return 1 + max((run.config.d for run in runs), default=0)


def figure_params(wildcards):
    """The figure's options (figures.<name>.<option>) with the settings every figure uses."""
    name = wildcards.figure
    options = config["figures"].get(name, {})
    return {
        "dpi": config["figures"]["dpi"],
        "main_seed": config["figures"]["main_seed"],
        "width": FIGURE_REGISTRY[name]["width"],
        **{o: options[o] for o in FIGURE_REGISTRY[name].get("options", [])},
    }


def figure_caption(wildcards):
    """The figure's caption (workflow/report/<name>.rst), its Jinja already rendered: report()
    takes one caption file per rule, and figure.rst shows this param."""
    import jinja2

    text = (
        Path(workflow.basedir) / f"workflow/report/{wildcards.figure}.rst"
    ).read_text()
    return jinja2.Template(text).render(
        snakemake={"config": config}, planned=planned_values
    )


def planned_values(study, setting, **settings):
    """A caption's values of one setting over a study's planned runs (e.g. "5e-04, 0.001"):
    from the plan, never a config path such as grid.lr[0] (grid may be null or a list).
    """
    if settings.get("seed") == "main_seed":
        settings["seed"] = config["figures"]["main_seed"]
    values = sorted(
        {getattr(run.config, setting) for run in select(RUNS, study=study, **settings)},
        key=str,
    )
    if not values:
        return f"none planned ({study} is off)"
    return ", ".join(f"{v:g}" if isinstance(v, float) else str(v) for v in values)


def report_overview():
    """The plan's facts the report's landing page shows (workflow/report/workflow.rst)."""
    return {
        "widths": planned_values("grid", "widths"),
        "steps": planned_values("grid", "steps"),
        "k": planned_values("grid", "k"),
        "seed": planned_values("grid", "seed"),
        "lr": planned_values("grid", "lr"),
        "runs": len(RUNS),
    }


def figure_report(key):
    """A report() argument of a figure (subcategory or labels), from its registry entry:
    figures are numbered in registry order and grouped by part (dln.plan.registry)."""

    def of(wildcards):
        name = wildcards.figure
        entry = FIGURE_REGISTRY[name]
        args = figure_report_args(
            name,
            FIGURE_NAMES.index(name) + 1,
            entry["title"],
            beyond_paper=entry["part"] == "beyond",
        )
        if key == "labels":
            # a third label: Snakemake's report turns a second label with two values into a
            # toggle, which breaks a subcategory of two figures (e.g. when studies are off);
            # with two such labels it makes none
            return {**args["labels"], "File": name}
        return args[key]

    return of


def cancel_pending_timers():
    """Cancel the process's pending threading.Timer threads (the Snakefile's onsuccess and
    onerror hooks: the run is over)."""
    import threading

    for thread in threading.enumerate():
        if isinstance(thread, threading.Timer):
            thread.cancel()
