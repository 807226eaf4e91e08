# Simulations in batches: one job computes the planned runs of one batch that the run store
# (results/runs/, shared by every experiment) lacks, each into its own analysed NetCDF file
# (written atomically as soon as it is done), and then writes the batch's manifest (run id, run
# file, sha256). A run's batch is its key modulo `batches` (config), so the DAG has at most that
# many simulation jobs whatever the grid's size, and adding a seed reruns only the batches that
# hold the new runs (their members file changed, common.smk), which compute just those.
# The run files are not Snakemake outputs (Snakemake deletes a job's outputs before it runs, so
# a batch could not keep its stored runs): the manifest is the output every consumer waits for.


rule simulate_batch:
    input:
        batch_members,
    output:
        f"{BATCH_DIR}/{{batch}}.tsv",
    log:
        f"{OUT}/logs/batches/{{batch}}.log",
    # batches, then the aggregate and the study tables, before any figure: the longest chain
    # (batch, aggregate, the figures of every run, summary) starts as early as it can, where
    # Snakemake would otherwise start figures whose runs are ready while a batch still waits
    priority: 3
    conda:
        "../envs/dln.yaml"
    threads: 1
    resources:
        # estimated from the batch's runs (dln.plan.runplan.batch_resources), so that Slurm asks
        # for what the job needs: the largest run's memory, the sum of their times
        mem_mb=lambda wildcards: batch_resources(
            [RUNS[r] for r in BATCHES[wildcards.batch]]
        )[0],
        runtime=lambda wildcards: batch_resources(
            [RUNS[r] for r in BATCHES[wildcards.batch]]
        )[1],
    params:
        code=CODE_FINGERPRINT,
    shell:
        "dln batch --members {input} --expect-code {params.code} --out {output} > {log} 2>&1"


# One run on request (`snakemake results/runs/<run>.nc`): the batches above never ask for a
# run file (they write them), so this rule is in the DAG only when a run file is a target.
rule simulate:
    output:
        "results/runs/{run}.nc",
    log:
        "results/logs/runs/{run}.log",
    conda:
        "../envs/dln.yaml"
    threads: 1
    resources:
        # estimated per run from its records and parameters (dln.solve.run.RunConfig.resources),
        # so that Slurm asks for what the job needs
        mem_mb=lambda wildcards: RUNS[wildcards.run].config.resources()[0],
        runtime=lambda wildcards: RUNS[wildcards.run].config.resources()[1],
    params:
        args=lambda wildcards: " ".join(RUNS[wildcards.run].config.cli_args()),
        key=lambda wildcards: RUNS[wildcards.run].config.key(),
        code=CODE_FINGERPRINT,
    shell:
        "dln run {params.args} --expect-key {params.key} --expect-code {params.code}"
        " --out {output} > {log} 2>&1"
