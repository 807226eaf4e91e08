# The paper's claims checked against the runs: results/<experiment>/summary.md and .html (in the
# report). In strict mode (analysis.strict) a failed claim also fails the workflow, after
# writing them.


rule reproduction_summary:
    input:
        table=TABLE,
    output:
        markdown=f"{OUT}/summary.md",
        claims=f"{OUT}/claims.csv",
        html=report(
            f"{OUT}/summary.html",
            caption="../report/summary.rst",
            category=SUMMARY_CATEGORY,
        ),
    log:
        f"{OUT}/logs/reproduction_summary.log",
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
        config_hash=PLAN_DIGEST,
        code=REPRODUCTION_CODE,
    script:
        "../scripts/reproduction_summary.py"


rule strict_check:
    input:
        claims=f"{OUT}/claims.csv",
    output:
        touch(f"{OUT}/.strict_check.ok"),
    log:
        f"{OUT}/logs/strict_check.log",
    conda:
        "../envs/dln.yaml"
    resources:
        mem_mb=100,
        runtime=1,
    params:
        strict=config["analysis"]["strict"],
    script:
        "../scripts/strict_check.py"
