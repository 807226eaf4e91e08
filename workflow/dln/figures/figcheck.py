"""A quality gate for drawn figures: what a reader would notice at first sight.

`problems(fig)` draws a matplotlib Figure (Agg) and lists, one string per problem:

1. axes with plotted data but no x or y label (in a sharex/sharey grid a panel may omit the
   label that a visible panel it shares the axis with, in the same column for x or the same
   row for y, carries; a figure-level supxlabel/supylabel covers every panel);
2. legends lying on plotted data: vertices of data lines, scatter points, vertices and
   interiors of filled areas, bars;
3. legends overlapping another legend or a text artist, and free text (annotations, notes,
   level labels) overlapping other text (tick labels, axis labels, titles, other notes);
4. tick labels of one axis running into each other;
5. constrained layout not applied (matplotlib's warning while drawing) and axes squeezed to a
   sliver of the figure;
6. reference lines (critical levels, identities) running through a legend's text;
7. legend entries whose swatch does not show on the background (a light grey band on white);
8. a data curve drawn entirely inside the stroke of a curve above it (data under a model);
9. text below 7 pt once the figure is scaled to the width it is printed at (the registry's
   `width`, passed by plotting.save);
10. titles of neighbouring panels running into each other (a title wider than its panel).

Each check is a small function of one axes, one legend or the figure.
`check(fig, name)` raises FigureQualityError listing them. `gate_enabled()` says whether the
environment asks for the gate (DLN_FIGURE_GATE=1); plotting.save() then checks every figure
before writing it.

A legend's box is its content (entries and title, Legend.get_tightbbox), not the border
padding. Reference lines (axhline/axvline: one coordinate in axes units spanning the axes,
e.g. the critical levels L_k) and axvspan/axhspan regions do not count as data under a
legend's box: they stay visible on both sides of it; only a reference line through an entry's
text is reported (check 6). Their labels are text artists, so a legend hiding a level's label is still reported
(check 3). Lines in data coordinates count even when horizontal, and markers placed in a
blended transform (x data, y axes: fig4's 'diverged' crosses) count too.
"""

from __future__ import annotations

import os
import warnings

import numpy as np
from matplotlib import rcParams
from matplotlib.axes import Axes
from matplotlib.collections import Collection, PathCollection
from matplotlib.colors import to_rgba
from matplotlib.figure import Figure
from matplotlib.legend import Legend
from matplotlib.lines import Line2D
from matplotlib.transforms import Bbox

# --- thresholds (lengths in points, 1/72 inch, so they do not depend on the dpi) ---
# Data vertices (line points, scatter points, vertices of filled areas) inside a legend's
# content box before it is reported: one is enough, the legend is drawn over it.
MIN_POINTS_UNDER_LEGEND = 1
# A line is also reported when this many of its segments cross the legend's content box
# without a vertex inside it (a steep drop passing through the legend text).
MIN_SEGMENTS_THROUGH_LEGEND = 1
# Share of a legend's content box lying on a filled area (fill_between, ...) before it is
# reported: a corner of the legend touching a band is tolerated, more reads as the legend
# sitting in the data. (No current figure has a legend near its band: not calibrated.)
MAX_LEGEND_ON_FILL = 0.25
# Two boxes (legend/text) overlap when they share more than this in both directions. Text
# boxes include the font's ascent and descent, so boxes sharing under 1 pt still leave white
# between the glyphs; the level labels L_0=27.5 and L_5=27 (7 pt) share 1.4 pt and touch
# with no white line between them: reported.
OVERLAP_TOLERANCE_PT = 1.0
# Neighbouring tick labels of one axis closer than this (along the axis) run together. Text
# boxes include the glyphs' side bearings, so a box gap of 0 still leaves ~1 px of white:
# at 0.5 pt the labels touch. Calibrated on fig3 ("75000" and "100000", box gap 0.9 pt, read
# as two numbers: passes) and fig4 ("0.00025" and "0.0005", overlapping: fails).
TICK_LABEL_MIN_GAP_PT = 0.5
# An axes in a grid of at most MAX_GRID_CELLS columns (rows) is squeezed when its width
# (height) is below MIN_CELL_SHARE of its cell's share of the figure: 15% of the figure in a
# 3-column grid, 22.5% in 2 columns, 45% for a single axes. Constrained layout giving up
# (today's fig4: 14% and 9% of the width in a 2-column grid) or a decoration taking the
# room of the panel does this; grids of more cells are left alone (small panels on purpose).
MIN_CELL_SHARE = 0.45
MAX_GRID_CELLS = 3
# A line with one coordinate in axes units is a reference line (axhline/axvline) when its
# data in that coordinate span at least this share of the axes and the other coordinate is
# constant.
REFERENCE_LINE_SPAN = 0.9
# A legend handle shows when its colour differs from the background by at least this much in
# some RGB channel (0..1): grey 0.92 on white (0.08) reads as no swatch, grey 0.75 does.
MIN_SWATCH_CONTRAST = 0.2
# A curve is hidden under one drawn above it when each of its points lies within the upper
# stroke, widened by this much: less than half a point of the lower curve shows either side.
HIDDEN_TOLERANCE_PT = 0.5
HIDDEN_SAMPLES = 300  # points of the lower curve looked at (evenly spaced)
# Text at the printed width (the registry's width of the figure) below this size is unreadable
# in a paper: ICML asks for captions-sized text, 7 pt the least.
MIN_FONT_PT = 7.0
# Sample grid (per side) used to measure how much of a legend lies on a filled area.
_FILL_SAMPLES = 9

