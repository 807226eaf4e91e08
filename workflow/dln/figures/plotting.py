"""Shared look and helpers of the figure scripts (one script per figure in workflow/scripts)."""

from __future__ import annotations

import gc
import os
import weakref
from pathlib import Path

# The collector's passes while matplotlib and pandas are imported cost a figure job ~0.15 s
# and free nothing (modules live as long as the job): paused for the imports, whose objects
# are then left out of its later passes (gc.freeze). So the figure scripts import plotting
# before anything of matplotlib (a script's own matplotlib imports are local, at their use).
_GC_WAS_ENABLED = gc.isenabled()
gc.disable()
try:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np
    import pandas as pd

    from dln.data.io import atomic_output, job_log, open_runs
    from dln.figures import figcheck
    from dln.model.problem import Problem
finally:
    gc.freeze()
    if _GC_WAS_ENABLED:
        gc.enable()

# seaborn's "colorblind" palette, written out (see STYLE on why seaborn is not imported)
COLORBLIND = [
    "#0173b2",
    "#de8f05",
    "#029e73",
    "#d55e00",
    "#cc78bc",
    "#ca9161",
    "#fbafe4",
    "#949494",
    "#ece133",
    "#56b4e9",
]
# seaborn's "paper" context with its "ticks" style, as plain rcParams: importing seaborn costs
# a figure job ~0.8 s (it imports scipy.stats), more than drawing the figure
STYLE = {
    "font.size": 9.6,
    "axes.labelsize": 9.6,
    "axes.titlesize": 9.6,
    "xtick.labelsize": 8.8,
    "ytick.labelsize": 8.8,
    "legend.fontsize": 8.8,
    "legend.title_fontsize": 9.6,
    "axes.linewidth": 1.0,
    "grid.linewidth": 0.8,
    "lines.linewidth": 1.2,
    "lines.markersize": 4.8,
    "patch.linewidth": 0.8,
    "xtick.major.width": 1.0,
    "ytick.major.width": 1.0,
    "xtick.minor.width": 0.8,
    "ytick.minor.width": 0.8,
    "xtick.major.size": 4.8,
    "ytick.major.size": 4.8,
    "xtick.minor.size": 3.2,
    "ytick.minor.size": 3.2,
    "axes.edgecolor": ".15",
    "axes.labelcolor": ".15",
    "text.color": ".15",
    "xtick.color": ".15",
    "ytick.color": ".15",
    "xtick.direction": "out",
    "ytick.direction": "out",
    "axes.facecolor": "white",
    "figure.facecolor": "white",
    "font.family": ["sans-serif"],
    "font.sans-serif": ["Arial", "DejaVu Sans", "Liberation Sans", "sans-serif"],
    "axes.axisbelow": True,
    "grid.color": ".8",
    "patch.edgecolor": "w",
}


def palette(name: str, n: int) -> list:
    """n colours of a matplotlib colormap, as seaborn's color_palette(name, n) picks them:
    qualitative maps from the start, continuous maps evenly inside their ends."""
    cmap = matplotlib.colormaps[name]
    if hasattr(cmap, "colors") and len(cmap.colors) <= 20:
        return [tuple(c) for c in cmap.colors[:n]]
    return [tuple(c) for c in cmap(np.linspace(0, 1, n + 2)[1:-1])]


def setup(sm=None):
    """Common style; with the Snakemake object, errors and warnings go to the job's log."""
    if sm is not None:
        job_log(sm)
    elif figcheck.gate_enabled():  # the tests' quality gate: a warning is an error
        import warnings

        warnings.simplefilter("error")
    plt.rcParams.update(STYLE)
    plt.rcParams.update(
        {
            "figure.constrained_layout.use": True,
            "savefig.bbox": "tight",
            "legend.frameon": False,
            "axes.grid": True,
            "grid.alpha": 0.3,
        }
    )


