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