LAYOUT_WARNING = "constrained_layout not applied"


class FigureQualityError(AssertionError):
    """A figure failed the quality gate; the message lists every problem, one per line."""


def gate_enabled() -> bool:
    """True when the environment variable DLN_FIGURE_GATE is set to 1."""
    return os.environ.get("DLN_FIGURE_GATE", "") == "1"


def check(fig: Figure, name: str, width: float | None = None) -> None:
    """Raise FigureQualityError naming the figure and listing its problems, if it has any
    (width: the width in inches the figure is printed at, for the font-size floor)."""
    found = problems(fig, width)
    if found:
        lines = [f"figure {name}: {len(found)} quality problem{'s' * (len(found) > 1)}"]
        lines += [f"{name}: {p}" for p in found]
        raise FigureQualityError("\n".join(lines))


def problems(fig: Figure, width: float | None = None) -> list[str]:
    """Draw the figure and list what a reader would notice (empty: the figure passes);
    width: the width in inches it is printed at (default: its own)."""
    found = []
    renderer = _draw(fig, found)
    axes = [ax for ax in fig.axes if ax.get_visible()]
    for ax in axes:
        found += _missing_labels(ax, fig)
        found += _squeezed(ax, fig)
        found += _tick_label_collisions(ax, renderer)
        found += _hidden_curves(ax)
    found += _legend_problems(fig, axes, renderer)
    found += _text_collisions(fig, axes, renderer)
    found += _title_collisions(axes, renderer)
    found += _small_text(fig, axes, renderer, width)
    return found


# --------------------------------------------------------------------------- helpers


def _draw(fig, found):
    """Draw on an Agg canvas; a 'constrained_layout not applied' warning becomes a problem
    (other warnings are passed on unchanged)."""
    if not hasattr(fig.canvas, "get_renderer"):
        from matplotlib.backends.backend_agg import FigureCanvasAgg

        FigureCanvasAgg(fig)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fig.canvas.draw()
    for w in caught:
        if LAYOUT_WARNING in str(w.message):
            found.append(f"figure: {w.message}")
        else:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    return fig.canvas.get_renderer()


def _pt(fig, points: float) -> float:
    """Points to display pixels."""
    return points * fig.dpi / 72.0


def _axes_name(ax: Axes) -> str:
    for loc in ("center", "left", "right"):
        title = ax.get_title(loc)
        if title:
            return f"axes '{title}'"
    index = ax.figure.axes.index(ax) + 1
    label = ax.get_ylabel()
    return f"axes {index} (untitled{f', y label {label!r}' if label else ''})"


def _is_colorbar(ax) -> bool:
    return getattr(ax, "_colorbar", None) is not None or ax.get_label() == "<colorbar>"


def _visible_text(t) -> bool:
    return t.get_visible() and bool(t.get_text().strip())


def _overlap(a: Bbox, b: Bbox, tol: float) -> bool:
    return _overlap_size(a, b) > tol


def _overlap_size(a: Bbox, b: Bbox) -> float:
    """The smaller side of the boxes' intersection (negative: they are apart)."""
    w = min(a.x1, b.x1) - max(a.x0, b.x0)
    h = min(a.y1, b.y1) - max(a.y0, b.y0)
    return float(min(w, h))


def _short(text: str, n: int = 40) -> str:
    text = " ".join(text.split())
    return text if len(text) <= n else text[: n - 3] + "..."


def _line_xy(line: Line2D) -> np.ndarray:
    x = np.asarray(line.get_xdata(orig=False), dtype=float).ravel()
    y = np.asarray(line.get_ydata(orig=False), dtype=float).ravel()
    n = min(x.size, y.size)
    return np.column_stack([x[:n], y[:n]])


