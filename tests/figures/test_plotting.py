"""The shared figure helpers (dln.figures.plotting) that carry the any-axis behaviour: the
encoding of settings a figure does not lay out, the notes of fixed and pooled settings, the
halo for a curve lying on another, the printed width."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from dln.figures import figcheck, plotting  # noqa: E402

RUNS = pd.DataFrame(
    {
        "k": [1, 2, 1, 1],
        "sigma0": [0.01, 0.01, 0.03, 0.01],
        "lr": [5e-4, 5e-4, 5e-4, 1e-3],
        "seed": [0, 0, 0, 0],
    }
)


@pytest.fixture(autouse=True)
def _close():
    with plt.rc_context({"figure.constrained_layout.use": True, "legend.frameon": False}):
        yield
    plt.close("all")


def test_encoding_styles_what_varies_and_labels_it_against_the_reference():
    enc = plotting.Encoding(RUNS, shown=("k",))
    assert enc.names == ["sigma0", "lr"]
    styles = {tuple(sorted(enc.style(row).items())) for _, row in RUNS.iterrows()}
    assert len(styles) == 3  # (0.01, 5e-4), (0.03, 5e-4), (0.01, 1e-3): each its own look
    labels = sorted(h.get_label() for h in enc.handles())
    assert labels == ["$\\sigma_0$ = 0.03", "lr = 0.001", "reference"]
    assert enc.reference_note() == "reference: $\\sigma_0$ = 0.01, lr = 0.0005"
    assert plotting.Encoding(RUNS, shown=("k", "sigma0", "lr")).handles() == []


def test_fixed_and_pooled_notes():
    assert plotting.fixed_note(RUNS, ("seed", "sigma0")) == "seed = 0"  # sigma0 varies
    assert plotting.pooled_note(RUNS, shown=("k",)) == "pooled over: $\\sigma_0$, lr"
    assert plotting.pooled_note(RUNS, shown=("k", "sigma0", "lr")) == ""


def test_a_curve_on_another_becomes_a_halo_and_passes_the_gate():
    fig, ax = plt.subplots(figsize=(4, 3))
    x = np.linspace(0, 1, 200)
    ax.plot(x, np.exp(-3 * x), lw=1.3, label="run a", gid=plotting.RUN_GID)
    ax.plot(x, np.exp(-3 * x), lw=1.3, label="run b", gid=plotting.RUN_GID)
    ax.plot(x, 0.5 + 0 * x, "k--", lw=0.8, gid="model")
    ax.plot(x, 0.5 + 0 * x, "k--", lw=0.8, gid="model")  # the same model twice
    ax.set(xlabel="x", ylabel="y")
    assert len(figcheck.problems(fig)) == 2  # run a under run b, a model under the other
    restyled = plotting.unhide(fig)
    assert [line.get_label() for line in restyled] == ["run a"]
    assert restyled[0].get_linewidth() > 4 and len(ax.lines) == 3  # one model line left
    assert figcheck.problems(fig) == []
    assert plotting.run_marks(fig) == 2


def test_figures_are_saved_at_their_printed_width(tmp_path):
    fig, ax = plt.subplots(figsize=(9, 3))
    ax.plot([0, 1], [0, 1])
    ax.set(xlabel="x", ylabel="y")
    ax.annotate(
        "a label outside",
        xy=(1, 0.5),
        xycoords="axes fraction",
        xytext=(3, 0),
        textcoords="offset points",
    )
    plotting.fit_width(fig, 6.75)
    fig.canvas.draw()
    saved = (
        fig.get_tightbbox(fig.canvas.get_renderer()).width + 2 * plt.rcParams["savefig.pad_inches"]
    )
    assert saved == pytest.approx(6.75, abs=0.02)


def test_an_unchanged_figure_is_measured_once():
    fig, ax = plt.subplots(figsize=(9, 3))
    ax.plot([0, 1], [0, 1])
    ax.set(xlabel="x", ylabel="y")
    draws = []
    fig.canvas.mpl_connect("draw_event", draws.append)
    plotting.fit_width(fig, 6.75)
    fitted = len(draws)
    plotting.unhide(fig)
    plotting.fit_width(fig, 6.75)
    assert len(draws) == fitted  # nothing changed: the last layout still holds
    ax.lines[0].set(lw=3)
    plotting.saved_width(fig)
    assert len(draws) == fitted + 1  # a restyled line: laid out again
    # a resize, then a draw by someone else (savefig, the gate): the width is measured again
    fig.set_size_inches(5, 3)
    fig.canvas.draw()
    assert plotting.saved_width(fig) == pytest.approx(
        fig.get_tightbbox(fig.canvas.get_renderer()).width + 2 * plt.rcParams["savefig.pad_inches"]
    )
    assert plotting.saved_width(fig) < 6


def test_k_has_one_colour_everywhere():
    assert plotting.k_colors([2.0, 1.0, float("nan")]) == {
        1: plotting.k_color(1),
        2: plotting.k_color(2),
    }
    assert len({plotting.k_color(k) for k in range(7)}) == 7
