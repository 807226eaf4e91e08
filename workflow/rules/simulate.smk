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
