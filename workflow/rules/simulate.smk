# One GD (or gradient-flow) run per planned run: one analysed NetCDF file in the run store
# results/runs/, shared by every experiment. The file name ends in the hash of the run's complete
# settings, so a settings change writes a new file and never reruns an old one; `code` (the
# numerics' and analysis' source hash) reruns the runs when that code changes.


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
