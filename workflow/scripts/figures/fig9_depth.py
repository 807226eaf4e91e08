"""Figure 9 (beyond the paper): stuck length at saddle k against depth N (one width-1 layer,
same d_0, d_N and Phi). The escape model's N-dependence is the factor s_k^{-(1-2/N)}, plus the
eps reached during the approach; points are seeds (coloured by k, offset by k so that they do
not overlap), black bars the escape model's median over the seeds. Depths are discrete: no
line joins them."""

import numpy as np

from dln.figures import plotting

sm = snakemake  # noqa: F821
plotting.setup(sm)
opts = plotting.options(sm)
tab = plotting.table(sm)
deep = tab[plotting.in_study(tab, "depth") & (tab["solver"] == "gd")]
esc = deep[deep["stuck_steps"].notna()]
ks = sorted(int(k) for k in esc["k"].unique())
fig, ax = plotting.subplots(opts, height=3.0)
step = 0.5 / max(len(ks), 1)
for j, k in enumerate(ks):
    g = esc[esc["k"] == k]
    offset = (j - (len(ks) - 1) / 2) * step
    ax.scatter(
        g["depth"] + offset,
        g["stuck_steps"],
        color=plotting.k_color(k),
        s=16,
        lw=0,
        zorder=3,
        label=f"k = {k}",
        gid=plotting.RUN_GID,
    )
    model = g.groupby("depth")["escape_model_steps"].median()
    ax.scatter(model.index + offset, model.values, color="k", marker="_", s=120, lw=1.2, zorder=4)
if ks:
    ax.scatter([], [], color="k", marker="_", s=120, lw=1.2, label="escape model (median)")
    ax.set_xticks(sorted(esc["depth"].unique()))
    ax.set_yscale("log")
    fixed = plotting.fixed_note(deep, ("construction", "lr", "sigma0", "dtype"))
    fig.legend(
        loc="outside lower center",
        ncol=2,
        fontsize=8,
        title=plotting.textwrap_note(
            "; ".join(
                t
                for t in (
                    f"points: seeds; all runs: {fixed}",
                    plotting.pooled_note(deep, ("k", "widths", "depth", "seed", "solver")),
                )
                if t
            )
        ),
        title_fontsize=8,
    )
else:
    plotting.note(ax, "no run of the depth study left its saddle")
ax.set_xlabel("depth N (number of layers)")
ax.set_ylabel("iterations stuck at $L_k$")
depths = esc["depth"].to_numpy(dtype=float)
ax.set_xlim(np.min(depths, initial=3) - 1, np.max(depths, initial=3) + 1)
plotting.save(fig, sm.output, opts["dpi"], opts["width"])
