"""Figure 11: the two laws away from the paper's point, every run of the laws study.
Row (a): the escape law (stuck iterations at saddle k against `predicted_stuck_steps`,
predicted before the run from W(0), lr and dtype; the calibration runs held out); row (b):
the polynomial stage from a small start (time to sigma_1 = rho(0)/2 against the reduced
(sigma, u, v) flow integrated from W(0)).
First panel of a row: measured against model (identity, 10% and factor-2 bands); the others: the
residual measured/model against each axis that varies among that law's runs (an axis that
does not is named with its value in the row's title, not drawn as an empty panel).
Colour: k, as in every figure; marker: the sub-grid (axis it varies) a run belongs to;
hollow: float32 (the escape law does not hold there: counted apart)."""

import numpy as np

from dln.analysis.claims import in_calibration
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

NAMES = {"spectrum": "gap", "sigma0": "$\\sigma_0$", "widths": "depth N", "dtype": "precision"}
grids = study_grids(sm.config, "laws")
members = grid_members(sm.config, "laws")
grid_label = [
    " x ".join(NAMES.get(a, a) for a in varied_axes(g)) or f"grid {i}" for i, g in enumerate(grids)
]
laws["varies"] = [grid_label[members[r]] if r in members else "other" for r in laws.index]
SUBGRIDS = list(dict.fromkeys(grid_label + ["other"]))
MARK = {lab: "osD^vP"[i % 6] for i, lab in enumerate(SUBGRIDS)}
s = laws.apply(spectrum_values, axis=1)
k_idx = laws["predicted_k"].fillna(2).clip(lower=2).astype(int)
laws["gap_k"] = [v[0] - v[k - 1] for v, k in zip(s, k_idx, strict=True)]
laws["gap_2"] = [v[0] - v[1] for v in s]
CATS = [
    "float64 orthogonal",
    "float64 antisymmetric",
    "float32 orthogonal",
    "float32 antisymmetric",
]
TICKS = ["f64\no", "f64\na", "f32\no", "f32\na"]  # o: orthogonal, a: antisymmetric
laws["prec_cat"] = [
    float(CATS.index(f"{d} {c}")) if f"{d} {c}" in CATS else np.nan
    for d, c in zip(laws["dtype"], laws["construction"], strict=True)
]
LAWS = [
    (
        "(a) escape law",
        "stuck_steps",
        "predicted_stuck_steps",
        "stuck_prediction_ratio",
        "gap_k",
        "stuck steps at saddle k",
        "escape law, from W(0) (iterations)",
        "gap $s_1 - s_k$",
    ),
    (
        "(b) polynomial stage",
        "origin_exit_time",
        "origin_exit_time_model",
        "origin_exit_ratio",
        "gap_2",
        "time to $\\sigma_1 = \\rho(0)/2$",
        "reduced $(\\sigma, u, v)$ flow from W(0)",
        "gap $s_1 - s_2$",
    ),
]
BAND2 = dict(facecolor="0.93", edgecolor="0.55", lw=0.6, zorder=0)  # within a factor 2
BAND10 = dict(color="0.78", zorder=0)  # within 10%


def scatter(ax, g, x, y):
    """Runs as points: colour k, marker sub-grid, hollow for float32."""
    for (k, varies, first), one in g.groupby(["k", "varies", g["dtype"] == "float64"]):
        color = plotting.k_color(k)
        ax.scatter(
            x[one.index],
            one[y],
            marker=MARK[varies],
            s=16,
            zorder=3,
            lw=0.8,
            facecolors=color if first else "none",
            edgecolors=color,
        )


def identity_panel(ax, ok, meas, model, xlab, ylab) -> str:
    """Measured against model on log-log axes; returns the counts within 10% and x2."""
    scatter(ax, ok, ok[model], meas)
    lo = 0.6 * min(ok[model].min(), ok[meas].min())
    hi = 1.6 * max(ok[model].max(), ok[meas].max())
    mid = np.sqrt(lo * hi)  # at least a decade and a half: minor tick labels would collide
    lo, hi = min(lo, mid / 6), max(hi, mid * 6)
    ax.plot([lo, hi], [lo, hi], "k-", lw=0.8)
    ax.fill_between([lo, hi], [lo / 2, hi / 2], [2 * lo, 2 * hi], **BAND2)
    ax.fill_between([lo, hi], [lo / 1.1, hi / 1.1], [1.1 * lo, 1.1 * hi], **BAND10)
    ax.set(xscale="log", yscale="log", xlim=(lo, hi), ylim=(lo, hi), xlabel=xlab, ylabel=ylab)
    ratio = ok[meas] / ok[model]
    if meas != "stuck_steps":
        return counts(ratio)
    f64 = ok["dtype"] == "float64"
    text = "float64: " + counts(ratio[f64])
    if (~f64).any():
        text += f"\nfloat32 (hollow; the law does not hold): {counts(ratio[~f64], short=True)}"
    return text


