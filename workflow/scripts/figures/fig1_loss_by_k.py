"""Figure 1 (the paper's main figure): loss against GD iteration for every start index k,
with the critical levels L_0..L_d. A k >= 2 start sits at L_k, then escapes to L_1."""

import matplotlib.pyplot as plt
import numpy as np

from dln.figures import plotting

sm = snakemake  # noqa: F821 (injected by Snakemake)
plotting.setup(sm)
opts = plotting.options(sm)
main = plotting.load_runs(sm)
if main is None:
    plotting.empty_figure(sm, "no GD runs of the main grid at figures.main_seed")
constructions = [
    c for c in ("orthogonal", "antisymmetric") if c in set(main["construction"].values)
]
colors = plotting.k_colors(main["k"].values)
levels = plotting.levels(main)

fig, axes = plt.subplots(
    1, len(constructions), figsize=(3.8 * len(constructions), 3.4), sharey=True, squeeze=False
)
for ax, construction in zip(axes[0], constructions, strict=False):
    sel = plotting.runs(main, construction=construction)
    for i in np.argsort(sel["k"].values):
        run = sel.isel(run=i)
        k = int(run["k"])
        mark = plotting.mark_diverged(ax, run, color=colors[k])  # an 'x' where it stopped
        ax.plot(run["step"], run["loss"], color=colors[k], lw=1.3, label=f"k = {k}{mark}")
    plotting.level_lines(ax, levels, label=ax is axes[0][-1])
    ax.set_title(f"{construction} starts (seed {opts['main_seed']})")
    ax.set_xlabel("GD iteration")
axes[0][0].set_ylabel("loss $L(W_1,\\dots,W_N)$")
handles, labels = axes[0][0].get_legend_handles_labels()
# below the panels: inside, the legend would cover the drops from L_k to L_1
fig.legend(handles, labels, loc="outside lower center", ncol=min(len(labels), 6), fontsize=7)
plotting.save(fig, sm.output, opts["dpi"])
