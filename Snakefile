# Rebuilds the numerical experiments of Chen, Lin & Zhang, "On Non-local Convergence Analysis
# of Deep Linear Networks" (ICML 2022). Stages: plan -> simulate (+ per-run analysis) ->
# aggregate -> figures and reproduction summary -> index.html (and
# Snakemake's report: snakemake --report).
# Usage: snakemake --cores all   (see README.md)

from snakemake.utils import min_version

min_version("9.0")


configfile: "config.yaml"


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/simulate.smk"
include: "workflow/rules/aggregate.smk"
include: "workflow/rules/figures.smk"
include: "workflow/rules/reproduction.smk"
include: "workflow/rules/report.smk"


rule all:
    default_target: True
    input:
        f"{OUT}/runs.nc",
        f"{OUT}/config.yaml",
        TABLE,
        f"{OUT}/manifest.csv",
        FIGURES,
        f"{OUT}/summary.md",
        f"{OUT}/index.html",
        f"{OUT}/.strict_check.ok",


# Snakemake 9.27's job-rate limiter re-arms a non-daemon threading.Timer of its timespan (1 s,
# the shortest --max-jobs-per-timespan parses) after each scheduling pass, and the interpreter
# waits for it at exit: every run that started a job ended up to 1 s after its last job. The
# run is over when these hooks run, so nothing is left for the timer to wake.
onsuccess:
    cancel_pending_timers()


onerror:
    cancel_pending_timers()