def _is_reference_line(line: Line2D, ax: Axes) -> bool:
    """axhline/axvline style: one coordinate in axes units spanning the axes, the other fixed."""
    x_data, y_data = line.get_transform().contains_branch_seperately(ax.transData)
    xy = _line_xy(line)
    if xy.size == 0:
        return False
    for in_data, along, across in ((x_data, 0, 1), (y_data, 1, 0)):
        if (
            not in_data
            and np.ptp(xy[:, along]) >= REFERENCE_LINE_SPAN
            and np.ptp(xy[:, across]) == 0
        ):
            return True
    return False


def _has_data(ax: Axes) -> bool:
    if any(_line_xy(line).size for line in ax.lines if line.get_visible()):
        return True
    for c in ax.collections:
        if not c.get_visible():
            continue
        if isinstance(c, PathCollection):
            if len(c.get_offsets()):
                return True
        elif any(len(p.vertices) for p in c.get_paths()):
            return True
    return bool(ax.images) or any(p.get_visible() for p in ax.patches)


# --------------------------------------------------------------------------- 1. labels


def _missing_labels(ax: Axes, fig: Figure) -> list[str]:
    if not ax.axison or _is_colorbar(ax) or not _has_data(ax):
        return []
    out = []
    for which in ("x", "y"):
        axis = ax.xaxis if which == "x" else ax.yaxis
        if not axis.get_visible() or _label_covered(ax, fig, which):
            continue
        out.append(f"{_axes_name(ax)}: no {which} label")
    return out


def _label_covered(ax: Axes, fig: Figure, which: str) -> bool:
    def has_label(a):
        label = (a.xaxis if which == "x" else a.yaxis).label
        return _visible_text(label)

    if has_label(ax):
        return True
    sup = fig.get_supxlabel() if which == "x" else fig.get_supylabel()
    if sup.strip():
        return True
    # a panel sharing this axis, in the same column (x) or row (y), carries the label
    shared = ax.get_shared_x_axes() if which == "x" else ax.get_shared_y_axes()
    box = ax.get_position()
    for other in shared.get_siblings(ax):
        if other is ax or not other.get_visible() or not has_label(other):
            continue
        ob = other.get_position()
        if which == "x":
            aligned = min(box.x1, ob.x1) - max(box.x0, ob.x0) > 0
        else:
            aligned = min(box.y1, ob.y1) - max(box.y0, ob.y0) > 0
        if aligned:
            return True
    return False


# --------------------------------------------------------------------------- 5. layout


def _squeezed(ax: Axes, fig: Figure) -> list[str]:
    spec = ax.get_subplotspec()
    if spec is None or _is_colorbar(ax):  # insets and colorbars are small on purpose
        return []
    nrows, ncols = spec.get_gridspec().get_geometry()
    pos = ax.get_position()
    out = []
    for size, n, span, what, cells in (
        (pos.width, ncols, spec.colspan, "width", "column"),
        (pos.height, nrows, spec.rowspan, "height", "row"),
    ):
        least = MIN_CELL_SHARE * len(span) / n
        if n <= MAX_GRID_CELLS and size < least:
            out.append(
                f"{_axes_name(ax)}: squeezed to {size:.0%} of the figure {what} "
                f"(at least {least:.0%} expected in a grid of {n} {cells}"
                f"{'s' * (n > 1)})"
            )
    return out


# --------------------------------------------------------------------------- 4. tick labels


def _drawn_tick_labels(ax: Axes, which: str, renderer):
    """(text, window extent) of the tick labels that are drawn, per side of the axis."""
    axis = ax.xaxis if which == "x" else ax.yaxis
    trans = ax.get_xaxis_transform() if which == "x" else ax.get_yaxis_transform()
    lo, hi = (ax.bbox.x0, ax.bbox.x1) if which == "x" else (ax.bbox.y0, ax.bbox.y1)
    sides = {1: [], 2: []}
    for minor in (False, True):
        ticks = axis.get_minor_ticks() if minor else axis.get_major_ticks()
        locs = axis.get_minorticklocs() if minor else axis.get_majorticklocs()
        for tick, loc in zip(ticks, locs, strict=False):
            pt = (loc, 0.0) if which == "x" else (0.0, loc)
            pos = trans.transform(pt)[0 if which == "x" else 1]
            if not np.isfinite(pos) or pos < lo - 1 or pos > hi + 1:
                continue  # outside the view: not drawn
            for side, label in ((1, tick.label1), (2, tick.label2)):
                if tick.get_visible() and _visible_text(label):
                    sides[side].append((label, label.get_window_extent(renderer)))
    return sides.values()