# k is a category (the saddle a start targets): one colour per k in every figure, from the
# Okabe-Ito colour-blind-safe palette (no yellow: it does not show on white)
K_COLORS = {
    0: "#0072B2",
    1: "#E69F00",
    2: "#009E73",
    3: "#CC79A7",
    4: "#56B4E9",
    5: "#D55E00",
    6: "#000000",
}


def k_color(k) -> str:
    """The colour of start index k, the same in every figure."""
    k = int(k)
    return K_COLORS.get(k, COLORBLIND[k % len(COLORBLIND)])


def k_colors(ks) -> dict:
    """k -> its colour (k_color) for the k present; NaN (no k) has no colour."""
    return {int(k): k_color(k) for k in ks if k == k}


def subplots(opts: dict, nrows: int = 1, ncols: int = 1, height: float = 2.6, **kw):
    """plt.subplots at the figure's printed width (the registry's `width`), so that what the
    reader sees at that width is what is drawn."""
    return plt.subplots(nrows, ncols, figsize=(opts["width"], height), **kw)


def options(sm) -> dict:
    """The figure's params: dpi, main_seed and its own options (workflow/figures.yaml)."""
    return dict(sm.params.options)


def load_runs(sm):
    """The run files this figure draws (its registry selectors), combined along `run`;
    None when the config plans none of them. Each is checked like every stage checks it: its
    content checksum, and the run key its store path ends in."""
    paths = list(sm.params.get("runs", []))  # (inputs: the manifests of their batches)
    return open_runs(paths, weights=False, planned=True) if paths else None


def table(sm) -> pd.DataFrame:
    """The per-run table rows this figure draws (settings, study flags, metrics): the whole
    table (runs.csv), or the rows of its studies (tables/<study>.csv), where a run of several
    of them is one row flagged in_<study> for each."""
    if sm.input.get("table"):
        return pd.read_csv(sm.input.table, index_col="run")
    parts = [pd.read_csv(path, index_col="run") for path in sm.input.tables]
    filled = [part for part in parts if len(part)] or parts[:1]  # (concat warns on empty ones)
    tab = pd.concat(filled)
    flags = [c for c in tab.columns if c.startswith("in_")]
    member = tab[flags].eq(True).groupby(level=0).any()
    return tab[~tab.index.duplicated()].drop(columns=flags).join(member)


def in_study(tab: pd.DataFrame, study: str) -> pd.Series:
    return tab.get(f"in_{study}", pd.Series(False, index=tab.index)).astype(bool)


def runs(ds, **coords):
    """The runs whose settings equal the given values."""
    mask = np.ones(ds.sizes["run"], dtype=bool)
    for name, value in coords.items():
        mask &= ds[name].values == value
    return ds.isel(run=np.flatnonzero(mask))


def levels(ds) -> np.ndarray:
    """Critical levels L_0..L_d of the (first) run's problem."""
    lv = ds["critical_level"]
    return np.asarray(lv.isel(run=0).values if "run" in lv.dims else lv.values)


def problem_of(run) -> Problem:
    """The Problem of one run of a combined Dataset (its widths and spectrum; the theory's
    mode formulas need no singular vectors)."""
    widths = tuple(int(w) for w in str(run["widths"].values).replace("-", ",").split(","))
    s = np.asarray(run["s"].values, dtype=float)
    return Problem(widths=widths, s=s[np.isfinite(s)], U=None, V=None)


def empty_figure(sm, text: str) -> None:
    """A figure that says why it is empty (e.g. its study is switched off), then exit."""
    import sys

    fig, ax = plt.subplots(figsize=(4.0, 2.0))
    ax.set_axis_off()
    note(ax, text)
    save(fig, sm.output, options(sm)["dpi"])
    sys.exit(0)


