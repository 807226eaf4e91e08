# One GD (or gradient-flow) run per grid point. Everything the result depends on is in params,
# so Snakemake's params trigger reruns exactly the changed runs; `code` is the numerics' source
# hash, so editing the numerical core reruns the simulations (and only then).


rule simulate:
    output:
        "results/runs/{run}.nc",
    log:
        "results/logs/simulate/{run}.log",
    conda:
        "../envs/dln.yaml"
    threads: 1
    resources:
        mem_mb=400,
        runtime=10,
    params:
        args=lambda wildcards: RUNS[wildcards.run].cli_args(),
        code=CODE_FINGERPRINT,
    shell:
        "python -m dln run {params.args} --expect-code {params.code} --out {output} > {log} 2>&1"
