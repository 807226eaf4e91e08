"""Figure 9 (beyond the paper): stuck length at saddle k against depth N (one width-1 layer,
same d_0, d_N and Phi). The escape model's N-dependence is the factor s_k^{-(1-2/N)}, plus the
eps reached during the approach; points are seeds, dashes the escape model."""

import matplotlib.pyplot as plt

from dln.figures import plotting

sm = snakemake  # noqa: F821
plotting.setup(sm)
opts = plotting.options(sm)
tab = plotting.table(sm)
deep = tab[plotting.in_study(tab, "depth") & (tab["solver"] == "gd")]
esc = deep[deep["stuck_steps"].notna()]
ks = sorted(int(k) for k in esc["k"].unique())
colors = plotting.k_colors(ks) if ks else {}
fig, ax = plt.subplots(figsize=(4.6, 3.4))
for k in ks:
    g = esc[esc["k"] == k]
    ax.scatter(g["depth"], g["stuck_steps"], color=colors[k], s=16, zorder=3, label=f"k = {k}")
    model = g.groupby("depth")["escape_model_steps"].median()
    ax.plot(model.index, model.values, color=colors[k], ls="--", lw=1.0, marker="_", ms=14)
if ks:
    ax.plot([], [], "k--", label="escape model")
    ax.set_xticks(sorted(esc["depth"].unique()))
    ax.set_yscale("log")
    fig.legend(loc="outside right center", fontsize=7)
else:
    plotting.note(ax, "no run of the depth study left its saddle")
ax.set_xlabel("depth N (number of layers)")
ax.set_ylabel("iterations stuck at $L_k$")
plotting.save(fig, sm.output, opts["dpi"])
