"""Figure 4: time stuck at saddle k against the step size, seeds as points, with the escape
model ln(1/eps) / ((s_1 - s_k) s_k^{1-2/N} lr), eps read off each run's p_1 at the plateau start.
(a) in iterations (~1/lr); (b) in time t = lr x iterations (about constant)."""

import numpy as np
import matplotlib.pyplot as plt

from dln import plotting

sm = snakemake  # noqa: F821
plotting.setup(sm)
table = plotting.summary(sm.input.summary)
sweep = table[table["studies"].str.contains("lr_sweep") & (table["method"] == "gd")]
diverged = sweep[sweep["diverged"].astype(bool)]
sweep = sweep[sweep["stuck_steps"] > 0]
colors = plotting.k_colors(sweep["k"].unique()) if len(sweep) else {}
fig, (ax, bx) = plt.subplots(1, 2, figsize=(7.2, 3.0))
for k, grp in sweep.groupby("k"):
    jitter = 1 + sm.params.seed_jitter * (grp["seed"] - grp["seed"].mean())
    for axis, scale in ((ax, 1.0), (bx, grp["lr"])):
        axis.scatter(grp["lr"] * jitter, grp["stuck_steps"] * scale, color=colors[k], s=14,
                     label=f"k = {k}" if axis is ax else None, zorder=3)
        model = grp.groupby("lr")["predicted_stuck_steps"].median()
        axis.plot(model.index, model.values * (model.index if axis is bx else 1.0),
                  color=colors[k], ls="--", lw=1.0)
ax.plot([], [], "k--", lw=1.0, label="escape model")
for axis in (ax, bx):  # diverged runs have no stuck time: an 'x' at the top, at their lr
    axis.plot(diverged["lr"], np.full(len(diverged), 0.96), "x", color="k", ms=7, mew=1.6,
              transform=axis.get_xaxis_transform(), clip_on=False,
              label="diverged" if axis is ax and len(diverged) else None)
lrs = sorted(sweep["lr"].unique())
for axis in (ax, bx):
    axis.set_xscale("log")
    if lrs:
        axis.set_xticks(lrs, [f"{lr:.3g}" for lr in lrs])
        axis.minorticks_off()
    else:
        plotting.note(axis, "no run of the lr sweep left its saddle within the step budget")
    axis.set_xlabel("step size lr")
if lrs:
    ax.set_yscale("log")
ax.set_ylabel("iterations stuck at $L_k$")
bx.set_ylabel("time stuck, $t$ = lr $\\times$ iterations")
ax.set_title("(a) iterations")
bx.set_title("(b) time")
ax.legend(fontsize=7)
plotting.save(fig, sm.output, sm.params.dpi)
