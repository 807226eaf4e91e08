"""Figure 7: float32 against float64 from the same orthogonal starts. float32's round-off seeds
p_1 at ~1e-7 instead of ~1e-16, so the run leaves saddle k sooner (a: loss of the main seed's
starts, line style by precision; b: stuck lengths per k, seeds as points, marker by precision,
with the escape model's prediction as a black bar). Colour: k, as in every figure."""

import numpy as np

from dln.figures import plotting

sm = snakemake  # noqa: F821
plotting.setup(sm)
opts = plotting.options(sm)
tab = plotting.table(sm)
ds = plotting.load_runs(sm)
prec = tab[plotting.in_study(tab, "precision") & (tab["solver"] == "gd")]
fig, (ax, bx) = plotting.subplots(opts, 1, 2, height=2.9)
LINES = {"float64": "-", "float32": "--"}
MARKERS = {"float64": "o", "float32": "s"}
OFFSET = {"float64": -0.12, "float32": 0.12}
ks = sorted(int(k) for k in prec["k"].dropna().unique())
x_end = 0.0
shown = ("k", "dtype", "solver", "seed")
encoding = plotting.Encoding(plotting.settings_frame(ds) if ds is not None else prec, shown)
if ds is not None:
    for i in np.lexsort((ds["dtype"].values, ds["k"].values)):
        run = ds.isel(run=i)
        dtype, k = str(run["dtype"].values), int(run["k"])
        # any other setting the study varies: markers on the line (line style is precision)
        marks = encoding.style(plotting.settings_frame(run).iloc[0], line=True)
        marks.pop("ls")
        ax.plot(
            run["step"],
            run["loss"],
            color=plotting.k_color(k),
            ls=LINES.get(dtype, ":"),
            lw=1.3,
            gid=plotting.RUN_GID,
            **marks,
        )
        x_end = max(x_end, plotting.settled_at(run["step"].values, run["loss"].values, 1e-3))
    if x_end > 0:
        ax.set_xlim(0, min(1.2 * x_end, float(ds["step"].max())))
    plotting.level_lines(ax, plotting.levels(ds))
    seed = plotting.fixed_note(plotting.settings_frame(ds), ("seed",))
    ax.set_title(f"(a) loss, {seed}" if seed else "(a) loss")
else:
    plotting.note(ax, "no runs of the precision study at figures.main_seed")
    ax.set_title("(a) loss")
ax.set_xlabel("GD iteration")
ax.set_ylabel("loss")
esc = prec[prec["stuck_steps"].notna()]
for (k, dtype), g in esc.groupby(["k", "dtype"]):
    x = k + OFFSET.get(dtype, 0.0)
    bx.scatter(
        np.full(len(g), x),
        g["stuck_steps"],
        color=plotting.k_color(k),
        marker=MARKERS.get(dtype, "^"),
        s=18,
        zorder=3,
        lw=0,
    )
    bx.scatter(
        [x], [g["escape_model_steps"].median()], color="k", marker="_", s=160, lw=1.2, zorder=4
    )
if len(esc):
    bx.set_yscale("log")
    bx.set_xticks(ks)
    # at least a decade and a bit (minor tick labels of a narrower log axis collide)
    values = np.concatenate([esc["stuck_steps"], esc["escape_model_steps"]]).astype(float)
    lo, hi = np.nanmin(values) / 1.3, np.nanmax(values) * 1.3
    mid = np.sqrt(lo * hi)
    lo, hi = min(lo, mid / 4), max(hi, mid * 4)
    bx.set_ylim(lo, hi)
    # 1-2-5 ticks written out: a log axis within about a decade shows one power of ten
    ticks = [m * 10.0**e for e in range(0, 9) for m in (1, 2, 5) if lo <= m * 10.0**e <= hi]
    bx.set_yticks(ticks, [f"{t:,.0f}" for t in ticks])
    bx.minorticks_off()
else:
    plotting.note(bx, "no run of the precision study left its saddle")
bx.set_xlabel("saddle index k")
bx.set_ylabel("iterations stuck at $L_k$")
bx.set_title("(b) stuck length, points: seeds")
for k in ks:
    bx.plot([], [], color=plotting.k_color(k), lw=1.3, label=f"k = {k}")
for dtype in ("float64", "float32"):
    bx.plot([], [], color="0.3", ls=LINES[dtype], marker=MARKERS[dtype], lw=1.3, label=dtype)
bx.scatter([], [], color="k", marker="_", s=160, lw=1.2, label="escape model (median)")
fixed = plotting.fixed_note(prec, ("construction", "lr", "sigma0", "widths"))
pooled = plotting.pooled_note(prec, shown)  # (b) draws every run, by k and precision
plotting.fit_width(fig, opts["width"])  # the final layout decides what lies under what
plotting.unhide(fig)  # a run lying on another's curve: a halo around it
fig.legend(
    handles=bx.get_legend_handles_labels()[0] + encoding.handles(),
    loc="outside lower center",
    ncol=5,
    fontsize=8,
    title=plotting.legend_title(
        f"all runs: {fixed}" if fixed else "",
        encoding.reference_note(),
        f"(b) {pooled}" * bool(pooled),
    ),
    title_fontsize=8,
)
plotting.save(fig, sm.output, opts["dpi"], opts["width"])
