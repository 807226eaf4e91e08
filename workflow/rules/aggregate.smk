# All run files -> one tidy NetCDF (dimension `run`) and one CSV row per run.


rule aggregate:
    input:
        run_files(),
    output:
        dataset="results/aggregate/runs.nc",
        summary=report(
            "results/aggregate/summary.csv",
            caption="../report/aggregate.rst",
            category="3. Data",  # dln.report_entries.DATA_CATEGORY
        ),
    log:
        "results/logs/aggregate.log",
    conda:
        "../envs/dln.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        studies={rid: list(run.studies) for rid, run in RUNS.items()},
        level_tol=config["analysis"]["level_tol"],
        config_hash=CONFIG_HASH,
        code=ANALYSIS_CODE,
    script:
        "../scripts/aggregate.py"
