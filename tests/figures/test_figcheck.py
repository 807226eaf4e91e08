"""The figure quality gate (dln.figures.figcheck) on synthetic figures: each defect it must catch, with
the exact problem text, and clean figures it must pass."""

from __future__ import annotations

import ast
import warnings
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from dln.figures import figcheck  # noqa: E402


@pytest.fixture(autouse=True)
def _style():
    """The project's figure settings (plotting.setup without seaborn); close every figure."""
    with plt.rc_context({"figure.constrained_layout.use": True, "legend.frameon": False}):
        yield
    plt.close("all")


def labelled(ax, x="x", y="y"):
    ax.set_xlabel(x)
    ax.set_ylabel(y)
    return ax


def test_legend_over_dense_line():
    fig, ax = plt.subplots(figsize=(4, 3))
    x = np.linspace(0, 1, 400)
    ax.plot(x, np.full_like(x, 0.5), label="dense")
    ax.plot(x, x**8, label="corner")
    ax.set_title("panel")
    ax.legend(loc="center")
    labelled(ax)
    found = figcheck.problems(fig)
    assert any(
        p.startswith("axes 'panel': legend overlaps ") and p.endswith(" data points of 'dense'")
        for p in found
    ), found
    assert not any("'corner'" in p for p in found), found


def test_legend_over_scatter_points():
    fig, ax = plt.subplots(figsize=(4, 3))
    rng = np.random.default_rng(0)
    ax.scatter(rng.random(500), rng.random(500), s=8, label="seeds")
    ax.set_title("scatter")
    ax.legend(loc="center")
    labelled(ax)
    found = figcheck.problems(fig)
    assert any(
        p.startswith("axes 'scatter': legend overlaps ") and p.endswith("of 'seeds'") for p in found
    ), found


def test_steep_line_crossing_legend_without_a_vertex_inside():
    fig, ax = plt.subplots(figsize=(4, 3))
    ax.plot([0.5, 0.5], [0.0, 1.0], label="drop")  # two points, both outside the legend
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.legend(loc="center")
    labelled(ax)
    assert (
        "axes 1 (untitled, y label 'y'): legend is crossed by the line of 'drop' (1 segment)"
        in figcheck.problems(fig)
    )


def test_unlabelled_data_named_after_its_legend_proxy():
    fig, ax = plt.subplots(figsize=(4, 3))
    x = np.linspace(0, 1, 200)
    ax.plot(x, np.full_like(x, 0.5), color="C3", ls="-")
    ax.plot([], [], color="C3", ls="-", label="scale 0.2")
    ax.legend(loc="center")
    labelled(ax)
    found = figcheck.problems(fig)
    assert any(
        p.endswith("data points of unlabelled line 1 (drawn like 'scale 0.2')") for p in found
    ), found


def test_legend_on_a_filled_area():
    fig, ax = plt.subplots(figsize=(4, 3))
    ax.fill_between([0, 1], [0, 0], [1, 1], color="0.9", label="band")
    ax.plot([0, 1], [0, 1], label="diagonal")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.legend(loc="upper left")
    labelled(ax)
    found = figcheck.problems(fig)
    assert any(p.endswith("on the filled area of 'band'") for p in found), found


def test_two_overlapping_legends():
    fig, ax = plt.subplots(figsize=(4, 3))
    (a,) = ax.plot([0, 1], [0, 0.1], label="a")
    (b,) = ax.plot([0, 1], [0, 0.2], label="b")
    ax.set_title("two")
    ax.add_artist(ax.legend(handles=[a], loc="center"))
    ax.legend(handles=[b], loc="center")
    labelled(ax)
    assert "axes 'two': legend overlaps the legend of axes 'two'" in figcheck.problems(fig)