def _tick_label_collisions(ax: Axes, renderer) -> list[str]:
    if not ax.axison:
        return []
    fig = ax.figure
    gap_min = _pt(fig, TICK_LABEL_MIN_GAP_PT)
    out = []
    for which in ("x", "y"):
        for labels in _drawn_tick_labels(ax, which, renderer):
            labels.sort(key=lambda lb: lb[1].x0 if which == "x" else lb[1].y0)
            for (ta, a), (tb, b) in zip(labels, labels[1:], strict=False):
                rotated = ta.get_rotation() % 90 != 0
                if which == "x" and not rotated:
                    gap = b.x0 - a.x1
                    across = min(a.y1, b.y1) - max(a.y0, b.y0)
                elif which == "y" and not rotated:
                    gap = b.y0 - a.y1
                    across = min(a.x1, b.x1) - max(a.x0, b.x0)
                else:  # rotated labels: parallel strips, compare their distance with a line
                    theta = np.deg2rad(ta.get_rotation())
                    d = (b.x0 - a.x0) if which == "x" else (b.y0 - a.y0)
                    line = ta.get_fontsize() * fig.dpi / 72.0
                    gap = abs(d * np.sin(theta if which == "x" else np.pi / 2 - theta)) - line
                    across = 1.0
                if across > 0 and gap < gap_min:
                    verb = "overlap" if gap < 0 else "run together"
                    out.append(
                        f"{_axes_name(ax)}: {which} tick labels {ta.get_text()!r} and "
                        f"{tb.get_text()!r} {verb} (gap {gap * 72 / fig.dpi:.1f} pt)"
                    )
    return out


# --------------------------------------------------------------------------- 2./3. legends


def _legends(fig: Figure, axes):
    """Every legend: ax.legend(), legends kept with ax.add_artist, figure legends."""
    out = []
    for ax in axes:
        found = [a for a in ax.get_children() if isinstance(a, Legend)]
        out += [(leg, ax) for leg in found]
    out += [(leg, None) for leg in fig.legends]
    return [(leg, ax) for leg, ax in out if leg.get_visible()]


def _inside(points: np.ndarray, box: Bbox) -> np.ndarray:
    return (
        (points[:, 0] >= box.x0)
        & (points[:, 0] <= box.x1)
        & (points[:, 1] >= box.y0)
        & (points[:, 1] <= box.y1)
    )


def _segments_crossing(points: np.ndarray, box: Bbox) -> int:
    """Number of segments between consecutive finite points that cross the box
    (Liang-Barsky clipping)."""
    if len(points) < 2:
        return 0
    p0, p1 = points[:-1], points[1:]
    ok = np.all(np.isfinite(p0), axis=1) & np.all(np.isfinite(p1), axis=1)
    p0, p1 = p0[ok], p1[ok]
    d = p1 - p0
    t0 = np.zeros(len(p0))
    t1 = np.ones(len(p0))
    hit = np.ones(len(p0), dtype=bool)
    for p, q in (
        (-d[:, 0], p0[:, 0] - box.x0),
        (d[:, 0], box.x1 - p0[:, 0]),
        (-d[:, 1], p0[:, 1] - box.y0),
        (d[:, 1], box.y1 - p0[:, 1]),
    ):
        with np.errstate(divide="ignore", invalid="ignore"):
            r = q / p
        hit &= ~((p == 0) & (q < 0))
        t0 = np.where(p < 0, np.maximum(t0, r), t0)
        t1 = np.where(p > 0, np.minimum(t1, r), t1)
    return int(np.sum(hit & (t0 <= t1)))


def _visible_area(artist, ax: Axes, points: np.ndarray) -> np.ndarray:
    """Finite display points, restricted to the axes area when the artist is clipped."""
    points = points[np.all(np.isfinite(points), axis=1)]
    if artist.get_clip_on() and len(points):
        points = points[_inside(points, ax.bbox)]
    return points


def _describe(artist, kind: str, index: int, legend=None) -> str:
    """The artist's label; for an unlabelled one, the legend entry drawn in its colour and
    style (figures often label empty proxies instead of the data)."""
    label = artist.get_label()
    if label and not label.startswith("_"):
        return repr(label)
    if legend is not None and isinstance(artist, Line2D):
        style = (to_rgba(artist.get_color()), artist.get_linestyle())
        for handle, text in zip(legend.legend_handles, legend.get_texts(), strict=False):
            if (
                isinstance(handle, Line2D)
                and _visible_text(text)
                and (to_rgba(handle.get_color()), handle.get_linestyle()) == style
            ):
                return f"unlabelled {kind} {index} (drawn like {text.get_text()!r})"
    return f"unlabelled {kind} {index}"


