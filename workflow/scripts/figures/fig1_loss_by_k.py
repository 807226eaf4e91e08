"""Figure 1 (the paper's main figure): loss against GD iteration for every start index k,
with the critical levels L_0..L_d. A k >= 2 start sits at L_k, then escapes to L_1.
One panel per construction, colour by k; any other setting the grid varies (sigma0, lr, ...)
gets a line style of its own (plotting.Encoding), the fixed ones are named in the legend title."""

import numpy as np

from dln.figures import plotting

sm = snakemake  # noqa: F821 (injected by Snakemake)
plotting.setup(sm)
opts = plotting.options(sm)
main = plotting.load_runs(sm)
if main is None:  # figures.main_seed is not among the grid's seeds
    plotting.empty_figure(sm, "no GD runs of the main grid at figures.main_seed")
settings = plotting.settings_frame(main)
constructions = sorted(set(main["construction"].values), key=lambda c: (c != "orthogonal", c))
encoding = plotting.Encoding(settings, shown=("k", "construction", "solver"))
fixed = plotting.fixed_note(settings, ("seed", "lr", "sigma0", "dtype"))

fig, axes = plotting.subplots(opts, 1, len(constructions), height=2.9, sharey=True, squeeze=False)
x_end = 0.0  # where the last curve settles: the flat tail after it is not drawn
for ax, construction in zip(axes[0], constructions, strict=False):
    sel = plotting.runs(main, construction=construction)
    for i in np.argsort(sel["k"].values, kind="stable"):
        run = sel.isel(run=i)
        k = int(run["k"])
        mark = plotting.mark_diverged(ax, run, color=plotting.k_color(k))
        style = encoding.style(plotting.settings_frame(run).iloc[0])
        ax.plot(
            run["step"],
            run["loss"],
            color=plotting.k_color(k),
            lw=1.3,
            ls=style["ls"],
            label=f"k = {k}{mark}",
            gid=plotting.RUN_GID,
        )
        x_end = max(x_end, plotting.settled_at(run["step"].values, run["loss"].values, 1e-3))
    ax.set_title(f"{construction} starts")
    ax.set_xlabel("GD iteration")
for ax in axes[0]:
    if x_end > 0:
        ax.set_xlim(0, min(1.2 * x_end, float(main["step"].max())))
    plotting.level_lines(ax, plotting.levels(main), label=ax is axes[0][-1])
axes[0][0].set_ylabel("loss $L(W_1,\\dots,W_N)$")
handles, labels = axes[0][0].get_legend_handles_labels()
unique = dict(zip(labels, handles, strict=True))  # one entry per k (styles say the rest)
handles = list(unique.values()) + encoding.handles()
# below the panels: inside, the legend would cover the drops from L_k to L_1; its title
# names the settings every run drawn shares
fig.legend(
    handles=handles,
    loc="outside lower center",
    ncol=min(len(handles), 7),
    fontsize=8,
    title=f"all runs: {fixed}" if fixed else None,
    title_fontsize=8,
)
plotting.save(fig, sm.output, opts["dpi"], opts["width"])
