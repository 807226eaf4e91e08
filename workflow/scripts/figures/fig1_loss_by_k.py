"""Figure 1 (the paper's main figure): loss against GD iteration for every start index k,
with the critical levels L_0..L_d. A k >= 2 start sits at L_k, then escapes to L_1."""

import numpy as np
import matplotlib.pyplot as plt

from dln import plotting

sm = snakemake  # noqa: F821 (injected by Snakemake)
plotting.setup(sm)
ds = plotting.load(sm.input.dataset)
main = plotting.runs(ds, study="grid", method="gd", seed=sm.params.seed)
constructions = [c for c in ("orthogonal", "antisymmetric") if c in set(main["construction"].values)]
colors = plotting.k_colors(main["k"].values)

fig, axes = plt.subplots(1, len(constructions), figsize=(3.6 * len(constructions), 3.0),
                         sharey=True, squeeze=False)
for ax, construction in zip(axes[0], constructions):
    sel = plotting.runs(main, construction=construction)
    for i in np.argsort(sel["k"].values):
        run = sel.isel(run=i)
        k = int(run["k"])
        mark = plotting.mark_diverged(ax, run, color=colors[k])  # an 'x' where it stopped
        ax.plot(run["step"], run["loss"], color=colors[k], lw=1.3, label=f"k = {k}{mark}")
    plotting.level_lines(ax, ds["critical_level"].values, label=ax is axes[0][-1])
    ax.set_title(f"{construction} starts (seed {sm.params.seed})")
    ax.set_xlabel("GD iteration")
axes[0][0].set_ylabel("loss $L(W_1,\\dots,W_N)$")
axes[0][0].legend(loc="lower left", ncol=2, fontsize=7)
plotting.save(fig, sm.output, sm.params.dpi)
