"""Figure 3: alignments |p_i| = |alpha_i + beta_i| against iteration, one panel per start index k.
p_i with i < k start at round-off; p_1 grows at rate (s_1 - rho) until the run leaves saddle k."""

import matplotlib.pyplot as plt
import numpy as np

from dln.figures import plotting

sm = snakemake  # noqa: F821
plotting.setup(sm)
opts = plotting.options(sm)
main = plotting.load_runs(sm)
if main is None:
    plotting.empty_figure(sm, "no orthogonal GD runs of the main grid at figures.main_seed")
ks = sorted(set(int(k) for k in main["k"].values))
modes = main["mode"].values
colors = plotting.palette("tab10", len(modes))
ncol = min(3, len(ks))
nrow = -(-len(ks) // ncol)
fig, axes = plt.subplots(
    nrow, ncol, figsize=(2.6 * ncol, 2.2 * nrow + 0.5), sharex=True, sharey=True, squeeze=False
)
for ax, k in zip(axes.flat, ks, strict=False):
    run = plotting.runs(main, k=k).isel(run=0)
    for i, mode in enumerate(modes):
        p = np.abs(run["p"].sel(mode=mode).values)
        ax.semilogy(
            run["step"], np.maximum(p, 1e-18), color=colors[i], lw=1.0, label=f"$|p_{mode}|$"
        )
    end = (
        f"diverged at step {int(run['diverged_step'])}"
        if plotting.is_diverged(run)
        else "ends at no level"
        if np.isnan(float(run["final_level"]))
        else f"ends at L{int(run['final_level'])}"
    )
    ax.set_title(f"k = {k} (predicted {plotting.fmt_k(run['predicted_k'])}, {end})", fontsize=8)
    ax.set_ylim(1e-18, 4)
for ax in axes.flat[len(ks) :]:
    ax.set_visible(False)
for ax in axes[-1]:
    ax.set_xlabel("GD iteration")
for ax in axes[:, 0]:
    ax.set_ylabel("$|p_i| = |u_i^T u + v_i^T v|$")
handles, labels = axes.flat[0].get_legend_handles_labels()
# below the panels: inside, it would hide the curves of the first panel
fig.legend(handles, labels, loc="outside lower center", ncol=len(labels), fontsize=7)
plotting.save(fig, sm.output, opts["dpi"])
