# All the plan's run files (the plan, results/<exp>/plan.csv, is written while the workflow
# parses: common.smk) -> one CF NetCDF (dimension `run`) and one CSV row
# per run, gathered run by run (the runs analysed themselves) with bounded memory. One study's
# rows also as a table of their own, for the figures that draw that study only.
# threads = reader processes (dln.data.aggregate: the writer is one more, mostly waiting);
# Snakemake gives at most --cores, and --set-threads aggregate=N overrides it. Readers pay off
# from a few thousand runs (one costs ~0.15 s to start, a run ~0.6 ms to read); below that,
# one process, which leaves the other cores to the figures.
AGGREGATE_THREADS = 4 if len(RUNS) >= 2000 else 1


rule aggregate:
    input:
        # rewritten whenever the config changes (also by a dry run of another config): the
        # aggregate reruns when the plan's digest (params.config_hash) or a batch changes
        plan=ancient(f"{OUT}/plan.csv"),
        batches=[batch_manifest(name) for name in BATCHES],
    output:
        dataset=f"{OUT}/runs.nc",
        table=report(
            TABLE,
            caption="../report/aggregate.rst",
            category=DATA_CATEGORY,
        ),
    log:
        f"{OUT}/logs/aggregate.log",
    # before any figure: the figures of every run wait for it (simulate.smk)
    priority: 2
    conda:
        "../envs/dln.yaml"
    threads: AGGREGATE_THREADS
    resources:
        mem_mb=500,
        runtime=10,
    params:
        experiment=EXPERIMENT,
        config_hash=PLAN_DIGEST,
        code=AGGREGATE_CODE,
        overview=report_overview(),  # the report's landing page (workflow.rst)
    script:
        "../scripts/aggregate.py"


# Read by the figures that draw one study (workflow/figures.yaml, `tables`): its inputs are the
# batches of the study's runs (ancient once settled: common.smk) and its spec, so adding runs
# to another study does not redraw them.
rule study_table:
    input:
        unpack(study_table_inputs),
    output:
        f"{OUT}/tables/{{study}}.csv",
    log:
        f"{OUT}/logs/tables/{{study}}.log",
    priority: 2
    conda:
        "../envs/dln.yaml"
    resources:
        mem_mb=200,
        runtime=5,
    params:
        runs=study_run_files,
        levels=study_levels,
        code=AGGREGATE_CODE,
    script:
        "../scripts/study_table.py"


# The digest of every planned run's trajectory (results/<experiment>/manifest.csv): `dln verify`
# compares run files or re-simulations against it; the default experiment's is committed.
rule manifest:
    input:
        # (as for the aggregate: the plan by its digest, the run files by their batches)
        plan=ancient(f"{OUT}/plan.csv"),
        batches=[batch_manifest(name) for name in BATCHES],
    output:
        f"{OUT}/manifest.csv",
    log:
        f"{OUT}/logs/manifest.log",
    conda:
        "../envs/dln.yaml"
    resources:
        mem_mb=300,
        runtime=10,
    params:
        code=MANIFEST_CODE,
        plan=PLAN_DIGEST,
    script:
        "../scripts/manifest.py"


# The experiment's resolved config (with the code version): what `dln exp show` compares and
# what a later run under the same name is checked against (common.smk).
rule experiment_config:
    output:
        f"{OUT}/config.yaml",
    log:
        f"{OUT}/logs/experiment_config.log",
    conda:
        "../envs/dln.yaml"
    resources:
        mem_mb=200,
        runtime=5,
    params:
        text=CONFIG_COPY,
    script:
        "../scripts/experiment_config.py"