def level_lines(ax, levels, label=True, values=True, **kw):
    """Horizontal lines at the critical levels L_0..L_d, labelled at the right edge (with
    their values unless `values` is False: a one-column figure needs the room). Levels
    closer than a label's height (at the axes' current size and limits) share one label, so
    the labels never run into each other."""
    style = dict(color="0.45", lw=0.7, ls="--", zorder=0) | kw
    levels = np.asarray(levels, dtype=float)
    order = [int(k) for k in np.argsort(levels) if np.isfinite(levels[k])]
    for k in order:
        ax.axhline(levels[k], **style)
    if not label or not order:
        return
    lo, hi = ax.get_ylim()
    height_pt = ax.get_window_extent().height * 72 / ax.figure.dpi
    min_gap = 10.0 / max(height_pt, 1.0) * abs(hi - lo)  # 10 pt: a 7-pt label and some air
    groups = [[order[0]]]
    for k in order[1:]:
        if levels[k] - levels[groups[-1][-1]] < min_gap:
            groups[-1].append(k)
        else:
            groups.append([k])
    for group in groups:
        text = ", ".join(f"$L_{k}={levels[k]:g}$" if values else f"$L_{k}$" for k in group)
        ax.annotate(
            text,
            xy=(1.0, float(np.mean(levels[group]))),
            xycoords=("axes fraction", "data"),
            xytext=(3, 0),
            textcoords="offset points",
            va="center",
            fontsize=7,
            color="0.3",
        )


def save(fig, outputs, dpi: int, width: float | None = None) -> None:
    """Write each output (PDF, PNG) atomically: a killed job leaves no half-written figure.
    Under the quality gate the figure is checked first, its text at the printed `width`."""
    if width is not None:
        fit_width(fig, width)
    if os.environ.get("DLN_FIGURE_COUNTS"):
        record_counts(fig, Path(os.environ["DLN_FIGURE_COUNTS"]) / f"{Path(outputs[0]).stem}.json")
    if figcheck.gate_enabled():
        figcheck.check(fig, Path(outputs[0]).stem, width)
    for out in outputs:
        out = Path(out)
        with atomic_output(out, suffix=out.suffix) as tmp:  # savefig infers the format
            fig.savefig(
                tmp, dpi=dpi, metadata={"CreationDate": None} if out.suffix == ".pdf" else None
            )
    plt.close(fig)


def figure(opts: dict, height: float = 2.6):
    """An empty figure at the printed width (for subfigures)."""
    return plt.figure(figsize=(opts["width"], height))


def line_handle(label: str, **style):
    """A legend proxy for a kind of line (style: Line2D's keywords)."""
    from matplotlib.lines import Line2D

    return Line2D([], [], label=label, **style)


def marker_handle(color, marker: str, label: str, hollow: bool = False):
    """A legend proxy for a kind of point."""
    from matplotlib.lines import Line2D

    face = "none" if hollow else color
    return Line2D([], [], ls="none", marker=marker, color=color, mfc=face, label=label)


def patch_handle(label: str, **style):
    """A legend proxy for a shaded band."""
    from matplotlib.patches import Patch

    style = {k: v for k, v in style.items() if k != "zorder"}
    if "lw" in style:
        style["linewidth"] = style.pop("lw")
    return Patch(label=label, **style)


RUN_GID = "run"  # gid of the artists that draw one run each (lines) or one run per point


def run_marks(fig) -> int:
    """How many runs a figure draws: its lines tagged RUN_GID, plus the points of its
    scatters tagged RUN_GID (the tests count them against the table: no run dropped)."""
    n = 0
    for ax in fig.axes:
        n += sum(line.get_gid() == RUN_GID for line in ax.lines)
        n += sum(len(c.get_offsets()) for c in ax.collections if c.get_gid() == RUN_GID)
    return n


def record_counts(fig, path: Path) -> None:
    """Write {"runs": run_marks(fig)} as JSON (DLN_FIGURE_COUNTS: the directory; for tests)."""
    import json

    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"runs": run_marks(fig)}))


def fit_width(fig, width: float) -> None:
    """Resize the figure so that what savefig(bbox="tight") writes is `width` inches wide:
    labels outside the axes (level labels, outside legends) widen the saved box beyond the
    figure, and the printed page would shrink every font by as much."""
    for _ in range(3):
        saved = saved_width(fig)
        if abs(saved - width) < 0.01:
            return
        w, h = fig.get_size_inches()
        fig.set_size_inches(w * width / saved, h)


