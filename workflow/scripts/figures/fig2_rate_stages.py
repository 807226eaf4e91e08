"""Figure 2: the rate changes by stage. (a) loss gap to the global minimum, log scale: the
k = 1 run and every escaped run end on the linear rate of the slowest excited mode (dashed:
the final-stage model fed with the alignments measured on entering L_1). (b) the polynomial
stage from a small start: sigma^{-(1-2/N)} falls at rate (N-2)(rho - sigma), the reduced
dynamics' prediction integrated along the recorded rho(t), sigma(t) (dashed)."""

import matplotlib.pyplot as plt
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
colors = plotting.k_colors(main["k"].values)
levels = plotting.levels(main)
L1 = float(levels[1])

fig, (ax, bx) = plt.subplots(1, 2, figsize=(7.2, 3.4))
shown = 0
x_end = 0.0  # past the last record above the gap floor, the panel would be empty
for i in np.argsort(main["k"].values):
    run = main.isel(run=i)
    k = int(run["k"])
    if float(run["final_level"]) != 1:
        continue  # stuck at a saddle or the origin, or diverged: no final linear stage
    ok = np.isfinite(run["loss"].values)
    gap = (run["loss"].values - L1)[ok]
    steps, t = run["step"].values[ok], run["t"].values[ok]
    ax.semilogy(steps, np.where(gap > 0, gap, np.nan), color=colors[k], lw=1.3, label=f"k = {k}")
    above = np.flatnonzero(gap > opts["gap_floor"])
    x_end = max(x_end, float(steps[above[-1]]) if above.size else 0.0)
    # theory: the final-stage mode model, fed only with the alignments at entry into L_1
    e = final_entry(run["loss"].values[ok], levels, 1, float(run["level_tol"]))
    model = final_gap_model(
        plotting.problem_of(run),
        1,
        run["alpha"].values[ok][e],
        run["beta"].values[ok][e],
        t[e:] - t[e],
    )
    ax.semilogy(steps[e:], model, color="k", ls="--", lw=0.8)
    shown += 1
if shown:
    ax.plot([], [], "k--", lw=0.8, label="final-stage theory")
    # below the panels: inside (a), any corner lies on some run's curve
    handles, labels = ax.get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncol=len(labels), fontsize=7)
else:
    plotting.note(ax, "no run reached L_1 within the step budget")
plotting.note_diverged(ax, main)
ax.set_xlabel("GD iteration")
ax.set_ylabel("loss gap $L - L_1$")
ax.set_ylim(opts["gap_floor"], 30)
if x_end > 0:
    ax.set_xlim(0, 1.15 * x_end)
ax.set_title("(a) final stage: linear convergence")

k1 = plotting.runs(main, k=1, diverged=False)
N = int(main["depth"].values[0])
if k1.sizes["run"] and N >= 3:
    run = k1.isel(run=0)
    t = run["t"].values
    ok = np.isfinite(t)
    t, sigma, rho = t[ok], run["sigma1"].values[ok], run["rho"].values[ok]
    y = sigma ** (-(1 - 2 / N))
    # integrate dy/dt = -(N-2)(rho - sigma) along the recorded trajectory (trapezoid rule)
    rate = (N - 2) * (rho - sigma)
    pred = y[0] - np.concatenate([[0], np.cumsum(0.5 * (rate[1:] + rate[:-1]) * np.diff(t))])
    bx.plot(t, y, color=colors[1], lw=1.5, label="GD, k = 1")
    bx.plot(t, pred, "k--", lw=0.9, label="reduced dynamics")
    stop = int(np.argmax(y < 1.2 * y.min() + 0.05 * (y[0] - y.min())))
    # show the stage and a little after it; short runs show what they have
    bx.set_xlim(0, t[min(max(stop, 10), len(t) - 1)] * 1.5 or 1.0)
    bx.axvspan(0, t[stop], color="0.9", zorder=0, label="polynomial stage")
    # right of the shaded stage: on the shading, the legend's grey swatch would not show
    bx.legend(fontsize=7, loc="center right")
else:
    plotting.note(bx, "no k = 1 run (or depth N < 3): no polynomial stage to show")
bx.set_xlabel("time $t$ = lr $\\times$ iteration")
bx.set_ylabel(f"$\\sigma^{{-(1-2/N)}}$, N = {N}")
bx.set_title("(b) small start: polynomial stage")
plotting.save(fig, sm.output, opts["dpi"])