def counts(ratio, short=False) -> str:
    """'n/N within 10%, median m, range a-b' of measured/model."""
    n10, n2 = int(((ratio - 1).abs() <= 0.1).sum()), int(((ratio >= 0.5) & (ratio <= 2)).sum())
    text = f"{n10}/{len(ratio)} within 10%"
    if short or not len(ratio):
        return text
    return f"{text}, {n2}/{len(ratio)} within x2, median {ratio.median():.3f} " + (
        f"(range {ratio.min():.2f}-{ratio.max():.2f})"
    )


def residual_panel(bx, ok, col, label, ratio):
    """measured/model against one varied axis (jittered when it is discrete)."""
    bx.axhspan(0.5, 2.0, **BAND2)
    bx.axhspan(1 / 1.1, 1.1, **BAND10)
    bx.axhline(1.0, color="k", lw=0.8)
    g = ok[np.isfinite(ok[col])]
    x = g[col].astype(float)
    if col in ("prec_cat", "depth"):
        x = x + np.random.default_rng(0).uniform(-0.15, 0.15, len(x))
    scatter(bx, g, x, ratio)
    bx.set(yscale="log", ylim=(0.3, 3.3), xlabel=label)
    bx.set_yticks([0.5, 1, 2], ["0.5", "1", "2"])
    if col in (ok.columns[ok.columns.str.startswith("gap")].tolist() + ["sigma0"]):
        bx.set_xscale("log")
        values = np.unique(np.round(g[col].to_numpy(dtype=float), 6))
        if col != "sigma0" and len(values) <= 6:  # label the gaps, a factor 1.4 apart or more
            spaced = [v for i, v in enumerate(values) if i == 0 or v / values[i - 1] >= 1.4]
            bx.set_xticks(spaced, [f"{v:g}" for v in spaced])
    elif col == "prec_cat":
        bx.set_xticks(range(len(CATS)), TICKS, fontsize=7.5)
        bx.set_xlim(-0.5, len(CATS) - 0.5)
    else:  # depth: at most four integer ticks, their labels apart
        from matplotlib.ticker import MaxNLocator

        bx.xaxis.set_major_locator(MaxNLocator(4, integer=True))
    bx.minorticks_off()


def law_row(sub, law):
    """One subfigure: the identity panel, then one residual panel per axis that varies."""
    title, meas, model, ratio, gapcol, ylab, xlab, gaplab = law
    ok = laws[
        np.isfinite(laws[meas])
        & np.isfinite(laws[model])
        & (laws[model] > 0)
        & np.isfinite(laws[ratio])
    ]
    if meas == "stuck_steps":  # the escape law: runs held out from its calibration
        ok = ok[~in_calibration(ok)]
    axes = [
        (gapcol, gaplab),
        ("sigma0", "start scale $\\sigma_0$"),
        ("depth", "depth N"),
        ("prec_cat", "precision,\nstart (o/a)"),
    ]
    shown = [(c, lab) for c, lab in axes if ok[c].nunique() > 1]
    fixed = [
        f"{lab.split(' ', 2)[-1] if c == 'sigma0' else lab} = {ok[c].iloc[0]:g}"
        for c, lab in axes
        if ok[c].nunique() == 1 and c != "prec_cat"
    ]
    panels = sub.subplots(1, 1 + len(shown), width_ratios=[1.25] + [1] * len(shown))
    panels = np.atleast_1d(panels)
    if not len(ok):
        plotting.note(panels[0], "no run of the laws study has both values")
        panels[0].set(xlabel=xlab, ylabel=ylab)
        sub.suptitle(title, fontsize=8.8)
        return
    count_text = identity_panel(panels[0], ok, meas, model, xlab, ylab)
    for bx, (col, lab) in zip(panels[1:], shown, strict=True):
        residual_panel(bx, ok, col, lab, ratio)
        bx.sharey(panels[1])
    if len(panels) > 1:
        panels[1].set_ylabel(
            "measured / " + ("predicted" if ratio.startswith("stuck") else "model")
        )
        for bx in panels[2:]:
            bx.tick_params(labelleft=False)
    same = f" (in every run {', '.join(fixed)})" if fixed else ""
    sub.suptitle(f"{title}{same}\n{count_text}", fontsize=8.8)


fig = plotting.figure(opts, height=6.0)
for sub, law in zip(fig.subfigures(2, 1), LAWS, strict=True):
    law_row(sub, law)
handles = [
    plotting.marker_handle(plotting.k_color(k), "o", f"k = {int(k)}")
    for k in sorted(laws["k"].dropna().unique())
]
handles += [
    plotting.marker_handle("0.3", MARK[lab], f"varies: {lab}")
    for lab in SUBGRIDS
    if (laws["varies"] == lab).any()
]
if (laws["dtype"] == "float32").any():
    handles.append(plotting.marker_handle("0.3", "o", "hollow: float32", True))
handles += [
    plotting.patch_handle("within a factor 2", **BAND2),
    plotting.patch_handle("within 10%", **BAND10),
]
fig.legend(handles=handles, loc="outside lower center", ncol=4, fontsize=8)
plotting.save(fig, sm.output, opts["dpi"], opts["width"])
