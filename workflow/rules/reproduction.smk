# The paper's claims checked against the runs: results/summary.md and .html (in the report).
# In strict mode (analysis.strict) a failed claim also fails the workflow, after writing them.


rule reproduction_summary:
    input:
        **AGGREGATE,
    output:
        markdown="results/summary.md",
        html=report(
            "results/summary.html",
            caption="../report/summary.rst",
            category="1. Reproduction summary",  # dln.report_entries.SUMMARY_CATEGORY
        ),
    log:
        "results/logs/reproduction_summary.log",
    conda:
        "../envs/dln.yaml"
    resources:
        mem_mb=500,
        runtime=5,
    params:
        tolerances={
            key: config["analysis"][key]
            for key in ("rate_rel_tol", "escape_factor", "growth_rel_tol")
        },
        code=REPRODUCTION_CODE,
    script:
        "../scripts/reproduction_summary.py"


rule strict_check:
    input:
        "results/summary.md",
    output:
        touch("results/.strict_check.ok"),
    log:
        "results/logs/strict_check.log",
    conda:
        "../envs/dln.yaml"
    resources:
        mem_mb=100,
        runtime=1,
    params:
        strict=config["analysis"]["strict"],
    script:
        "../scripts/strict_check.py"