def _data_under(legend, box: Bbox, ax: Axes, renderer) -> list[str]:
    """What of the data of `ax` lies under the legend's content box."""
    if not Bbox.intersection(box, ax.bbox):
        return []
    out = []
    for i, line in enumerate(ax.lines):
        out += _line_under(legend, box, ax, line, i)
    for i, coll in enumerate(ax.collections):
        if coll.get_visible():
            out += _collection_under(coll, _describe(coll, "collection", i + 1), box, ax)
    return out + _patches_under(box, ax, renderer)


def _line_under(legend, box: Bbox, ax: Axes, line: Line2D, index: int) -> list[str]:
    """A data line with a vertex under the legend, or (no vertex) a segment crossing it."""
    if not line.get_visible() or _is_reference_line(line, ax):
        return []
    xy = _line_xy(line)
    if not len(xy):
        return []  # a legend proxy
    with np.errstate(invalid="ignore"):
        disp = line.get_transform().transform(xy)
    name = _describe(line, "line", index + 1, legend)
    n = int(np.sum(_inside(_visible_area(line, ax, disp), box)))
    if n >= MIN_POINTS_UNDER_LEGEND:
        return [f"legend overlaps {n} data point{'s' * (n > 1)} of {name}"]
    if line.get_linestyle() in ("None", "", " "):
        return []
    if line.get_clip_on():
        disp = np.where(_inside(disp, ax.bbox)[:, None], disp, np.nan)
    crossing = _segments_crossing(disp, box)
    if crossing < MIN_SEGMENTS_THROUGH_LEGEND:
        return []
    return [f"legend is crossed by the line of {name} ({crossing} segment{'s' * (crossing > 1)})"]


def _patches_under(box: Bbox, ax: Axes, renderer) -> list[str]:
    """Bars and other patches in data coordinates under the legend; axvspan/axhspan (a
    coordinate in axes units) mark a region of the whole axes, like reference lines, and do
    not count."""
    patches = [
        p
        for p in ax.patches
        if p.get_visible() and all(p.get_transform().contains_branch_seperately(ax.transData))
    ]
    n = sum(
        _overlap(Bbox.intersection(p.get_window_extent(renderer), ax.bbox) or Bbox.null(), box, 0.0)
        for p in patches
    )
    return [f"legend overlaps {n} bar{'s' * (n > 1)} or patch{'es' * (n > 1)}"] if n else []


def _collection_under(coll: Collection, name: str, box: Bbox, ax: Axes) -> list[str]:
    """Scatter points under the legend; for filled areas and line collections, vertices under
    the legend, and for filled ones the share of the legend lying on them."""
    if isinstance(coll, PathCollection):  # scatter: the offsets are the data
        offsets = np.asarray(coll.get_offsets(), dtype=float)
        if not len(offsets):
            return []
        disp = _visible_area(coll, ax, coll.get_offset_transform().transform(offsets))
        n = int(np.sum(_inside(disp, box)))
        ok = n >= MIN_POINTS_UNDER_LEGEND
        return [f"legend overlaps {n} data point{'s' * (n > 1)} of {name}"] if ok else []
    trans = coll.get_transform()
    paths = [trans.transform_path(p) for p in coll.get_paths() if len(p.vertices)]
    if not paths:
        return []
    out = []
    n = sum(int(np.sum(_inside(_visible_area(coll, ax, p.vertices), box))) for p in paths)
    if n >= MIN_POINTS_UNDER_LEGEND:
        out.append(f"legend overlaps {n} data point{'s' * (n > 1)} of {name}")
    if len(coll.get_facecolor()) and np.any(np.asarray(coll.get_facecolor())[:, 3] > 0):
        gx = np.linspace(box.x0, box.x1, _FILL_SAMPLES)
        gy = np.linspace(box.y0, box.y1, _FILL_SAMPLES)
        grid = np.array([(x, y) for x in gx for y in gy])
        grid = grid[_inside(grid, ax.bbox)]
        if len(grid):
            covered = np.zeros(len(grid), dtype=bool)
            for p in paths:
                covered |= p.contains_points(grid)
            share = covered.mean() * len(grid) / _FILL_SAMPLES**2
            if share > MAX_LEGEND_ON_FILL:
                out.append(f"legend lies {share:.0%} on the filled area of {name}")
    return out


