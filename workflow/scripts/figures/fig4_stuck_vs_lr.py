"""Figure 4: time stuck at saddle k against the step size, seeds as points, with the escape
model ln(p_exit/eps) / ((s_1 - s_k) s_k^{1-2/N} lr), eps read off each run's p_1 at the plateau
start (the model the reproduction summary checks; dashed: its median over the seeds).
(a) in iterations (~1/lr); (b) in time t = lr x iterations (about constant). Any other
setting the sweep varies gets a marker and line style of its own (plotting.Encoding)."""

from dln.figures import plotting

sm = snakemake  # noqa: F821
plotting.setup(sm)
opts = plotting.options(sm)
tab = plotting.table(sm)
sweep = tab[plotting.in_study(tab, "lr_sweep") & (tab["solver"] == "gd")]
n_diverged = int(sweep["diverged"].astype(bool).sum())
encoding = plotting.Encoding(sweep, shown=("k", "lr", "seed", "solver"))
fixed = plotting.fixed_note(sweep, ("construction", "sigma0", "dtype", "widths"))
sweep = sweep[sweep["stuck_steps"].notna()].copy()
sweep["style"] = [encoding.key(row) for _, row in sweep.iterrows()]
fig, (ax, bx) = plotting.subplots(opts, 1, 2, height=2.9)
for (k, _key), grp in sweep.groupby(["k", "style"]):
    style = encoding.style(grp.iloc[0])
    jitter = 1 + opts["seed_jitter"] * (grp["seed"] - grp["seed"].mean())
    for axis, scale in ((ax, 1.0), (bx, grp["lr"])):
        axis.scatter(
            grp["lr"] * jitter,
            grp["stuck_steps"] * scale,
            color=plotting.k_color(k),
            marker=style["marker"],
            s=14,
            label=f"k = {int(k)}" if axis is ax else None,
            zorder=3,
        )
        model = grp.groupby("lr")["escape_model_steps"].median()
        axis.plot(
            model.index,
            model.values * (model.index if axis is bx else 1.0),
            color=plotting.k_color(k),
            ls="--" if not encoding.names else style["ls"],
            lw=1.0,
        )
lrs = sorted(sweep["lr"].unique())
for axis in (ax, bx):
    axis.set_xscale("log")
    if lrs:
        axis.set_xticks(lrs, [plotting.fmt_lr(lr) for lr in lrs])
        axis.minorticks_off()
        axis.margins(x=0.15)
    else:
        plotting.note(axis, "no run of the lr sweep left its saddle within the step budget")
    axis.set_xlabel("step size lr")
if n_diverged:  # diverged runs have no stuck time: said in words, not drawn outside the axes
    bx.text(
        0.98,
        0.02,
        f"{n_diverged} diverged run{'s' * (n_diverged > 1)} not shown",
        transform=bx.transAxes,
        ha="right",
        va="bottom",
        fontsize=7,
        color="0.35",
    )
if lrs:
    ax.set_yscale("log")
    ax.plot([], [], "k--", lw=1.0, label="escape model (median over seeds)")
    handles, labels = ax.get_legend_handles_labels()
    unique = dict(zip(labels, handles, strict=True))
    fig.legend(
        handles=list(unique.values()) + encoding.handles(line=False),
        loc="outside lower center",
        ncol=min(len(unique) + len(encoding.handles()), 6),
        fontsize=8,
        title=f"points: seeds; all runs: {fixed}" if fixed else "points: seeds",
        title_fontsize=8,
    )
ax.set_ylabel("iterations stuck at $L_k$")
bx.set_ylabel("time stuck, $t$ = lr $\\times$ iterations")
ax.set_title("(a) iterations")
bx.set_title("(b) time")
plotting.save(fig, sm.output, opts["dpi"], opts["width"])
