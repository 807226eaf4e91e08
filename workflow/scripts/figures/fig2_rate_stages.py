"""Figure 2: the rate changes by stage. (a) loss gap to the global minimum, log scale: the
k = 1 run and every escaped run end on the linear rate of the slowest excited mode (dashed:
the final-stage model fed with the alignments measured on entering L_1). (b) the polynomial
stage from a small start: sigma^{-(1-2/N)} falls at rate (N-2)(rho - sigma), the reduced
dynamics' prediction integrated along the recorded rho(t), sigma(t) (dashed). Measured curves
are wide and pale, models thin and dark, so that each stays visible where they agree."""

import numpy as np

from dln.analysis.stages import final_entry
from dln.figures import plotting
from dln.model.theory import final_gap_model

sm = snakemake  # noqa: F821
plotting.setup(sm)
opts = plotting.options(sm)
main = plotting.load_runs(sm)
if main is None:
    plotting.empty_figure(sm, "no orthogonal GD runs of the main grid at figures.main_seed")
levels = plotting.levels(main)
L1 = float(levels[1])
settings = plotting.settings_frame(main)
encoding = plotting.Encoding(settings, shown=("k", "solver"))
DATA = dict(lw=2.4, alpha=0.75)  # measured: wide and pale
MODEL = dict(color="k", ls="--", lw=0.8)  # model: thin and dark, drawn above


def final_stage(ax, run) -> float:
    """The run's loss gap and its final-stage model, down to the gap floor (below it the
    gap is round-off); returns the last iteration drawn."""
    k = int(run["k"])
    ok = np.isfinite(run["loss"].values)
    gap = (run["loss"].values - L1)[ok]
    steps, t = run["step"].values[ok], run["t"].values[ok]
    below = np.flatnonzero(gap <= opts["gap_floor"])
    stop = int(below[0]) if below.size else len(gap)
    style = encoding.style(plotting.settings_frame(run).iloc[0])
    ax.semilogy(
        steps[:stop],
        gap[:stop],
        color=plotting.k_color(k),
        ls=style["ls"],
        label=f"k = {k}",
        gid=plotting.RUN_GID,
        **DATA,
    )
    # theory: the final-stage mode model, fed only with the alignments at entry into L_1
    e = final_entry(run["loss"].values[ok], levels, 1, float(run["level_tol"]))
    model = final_gap_model(
        plotting.problem_of(run),
        1,
        run["alpha"].values[ok][e],
        run["beta"].values[ok][e],
        t[e:] - t[e],
    )
    keep = model > opts["gap_floor"]
    ax.semilogy(steps[e:][keep], model[keep], **MODEL)
    return float(steps[max(stop - 1, 0)])


def polynomial_stage(bx, run, N: int) -> tuple[float, float]:
    """sigma^{-(1-2/N)} of a k = 1 run and the reduced dynamics' prediction; returns the time
    to show and the time at which the stage ends."""
    t = run["t"].values
    ok = np.isfinite(t)
    t, sigma, rho = t[ok], run["sigma1"].values[ok], run["rho"].values[ok]
    y = sigma ** (-(1 - 2 / N))
    # integrate dy/dt = -(N-2)(rho - sigma) along the recorded trajectory (trapezoid rule)
    rate = (N - 2) * (rho - sigma)
    pred = y[0] - np.concatenate([[0], np.cumsum(0.5 * (rate[1:] + rate[:-1]) * np.diff(t))])
    style = encoding.style(plotting.settings_frame(run).iloc[0])
    bx.plot(t, y, color=plotting.k_color(1), ls=style["ls"], label="GD, k = 1", **DATA)
    bx.plot(t, pred, label="reduced dynamics", **MODEL)
    stop = int(np.argmax(y < 1.2 * y.min() + 0.05 * (y[0] - y.min())))
    return float(t[min(max(stop, 10), len(t) - 1)]), float(t[stop])


fig, (ax, bx) = plotting.subplots(opts, 1, 2, height=2.9)
x_end = 0.0
escaped = [i for i in np.argsort(main["k"].values) if float(main["final_level"][i]) == 1]
for i in escaped:  # stuck at a saddle or the origin, or diverged: no final linear stage
    x_end = max(x_end, final_stage(ax, main.isel(run=i)))
if escaped:
    ax.plot([], [], label="final-stage theory", **MODEL)
    handles, labels = ax.get_legend_handles_labels()
    unique = dict(zip(labels, handles, strict=True))
    fixed = plotting.fixed_note(settings, ("construction", "seed", "lr", "sigma0"))
    # below the panels: inside (a), any corner lies on some run's curve
    fig.legend(
        handles=list(unique.values()) + encoding.handles(),
        loc="outside lower center",
        ncol=min(len(unique) + len(encoding.handles()), 7),
        fontsize=8,
        title=f"all runs: {fixed}" if fixed else None,
        title_fontsize=8,
    )
else:
    plotting.note(ax, "no run reached L_1 within the step budget")
plotting.note_diverged(ax, main)
ax.set_xlabel("GD iteration")
ax.set_ylabel("loss gap $L - L_1$")
ax.set_ylim(opts["gap_floor"] / 3, 30)
if x_end > 0:
    ax.set_xlim(0, 1.1 * x_end)
ax.set_title("(a) final stage: linear convergence")

k1 = plotting.runs(main, k=1, diverged=False)
k1 = k1.isel(run=np.flatnonzero(k1["depth"].values >= 3))  # N < 3: no polynomial stage
depths = sorted(set(int(n) for n in k1["depth"].values))
if k1.sizes["run"]:
    ends = [
        polynomial_stage(bx, k1.isel(run=i), int(k1["depth"].values[i]))
        for i in range(k1.sizes["run"])
    ]
    stage_end = max(e[1] for e in ends)
    # the stage and as much again after it: room right of its end line for the legend
    bx.set_xlim(0, 2.5 * stage_end or 1.5 * max(e[0] for e in ends) or 1.0)
    bx.axvspan(0, stage_end, color="0.9", zorder=0)
    bx.axvline(stage_end, color="0.3", ls=":", lw=1.0, label="polynomial stage ends")
    handles, labels = bx.get_legend_handles_labels()
    unique = dict(zip(labels, handles, strict=True))
    bx.legend(handles=list(unique.values()), fontsize=8, loc="upper right")
else:
    plotting.note(bx, "no k = 1 run (or depth N < 3): no polynomial stage to show")
bx.set_xlabel("time $t$ = lr $\\times$ iteration")
# each run with its own depth N
n_text = f"N = {depths[0]}" if len(depths) == 1 else "N of each run"
bx.set_ylabel(f"$\\sigma^{{-(1-2/N)}}$, {n_text}")
bx.set_title("(b) small start: polynomial stage")
plotting.save(fig, sm.output, opts["dpi"], opts["width"])