def test_legend_over_a_level_label_but_not_over_the_level_line():
    fig, ax = plt.subplots(figsize=(4, 3))
    x = np.linspace(0, 1, 50)
    ax.plot(x, 0.1 * x, label="loss")
    ax.plot(x, 0.1 + 0.1 * x, label="gap")
    # a reference line through the legend's box, between its two entries: not data under it
    ax.set_ylim(0, 1)
    leg = ax.legend(loc="center")
    fig.canvas.draw()
    a, b = (t.get_window_extent() for t in leg.get_texts())
    between = ax.transData.inverted().transform((0, (a.y0 + b.y1) / 2))[1]
    ax.axhline(between, color="0.5", ls="--")
    labelled(ax)
    assert figcheck.problems(fig) == []
    ax.text(0.5, 0.5, "$L_1 = 15$", transform=ax.transAxes, ha="center", va="center")
    assert "axes 1 (untitled, y label 'y'): legend overlaps text '$L_1 = 15$'" in figcheck.problems(
        fig
    )


def test_reference_line_through_legend_text():
    # fig7's L_3 level ran through the entries "k = 4" and "float32" of a frameless legend
    fig, ax = plt.subplots(figsize=(4, 3))
    ax.plot([0, 1], [0.0, 0.1], label="k = 4")
    ax.set_ylim(0, 1)
    ax.legend(loc="upper right")
    labelled(ax)
    assert figcheck.problems(fig) == []
    fig.canvas.draw()
    text = ax.get_legend().get_texts()[0].get_window_extent()
    level = ax.transData.inverted().transform((0, (text.y0 + text.y1) / 2))[1]
    ax.axhline(level, color="0.45", ls="--", lw=0.7)
    assert figcheck.problems(fig) == [
        f"axes 1 (untitled, y label 'y'): reference line y = {level:g} runs through the "
        "legend text 'k = 4'"
    ]


def test_legend_entry_without_a_visible_swatch():
    # fig2(b)'s "polynomial stage": a grey 0.9 span whose swatch is white on white
    fig, ax = plt.subplots(figsize=(4, 3))
    ax.plot([0, 1], [0, 0.2], label="loss")
    ax.axvspan(0.6, 0.9, color="0.92", label="stage")
    ax.set_ylim(0, 1)
    ax.legend(loc="upper left")
    labelled(ax)
    found = figcheck.problems(fig)
    assert found == [
        "axes 1 (untitled, y label 'y'): legend entry 'stage' has no visible swatch"
    ], found
    ax.patches[0].set_color("0.7")  # face and edge
    ax.legend(loc="upper left")
    assert figcheck.problems(fig) == []
    # the same swatch on its own band (the legend drawn on the shaded stage): it does not show
    ax.axvspan(0.0, 0.5, color="0.7")
    assert figcheck.problems(fig) == [
        "axes 1 (untitled, y label 'y'): legend entry 'stage' has no visible swatch"
    ]


def test_curve_hidden_under_a_model_line():
    # fig2(b): the measured curve drawn exactly under the dashed reduced-dynamics line
    fig, ax = plt.subplots(figsize=(4, 3))
    x = np.linspace(0, 1, 500)
    (gd,) = ax.plot(x, np.exp(-3 * x), lw=1.5, label="GD")
    ax.plot(x, np.exp(-3 * x), "k--", lw=0.9, label="model")
    labelled(ax)
    assert figcheck.problems(fig) == [
        "axes 1 (untitled, y label 'y'): 'GD' is hidden under 'model'"
    ]
    gd.set_linewidth(3.0)  # wide enough to show either side of the model's line
    assert figcheck.problems(fig) == []


def test_text_below_the_floor_at_the_printed_width():
    # fig11 at 14 in printed at a column's 6.75 in: 7-pt text shrinks to ~3.4 pt
    fig, ax = plt.subplots(figsize=(14, 3))
    ax.plot([0, 1], [0, 1])
    ax.set_xlabel("iteration", fontsize=8)
    ax.set_ylabel("loss", fontsize=8)
    ax.tick_params(labelsize=8)
    assert figcheck.problems(fig) == []
    found = figcheck.problems(fig, width=6.75)
    assert len(found) == 1 and found[0].startswith("figure: "), found
    assert " pt at 6.75 in wide (floor 7 pt), e.g. " in found[0]
    fig.set_size_inches(6.5, 3)
    assert figcheck.problems(fig, width=6.75) == []