# figure -> what its last layout measured (lay_out): emptied by any draw of the figure
_LAYOUT: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def lay_out(fig) -> None:
    """Lay the figure out as a draw does (constrained layout, ticks, legends, line paths)
    without rasterising it, unless it is unchanged since this function last did: a draw costs
    a figure job ~0.1-0.3 s, and measuring needs only the layout. matplotlib marks every change
    to a figure stale (a resize, a restyled line, a new legend); a draw by anyone else
    (savefig, the quality gate) forgets the measurement."""
    measured = _LAYOUT.get(fig)
    if measured is None:
        measured = _LAYOUT[fig] = {}
        fig.canvas.mpl_connect("draw_event", lambda _event: measured.clear())
    if fig.stale or not measured:
        fig.draw_without_rendering()
        # (savefig pads the tight box by savefig.pad_inches on each side)
        measured["saved_width"] = (
            fig.get_tightbbox(fig.canvas.get_renderer()).width
            + 2 * plt.rcParams["savefig.pad_inches"]
        )
        # get_tightbbox sets each axis's ticks again, to what the draw has just set them to:
        # stale by the flag, unchanged in fact
        fig.stale = False


def saved_width(fig) -> float:
    """The width in inches savefig(bbox="tight") writes the figure at (laid out first)."""
    lay_out(fig)
    return _LAYOUT[fig]["saved_width"]


def note(ax, text):
    """Say on the axes why a panel is empty, instead of leaving it blank."""
    import textwrap

    ax.text(
        0.5,
        0.5,
        textwrap.fill(text, 32),
        transform=ax.transAxes,
        ha="center",
        va="center",
        fontsize=8,
        color="0.35",
    )


def is_diverged(run) -> bool:
    """Whether a run (one entry of the aggregate) stopped because its loss was not finite."""
    return "diverged" in run.variables and bool(run["diverged"])


def mark_diverged(ax, run, x="step", y="loss", color="k") -> str:
    """For a diverged run, an 'x' at its last finite record (its line stops there); returns a
    label suffix that says so, '' for other runs."""
    if not is_diverged(run):
        return ""
    xs, ys = np.asarray(run[x].values), np.asarray(run[y].values, dtype=float)
    ok = np.flatnonzero(np.isfinite(ys))
    if ok.size:
        ax.plot(xs[ok[-1]], ys[ok[-1]], "x", color=color, ms=7, mew=1.6, zorder=4)
    return " (diverged)"


def note_diverged(ax, ds, what="not shown") -> None:
    """Say in a corner how many of the runs in `ds` diverged (and so are not drawn)."""
    n = int(np.sum(ds["diverged"].values.astype(bool))) if "diverged" in ds.variables else 0
    if n:
        ax.text(
            0.02,
            0.02,
            f"{n} diverged run{'s' * (n > 1)} {what}",
            transform=ax.transAxes,
            fontsize=7,
            color="0.35",
            ha="left",
            va="bottom",
        )


def fmt_k(value) -> str:
    """A k read from a file (float; NaN when it does not apply) as text."""
    value = float(value)
    return "n/a" if np.isnan(value) else str(int(value))


def fmt_lr(lr: float) -> str:
    """Compact step-size label for ticks: 0.00025 -> 2.5e-4."""
    mantissa, exponent = f"{lr:.2e}".split("e")
    return f"{float(mantissa):g}e{int(exponent)}"


