"""The reduced (sigma, u, v) gradient flow of a balanced start, integrated from W(0) alone
(docs/theory.md §4, §6, §7.1). Predictions made before any GD step: the polynomial stage's exit
time and, for a saddle k >= 2, where the plateau starts and how much the path before it amplifies
a seed in p_1 (the gain G of the escape law).

State y = (x, u, v, A): x = ln sigma (sigma spans decades from a small start), the unit end
vectors, and A = integral of (s_1 - rho) sigma^(1-2/N) dt, the exponent by which the linear
dynamics dp_1/dtau = (s_1 - rho) p_1 multiplies any seed of p_1 along the path.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dln.model.native import pointer
from dln.model.ode import BACKEND, COMPILED, Event, integrate
from dln.model.problem import Problem
from dln.model.theory import critical_levels, end_vectors

RTOL, ATOL = 1e-10, 1e-12
T_MAX = 1e6  # a time no practical budget reaches (t = lr x steps): the flow stops at its events


@dataclass
class ReducedPath:
    """What the reduced flow from one start predicts (times t = lr x step; NaN: never)."""

    exit_time: float  # first time sigma reaches rho(0)/2 (the polynomial stage's exit)
    plateau_time: float  # first time the loss is within level_tol of L_k (k >= 2)
    log_gain: float  # ln G = A at plateau_time: growth of a p_1 seed before the plateau


def _rhs(problem: Problem):
    N, Phi, s1 = problem.depth, problem.Phi, float(problem.s[0])
    n_out = Phi.shape[0]

    def rhs(_t, y):
        sigma = np.exp(y[0])
        u, v = y[1 : 1 + n_out], y[1 + n_out : -1]
        Pv, Ptu = Phi @ v, Phi.T @ u
        rho = float(u @ Pv)
        c = sigma ** (1 - 2 / N)
        return np.concatenate(
            [
                [N * c * (rho - sigma)],
                c * (Pv - rho * u),
                c * (Ptu - rho * v),
                [(s1 - rho) * c],
            ]
        )

    return rhs


def _loss(problem: Problem, y) -> float:
    n_out = problem.Phi.shape[0]
    sigma = np.exp(y[0])
    u, v = y[1 : 1 + n_out], y[1 + n_out : -1]
    rho = float(u @ problem.Phi @ v)
    return 0.5 * float(np.sum(problem.s**2)) - sigma * rho + 0.5 * sigma**2


def _events(problem: Problem, rho0: float, k: int, level_tol: float) -> list[Event]:
    """Events: sigma = rho(0)/2, and for k >= 2 the loss falling to L_k + level_tol; the flow
    stops at the last one it needs (the plateau lies beyond sigma = rho(0)/2 <= s_k / 2)."""
    target = np.log(rho0 / 2) if rho0 > 0 else np.inf
    out = [Event(lambda _t, y: y[0] - target, direction=1.0, terminal=k < 2)]
    if k >= 2:
        level = critical_levels(problem)[k] + level_tol
        out.append(Event(lambda _t, y: _loss(problem, y) - level, direction=-1.0, terminal=True))
    return out


def reduced_path(
    problem: Problem, weights, k: int, level_tol: float, backend: str = BACKEND
) -> ReducedPath:
    """Integrate the reduced flow from the balanced start `weights` (read in float64), adaptive
    Dormand-Prince at tight tolerances, until its last event of interest (or a settling time):
    backend "c" (dln/model/_ode.c) or "python" (dln.model.ode, the reference). k is the start's
    predicted k; k = 0 (and an unbalanced start: the caller passes k < 0) has no such events."""
    sigma0, u0, v0 = end_vectors(problem, [np.asarray(w, dtype=np.float64) for w in weights])
    nan = float("nan")
    if not (sigma0 > 0 and k >= 1):
        return ReducedPath(nan, nan, nan)
    rho0 = float(u0 @ problem.Phi @ v0)
    y0 = np.concatenate([[np.log(sigma0)], u0, v0, [0.0]])
    t_end = _settling_time(problem, sigma0, rho0)
    flow = _flow_c if backend == "c" else _flow_python
    exit_time, plateau_time, log_gain = flow(problem, y0, rho0, k, level_tol, t_end)
    if not 0 < sigma0 < rho0 / 2:
        exit_time = nan
    return ReducedPath(exit_time, plateau_time, log_gain)


def _flow_python(problem: Problem, y0, rho0: float, k: int, level_tol: float, t_end: float):
    """(exit time, plateau time, A there) by dln.model.ode's integrator; NaN where not reached."""
    events = _events(problem, rho0, k, level_tol)
    integrate(_rhs(problem), y0, t_end, events, rtol=RTOL, atol=ATOL)
    if k < 2 or np.isnan(events[1].t):
        return events[0].t, float("nan"), float("nan")
    return events[0].t, events[1].t, float(events[1].y[-1])


def _flow_c(problem: Problem, y0, rho0: float, k: int, level_tol: float, t_end: float):
    """_flow_python's results from the compiled integrator (the same events and tolerances)."""
    phi = np.ascontiguousarray(problem.Phi, dtype=np.float64)
    n_out, n_in = phi.shape
    y = np.ascontiguousarray(y0, dtype=np.float64).copy()
    work = np.empty(12 * len(y) + n_out + n_in)
    out = np.empty(3)
    target = np.log(rho0 / 2) if rho0 > 0 else np.inf
    level = critical_levels(problem)[k] + level_tol if k >= 2 else float("nan")
    half_s2 = 0.5 * float(np.sum(problem.s**2))
    COMPILED.dln_reduced_flow(
        pointer(phi), n_out, n_in, problem.depth, float(problem.s[0]), half_s2, target, level,
        int(k >= 2), t_end, RTOL, ATOL, pointer(y), pointer(work), pointer(out),
    )  # fmt: skip
    return float(out[0]), float(out[1]), float(out[2])


def _settling_time(problem: Problem, sigma0: float, rho0: float) -> float:
    """A time by which the flow from a small start has reached its limit: 50 x the fixed-rho
    exit time sigma0^-(1-2/N) / ((N-2) rho) with rho >= s_d (a start with rho(0) <= 0 rotates
    first; its escape from the origin takes longer, so allow the same bound with rho = s_d)."""
    N = problem.depth
    rho = max(rho0, float(problem.s[-1]))
    if N > 2:
        scale = sigma0 ** -(1 - 2 / N) / ((N - 2) * rho)
    else:
        scale = np.log(max(rho / sigma0, np.e)) / (2 * rho)
    return float(min(T_MAX, 50 * scale + 50 / (float(problem.s[-1]) ** (2 - 2 / N))))
