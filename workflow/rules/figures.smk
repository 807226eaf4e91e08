# One script per figure (workflow/scripts/figures), each writing a PDF and a PNG. Figure
# options are params, so editing one reruns only that figure.


rule fig1_loss_by_k:
    input:
        **AGGREGATE,
    output:
        **figure_output("fig1_loss_by_k"),
    log:
        "results/logs/figures/fig1_loss_by_k.log",
    conda:
        "../envs/dln.yaml"
    resources:
        mem_mb=1000,
        runtime=5,
    params:
        seed=config["figures"]["main_seed"],
        dpi=config["figures"]["dpi"],
        code=PLOTTING_CODE,
    script:
        "../scripts/figures/fig1_loss_by_k.py"


rule fig2_rate_stages:
    input:
        **AGGREGATE,
    output:
        **figure_output("fig2_rate_stages"),
    log:
        "results/logs/figures/fig2_rate_stages.log",
    conda:
        "../envs/dln.yaml"
    resources:
        mem_mb=1000,
        runtime=5,
    params:
        seed=config["figures"]["main_seed"],
        dpi=config["figures"]["dpi"],
        code=PLOTTING_CODE,
        depth=len(config["problem"]["widths"]) - 1,
        level_tol=config["analysis"]["level_tol"],
        gap_floor=config["figures"]["fig2_rate_stages"]["gap_floor"],
    script:
        "../scripts/figures/fig2_rate_stages.py"


rule fig3_alignments:
    input:
        **AGGREGATE,
    output:
        **figure_output("fig3_alignments"),
    log:
        "results/logs/figures/fig3_alignments.log",
    conda:
        "../envs/dln.yaml"
    resources:
        mem_mb=1000,
        runtime=5,
    params:
        seed=config["figures"]["main_seed"],
        dpi=config["figures"]["dpi"],
        code=PLOTTING_CODE,
    script:
        "../scripts/figures/fig3_alignments.py"


rule fig4_stuck_vs_lr:
    input:
        **AGGREGATE,
    output:
        **figure_output("fig4_stuck_vs_lr"),
    log:
        "results/logs/figures/fig4_stuck_vs_lr.log",
    conda:
        "../envs/dln.yaml"
    resources:
        mem_mb=1000,
        runtime=5,
    params:
        dpi=config["figures"]["dpi"],
        code=PLOTTING_CODE,
        seed_jitter=config["figures"]["fig4_stuck_vs_lr"]["seed_jitter"],
    script:
        "../scripts/figures/fig4_stuck_vs_lr.py"


rule fig5_gd_vs_flow:
    input:
        **AGGREGATE,
    output:
        **figure_output("fig5_gd_vs_flow"),
    log:
        "results/logs/figures/fig5_gd_vs_flow.log",
    conda:
        "../envs/dln.yaml"
    resources:
        mem_mb=1000,
        runtime=5,
    params:
        seed=config["figures"]["main_seed"],
        dpi=config["figures"]["dpi"],
        code=PLOTTING_CODE,
    script:
        "../scripts/figures/fig5_gd_vs_flow.py"


rule fig6_escape_model:
    input:
        **AGGREGATE,
    output:
        **figure_output("fig6_escape_model"),
    log:
        "results/logs/figures/fig6_escape_model.log",
    conda:
        "../envs/dln.yaml"
    resources:
        mem_mb=1000,
        runtime=5,
    params:
        dpi=config["figures"]["dpi"],
        code=PLOTTING_CODE,
    script:
        "../scripts/figures/fig6_escape_model.py"


rule fig7_precision:
    input:
        **AGGREGATE,
    output:
        **figure_output("fig7_precision"),
    log:
        "results/logs/figures/fig7_precision.log",
    conda:
        "../envs/dln.yaml"
    resources:
        mem_mb=1000,
        runtime=5,
    params:
        seed=config["figures"]["main_seed"],
        dpi=config["figures"]["dpi"],
        code=PLOTTING_CODE,
    script:
        "../scripts/figures/fig7_precision.py"


rule fig8_gaussian:
    input:
        **AGGREGATE,
    output:
        **figure_output("fig8_gaussian"),
    log:
        "results/logs/figures/fig8_gaussian.log",
    conda:
        "../envs/dln.yaml"
    resources:
        mem_mb=1000,
        runtime=5,
    params:
        dpi=config["figures"]["dpi"],
        code=PLOTTING_CODE,
    script:
        "../scripts/figures/fig8_gaussian.py"


rule fig9_depth:
    input:
        **AGGREGATE,
    output:
        **figure_output("fig9_depth"),
    log:
        "results/logs/figures/fig9_depth.log",
    conda:
        "../envs/dln.yaml"
    resources:
        mem_mb=1000,
        runtime=5,
    params:
        dpi=config["figures"]["dpi"],
        code=PLOTTING_CODE,
    script:
        "../scripts/figures/fig9_depth.py"


rule fig10_rates:
    input:
        **AGGREGATE,
    output:
        **figure_output("fig10_rates"),
    log:
        "results/logs/figures/fig10_rates.log",
    conda:
        "../envs/dln.yaml"
    resources:
        mem_mb=1000,
        runtime=5,
    params:
        dpi=config["figures"]["dpi"],
        code=PLOTTING_CODE,
    script:
        "../scripts/figures/fig10_rates.py"
