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
    row = plotting.settings_frame(run).iloc[0]
    style = DATA | encoding.style(row, line=True)
    ax.semilogy(
        steps[:stop],
        gap[:stop],
        color=plotting.k_color(k),
        label=f"k = {k}",
        gid=plotting.RUN_GID,
        **style,
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
    ax.semilogy(steps[e:][keep], model[keep], gid="model", **MODEL)
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
    row = plotting.settings_frame(run).iloc[0]
    style = DATA | encoding.style(row, line=True)
    bx.plot(t, y, color=plotting.k_color(1), label="GD, k = 1", **style)
    bx.plot(t, pred, label="reduced dynamics", gid="model", **MODEL)
    stop = int(np.argmax(y < 1.2 * y.min() + 0.05 * (y[0] - y.min())))
    return float(t[min(max(stop, 10), len(t) - 1)]), float(t[stop])


ncol = 3  # a wider legend would set the figure's width and squeeze the panels
n_entries = len(set(settings["k"])) + 2 + len(encoding.index) * bool(encoding.names)
height = 2.9 + plotting.legend_height(n_entries, ncol, 1 + 2 * bool(encoding.names))
fig, (ax, bx) = plotting.subplots(opts, 1, 2, height=height)
x_end = 0.0
escaped = [i for i in np.argsort(main["k"].values) if float(main["final_level"][i]) == 1]
for i in escaped:  # stuck at a saddle or the origin, or diverged: no final linear stage
    x_end = max(x_end, final_stage(ax, main.isel(run=i)))
if not escaped:
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
    # the stage and a little after it
    bx.set_xlim(0, 1.6 * stage_end or 1.5 * max(e[0] for e in ends) or 1.0)
    bx.axvspan(0, stage_end, color="0.9", zorder=0)
    bx.axvline(stage_end, color="0.3", ls=":", lw=1.0)
    # its entries are in the figure's legend below: inside, several runs leave no free corner
else:
    plotting.note(bx, "no k = 1 run (or depth N < 3): no polynomial stage to show")
bx.set_xlabel("time $t$ = lr $\\times$ iteration")
# each run with its own depth N
n_text = f"N = {depths[0]}" if len(depths) == 1 else "N of each run"
bx.set_ylabel(f"$\\sigma^{{-(1-2/N)}}$, {n_text}")
bx.set_title("(b) small start: polynomial stage")


def legend(any_halo: bool):
    """Below the panels (inside (a), any corner lies on some run's curve); its title names
    the settings every run drawn shares and the reference of the line styles."""
    ks = sorted({int(main["k"].values[i]) for i in escaped} | ({1} if k1.sizes["run"] else set()))
    handles = [plotting.line_handle(f"k = {k}", color=plotting.k_color(k), **DATA) for k in ks]
    handles += [plotting.line_handle("model: (a) final stage, (b) reduced dynamics", **MODEL)]
    handles += [
        plotting.line_handle("(b) end of the polynomial stage", color="0.3", ls=":", lw=1.0)
    ]
    handles += encoding.handles()
    handles += [plotting.halo_handle()] if any_halo else []
    fixed = plotting.fixed_note(settings, ("construction", "seed", "lr", "sigma0"))
    title = plotting.legend_title(f"all runs: {fixed}" if fixed else "", encoding.reference_note())
    return fig.legend(
        handles=handles,
        loc="outside lower center",
        ncol=ncol,
        fontsize=8,
        title=title,
        title_fontsize=8,
    )


# runs whose curve lies on another's (at the final layout) are drawn as halos around it
plotting.legend_with_halos(fig, legend, opts["width"])
plotting.save(fig, sm.output, opts["dpi"], opts["width"])
