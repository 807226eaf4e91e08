"""Shared look and helpers of the figure scripts (one script per figure in workflow/scripts)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from dln.data.io import atomic_output, job_log, open_runs  # noqa: E402
from dln.figures import figcheck  # noqa: E402
from dln.model.problem import Problem  # noqa: E402

K_PALETTE = "viridis"
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


def k_colors(ks) -> dict:
    ks = sorted(set(int(k) for k in ks if k == k))  # NaN (no k) has no colour
    colors = palette(K_PALETTE, max(len(ks), 2))
    return {k: colors[i] for i, k in enumerate(ks)}


def options(sm) -> dict:
    """The figure's params: dpi, main_seed and its own options (workflow/figures.yaml)."""
    return dict(sm.params.options)


def load_runs(sm):
    """The run files this figure draws (its registry selectors), combined along `run`;
    None when the config plans none of them."""
    paths = list(sm.params.get("runs", []))  # (inputs: the manifests of their batches)
    return open_runs(paths, weights=False) if paths else None


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
    widths = tuple(int(w) for w in str(run["widths"].values).split("-"))
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


def level_lines(ax, levels, label=True, **kw):
    """Horizontal lines at the critical levels L_0..L_d, labelled at the right edge. Levels
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
        text = ", ".join(f"$L_{k}={levels[k]:g}$" for k in group)
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


def save(fig, outputs, dpi: int) -> None:
    """Write each output (PDF, PNG) atomically: a killed job leaves no half-written figure."""
    if figcheck.gate_enabled():
        figcheck.check(fig, Path(outputs[0]).stem)
    for out in outputs:
        out = Path(out)
        with atomic_output(out, suffix=out.suffix) as tmp:  # savefig infers the format
            fig.savefig(
                tmp, dpi=dpi, metadata={"CreationDate": None} if out.suffix == ".pdf" else None
            )
    plt.close(fig)


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
