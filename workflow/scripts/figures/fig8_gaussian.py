"""Figure 8 (beyond the paper): unbalanced Gaussian starts, OUTSIDE the theorem's assumptions
(balancedness fails, so no predicted limit). Loss against iteration, coloured by the start's
scale, with the critical levels; the title counts where the runs end."""

import numpy as np
import matplotlib.pyplot as plt
import seaborn as sns

from dln import plotting

sm = snakemake  # noqa: F821
plotting.setup(sm)
ds = plotting.load(sm.input.dataset)
table = plotting.summary(sm.input.summary)
gauss = plotting.runs(ds, init="gaussian")
rows = table[table["init"] == "gaussian"]
scales = sorted(rows["init_scale"].unique())
palette = dict(zip(scales, sns.color_palette("mako", n_colors=max(len(scales), 2))))
fig, ax = plt.subplots(figsize=(5.0, 3.2))
for i in range(gauss.sizes["run"]):
    run = gauss.isel(run=i)
    rid = str(run["run"].values)
    scale = float(rows.loc[rid, "init_scale"])
    diverged = bool(rows.loc[rid, "diverged"])
    loss = run["loss"].values
    ax.plot(run["step"], loss, color=palette[scale], lw=1.2,
            ls=":" if diverged else "-")
    if diverged:
        last = np.flatnonzero(np.isfinite(loss))
        if last.size:
            ax.plot(run["step"].values[last[-1]], loss[last[-1]], "x", color="C3", ms=7)
for scale in scales:
    ax.plot([], [], color=palette[scale], label=f"entries N(0, {scale:g}$^2$)")
plotting.level_lines(ax, ds["critical_level"].values)
if len(rows):
    ends = rows.apply(lambda r: "diverged" if r["diverged"] else
                      (f"L{int(r['final_level'])}" if r["final_level"] >= 0 else "none"), axis=1)
    counts = ", ".join(f"{n} at {lev}" for lev, n in ends.value_counts().sort_index().items())
    ax.set_title(f"unbalanced starts, outside the theorem: {counts}", fontsize=8)
else:
    plotting.note(ax, "no Gaussian starts in this config (section gaussian)")
ax.set_xlabel("GD iteration")
ax.set_ylabel("loss")
ax.legend(fontsize=7, loc="lower left")
plotting.save(fig, sm.output, sm.params.dpi)
