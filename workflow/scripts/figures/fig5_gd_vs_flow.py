"""Figure 5: GD against the gradient-flow reference on one time axis t = lr x iteration, for
orthogonal starts. The flow from a k >= 2 start also leaves its saddle, seeded by the
integrator's round-off. GD wide and pale, the flow thin and dashed above it, in k's colour;
any other setting the runs vary gets a line style of its own (plotting.Encoding)."""

import textwrap

import numpy as np

from dln.figures import plotting

sm = snakemake  # noqa: F821
plotting.setup(sm)
opts = plotting.options(sm)
ds = plotting.load_runs(sm)
flow = plotting.runs(ds, solver="gf") if ds is not None else None
if flow is None or not flow.sizes["run"]:
    plotting.empty_figure(sm, "no gradient-flow runs (section flow) at figures.main_seed")
settings = plotting.settings_frame(ds)
encoding = plotting.Encoding(settings, shown=("k", "solver", "lr"))
fixed = plotting.fixed_note(settings, ("construction", "seed", "sigma0"))
fig, ax = plotting.subplots(opts, height=3.4)
t_end = 0.0
for i in np.argsort(flow["k"].values, kind="stable"):
    gf = flow.isel(run=i)
    k, key = int(gf["k"]), encoding.key(plotting.settings_frame(gf).iloc[0])
    color, ls = plotting.k_color(k), encoding.style(plotting.settings_frame(gf).iloc[0])["ls"]
    gd = plotting.runs(ds, solver="gd", k=k, lr=float(gf["lr"]))
    for j in range(gd.sizes["run"]):
        run = gd.isel(run=j)
        if encoding.key(plotting.settings_frame(run).iloc[0]) != key:
            continue
        mark = plotting.mark_diverged(ax, run, x="t", color=color)
        ax.plot(
            run["t"],
            run["loss"],
            color=color,
            lw=2.6,
            alpha=0.55,
            ls=ls,
            label=f"k = {k}{mark}",
            gid=plotting.RUN_GID,
        )
        t_end = max(t_end, plotting.settled_at(run["t"].values, run["loss"].values, 1e-3))
    ax.plot(gf["t"], gf["loss"], color=color, lw=0.9, ls=(0, (3, 2)), gid=plotting.RUN_GID)
    t_end = max(t_end, plotting.settled_at(gf["t"].values, gf["loss"].values, 1e-3))
ax.plot([], [], color="0.3", lw=0.9, ls=(0, (3, 2)), label="gradient flow")
t_max = float(np.nanmax(flow["t"].values))
ax.set_xlim(0, min(1.3 * t_end, t_max) if t_end > 0 else t_max)
plotting.level_lines(ax, plotting.levels(flow), values=False)
ax.set_xlabel("time $t$ = lr $\\times$ iteration")
ax.set_ylabel("loss")
handles, labels = ax.get_legend_handles_labels()
unique = dict(zip(labels, handles, strict=True))
fig.legend(
    handles=list(unique.values()) + encoding.handles(),
    loc="outside lower center",
    ncol=3,
    fontsize=8,
    columnspacing=1.0,
    handlelength=1.6,
    # wrapped: a one-column figure's legend title must not be wider than its axes
    title=textwrap.fill(f"GD wide, flow dashed; all runs: {fixed}", 44),
    title_fontsize=8,
)
plotting.save(fig, sm.output, opts["dpi"], opts["width"])
