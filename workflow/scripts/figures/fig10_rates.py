"""Figure 10: rates by stage, fitted against theory for every run. (a) final linear rate against
the final-stage model (slowest excited mode); the notes' 2 (s_k - s_{k+1}) s_k^{1-2/N} for the
limit L_1 is the dotted line. (b) polynomial stages: slope of sigma^{-(1-2/N)} in t against
-(N-2) <rho - sigma> (growth from a small start, and the origin plateau of k = 0 runs).
Rates and slopes are per unit time t = lr x iteration. Colour: k, as in every figure; k = 1
drawn last (on top); the settings the studies vary besides are pooled (named in the figure)."""

import numpy as np

from dln.figures import plotting

sm = snakemake  # noqa: F821
plotting.setup(sm)
opts = plotting.options(sm)
tab = plotting.table(sm)
gd = tab[(tab["solver"] == "gd") & (tab["init"] == "balanced")]
fig, (ax, bx) = plotting.subplots(opts, 1, 2, height=3.8)  # the legend below takes ~1 in
POINT = dict(s=18, edgecolors="white", linewidths=0.4)  # a white rim keeps overlaps apart
conv = gd[np.isfinite(gd["final_rate_fit"]) & np.isfinite(gd["final_rate_model"])]
for k in sorted(conv["k"].unique(), reverse=True):  # k = 1, the paper's case, on top
    g = conv[conv["k"] == k]
    ax.scatter(
        g["final_rate_model"],
        g["final_rate_fit"],
        color=plotting.k_color(k),
        zorder=3 + 1 / k,
        gid=plotting.RUN_GID,
        **POINT,
    )
if len(conv):
    lim = [0.9 * conv["final_rate_model"].min(), 1.1 * conv["final_rate_model"].max()]
    ax.plot(lim, lim, "k-", lw=0.8, label="fit = theory")
    # the notes' rate of the global minimum L_1 (runs ending elsewhere have their own)
    generic = conv.loc[conv["final_level"] == 1, "final_rate_paper"].median()
    if np.isfinite(generic):
        ax.axhline(
            generic,
            color="0.4",
            ls=":",
            lw=0.9,
            label=f"notes' rate at $L_1$, $2(s_1-s_2)s_1^{{1-2/N}}$ = {generic:.3f}",
        )
else:
    plotting.note(ax, "no run reached a minimiser's final stage")
ax.set_xlabel("final-stage theory (rate per unit $t$)")
ax.set_ylabel("fitted final rate (per unit $t$)")
ax.set_title("(a) final linear stage")
for kind, marker in (("growth", "o"), ("origin", "^")):
    g = gd[np.isfinite(gd[f"{kind}_slope_fit"])]
    for k in sorted(g["k"].unique(), reverse=True):
        one = g[g["k"] == k]
        bx.scatter(
            one[f"{kind}_slope_theory"],
            one[f"{kind}_slope_fit"],
            marker=marker,
            color=plotting.k_color(k),
            zorder=3 + 1 / (k + 1),
            **POINT,
        )
slopes = gd[["growth_slope_theory", "origin_slope_theory"]].stack()
if len(slopes):
    lim = [slopes.min() - 1, slopes.max() + 1]
    bx.plot(lim, lim, "k-", lw=0.8)
else:
    plotting.note(bx, "no polynomial stage in these runs")
bx.set_xlabel("$-(N-2)\\langle\\rho-\\sigma\\rangle$ (per unit $t$)")
bx.set_ylabel("fitted slope of $\\sigma^{-(1-2/N)}$ in $t$")
bx.set_title("(b) polynomial stages")
for k in sorted(gd["k"].dropna().unique()):
    ax.scatter([], [], color=plotting.k_color(k), s=18, label=f"k = {int(k)}")
ax.scatter([], [], color="0.3", marker="o", s=18, label="(b) growth from a small start")
ax.scatter([], [], color="0.3", marker="^", s=18, label="(b) origin plateau, k = 0")
fig.legend(
    *ax.get_legend_handles_labels(),
    loc="outside lower center",
    ncol=3,
    fontsize=8,
    title=plotting.legend_title(
        "every balanced GD run of every study", plotting.pooled_note(gd, shown=("k", "solver"))
    ),
    title_fontsize=8,
)
plotting.save(fig, sm.output, opts["dpi"], opts["width"])
