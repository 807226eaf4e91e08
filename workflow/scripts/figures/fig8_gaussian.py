"""Figure 8 (beyond the paper): unbalanced Gaussian starts, OUTSIDE the theorem's assumptions
(balancedness fails, so no predicted limit). Loss against iteration, coloured by the start's
scale (an ordered setting: a sequential palette), with the critical levels the runs visit;
the title counts where the runs end. Any other setting the study varies (seed, lr, ...) gets a
line style of its own (plotting.Encoding)."""

import numpy as np

from dln.figures import plotting

sm = snakemake  # noqa: F821
plotting.setup(sm)
opts = plotting.options(sm)
ds = plotting.load_runs(sm)
if ds is None:
    plotting.empty_figure(sm, "no Gaussian starts in this config (section gaussian)")
settings = plotting.settings_frame(ds)
encoding = plotting.Encoding(settings, shown=("init_scale", "solver", "k", "construction"))
scales = sorted(set(float(x) for x in ds["init_scale"].values))
# plasma without its pale yellow end: every scale a strong colour, none grey like a level
palette = dict(zip(scales, plotting.palette("plasma", len(scales) + 1), strict=False))
levels = plotting.levels(ds)
tol = float(np.nanmax(ds["level_tol"].values))
fig, ax = plotting.subplots(opts, height=3.2)
ends, visited, x_end = [], set(), 0.0
for i in range(ds.sizes["run"]):
    run = ds.isel(run=i)
    scale, loss = float(run["init_scale"]), run["loss"].values
    diverged = plotting.is_diverged(run)
    style = encoding.style(settings.iloc[i])
    ax.plot(
        run["step"],
        loss,
        color=palette[scale],
        lw=1.4,
        ls=":" if diverged else style["ls"],
        gid=plotting.RUN_GID,
    )
    plotting.mark_diverged(ax, run, color="k")
    level = float(run["final_level"])
    ends.append("diverged" if diverged else "no level" if np.isnan(level) else f"$L_{int(level)}$")
    visited |= {k for k, v in enumerate(levels) if np.any(np.abs(loss - v) < tol)}
    x_end = max(x_end, plotting.settled_at(run["step"].values, loss, 1e-3))
for scale in scales:
    ax.plot([], [], color=palette[scale], lw=1.4, label=f"s = {scale:g}")
if x_end > 0:
    ax.set_xlim(0, min(1.2 * x_end, float(ds["step"].max())))
# only the levels some run visits: the others would read as runs
plotting.level_lines(ax, np.where(np.isin(np.arange(len(levels)), sorted(visited)), levels, np.nan))
counts = ", ".join(f"{ends.count(e)} at {e}" for e in sorted(set(ends)))
ax.set_title(f"outside the theorem: {counts}", fontsize=8.8)
ax.set_xlabel("GD iteration")
ax.set_ylabel("loss")
fig.legend(
    handles=ax.get_legend_handles_labels()[0] + encoding.handles(),
    loc="outside lower center",
    ncol=3,
    fontsize=8,
    title="unbalanced Gaussian start, entries N(0, s$^2$)",
    title_fontsize=8,
)
plotting.save(fig, sm.output, opts["dpi"], opts["width"])