def _legend_problems(fig: Figure, axes, renderer) -> list[str]:
    out = []
    legends = _legends(fig, axes)
    tol = _pt(fig, OVERLAP_TOLERANCE_PT)
    for i, (leg, owner) in enumerate(legends):
        box = leg.get_tightbbox(renderer)  # the content (entries, title), not the padding
        where = _axes_name(owner) if owner is not None else "figure legend"
        for ax in axes:
            for p in _data_under(leg, box, ax, renderer):
                out.append(f"{where}: {p}" + ("" if ax is owner else f" in {_axes_name(ax)}"))
        for other, other_owner in legends[i + 1 :]:
            if _overlap(box, other.get_tightbbox(renderer), tol):
                who = _axes_name(other_owner) if other_owner is not None else "figure legend"
                out.append(f"{where}: legend overlaps the legend of {who}")
        for text, whose in _texts(fig, axes, renderer, free_only=False):
            if _overlap(box, text.get_window_extent(renderer), tol):
                out.append(f"{where}: legend overlaps {whose} {_short(text.get_text())!r}")
        out += _reference_lines_under_legend_text(leg, where, axes, renderer)
        out += _entries_without_swatch(leg, where, owner, renderer)
    return out


# --------------------------------------------------------------------------- 3. free text


def _texts(fig: Figure, axes, renderer, free_only: bool):
    """(text, description) of the drawn texts: free texts (annotations, notes, figure texts)
    and, unless free_only, titles, axis labels and tick labels."""
    out = []
    for ax in axes:
        out += [(t, "text") for t in ax.texts if _visible_text(t)]
    out += [(t, "text") for t in fig.texts if _visible_text(t)]
    if free_only:
        return out
    for ax in axes:
        if _visible_text(ax.title):
            out.append((ax.title, "title"))
        if not ax.axison:
            continue
        for which, axis in (("x", ax.xaxis), ("y", ax.yaxis)):
            if _visible_text(axis.label):
                out.append((axis.label, f"{which} label"))
            for labels in _drawn_tick_labels(ax, which, renderer):
                out += [(t, f"{which} tick label") for t, _ in labels]
    return out


def _text_collisions(fig: Figure, axes, renderer) -> list[str]:
    """Free texts (annotations, notes, level labels) running into any other text."""
    tol = _pt(fig, OVERLAP_TOLERANCE_PT)
    free = _texts(fig, axes, renderer, free_only=True)
    every = _texts(fig, axes, renderer, free_only=False)
    owner = {id(t): ax for ax in axes for t in ax.texts}
    out, seen = [], set()
    for text, _ in free:
        box = text.get_window_extent(renderer)
        for other, whose in every:
            pair = frozenset((id(text), id(other)))
            if other is text or pair in seen:
                continue
            seen.add(pair)
            size = _overlap_size(box, other.get_window_extent(renderer))
            if size > tol:
                ax = owner.get(id(text))
                where = _axes_name(ax) if ax is not None else "figure"
                out.append(
                    f"{where}: text {_short(text.get_text())!r} overlaps "
                    f"{whose} {_short(other.get_text())!r} "
                    f"(by {size * 72 / fig.dpi:.1f} pt)"
                )
    return out


# --------------------------------------------------------------------------- 6. legend text


def _opaque_frame(leg: Legend) -> bool:
    """A drawn frame that hides what lies under it (the project's legends have none)."""
    frame = leg.get_frame()
    return bool(leg.get_frame_on() and frame.get_visible() and frame.get_facecolor()[3] >= 0.9)


def _reference_name(line: Line2D, ax: Axes) -> str:
    label = line.get_label()
    if label and not label.startswith("_"):
        return repr(label)
    xy = _line_xy(line)
    x_data, _ = line.get_transform().contains_branch_seperately(ax.transData)
    return f"x = {xy[0, 0]:g}" if x_data else f"y = {xy[0, 1]:g}"


def _reference_lines_under_legend_text(leg: Legend, where: str, axes, renderer) -> list[str]:
    """Reference lines (axhline/axvline: critical levels, identities) running through a
    legend's text: across a frameless legend they strike an entry through."""
    if _opaque_frame(leg):
        return []
    shrink = _pt(leg.figure, OVERLAP_TOLERANCE_PT)
    texts = [(t.get_text(), t.get_window_extent(renderer)) for t in leg.get_texts()]
    texts = [(s, b.expanded(1, 1).padded(-shrink)) for s, b in texts if s.strip()]
    out = []
    for ax in axes:
        for line in ax.lines:
            if not line.get_visible() or not _is_reference_line(line, ax):
                continue
            disp = line.get_transform().transform(_line_xy(line))
            if line.get_clip_on():
                disp = np.where(_inside(disp, ax.bbox)[:, None], disp, np.nan)
            for text, box in texts:
                if box.width > 0 and box.height > 0 and _segments_crossing(disp, box):
                    out.append(
                        f"{where}: reference line {_reference_name(line, ax)} runs through "
                        f"the legend text {_short(text)!r}"
                    )
    return out


