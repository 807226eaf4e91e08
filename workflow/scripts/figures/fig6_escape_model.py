"""Figure 6: measured stuck length against the escape model, every escaped GD run of every study.
Escape model: ln(p_exit/eps) / ((s_1 - s_k) s_k^{1-2/N} lr), eps = |p_1| measured when the
plateau starts and p_exit where the loss leaves the tolerance band. Hollow markers: the notes'
estimate ln(1/eps) / (...), which counts the growth of p_1 to ~1 instead."""

import matplotlib.pyplot as plt
import numpy as np

from dln.figures import plotting

sm = snakemake  # noqa: F821
plotting.setup(sm)
opts = plotting.options(sm)
tab = plotting.table(sm)
esc = tab[(tab["solver"] == "gd") & tab["stuck_steps"].notna()]
esc = esc[np.isfinite(esc["escape_model_steps"]) & (esc["escape_model_steps"] > 0)]
colors = plotting.k_colors(esc["k"].unique()) if len(esc) else {}
markers = {"float64": "o", "float32": "s"}
fig, ax = plt.subplots(figsize=(5.6, 3.8))
for (k, dtype), g in esc.groupby(["k", "dtype"]):
    ax.scatter(
        g["escape_model_steps"],
        g["stuck_steps"],
        color=colors[int(k)],
        marker=markers.get(dtype, "o"),
        s=18,
        zorder=3,
        label=f"k = {int(k)}, {dtype}",
    )
    ax.scatter(
        g["notes_estimate_steps"],
        g["stuck_steps"],
        facecolors="none",
        edgecolors=colors[int(k)],
        marker=markers.get(dtype, "o"),
        s=18,
        lw=0.6,
        zorder=2,
    )
if len(esc):
    ax.scatter(
        [], [], facecolors="none", edgecolors="0.3", s=18, lw=0.6, label="notes' estimate ln(1/eps)"
    )
    lim = [
        0.7 * esc[["stuck_steps", "escape_model_steps"]].min().min(),
        1.4 * esc[["stuck_steps", "notes_estimate_steps"]].max().max(),
    ]
    ax.plot(lim, lim, "k-", lw=0.8, label="measured = model")
    ax.fill_between(
        lim,
        [x / 2 for x in lim],
        [2 * x for x in lim],
        color="0.92",
        zorder=0,
        label="within a factor 2",
    )
    ax.set_xscale("log")
    ax.set_yscale("log")
    fig.legend(loc="outside right center", fontsize=6)
else:
    plotting.note(ax, "no run escaped a saddle within the step budget")
ax.set_xlabel("escape model (iterations)")
ax.set_ylabel("measured stuck length (iterations)")
plotting.save(fig, sm.output, opts["dpi"])
