"""Figure 5: GD against the gradient-flow reference on one time axis t = lr x iteration, for
orthogonal starts. The flow from a k >= 2 start also leaves its saddle, seeded by the
integrator's round-off."""

import matplotlib.pyplot as plt
import numpy as np

from dln.figures import plotting

sm = snakemake  # noqa: F821
plotting.setup(sm)
opts = plotting.options(sm)
ds = plotting.load_runs(sm)
flow = plotting.runs(ds, solver="gf") if ds is not None else None
if flow is None or not flow.sizes["run"]:
    plotting.empty_figure(sm, "no gradient-flow runs (section flow) at figures.main_seed")
ks = sorted(set(int(k) for k in flow["k"].values))
colors = plotting.k_colors(ks)
fig, ax = plt.subplots(figsize=(5.6, 3.4))
t_end = 0.0
for k in ks:
    gf = plotting.runs(flow, k=k).isel(run=0)
    gd = plotting.runs(ds, solver="gd", k=k, lr=float(gf["lr"]))
    if gd.sizes["run"]:
        gd = gd.isel(run=0)
        mark = plotting.mark_diverged(ax, gd, x="t", color=colors[k])
        ax.plot(gd["t"], gd["loss"], color=colors[k], lw=1.4, label=f"GD, k = {k}{mark}")
    ax.plot(gf["t"], gf["loss"], color=colors[k], lw=1.0, ls=(0, (3, 2)), alpha=0.9)
    # up to where the last curve settles (a k = 0 run never moves: it does not count)
    for run in [gf] + ([gd] if gd.sizes.get("run", 1) else []):
        settled = plotting.settled_at(run["t"].values, run["loss"].values, 1e-3)
        if settled > 0:
            t_end = max(t_end, settled)
ax.plot([], [], color="0.3", ls=(0, (3, 2)), label="gradient flow")
plotting.level_lines(ax, plotting.levels(flow))
t_max = float(np.nanmax(flow["t"].values))
ax.set_xlim(0, min(1.3 * t_end, t_max) if t_end > 0 else t_max)
ax.set_xlabel("time $t$ = lr $\\times$ iteration")
ax.set_ylabel("loss")
ax.set_title("orthogonal starts", fontsize=9)
fig.legend(loc="outside right center", fontsize=7)
plotting.save(fig, sm.output, opts["dpi"])
