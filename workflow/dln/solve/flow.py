"""Gradient-flow reference: the layer-wise ODE dW_j/dt = -grad_j L, integrated with the classical
Runge-Kutta method (RK4) at a fixed step.

Fixed steps and element-wise NumPy arithmetic only, with the C kernel's gradient: no BLAS, no
adaptive step control (whose error norms and step factors call BLAS and libm), so the flow's
bytes are the same on every CPU, like GD's. The step is the largest power of two below
STABLE_FRACTION / L, L = N ||Phi||_F^(2 - 2/N) a bound of the flow's stiffness near its limit, and each record
interval is cut into equal substeps no longer than that: RK4's error at h L <= 1/4 is ~1e-7 per
unit time on the fastest (decaying) mode and far below on the slow ones, which is what the
reference is compared on (GD's own O(lr) deviation is ~1e-3).
"""

from __future__ import annotations

import math

import numpy as np

from dln.solve.kernel import make_gradient, make_rk4

STABLE_FRACTION = 0.25  # h x L: RK4's stability limit on the real axis is 2.79


def flow_step(stiffness: float) -> float:
    """The largest power of two h with h x stiffness <= STABLE_FRACTION (a power of two, so a
    last-bit difference in `stiffness` cannot move it except exactly at a power of two)."""
    return 2.0 ** math.floor(math.log2(STABLE_FRACTION / stiffness))


def stiffness(phi: np.ndarray, depth: int) -> float:
    """An upper bound of the flow's largest rate near its limit, N s_1^(2 - 2/N), with s_1 bounded
    by the Frobenius norm of Phi (summed exactly: math.fsum)."""
    frobenius = math.sqrt(math.fsum(float(x) * float(x) for x in np.ravel(phi)))
    return depth * max(frobenius, 1.0) ** (2 - 2 / depth)


def _rk4(loss_grad, theta: np.ndarray, h: float, n: int) -> np.ndarray:
    """n classical RK4 steps of length h on dtheta/dt = -grad L(theta), element-wise: the
    reference of the compiled loop (dln.solve.kernel.make_rk4, the same operations in the same
    order), and the flow without the compiled kernel."""
    half, sixth = h / 2, h / 6
    for _ in range(n):
        k1 = loss_grad(theta)[1]
        k2 = loss_grad(theta - half * k1)[1]
        k3 = loss_grad(theta - half * k2)[1]
        k4 = loss_grad(theta - h * k3)[1]
        theta = theta - sixth * (k1 + 2.0 * k2 + 2.0 * k3 + k4)
    return theta


def gf_run(theta0: np.ndarray, phi: np.ndarray, widths, times: np.ndarray) -> np.ndarray:
    """Flat weights at the given times (t = lr x step, increasing, times[0] = 0).

    Always float64: the flow is a reference, not a precision experiment.
    """
    rk4 = make_rk4(widths, phi)
    if rk4 is None:  # no compiled kernel: the same steps through NumPy
        loss_grad = make_gradient(widths, phi, np.float64)

        def rk4(theta, h, n):
            return _rk4(loss_grad, theta, h, n)

    h_max = flow_step(stiffness(phi, len(widths) - 1))
    theta = np.array(theta0, dtype=np.float64)
    out = np.empty((len(times), theta.size))
    out[0] = theta
    for i in range(1, len(times)):
        span = float(times[i]) - float(times[i - 1])
        n = max(1, math.ceil(span / h_max))
        theta = rk4(theta, span / n, n)
        out[i] = theta
    return out
