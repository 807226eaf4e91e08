# Every figure from one rule, generated from the registry (workflow/figures.yaml): a figure
# reads the run files it draws and/or the table rows of the studies it draws (or the whole
# table), so adding runs redraws only the figures that draw them.


rule figure:
    input:
        unpack(figure_inputs),
    output:
        pdf=f"{OUT}/figures/{{figure}}.pdf",
        png=report(
            f"{OUT}/figures/{{figure}}.png",
            caption="../report/figure.rst",
            category=FIGURES_CATEGORY,
            subcategory=figure_report("subcategory"),
            labels=figure_report("labels"),
        ),
    log:
        f"{OUT}/logs/figures/{{figure}}.log",
    conda:
        "../envs/dln.yaml"
    resources:
        mem_mb=1000,
        runtime=5,
    params:
        runs=lambda wildcards: figure_runs(wildcards.figure),
        options=figure_params,
        caption=figure_caption,
        code=PLOTTING_CODE,
    script:
        "../scripts/figures/{wildcards.figure}.py"


# A figure's or study table's spec: the digest of what it draws and how (common.smk,
# job_spec_digest). The job reruns when the digest changes and so reruns its reader, which
# Snakemake would otherwise not check while a batch upstream of it reruns for other runs.
# (An echo: on Slurm it runs on the submitting host, not as a submission.)
localrules:
    spec,


rule spec:
    output:
        f"{OUT}/specs/{{kind}}/{{name}}.sha256",
    log:
        f"{OUT}/logs/specs/{{kind}}/{{name}}.log",
    wildcard_constraints:
        kind="figure|table",
    conda:
        "../envs/dln.yaml"
    params:
        digest=job_spec_digest,
    shell:
        "echo {params.digest} > {output} 2> {log}"