def test_level_labels_running_into_each_other_and_a_note_over_tick_labels():
    fig, ax = plt.subplots(figsize=(4, 6))
    ax.plot([0, 1], [15, 27.5])
    ax.set_title("levels")
    labelled(ax)
    for k, level in ((0, 27.5), (5, 27.0), (1, 15.0)):  # as plotting.level_lines labels them
        ax.annotate(
            f"$L_{k}={level:g}$",
            xy=(1.0, level),
            xycoords=("axes fraction", "data"),
            xytext=(3, 0),
            textcoords="offset points",
            va="center",
            fontsize=7,
        )
    assert figcheck.problems(fig) == []  # the figure is tall enough: labels apart
    fig.set_size_inches(4, 2)
    found = figcheck.problems(fig)
    assert any(
        p.startswith("axes 'levels': text '$L_0=27.5$' overlaps text '$L_5=27$' (by ")
        for p in found
    ), found
    ax.text(
        0.0,
        20,
        "a note running over the tick labels",
        transform=ax.get_yaxis_transform(),
        ha="center",
        va="center",
    )  # on the tick label '20'
    assert ax.get_yticks().tolist()[:3] == [10, 15, 20]
    assert any(
        p.startswith(
            "axes 'levels': text 'a note running over the tick labels' overlaps y tick label"
        )
        for p in figcheck.problems(fig)
    )


def test_titles_of_neighbouring_panels_running_into_each_other():
    # fig7's panel titles once named every fixed setting and ran into each other
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(6, 3), layout="none")  # panels placed by hand
    fig.subplots_adjust(left=0.1, right=0.95, bottom=0.2, wspace=0.4)
    for axis in (ax, bx):
        labelled(axis).plot([0, 1], [0, 1])
    ax.set_title("(a) loss")
    bx.set_title("(b) stuck length, points: seeds")
    assert figcheck.problems(fig) == []
    ax.set_title("(a) loss (seed = 0, construction = orthogonal, lr = 0.0005)")
    found = figcheck.problems(fig)
    assert len(found) == 1 and found[0].startswith(
        "axes '(a) loss (seed = 0, construction = orthogonal, lr = 0.0005)': title overlaps "
        "the title of axes '(b) stuck length, points: seeds' (by "
    ), found


def test_log_axis_tick_labels_running_together():
    fig, ax = plt.subplots(figsize=(1.6, 2.5))
    ax.plot([2.5e-4, 5e-4, 1e-3], [1, 2, 3])
    ax.set_xscale("log")
    ax.set_xticks([2.5e-4, 5e-4, 1e-3], ["0.00025", "0.0005", "0.001"])
    ax.minorticks_off()
    ax.set_title("lr")
    labelled(ax, "step size lr", "stuck")
    found = figcheck.problems(fig)
    assert any(
        p.startswith("axes 'lr': x tick labels '0.00025' and '0.0005' overlap (gap -")
        for p in found
    ), found


def test_axes_without_labels():
    fig, ax = plt.subplots(figsize=(4, 3))
    ax.plot([0, 1], [0, 1])
    ax.set_title("bare")
    assert figcheck.problems(fig) == ["axes 'bare': no x label", "axes 'bare': no y label"]


def test_empty_hidden_axes_are_skipped_but_a_column_without_its_labelled_panel_is_not():
    # 2x2 sharex grid whose bottom-right panel is hidden: the top-right panel shows data with
    # no x label below it (fig3's layout with 4 of 6 panels)
    fig, axes = plt.subplots(2, 2, figsize=(5, 4), sharex=True, sharey=True)
    for ax in axes.flat[:3]:
        ax.plot([0, 1], [0, 1])
    axes[1, 1].set_visible(False)
    for ax in axes[-1]:
        ax.set_xlabel("x")
    for ax in axes[:, 0]:
        ax.set_ylabel("y")
    axes[0, 1].set_title("top right")
    assert figcheck.problems(fig) == ["axes 'top right': no x label"]


