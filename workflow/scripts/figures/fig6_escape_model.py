"""Figure 6: measured stuck length against the escape model, every escaped GD run of every study.
Model: ln(p_exit/eps) / ((s_1 - s_k) s_k^{1-2/N} lr), eps = |p_1| measured when the plateau starts
and p_exit where the loss leaves the tolerance band; hollow markers: the notes' ln(1/eps) form."""

import numpy as np
import matplotlib.pyplot as plt

from dln import plotting

sm = snakemake  # noqa: F821
plotting.setup(sm)
table = plotting.summary(sm.input.summary)
esc = table[(table["method"] == "gd") & (table["stuck_steps"] > 0)]
esc = esc[np.isfinite(esc["predicted_stuck_steps_band"])]
colors = plotting.k_colors(esc["k"].unique()) if len(esc) else {}
markers = {"float64": "o", "float32": "s"}
fig, ax = plt.subplots(figsize=(4.2, 3.8))
for (k, dtype), g in esc.groupby(["k", "dtype"]):
    ax.scatter(g["predicted_stuck_steps_band"], g["stuck_steps"], color=colors[k],
               marker=markers.get(dtype, "o"), s=18, zorder=3,
               label=f"k = {k}, {dtype}")
    ax.scatter(g["predicted_stuck_steps"], g["stuck_steps"], facecolors="none",
               edgecolors=colors[k], marker=markers.get(dtype, "o"), s=18, lw=0.6, zorder=2)
if len(esc):
    lim = [0.7 * esc[["stuck_steps", "predicted_stuck_steps_band"]].min().min(),
           1.4 * esc[["stuck_steps", "predicted_stuck_steps"]].max().max()]
    ax.plot(lim, lim, "k-", lw=0.8, label="measured = model")
    ax.fill_between(lim, [x / 2 for x in lim], [2 * x for x in lim], color="0.92", zorder=0,
                    label="within a factor 2")
    ax.set_xscale("log")
    ax.set_yscale("log")
else:
    plotting.note(ax, "no run escaped a saddle within the step budget")
ax.set_xlabel("escape model (iterations)")
ax.set_ylabel("measured stuck length (iterations)")
ax.legend(fontsize=6, ncol=2, loc="upper left")
plotting.save(fig, sm.output, sm.params.dpi)