# --------------------------------------------------------------------------- 7. swatches


def _contrast(color, background) -> float:
    """Largest channel difference between a colour (composited on the background) and it."""
    rgba = np.asarray(to_rgba(color), dtype=float)
    bg = np.asarray(to_rgba(background), dtype=float)[:3]
    shown = rgba[3] * rgba[:3] + (1 - rgba[3]) * bg
    return float(np.max(np.abs(shown - bg)))


def _shows(colors, background, width: float = 1.0) -> bool:
    colors = np.atleast_2d(np.asarray(colors, dtype=float)) if len(colors) else []
    return width > 0 and any(_contrast(c, background) >= MIN_SWATCH_CONTRAST for c in colors)


def _swatch_visible(handle, background) -> bool:
    """Whether a legend handle draws something a reader can see on the background."""
    if handle is None or not handle.get_visible():
        return False
    if isinstance(handle, Line2D):
        stroke = handle.get_linestyle() not in ("None", "", " ") and _shows(
            [to_rgba(handle.get_color(), handle.get_alpha())], background, handle.get_linewidth()
        )
        marker = handle.get_marker() not in (None, "None", "", " ") and (
            _shows([to_rgba(handle.get_markerfacecolor())], background)
            or _shows([to_rgba(handle.get_markeredgecolor())], background, handle.get_mew())
        )
        return bool(stroke or marker)
    if isinstance(handle, Collection):
        return _shows(handle.get_facecolor(), background) or _shows(
            handle.get_edgecolor(), background, float(np.max(handle.get_linewidth(), initial=0))
        )
    face = to_rgba(handle.get_facecolor())
    edge = to_rgba(handle.get_edgecolor())
    return _shows([face], background) or _shows([edge], background, handle.get_linewidth())


def _background_at(leg: Legend, owner, handle, renderer):
    """The colour a legend handle is drawn on: a shaded region (axvspan, fill) of the axes
    under its centre, else the axes' (or the figure's) face."""
    face = owner.get_facecolor() if owner is not None else leg.figure.get_facecolor()
    if owner is None or handle is None:
        return face
    corners = handle.get_window_extent(renderer).get_points()
    if not np.all(np.isfinite(corners)):  # (a scatter handle has no extent of its own)
        return face
    centre = corners.mean(axis=0)
    for patch in sorted(owner.patches, key=lambda p: p.get_zorder()):
        if patch.get_visible() and patch.contains_point(centre):
            face = patch.get_facecolor() if patch.get_facecolor()[3] > 0.5 else face
    return face


def _entries_without_swatch(leg: Legend, where: str, owner, renderer) -> list[str]:
    """Legend entries whose swatch does not show on what lies under it (e.g. a light grey
    band on white, a grey band's swatch on that band)."""
    out = []
    for handle, text in zip(leg.legend_handles, leg.get_texts(), strict=False):
        background = _background_at(leg, owner, handle, renderer)
        if _visible_text(text) and not _swatch_visible(handle, background):
            out.append(f"{where}: legend entry {_short(text.get_text())!r} has no visible swatch")
    return out


# --------------------------------------------------------------------------- 8. hidden curves


def _drawn_path(line: Line2D, ax: Axes) -> np.ndarray:
    """The display points of a drawn data curve (finite, inside the axes when clipped)."""
    with np.errstate(invalid="ignore"):
        disp = line.get_transform().transform(_line_xy(line))
    return _visible_area(line, ax, disp)