def test_squeezed_axes():
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(6, 3), layout="none")
    for axis in (ax, bx):
        labelled(axis).plot([0, 1], [0, 1])
    ax.set_position([0.1, 0.15, 0.05, 0.75])
    ax.set_title("thin")
    assert (
        "axes 'thin': squeezed to 5% of the figure width (at least 22% expected in a grid "
        "of 2 columns)"
    ) in figcheck.problems(fig)


def test_constrained_layout_not_applied_is_a_problem():
    fig, ax = plt.subplots(figsize=(2, 2))
    labelled(ax, "x", "y\n" * 40)  # a y label taller than the figure: the layout gives up
    ax.plot([0, 1], [0, 1])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # other warnings must not be swallowed or raised
        found = figcheck.problems(fig)
    assert any(p.startswith("figure: constrained_layout not applied") for p in found), found


def test_clean_line_plot_with_legend_in_an_empty_corner_passes():
    fig, ax = plt.subplots(figsize=(4, 3))
    x = np.linspace(0, 1, 200)
    ax.plot(x, x**2, label="$x^2$")
    ax.plot(x, x**3, label="$x^3$")
    ax.axhline(0.9, color="0.5", ls="--")
    ax.set_title("clean")
    ax.legend(loc="upper left")
    labelled(ax)
    assert figcheck.problems(fig) == []
    figcheck.check(fig, "clean")  # does not raise


def test_shared_grid_with_outer_labels_passes():
    fig, axes = plt.subplots(2, 2, figsize=(5, 4), sharex=True, sharey=True)
    x = np.linspace(0, 1, 100)
    for i, ax in enumerate(axes.flat):
        ax.plot(x, x ** (i + 1))
        ax.set_title(f"panel {i}")
    for ax in axes[-1]:
        ax.set_xlabel("x")
    for ax in axes[:, 0]:
        ax.set_ylabel("y")
    assert figcheck.problems(fig) == []


def test_check_raises_naming_the_figure_and_the_axes():
    fig, ax = plt.subplots(figsize=(4, 3))
    ax.plot([0, 1], [0, 1])
    ax.set_title("bare")
    with pytest.raises(figcheck.FigureQualityError) as err:
        figcheck.check(fig, "fig0_demo")
    assert isinstance(err.value, AssertionError)
    assert str(err.value).splitlines() == [
        "figure fig0_demo: 2 quality problems",
        "fig0_demo: axes 'bare': no x label",
        "fig0_demo: axes 'bare': no y label",
    ]


def test_gate_enabled_by_the_environment(monkeypatch):
    monkeypatch.delenv("DLN_FIGURE_GATE", raising=False)
    assert not figcheck.gate_enabled()
    monkeypatch.setenv("DLN_FIGURE_GATE", "0")
    assert not figcheck.gate_enabled()
    monkeypatch.setenv("DLN_FIGURE_GATE", "1")
    assert figcheck.gate_enabled()


def test_save_runs_the_gate_when_enabled(monkeypatch, tmp_path):
    from dln.figures import plotting

    fig, ax = plt.subplots(figsize=(4, 3))
    ax.plot([0, 1], [0, 1])
    out = tmp_path / "fig0_demo.png"
    monkeypatch.setenv("DLN_FIGURE_GATE", "1")
    with pytest.raises(figcheck.FigureQualityError, match="fig0_demo: axes 1 .*: no x label"):
        plotting.save(fig, [out], 50)
    assert not out.exists()
    monkeypatch.setenv("DLN_FIGURE_GATE", "0")
    plotting.save(fig, [out], 50)
    assert out.exists()


def test_module_imports_only_matplotlib_and_numpy():
    tree = ast.parse(Path(figcheck.__file__).read_text())
    roots = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            roots.add(node.module.split(".")[0])
    assert roots - {"__future__", "os", "warnings"} == {"matplotlib", "numpy"}
