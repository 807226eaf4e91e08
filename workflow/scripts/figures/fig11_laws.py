"""Figure 11: the two laws away from the paper's point, every run of the laws study.
Top row: the escape-time law (stuck iterations at saddle k against the escape model
ln(p_exit/eps) / ((s_1 - s_k) s_k^{1-2/N} lr)); bottom row: the polynomial stage from a small
start (time to sigma1 = rho(0)/2 against the reduced dynamics at fixed rho = rho(0)).
First column: measured against model (identity, factor-2 band); the others: the residual
measured/model against each axis the laws grids vary (gap, sigma0, depth N, precision x
construction). Colour: the sub-grid (axis it varies) the run belongs to; marker: the seed."""

import matplotlib.pyplot as plt
import numpy as np

from dln.figures import plotting
from dln.model.problem import spectrum_values
from dln.plan.runplan import grid_members, study_grids, varied_axes

sm = snakemake  # noqa: F821
plotting.setup(sm)
opts = plotting.options(sm)
tab = plotting.table(sm)
laws = tab[plotting.in_study(tab, "laws") & (tab["solver"] == "gd")].copy()
if not len(laws):
    plotting.empty_figure(sm, "the laws study is switched off in this config")

NAMES = {
    "spectrum": "spectrum gap",
    "sigma0": "start scale sigma0",
    "widths": "depth N",
    "dtype": "precision",
    "construction": "construction",
}
grids = study_grids(sm.config, "laws")
members = grid_members(sm.config, "laws")
grid_label = [
    " x ".join(NAMES.get(a, a) for a in varied_axes(g)) or f"grid {i}" for i, g in enumerate(grids)
]
laws["varies"] = [grid_label[members[r]] if r in members else "other" for r in laws.index]
labels = list(dict.fromkeys(grid_label + ["other"]))
colorblind = plotting.COLORBLIND
palette = {lab: colorblind[[0, 1, 2, 4, 5, 6, 8, 9, 7][i % 9]] for i, lab in enumerate(labels)}


s = laws.apply(spectrum_values, axis=1)
k_idx = laws["predicted_k"].fillna(2).clip(lower=2).astype(int)
laws["gap_k"] = [v[0] - v[k - 1] for v, k in zip(s, k_idx, strict=True)]
laws["gap_2"] = [v[0] - v[1] for v in s]
cats = [
    "float64\northogonal",
    "float64\nantisymmetric",
    "float32\northogonal",
    "float32\nantisymmetric",
]
laws["prec_cat"] = [
    cats.index(f"{d}\n{c}") if f"{d}\n{c}" in cats else np.nan
    for d, c in zip(laws["dtype"], laws["construction"], strict=True)
]

SEED_MARKERS = ["o", "^", "s", "D", "v", "P"]


def marker(seed) -> str:
    return SEED_MARKERS[int(seed) % len(SEED_MARKERS)]


