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

ncol = 3 if encoding.names else 7
n_entries = len(set(settings["k"])) + len(encoding.index) * bool(encoding.names)
title_lines = bool(fixed) + 2 * bool(encoding.names)
# the legend below grows the figure, not squeezes the panels
fig, axes = plotting.subplots(
    opts,
    1,
    len(constructions),
    height=2.9 + plotting.legend_height(n_entries, ncol, title_lines),
    sharey=True,
    squeeze=False,
)
x_end = 0.0  # where the last curve settles: the flat tail after it is not drawn
for ax, construction in zip(axes[0], constructions, strict=False):
    sel = plotting.runs(main, construction=construction)
    for i in np.argsort(sel["k"].values, kind="stable"):
        run = sel.isel(run=i)
        k = int(run["k"])
        mark = plotting.mark_diverged(ax, run, color=plotting.k_color(k))
        row = plotting.settings_frame(run).iloc[0]
        style = encoding.style(row, line=True)
        ax.plot(
            run["step"],
            run["loss"],
            color=plotting.k_color(k),
            label=f"k = {k}{mark}",
            gid=plotting.RUN_GID,
            **{"lw": 1.3} | style,
        )
        x_end = max(x_end, plotting.settled_at(run["step"].values, run["loss"].values, 1e-3))
    ax.set_title(f"{construction} starts")
    ax.set_xlabel("GD iteration")
# the critical levels of the reference spectrum (when the grid varies it, each has its own)
reference = plotting.runs(
    main,
    **(
        {"spectrum": encoding.reference[encoding.names.index("spectrum")]}
        if "spectrum" in encoding.names
        else {}
    ),
)
levels = plotting.levels(reference if reference.sizes["run"] else main)
for ax in axes[0]:
    if x_end > 0:
        ax.set_xlim(0, min(1.2 * x_end, float(main["step"].max())))
    plotting.level_lines(ax, levels, label=ax is axes[0][-1])
axes[0][0].set_ylabel("loss $L(W_1,\\dots,W_N)$")
ks = sorted(set(int(k) for k in settings["k"]))
title = plotting.legend_title(
    f"all runs: {fixed}" if fixed else "",
    encoding.reference_note(),
    "levels of the reference spectrum" if "spectrum" in encoding.names else "",
)


def legend(any_halo: bool):
    """Below the panels (inside, it would cover the drops from L_k to L_1); its title names
    the settings every run drawn shares and the reference of the line styles."""
    handles = [plotting.line_handle(f"k = {k}", color=plotting.k_color(k), lw=1.3) for k in ks]
    handles += encoding.handles()
    handles += [plotting.halo_handle()] if any_halo else []
    return fig.legend(
        handles=handles,
        loc="outside lower center",
        ncol=min(len(handles), ncol),
        fontsize=8,
        title=title,
        title_fontsize=8,
    )


# runs whose curve lies on another's (at the final layout) are drawn as halos around it,
# and the legend says so
plotting.legend_with_halos(fig, legend, opts["width"])
plotting.save(fig, sm.output, opts["dpi"], opts["width"])
