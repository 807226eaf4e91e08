"""Figure 6: measured stuck length against two predictions, every escaped GD run of every
study. (a) the escape model ln(p_exit/eps) / ((s_1 - s_k) s_k^{1-2/N} lr), eps = |p_1| measured
when the plateau starts and p_exit where the loss leaves the tolerance band; (b) the notes'
estimate ln(1/eps) / (...), which counts the growth of p_1 to ~1 instead. Colour: k; marker:
precision; the settings the studies vary besides are pooled (named in the figure)."""

import numpy as np

from dln.figures import plotting

sm = snakemake  # noqa: F821
plotting.setup(sm)
opts = plotting.options(sm)
tab = plotting.table(sm)
esc = tab[(tab["solver"] == "gd") & tab["stuck_steps"].notna()]
esc = esc[np.isfinite(esc["escape_model_steps"]) & (esc["escape_model_steps"] > 0)]
MARKERS = {"float64": "o", "float32": "s"}
PANELS = [
    ("escape_model_steps", "(a) escape model", "escape model (iterations)"),
    ("notes_estimate_steps", "(b) notes' estimate", "notes' estimate (iterations)"),
]
fig, axes = plotting.subplots(opts, 1, 2, height=3.0, sharey=True)
if len(esc):
    values = esc[["stuck_steps", "escape_model_steps", "notes_estimate_steps"]]
    lim = [0.7 * np.nanmin(values.to_numpy()), 1.4 * np.nanmax(values.to_numpy())]
for ax, (col, title, xlabel) in zip(axes, PANELS, strict=True):
    for (k, dtype), g in esc.groupby(["k", "dtype"]):
        ax.scatter(
            g[col],
            g["stuck_steps"],
            color=plotting.k_color(k),
            marker=MARKERS.get(dtype, "o"),
            s=16,
            zorder=3,
            lw=0,
        )
    if len(esc):
        ax.plot(lim, lim, "k-", lw=0.8, label="measured = prediction")
        # the band's edges drawn: a pale fill alone shows no swatch in the legend
        ax.fill_between(
            lim,
            [x / 2 for x in lim],
            [2 * x for x in lim],
            facecolor="0.92",
            edgecolor="0.55",
            lw=0.6,
            zorder=0,
            label="within a factor 2",
        )
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlim(lim)
        ax.set_ylim(lim)
    else:
        plotting.note(ax, "no run escaped a saddle within the step budget")
    ax.set_title(title)
    ax.set_xlabel(xlabel)
axes[0].set_ylabel("measured stuck length (iterations)")
if len(esc):
    for k in sorted(esc["k"].unique()):
        axes[0].scatter([], [], color=plotting.k_color(k), s=16, label=f"k = {int(k)}")
    for dtype in sorted(esc["dtype"].unique()):
        axes[0].scatter([], [], color="0.3", marker=MARKERS.get(dtype, "o"), s=16, label=dtype)
    handles, labels = axes[0].get_legend_handles_labels()
    pooled = plotting.pooled_note(esc, shown=("k", "dtype", "solver"))
    fig.legend(
        handles,
        labels,
        loc="outside lower center",
        ncol=min(len(labels), 6),
        fontsize=8,
        title=plotting.legend_title(f"every escaped GD run of every study ({len(esc)})", pooled),
        title_fontsize=8,
    )
plotting.save(fig, sm.output, opts["dpi"], opts["width"])
