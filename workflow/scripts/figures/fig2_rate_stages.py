"""Figure 2: the rate changes by stage. (a) loss gap to the global minimum, log scale: the
k = 1 run and every escaped run end on the linear rate of the slowest excited mode (dashed:
the final-stage model fed with the alignments measured on entering L_1). (b) the polynomial
stage from a small start: sigma^{-(1-2/N)} falls at rate (N-2)(rho - sigma), the reduced
dynamics' prediction integrated along the recorded rho(t), sigma(t) (dashed)."""

import numpy as np
import matplotlib.pyplot as plt

from dln import plotting
from dln.analysis import final_entry, problem_from_dataset
from dln.theory import final_gap_model

sm = snakemake  # noqa: F821
plotting.setup(sm)
ds = plotting.load(sm.input.dataset)
main = plotting.runs(ds, study="grid", method="gd", seed=sm.params.seed, construction="orthogonal")
colors = plotting.k_colors(main["k"].values)
L1 = float(ds["critical_level"][1])
N = int(sm.params.depth)


fig, (ax, bx) = plt.subplots(1, 2, figsize=(7.2, 3.0))
problem = problem_from_dataset(ds)
for i in np.argsort(main["k"].values):
    run = main.isel(run=i)
    k = int(run["k"])
    if int(run["final_level"]) != 1:
        continue  # stuck at the origin: no final linear stage to show
    gap = (run["loss"] - L1).values
    steps, t = run["step"].values, run["t"].values
    ax.semilogy(steps, np.where(gap > 0, gap, np.nan), color=colors[k], lw=1.3, label=f"k = {k}")
    # theory: the final-stage mode model, fed only with the alignments at entry into L_1
    e = final_entry(run["loss"].values, ds["critical_level"].values, 1, sm.params.level_tol)
    model = final_gap_model(problem, 1, run["alpha"].values[e], run["beta"].values[e], t[e:] - t[e])
    ax.semilogy(steps[e:], model, color="k", ls="--", lw=0.8)
ax.plot([], [], "k--", lw=0.8, label="final-stage theory")
plotting.note_diverged(ax, main)
ax.set_xlabel("GD iteration")
ax.set_ylabel("loss gap $L - L_1$")
ax.set_ylim(sm.params.gap_floor, 30)
ax.set_title("(a) final stage: linear convergence")
ax.legend(fontsize=7, loc="upper right")

k1 = plotting.runs(main, k=1, diverged=False)
if k1.sizes["run"]:
    run = k1.isel(run=0)
    t = run["t"].values
    sigma, rho = run["sigma1"].values, run["rho"].values
    y = sigma ** (-(1 - 2 / N))
    # integrate dy/dt = -(N-2)(rho - sigma) along the recorded trajectory (trapezoid rule)
    rate = (N - 2) * (rho - sigma)
    pred = y[0] - np.concatenate([[0], np.cumsum(0.5 * (rate[1:] + rate[:-1]) * np.diff(t))])
    bx.plot(t, y, color=colors[1], lw=1.5, label="GD, k = 1")
    bx.plot(t, pred, "k--", lw=0.9, label="reduced dynamics")
    stop = np.argmax(y < 1.2 * y.min() + 0.05 * (y[0] - y.min()))
    bx.set_xlim(0, t[max(stop, 10)] * 1.5)
    bx.axvspan(0, t[stop], color="0.9", zorder=0, label="polynomial stage")
bx.set_xlabel("time $t$ = lr $\\times$ iteration")
bx.set_ylabel(f"$\\sigma^{{-(1-2/N)}}$, N = {N}")
bx.set_title("(b) small start: polynomial stage")
bx.legend(fontsize=7)
plotting.save(fig, sm.output, sm.params.dpi)