def settled_at(x, y, tol: float) -> float:
    """The first x after which y stays within tol of its last finite value: where a curve
    stops changing, so that axes need not show a long flat tail."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    ok = np.isfinite(y)
    if not ok.any():
        return float("nan")
    x, y = x[ok], y[ok]
    moving = np.flatnonzero(np.abs(y - y[-1]) >= tol)
    return float(x[min(moving[-1] + 1, len(x) - 1)]) if moving.size else float(x[0])


# --------------------------------------------------------------------------- varied settings

# the run settings a study can vary (issue "Sweep anything"): a figure lays some out itself
# (its x axis, its colour, its panels); Encoding maps the others that vary to line style and
# marker, and fixed_note states the value of those that do not
VARIED_SETTINGS = (
    "solver",
    "construction",
    "dtype",
    "sigma0",
    "init_scale",
    "spectrum",
    "widths",
    "lr",
    "basis",
    "basis_seed",
    "seed",
    "steps",
    "k",
)
SETTING_NAMES = {"sigma0": "$\\sigma_0$", "widths": "widths", "basis_seed": "basis seed"}
LINESTYLES = ["-", "--", ":", "-.", (0, (5, 1, 1, 1, 1, 1)), (0, (1, 3))]
MARKERS = ["o", "s", "^", "D", "v", "P", "X", "*"]


def settings_frame(ds) -> pd.DataFrame:
    """One row per run of a combined Dataset: its settings (the columns of the table)."""
    cols = {c: np.atleast_1d(ds[c].values) for c in VARIED_SETTINGS if c in ds.variables}
    return pd.DataFrame(cols)


def fmt_setting(name: str, value) -> str:
    """A setting's value as a reader reads it: 5e-4, 0.01, 8-3-5-10-1-4-5."""
    if isinstance(value, float | np.floating):
        if value != value:
            return "n/a"
        return f"{int(value)}" if name in ("k", "seed", "steps") else f"{value:.3g}"
    return str(value)


def varied(frame: pd.DataFrame, shown=()) -> list[str]:
    """The settings that vary among the rows of `frame` and the figure does not lay out."""
    return [
        c
        for c in VARIED_SETTINGS
        if c in frame and c not in shown and frame[c].astype(str).nunique() > 1
    ]


def fixed_note(frame: pd.DataFrame, names) -> str:
    """'seed 0, lr 0.0005': the one value each named setting takes in `frame` (those that
    vary are left out: an Encoding shows them)."""
    parts = []
    for name in names:
        if name in frame and frame[name].astype(str).nunique() == 1:
            value = fmt_setting(name, frame[name].iloc[0])
            parts.append(f"{SETTING_NAMES.get(name, name)} = {value}")
    return ", ".join(parts)


def textwrap_note(text: str, width: int = 44) -> str:
    """A legend title wrapped for a one-column figure (it must not be wider than the axes)."""
    import textwrap

    return textwrap.fill(text, width)


def pooled_note(frame: pd.DataFrame, shown=()) -> str:
    """'pooled over: lr, widths': the settings that vary among the rows of `frame` and a
    figure draws in one cloud rather than lay out (an honest label for a scatter of every
    run of every study)."""
    names = [SETTING_NAMES.get(n, n) for n in varied(frame, shown)]
    return f"pooled over: {', '.join(names)}" if names else ""