LAWS = [
    (
        "escape",
        "stuck_steps",
        "escape_model_steps",
        "escape_ratio",
        "gap_k",
        "stuck steps at saddle k",
        "escape model (iterations)",
        "gap $s_1 - s_k$",
    ),
    (
        "origin",
        "origin_exit_time",
        "origin_exit_time_model",
        "origin_exit_ratio",
        "gap_2",
        "time to $\\sigma_1 = \\rho(0)/2$",
        "reduced dynamics, fixed $\\rho(0)$",
        "gap $s_1 - s_2$",
    ),
]
fig, axes = plt.subplots(2, 5, figsize=(14.0, 5.8))
rng = np.random.default_rng(0)
for row, (_, meas, model, ratio, gapcol, ylab, xlab, gaplab) in enumerate(LAWS):
    ok = laws[
        np.isfinite(laws[meas])
        & np.isfinite(laws[model])
        & (laws[model] > 0)
        & np.isfinite(laws[ratio])
    ]
    ax = axes[row, 0]
    for (lab, seed), g in ok.groupby(["varies", "seed"]):
        ax.scatter(g[model], g[meas], color=palette[lab], marker=marker(seed), s=16, zorder=3)
    if len(ok):
        lo = 0.6 * min(ok[model].min(), ok[meas].min())
        hi = 1.6 * max(ok[model].max(), ok[meas].max())
        # at least a decade and a half: a narrower log axis labels its minor ticks, which
        # then run into each other
        mid = np.sqrt(lo * hi)
        lo, hi = min(lo, mid / 6), max(hi, mid * 6)
        ax.plot([lo, hi], [lo, hi], "k-", lw=0.8)
        ax.fill_between([lo, hi], [lo / 2, hi / 2], [2 * lo, 2 * hi], color="0.92", zorder=0)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlim(lo, hi)
        ax.set_ylim(lo, hi)
        n10 = int(((ok[ratio] - 1).abs() <= 0.1).sum())
        n2 = int(((ok[ratio] <= 2) & (ok[ratio] >= 0.5)).sum())
        ax.set_title(
            f"({'ab'[row]}) {n10}/{len(ok)} within 10%, {n2}/{len(ok)} within x2", fontsize=8
        )
    else:
        plotting.note(ax, "no run of the laws study has both values")
    ax.set_xlabel(xlab)
    ax.set_ylabel(ylab)
    panels = [
        (gapcol, gaplab, "log"),
        ("sigma0", "start scale $\\sigma_0$", "log"),
        ("depth", "depth N", "linear"),
        ("prec_cat", "precision, construction", "cat"),
    ]
    for col, (x, xl, scale) in enumerate(panels, start=1):
        bx = axes[row, col]
        bx.axhspan(0.5, 2.0, color="0.94", zorder=0)
        bx.axhspan(1 / 1.1, 1.1, color="0.85", zorder=0)
        bx.axhline(1.0, color="k", lw=0.8)
        g = ok[np.isfinite(ok[x])]
        xs = g[x].to_numpy(dtype=float)
        if scale == "cat":
            xs = xs + rng.uniform(-0.15, 0.15, len(xs))
        elif scale == "linear":
            xs = xs + rng.uniform(-0.2, 0.2, len(xs))
        for seed in sorted(g["seed"].unique()):
            one = (g["seed"] == seed).to_numpy()
            bx.scatter(
                xs[one],
                g[ratio][one],
                c=[palette[v] for v in g["varies"][one]],
                marker=marker(seed),
                s=14,
                zorder=3,
            )
        bx.set_yscale("log")
        bx.set_ylim(0.3, 3.3)
        if not len(g):  # at the top: the reference line y = 1 runs through the centre
            bx.text(
                0.5,
                0.9,
                "no run with both values",
                transform=bx.transAxes,
                fontsize=8,
                color="0.35",
                ha="center",
                va="center",
            )
        elif scale == "log":
            bx.set_xscale("log")
            values = np.unique(np.round(g[x].to_numpy(dtype=float), 6))
            if x != "sigma0" and 0 < len(values) <= 6:  # label the gaps themselves
                spaced = []
                for v in values:  # labels at least a factor 1.4 apart do not run together
                    if not spaced or v / spaced[-1] >= 1.4:
                        spaced.append(v)
                bx.set_xticks(spaced, [f"{v:g}" for v in spaced])
        bx.set_yticks([0.5, 1, 2], ["0.5", "1", "2"])
        bx.minorticks_off()
        if scale == "cat":
            bx.set_xticks(
                range(len(cats)), ["f64\northo", "f64\nanti", "f32\northo", "f32\nanti"], fontsize=7
            )
            bx.set_xlim(-0.5, len(cats) - 0.5)
        if scale == "linear" and len(g):
            bx.set_xticks(sorted(g[x].unique().astype(int)))
        if len(g) and g[x].nunique() == 1:  # the axis does not vary among this law's runs
            bx.text(
                0.03,
                0.97,
                f"all {len(g)} runs at one value",
                transform=bx.transAxes,
                fontsize=7,
                color="0.35",
                va="top",
                ha="left",
            )
        bx.set_xlabel(xl)
        bx.set_ylabel("measured / model")
for lab in labels:
    if (laws["varies"] == lab).any():
        axes[0, 0].scatter([], [], color=palette[lab], s=16, label=f"varies: {lab}")
for seed in sorted(laws["seed"].unique()):
    axes[0, 0].scatter([], [], color="0.4", marker=marker(seed), s=16, label=f"seed {int(seed)}")
axes[0, 0].plot([], [], "k-", lw=0.8, label="measured = model")
axes[0, 0].fill_between([], [], [], color="0.92", label="within a factor 2")
axes[0, 0].fill_between([], [], [], color="0.85", label="within 10% (residuals)")
fig.legend(*axes[0, 0].get_legend_handles_labels(), loc="outside right center", fontsize=7)
plotting.save(fig, sm.output, opts["dpi"])
