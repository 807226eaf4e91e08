"""Figure 5: GD against the gradient-flow reference on one time axis t = lr x iteration.
The flow from a k >= 2 start also leaves its saddle, seeded by the integrator's round-off."""

import matplotlib.pyplot as plt

from dln import plotting

sm = snakemake  # noqa: F821
plotting.setup(sm)
ds = plotting.load(sm.input.dataset)
flow = plotting.runs(ds, method="gf", seed=sm.params.seed, construction="orthogonal")
ks = sorted(set(int(k) for k in flow["k"].values))
colors = plotting.k_colors(ks)
fig, ax = plt.subplots(figsize=(5.0, 3.2))
for k in ks:
    gf = plotting.runs(flow, k=k).isel(run=0)
    gd = plotting.runs(ds, method="gd", k=k, seed=sm.params.seed, construction="orthogonal",
                       lr=float(gf["lr"]))
    if gd.sizes["run"]:
        gd = gd.isel(run=0)
        mark = plotting.mark_diverged(ax, gd, x="t", color=colors[k])
        ax.plot(gd["t"], gd["loss"], color=colors[k], lw=1.4, label=f"GD, k = {k}{mark}")
    ax.plot(gf["t"], gf["loss"], color=colors[k], lw=1.0, ls=(0, (3, 2)), alpha=0.9)
ax.plot([], [], color="0.3", ls=(0, (3, 2)), label="gradient flow")
plotting.level_lines(ax, ds["critical_level"].values)
ax.set_xlabel("time $t$ = lr $\\times$ iteration")
ax.set_ylabel("loss")
ax.legend(fontsize=7, ncol=2, loc="center right")
plotting.save(fig, sm.output, sm.params.dpi)
