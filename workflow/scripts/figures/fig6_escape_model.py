"""Figure 6: measured stuck length against two models, every escaped GD run of every study
held out from the escape law's calibration. (a) the escape law: `predicted_stuck_steps`,
predicted before the run from W(0), lr and dtype alone; (b) the escape model
ln(p_exit/eps) / ((s_1 - s_k) s_k^{1-2/N} lr) with eps = |p_1| read off the same run when its
plateau starts (a check of the growth exponent, not a prediction); the notes' estimate
ln(1/eps) / (...) is summarised in (b)'s text. Colour: k; marker: start construction; filled:
float64, hollow: float32 (where the law does not hold); the other settings are pooled."""

import numpy as np

from dln.analysis.claims import in_calibration
from dln.figures import plotting

sm = snakemake  # noqa: F821
plotting.setup(sm)
opts = plotting.options(sm)
tab = plotting.table(sm)
esc = tab[(tab["solver"] == "gd") & tab["stuck_steps"].notna()]
esc = esc[~in_calibration(esc)]
MARKERS = {"orthogonal": "o", "antisymmetric": "^"}
BAND2 = dict(facecolor="0.93", edgecolor="0.6", lw=0.6, zorder=0)
BAND10 = dict(facecolor="0.72", edgecolor="none", zorder=1)
PANELS = [
    (
        "predicted_stuck_steps",
        "(a) escape law: predicted from W(0), lr and dtype",
        "escape law's prediction (iterations)",
    ),
    (
        "escape_model_steps",
        "(b) escape model (eps read off the run):\na check of the growth exponent",
        "escape model (iterations)",
    ),
]


def usable(col):
    """The runs with a positive, finite value of `col`."""
    return esc[np.isfinite(esc[col]) & (esc[col] > 0)]


def stats(ratio, what) -> str:
    """'what: n/N within 10%, median m, range a-b' of measured/model, on two lines."""
    if not len(ratio):
        return f"{what}: no run"
    n10 = int(((ratio - 1).abs() <= 0.1).sum())
    return (
        f"{what}: {n10}/{len(ratio)} within 10%,\n  median {ratio.median():.3f}, "
        f"range {ratio.min():.2f}-{ratio.max():.2f}"
    )


def scatter(ax, runs, col):
    """Runs as points: colour k, marker construction, hollow for float32."""
    for (k, cons, dtype), g in runs.groupby(["k", "construction", "dtype"]):
        color = plotting.k_color(k)
        ax.scatter(
            g[col],
            g["stuck_steps"],
            marker=MARKERS.get(cons, "s"),
            s=18,
            zorder=3,
            lw=0.8,
            facecolors=color if dtype == "float64" else "none",
            edgecolors=color,
        )


def bands(ax, lim):
    """Identity, within 10% and within a factor 2."""
    ax.plot(lim, lim, "k-", lw=0.8, zorder=2)
    ax.fill_between(lim, [x / 1.1 for x in lim], [1.1 * x for x in lim], **BAND10)
    ax.fill_between(lim, [x / 2 for x in lim], [2 * x for x in lim], **BAND2)


def panel_texts(runs, col) -> tuple[str, str]:
    """The counts written in a panel: (upper-left, lower-right), the two corners the points
    leave empty; float32 goes below in (a), the notes' estimate in (b)."""
    law = col == "predicted_stuck_steps"
    top = ["measured / predicted" if law else "measured / model"]
    bottom = []
    for dtype, g in sorted(runs.groupby("dtype"), key=lambda x: x[0] != "float64"):
        ratio = g["stuck_steps"] / g[col]
        if dtype == "float64":
            top.append(stats(ratio, dtype))
        elif law:
            bottom.append(stats(ratio, f"{dtype} (hollow), where the law\ndoes not hold"))
        else:
            top.append(stats(ratio, f"{dtype} (hollow)"))
    if not law:
        notes = usable("notes_estimate_steps")
        ratio = notes["stuck_steps"] / notes["notes_estimate_steps"]
        bottom.append(stats(ratio, "notes' estimate ln(1/eps)/(...),\nmeasured / estimate"))
    return "\n".join(top), "\n".join(bottom)


def corner_text(ax, text, x, y, ha, va):
    """Text inside the axes, in a corner the points leave empty."""
    note = ax.text(x, y, text, transform=ax.transAxes, ha=ha, va=va, fontsize=7)
    note.set_in_layout(False)  # inside the axes: the layout need not make room for it


def draw(ax, col, title, xlabel, lim):
    runs = usable(col)
    if len(runs):
        scatter(ax, runs, col)
        bands(ax, lim)
        ax.set(xscale="log", yscale="log", xlim=lim, ylim=lim)
        top, bottom = panel_texts(runs, col)
        corner_text(ax, top, 0.03, 0.97, "left", "top")
        corner_text(ax, bottom, 0.97, 0.03, "right", "bottom")
    else:
        plotting.note(ax, "no run escaped a saddle within the step budget")
    ax.set_title(title, fontsize=8.5)
    ax.set_xlabel(xlabel)


def legend(fig):
    handles = [
        plotting.marker_handle(plotting.k_color(k), "o", f"k = {int(k)}")
        for k in sorted(esc["k"].unique())
    ]
    handles += [
        plotting.marker_handle("0.3", MARKERS.get(c, "s"), c)
        for c in sorted(esc["construction"].unique())
    ]
    if (esc["dtype"] == "float32").any():
        handles.append(plotting.marker_handle("0.3", "o", "hollow: float32", True))
    handles += [
        plotting.patch_handle("within 10%", **BAND10),
        plotting.patch_handle("within a factor 2", **BAND2),
    ]
    pooled = plotting.pooled_note(esc, shown=("k", "dtype", "solver", "construction"))
    title = f"escaped GD runs of every study, calibration runs held out ({len(esc)})"
    fig.legend(
        handles=handles,
        loc="outside lower center",
        ncol=5,
        fontsize=7.5,
        title=plotting.legend_title(title, pooled),
        title_fontsize=7.5,
    )


fig, axes = plotting.subplots(opts, 1, 2, height=3.6, sharey=True)
cols = ["stuck_steps", "predicted_stuck_steps", "escape_model_steps"]
values = esc[cols].to_numpy(dtype=float)
values = values[np.isfinite(values) & (values > 0)]
lim = [0.7 * values.min(), 1.4 * values.max()] if len(values) else [1.0, 10.0]
for ax, (col, title, xlabel) in zip(axes, PANELS, strict=True):
    draw(ax, col, title, xlabel, lim)
axes[0].set_ylabel("measured stuck length (iterations)")
if len(esc):
    legend(fig)
plotting.save(fig, sm.output, opts["dpi"], opts["width"])
