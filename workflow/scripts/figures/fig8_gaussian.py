"""Figure 8 (beyond the paper): unbalanced Gaussian starts, OUTSIDE the theorem's assumptions
(balancedness fails, so no predicted limit). Loss against iteration, coloured by the start's
scale, with the critical levels; the title counts where the runs end."""

import matplotlib.pyplot as plt
import numpy as np

from dln.figures import plotting

sm = snakemake  # noqa: F821
plotting.setup(sm)
opts = plotting.options(sm)
ds = plotting.load_runs(sm)
if ds is None:
    plotting.empty_figure(sm, "no Gaussian starts in this config (section gaussian)")
scales = sorted(set(float(x) for x in ds["init_scale"].values))
# (at least 2 colours, so that one scale is not drawn in the colormap's extreme)
palette = dict(zip(scales, plotting.palette("cividis", max(len(scales), 2)), strict=False))
fig, ax = plt.subplots(figsize=(6.0, 3.4))
ends = []
for i in range(ds.sizes["run"]):
    run = ds.isel(run=i)
    scale = float(run["init_scale"])
    diverged = plotting.is_diverged(run)
    ax.plot(run["step"], run["loss"], color=palette[scale], lw=1.2, ls=":" if diverged else "-")
    plotting.mark_diverged(ax, run, color="C3")
    level = float(run["final_level"])
    ends.append("diverged" if diverged else "none" if np.isnan(level) else f"L{int(level)}")
for scale in scales:
    ax.plot([], [], color=palette[scale], label=f"entries N(0, {scale:g}$^2$)")
plotting.level_lines(ax, plotting.levels(ds))
counts = ", ".join(f"{ends.count(e)} at {e}" for e in sorted(set(ends)))
ax.set_title(f"unbalanced starts, outside the theorem: {counts}", fontsize=8)
ax.set_xlabel("GD iteration")
ax.set_ylabel("loss")
fig.legend(loc="outside right center", fontsize=7)
plotting.save(fig, sm.output, opts["dpi"])
