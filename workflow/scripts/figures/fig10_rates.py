"""Figure 10: rates by stage, fitted against theory for every run. (a) final linear rate against
the final-stage model (slowest excited mode); the notes' 2 (s_k - s_{k+1}) s_k^{1-2/N} for the
limit L_1 is the dotted line. (b) polynomial stages: slope of sigma^{-(1-2/N)} in t against
-(N-2) <rho - sigma> (growth from a small start, and the origin plateau of k = 0 runs)."""

import matplotlib.pyplot as plt
import numpy as np

from dln.figures import plotting

sm = snakemake  # noqa: F821
plotting.setup(sm)
opts = plotting.options(sm)
tab = plotting.table(sm)
gd = tab[(tab["solver"] == "gd") & (tab["init"] == "balanced")]
fig, (ax, bx) = plt.subplots(1, 2, figsize=(7.2, 3.2))
conv = gd[np.isfinite(gd["final_rate_fit"]) & np.isfinite(gd["final_rate_model"])]
colors = plotting.k_colors(gd["k"].unique()) if len(gd) else {}
for k, g in conv.groupby("k"):
    ax.scatter(
        g["final_rate_model"],
        g["final_rate_fit"],
        color=colors[int(k)],
        s=16,
        label=f"k = {int(k)}",
    )
if len(conv):
    lim = [0.9 * conv["final_rate_model"].min(), 1.1 * conv["final_rate_model"].max()]
    ax.plot(lim, lim, "k-", lw=0.8, label="fit = theory")
    # the notes' rate of the global minimum L_1 (runs ending elsewhere have their own)
    generic = conv.loc[conv["final_level"] == 1, "final_rate_paper"].median()
    if np.isfinite(generic):
        ax.axhline(
            generic, color="0.4", ls=":", lw=0.9, label=f"$2(s_1-s_2)s_1^{{1-2/N}}$ = {generic:.3f}"
        )
    ax.legend(fontsize=6)
else:
    plotting.note(ax, "no run reached a minimiser's final stage")
ax.set_xlabel("final-stage theory (rate in t)")
ax.set_ylabel("fitted final rate")
ax.set_title("(a) final linear stage")
for kind, marker in (("growth", "o"), ("origin", "^")):
    g = gd[np.isfinite(gd[f"{kind}_slope_fit"])]
    if not len(g):
        continue
    bx.scatter(
        g[f"{kind}_slope_theory"],
        g[f"{kind}_slope_fit"],
        marker=marker,
        s=16,
        label="growth (k $\\geq$ 1)" if kind == "growth" else "origin plateau (k = 0)",
    )
slopes = gd[["growth_slope_theory", "origin_slope_theory"]].stack()
if len(slopes):
    lim = [slopes.min() - 1, slopes.max() + 1]
    bx.plot(lim, lim, "k-", lw=0.8, label="fit = theory")
    bx.legend(fontsize=6)
else:
    plotting.note(bx, "no polynomial stage in these runs")
bx.set_xlabel("$-(N-2)\\langle\\rho-\\sigma\\rangle$")
bx.set_ylabel("fitted slope of $\\sigma^{-(1-2/N)}$ in $t$")
bx.set_title("(b) polynomial stages")
plotting.save(fig, sm.output, opts["dpi"])
