"""Figure 3: alignments |p_i| = |alpha_i + beta_i| against iteration, one panel per run (per
start index k, and per value of any other setting the grid varies). p_i with i < k start at
round-off; p_1 grows at rate (s_1 - rho) until the run leaves saddle k."""

import numpy as np

from dln.figures import plotting

sm = snakemake  # noqa: F821
plotting.setup(sm)
opts = plotting.options(sm)
main = plotting.load_runs(sm)
if main is None:
    plotting.empty_figure(sm, "no orthogonal GD runs of the main grid at figures.main_seed")
settings = plotting.settings_frame(main)
encoding = plotting.Encoding(settings, shown=("k", "solver"))
order = sorted(
    range(len(settings)), key=lambda i: (settings["k"][i], encoding.key(settings.iloc[i]))
)
modes = main["mode"].values
# the mode index i is a category of its own: not the k colours
dark2 = plotting.palette("Dark2", 8)
colors = [dark2[i % 8] for i in range(len(modes))]
ncol = min(3, len(order))
nrow = -(-len(order) // ncol)
fig, axes = plotting.subplots(
    opts,
    nrow,
    ncol,
    # the titles and the legend below (entries, a title of 2-3 lines) take ~1.2 in
    height=(1.75 + 0.15 * bool(encoding.names)) * nrow
    + 1.2
    + plotting.legend_height(0, 1, bool(encoding.names)),
    sharex=True,
    sharey=True,
    squeeze=False,
)


def ending(run) -> str:
    if plotting.is_diverged(run):
        return f"diverged at step {int(run['diverged_step'])}"
    level = float(run["final_level"])
    return "ends at no level" if np.isnan(level) else f"ends at $L_{int(level)}$"


x_end = 0.0
for ax, i in zip(axes.flat, order, strict=False):
    run = main.isel(run=i)
    for j, mode in enumerate(modes):
        p = np.abs(run["p"].sel(mode=mode).values)
        ax.semilogy(
            run["step"],
            np.maximum(p, 1e-18),
            color=colors[j],
            lw=1.0,
            label=f"$|p_{mode}|$",
            gid=plotting.RUN_GID if j == 0 else None,  # one mark per run (its panel)
        )
        x_end = max(
            x_end, plotting.settled_at(run["step"].values, np.log10(np.maximum(p, 1e-18)), 0.5)
        )
    extra = encoding.label(encoding.key(settings.iloc[i]))
    setting = f"\n{extra}" if extra else ""  # a line of its own: side by side, titles collide
    ax.set_title(
        f"k = {int(run['k'])}{setting}\n"
        f"predicted {plotting.fmt_k(run['predicted_k'])}, {ending(run)}",
        fontsize=7.5,
    )
    ax.set_ylim(1e-18, 4)
for ax in axes.flat[len(order) :]:
    ax.set_visible(False)
if x_end > 0:
    axes.flat[0].set_xlim(0, min(1.15 * x_end, float(main["step"].max())))
# three or so iteration ticks: a third of the full width leaves no room for more
from matplotlib.ticker import MaxNLocator  # noqa: E402 (after plotting: its note on imports)

axes.flat[0].xaxis.set_major_locator(MaxNLocator(3))
for column in axes.T:  # the lowest panel shown in each column carries the x axis
    shown = [ax for ax in column if ax.get_visible()]
    if shown:
        shown[-1].set_xlabel("GD iteration")
        shown[-1].tick_params(labelbottom=True)
for ax in axes[:, 0]:
    ax.set_ylabel("alignment $|p_i|$")
handles, labels = axes.flat[0].get_legend_handles_labels()
fixed = plotting.fixed_note(settings, ("construction", "seed", "lr", "sigma0"))
# below the panels: inside, it would hide the curves of the first panel
fig.legend(
    handles,
    labels,
    loc="outside lower center",
    ncol=len(labels),
    fontsize=8,
    title="$p_i = u_i^T u + v_i^T v$: the start's direction $(u, v)$ against the singular "
    "pair $(u_i, v_i)$ of $\\Phi$"
    + "".join(
        f"\n{plotting.legend_title(t, width=90)}"
        for t in (f"all runs: {fixed}" if fixed else "", encoding.reference_note())
        if t
    ),
    title_fontsize=8,
)
plotting.fit_width(fig, opts["width"])  # the final layout decides what lies under what
plotting.unhide(fig)  # a mode curve lying on another is drawn as a halo around it
plotting.save(fig, sm.output, opts["dpi"], opts["width"])