def distance_to_path(points: np.ndarray, path: np.ndarray) -> np.ndarray:
    """Distance of each point to the polyline `path` (display units)."""
    a, b = path[:-1], path[1:]
    d = b - a
    length2 = np.maximum(np.sum(d * d, axis=1), 1e-12)
    best = np.full(len(points), np.inf)
    for chunk in np.array_split(np.arange(len(points)), max(1, len(points) // 64)):
        p = points[chunk][:, None, :]
        t = np.clip(np.sum((p - a) * d, axis=2) / length2, 0.0, 1.0)
        nearest = a + t[..., None] * d
        best[chunk] = np.sqrt(np.min(np.sum((p - nearest) ** 2, axis=2), axis=1))
    return best


def _covered(under: np.ndarray, over: np.ndarray, reach: float) -> bool:
    """Whether every point of `under` lies within `reach` of the polyline `over`."""
    if len(under) == 0 or len(over) < 2 or reach < 0:
        return False
    lo, hi = over.min(axis=0) - reach, over.max(axis=0) + reach
    if np.any(under.min(axis=0) < lo) or np.any(under.max(axis=0) > hi):
        return False
    sample = under[np.linspace(0, len(under) - 1, min(len(under), HIDDEN_SAMPLES)).astype(int)]
    if not np.all(distance_to_path(sample[:: max(1, len(sample) // 16)], over) <= reach):
        return False  # a cheap look at a few points first
    return bool(np.all(distance_to_path(sample, over) <= reach))


def hidden_pairs(ax: Axes) -> list[tuple[int, int]]:
    """(i, j): data line ax.lines[i] is drawn entirely inside the stroke of ax.lines[j],
    drawn above it (the first such j per hidden line). Needs a drawn figure."""
    fig = ax.figure
    curves = [
        (line.get_zorder(), i, line, _drawn_path(line, ax))
        for i, line in enumerate(ax.lines)
        if line.get_visible()
        and line.get_linestyle() not in ("None", "", " ")
        and not _is_reference_line(line, ax)
    ]
    curves = [c for c in curves if len(c[3]) >= 2]
    out = []
    for za, ia, a, pa in curves:
        for zb, ib, b, pb in curves:
            if (zb, ib) <= (za, ia):
                continue  # only a curve drawn later (above) can hide this one
            reach = _pt(fig, (b.get_linewidth() - a.get_linewidth()) / 2 + HIDDEN_TOLERANCE_PT)
            if _covered(pa, pb, reach):
                out.append((ia, ib))
                break
    return out


def _hidden_curves(ax: Axes) -> list[str]:
    """Data curves drawn entirely inside the stroke of a curve drawn above them (e.g. a
    measured curve under its model's line): the reader sees one curve."""
    return [
        f"{_axes_name(ax)}: {_describe(ax.lines[i], 'line', i + 1)} is hidden under "
        f"{_describe(ax.lines[j], 'line', j + 1)}"
        for i, j in hidden_pairs(ax)
    ]


# --------------------------------------------------------------------------- 9. font size


def _all_texts(fig: Figure, axes, renderer):
    """Every drawn text: titles, labels, tick labels, free texts, legend texts and titles."""
    texts = [t for t, _ in _texts(fig, axes, renderer, free_only=False)]
    for leg, _ in _legends(fig, axes):
        texts += [t for t in [*leg.get_texts(), leg.get_title()] if _visible_text(t)]
    for sup in ("_suptitle", "_supxlabel", "_supylabel"):
        t = getattr(fig, sup, None)
        if t is not None and _visible_text(t):
            texts.append(t)
    return texts


def _small_text(fig: Figure, axes, renderer, width_in: float | None) -> list[str]:
    """Text below MIN_FONT_PT once the saved figure (its tight box) is scaled to the width it
    is printed at (the registry's width; without one, its own width)."""
    # inches, as savefig(bbox="tight") writes it: the tight box padded on each side
    saved = fig.get_tightbbox(renderer).width + 2 * float(rcParams["savefig.pad_inches"])
    scale = 1.0 if width_in is None or saved <= 0 else width_in / saved
    smallest = {}
    for text in _all_texts(fig, axes, renderer):
        size = text.get_fontsize() * scale
        if size < MIN_FONT_PT - 0.05:
            smallest.setdefault(round(size, 1), []).append(text.get_text())
    at = f"at {width_in:g} in wide" if width_in is not None else "at the figure's size"
    return [
        f"figure: {len(names)} text{'s' * (len(names) > 1)} at {size:.1f} pt {at} "
        f"(floor {MIN_FONT_PT:g} pt), e.g. {_short(names[0])!r}"
        for size, names in sorted(smallest.items())
    ]


# --------------------------------------------------------------------------- 10. titles


def _title_collisions(axes, renderer) -> list[str]:
    """Titles of two panels that overlap (titles are not free text: check 3 skips them)."""
    fig = axes[0].figure if axes else None
    titles = [(ax, ax.title) for ax in axes if _visible_text(ax.title)]
    out = []
    for i, (ax, a) in enumerate(titles):
        for bx, b in titles[i + 1 :]:
            size = _overlap_size(a.get_window_extent(renderer), b.get_window_extent(renderer))
            if size > _pt(fig, OVERLAP_TOLERANCE_PT):
                out.append(
                    f"{_axes_name(ax)}: title overlaps the title of {_axes_name(bx)} "
                    f"(by {size * 72 / fig.dpi:.1f} pt)"
                )
    return out
