"""The escape law as a prediction: the stuck length at saddle k >= 2 from W(0), lr and dtype only,
made before (and independently of) the GD run (docs/theory.md §6).

GD leaves saddle k through p_1, which grows from its value eps at the plateau start as
eps exp((s_1 - s_k) s_k^(1-2/N) t); the loss leaves the level_tol band at p_exit, so

    predicted_stuck_steps = ln(p_exit / eps) / ((s_1 - s_k) s_k^(1-2/N) lr).

What differs between start families is eps:
- orthogonal starts (alpha_1(0) = beta_1(0) = 0): exact arithmetic never leaves the set, so
  round-off seeds p_1; a seed made near the start is amplified along the deterministic path by
  G = exp(integral of (s_1 - rho) sigma^(1-2/N) dt) up to the plateau (reduced flow from W(0)):
  eps = C u G, u the unit round-off of the run's dtype, C one constant per precision fitted once
  on a calibration set (dln.analysis.escape_constant, refit by dln.analysis.calibrate_escape).
- antisymmetric starts (alpha_1(0) = -beta_1(0) != 0): GD follows, to first order in lr, the
  gradient flow of the modified loss L + (lr/4)|grad L|^2 (backward error analysis), whose
  extra term breaks the p_1 = 0 set. Integrating that flow from W(0) to the plateau gives eps
  with no fitted constant; the round-off term C u G is added (it matters only in float32).
"""

from __future__ import annotations

import numpy as np

from dln.analysis.escape_constant import LOG_C
from dln.model.native import pointer
from dln.model.ode import BACKEND, COMPILED, Event, integrate
from dln.model.problem import Problem, flatten, unflatten
from dln.model.reduced import reduced_path
from dln.model.theory import alignments, critical_levels, end_vectors, escape_steps
from dln.solve import kernel  # the exact gradient of the layer below

RTOL, ATOL = 1e-10, 1e-13
T_MAX = 1e4  # t = lr x steps: beyond any budget; the modified flow stops at the plateau


def unit_roundoff(dtype) -> float:
    """u = 2^-53 (float64), 2^-24 (float32): half the machine epsilon."""
    return float(np.finfo(np.dtype(dtype)).eps) / 2


def p_exit(problem: Problem, k: int, level_tol: float) -> float:
    """|p_1| at which the loss leaves the band: s_k (s_1 - s_k) p_1^2 / 4 = level_tol."""
    sk, s1 = problem.s[k - 1], problem.s[0]
    return float(np.sqrt(4 * level_tol / (sk * (s1 - sk))))


def growth_steps(problem: Problem, k: int, eps: float, lr: float, level_tol: float) -> float:
    """Iterations for p_1 to grow from eps to p_exit at saddle k (0 if eps >= p_exit already)."""
    pe = p_exit(problem, k, level_tol)
    return float(escape_steps(problem, k, eps / pe, lr)) if eps < pe else 0.0


def discretisation_seed(
    problem: Problem, weights, k: int, lr: float, level_tol: float, backend: str = BACKEND
) -> float:
    """|p_1| when the loss first falls to L_k + level_tol along the gradient flow of the
    modified loss L + (lr/4)|grad L|^2 from `weights`: d theta/dt = -grad L - (lr/2) H grad L,
    with the Hessian-vector product by a central difference of the exact gradient (C kernel).
    backend "c": dln/model/_ode.c; "python": dln.model.ode (the reference)."""
    level = critical_levels(problem)[k] + level_tol
    theta0 = flatten([np.asarray(w, dtype=np.float64) for w in weights])
    if backend == "c" and kernel.BACKEND == "c":
        theta = _modified_flow_c(problem, theta0, lr, level)
    else:
        theta = _modified_flow_python(problem, theta0, lr, level)
    if theta is None:
        return float("nan")
    _, u, v = end_vectors(problem, unflatten(theta, problem.widths))
    alpha, beta = alignments(problem, u, v)
    return float(abs(alpha[0] + beta[0]))


def _modified_flow_python(problem: Problem, theta0, lr: float, level: float):
    """theta where the modified flow's loss first falls to `level` (None: not by T_MAX)."""
    loss_grad = kernel.make_gradient(problem.widths, problem.Phi, np.float64)

    def rhs(_t, theta):
        g = loss_grad(theta)[1]
        # |g| by NumPy's pairwise sum, not np.linalg.norm's BLAS dot: eps moves by ~1e-7 of
        # itself when h moves by one ulp, so h must have the same bits everywhere (and in C)
        h = 1e-6 / max(float(np.sqrt(np.sum(g * g))), 1e-300)
        hg = (loss_grad(theta + h * g)[1] - loss_grad(theta - h * g)[1]) / (2 * h)
        return -g - 0.5 * lr * hg

    plateau = Event(lambda _t, theta: loss_grad(theta)[0] - level, direction=-1.0, terminal=True)
    integrate(rhs, theta0, T_MAX, [plateau], rtol=RTOL, atol=ATOL)
    return plateau.y


def _modified_flow_c(problem: Problem, theta0, lr: float, level: float):
    """_modified_flow_python's result from the compiled integrator, whose right-hand side
    calls the GD kernel's own loss and gradient (dln_loss_grad_f64) through its address."""
    layout = kernel.Layout(problem.widths)
    phi = np.ascontiguousarray(problem.Phi, dtype=np.float64)
    theta = np.array(theta0, dtype=np.float64)
    n, n_vec = layout.n_params, int(layout.voff[-1])
    work = np.empty(15 * n + 4 * n_vec)
    theta_at = np.empty(n)
    t = COMPILED.dln_modified_flow(
        kernel.loss_grad_address(), pointer(phi), pointer(layout.widths), layout.N, pointer(layout.offs),
        pointer(layout.voff), layout.r, lr, level, T_MAX, RTOL, ATOL, pointer(theta),
        pointer(work), pointer(theta_at),
    )  # fmt: skip
    return None if np.isnan(t) else theta_at


def predict_escape(
    problem: Problem, weights, k: int, lr: float, dtype: str, level_tol: float
) -> dict:
    """Per-run predictions from the start alone: the polynomial stage's exit time (any k >= 1)
    and, at a saddle k >= 2, the plateau start, eps and the stuck length (NaN where none)."""
    nan = float("nan")
    out = dict(
        origin_exit_time_model=nan,
        predicted_plateau_start=nan,
        escape_log_gain=nan,
        predicted_eps=nan,
        predicted_stuck_steps=nan,
    )
    if k < 1:
        return out
    path = reduced_path(problem, weights, k, level_tol)
    out["origin_exit_time_model"] = path.exit_time
    if k < 2 or not np.isfinite(path.plateau_time):
        return out
    out["predicted_plateau_start"] = path.plateau_time / lr
    out["escape_log_gain"] = path.log_gain
    eps = np.exp(LOG_C[str(np.dtype(dtype))] + path.log_gain) * unit_roundoff(dtype)
    alpha1, beta1 = alignments(problem, *end_vectors(problem, weights)[1:])
    if abs(alpha1[0]) > np.sqrt(np.finfo(np.dtype(dtype)).eps):  # off the orthogonal set
        eps += discretisation_seed(problem, weights, k, lr, level_tol)
    out["predicted_eps"] = float(eps)
    out["predicted_stuck_steps"] = growth_steps(problem, k, float(eps), lr, level_tol)
    return out