class Encoding:
    """Line style and marker for the settings a figure does not lay out itself: every run of
    `frame` keeps its own look, so no run is drawn over another of different settings, and
    the legend names each combination (nothing is drawn when none varies). A combination is
    labelled by what differs from the reference (each setting's most common value), and the
    reference values go in the legend's title (`reference_note`)."""

    def __init__(self, frame: pd.DataFrame, shown=()):
        self.names = varied(frame, shown)
        rows = [self.key(row) for _, row in frame.iterrows()]
        keys = sorted(set(rows), key=str)
        self.index = {key: i for i, key in enumerate(keys)}
        # per setting, its most common value (first in order on a tie)
        self.reference = tuple(
            max(sorted({r[j] for r in rows}), key=[r[j] for r in rows].count)
            for j in range(len(self.names))
        )

    def key(self, row) -> tuple:
        return tuple(fmt_setting(n, _scalar(row[n])) for n in self.names)

    def style(self, row, line: bool = False) -> dict:
        """Keyword arguments of ax.plot/scatter for this run: linestyle and marker (a line
        carries a few markers when settings vary: six line styles alone would repeat)."""
        i = self.index.get(self.key(row), 0) if self.names else 0
        style = {"ls": LINESTYLES[i % len(LINESTYLES)], "marker": MARKERS[i % len(MARKERS)]}
        if line:
            style = {"ls": style["ls"]}
            if self.names:
                style |= {"marker": MARKERS[i % len(MARKERS)], "markevery": 0.1, "ms": 3.5}
        return style

    def label(self, key: tuple) -> str:
        """What differs from the reference ('reference' for the reference itself)."""
        parts = [
            f"{SETTING_NAMES.get(n, n)} = {v}"
            for n, v, ref in zip(self.names, key, self.reference, strict=True)
            if v != ref
        ]
        return ", ".join(parts) or ("reference" if self.names else "")

    def reference_note(self) -> str:
        """'reference: sigma0 = 0.01, lr = 0.0005' ('' when nothing varies)."""
        parts = [
            f"{SETTING_NAMES.get(n, n)} = {v}"
            for n, v in zip(self.names, self.reference, strict=True)
        ]
        return f"reference: {', '.join(parts)}" if parts else ""

    def handles(self, line: bool = True) -> list:
        """Grey legend proxies, one per combination of the varied settings."""
        from matplotlib.lines import Line2D

        out = []
        for key, i in self.index.items() if self.names else []:
            marker = MARKERS[i % len(MARKERS)]
            style = {"ls": LINESTYLES[i % len(LINESTYLES)], "marker": marker, "ms": 3.5}
            if not line:
                style = {"ls": "none", "marker": marker}
            out.append(Line2D([], [], color="0.3", label=self.label(key), **style))
        return out


def halo(n: int) -> dict:
    """Style of the n-th run (0, 1, ...) of an axes whose curve lies on a curve drawn before:
    a wide pale band under it, each further one wider and lower, so that every run stays
    visible (the gate reports a curve hidden under another)."""
    return {"lw": 4.5 + 2.5 * n, "alpha": 0.3, "zorder": 1.5 - 0.01 * n}


def unhide(fig, drop=("model",), start: int = 0) -> list:
    """Restyle every data curve that lies entirely under another (the gate's criterion,
    figcheck.hidden_pairs, on the drawn figure) as a halo (numbered from `start`), so that
    both stay visible, and remove those whose gid is in `drop` (a model curve under the same
    model adds nothing); returns the restyled lines (a figure names them in its legend)."""
    lay_out(fig)
    restyled = []
    for ax in fig.axes:
        hidden = [ax.lines[i] for i, _ in figcheck.hidden_pairs(ax)]
        for line in hidden:
            if line.get_gid() in drop:
                line.remove()
            else:
                line.set(**halo(start + len(restyled)))
                restyled.append(line)
    return restyled


def legend_with_halos(fig, make_legend, width: float):
    """Draw the legend (make_legend(any_halo): with an entry that explains halos when there
    are some), fit the figure to its printed width and unhide the curves hidden at that
    layout, until none is: the legend and the width change the layout, and so what lies
    under what. A halo keeps its run's colour and markers: they say which run it is."""
    restyled = []
    for _ in range(4):
        legend = make_legend(bool(restyled))
        fit_width(fig, width)
        new = unhide(fig, start=len(restyled))
        if not new:
            return legend
        legend.remove()
        restyled += new
    return make_legend(bool(restyled))


def halo_handle():
    """The legend entry that explains halos (plotting.unhide)."""
    from matplotlib.lines import Line2D

    return Line2D([], [], color="0.2", label="halo: on another's curve", **halo(0))


def legend_height(n_entries: int, ncol: int, title_lines: int = 0) -> float:
    """Inches a legend below the panels needs beyond one row: the figure grows by this
    much, so that its panels are not squeezed."""
    return 0.2 * (max(-(-n_entries // ncol), 1) - 1 + title_lines)


def legend_title(*parts: str, width: int = 100) -> str | None:
    """A legend title from the non-empty parts, wrapped to `width` characters a line."""
    import textwrap

    text = "; ".join(p for p in parts if p)
    return textwrap.fill(text, width) if text else None


def _scalar(value):
    value = getattr(value, "values", value)
    return value.item() if isinstance(value, np.ndarray) else value
