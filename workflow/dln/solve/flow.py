"""Gradient-flow reference: the layer-wise ODE dW_j/dt = -grad_j L, integrated with SciPy."""

from __future__ import annotations

import numpy as np
from scipy.integrate import solve_ivp

from dln.solve.kernel import make_gradient

RTOL, ATOL = 1e-11, 1e-13


def gf_run(theta0: np.ndarray, phi: np.ndarray, widths, times: np.ndarray, rtol=RTOL, atol=ATOL):
    """Flat weights at the given times (t = lr x step), from DOP853 at tight tolerances.

    Always float64: the flow is a reference, not a precision experiment.
    """
    loss_grad = make_gradient(widths, phi, np.float64)

    def rhs(_t, theta):
        return -loss_grad(theta)[1]

    sol = solve_ivp(
        rhs,
        (0.0, float(times[-1])),
        np.asarray(theta0, dtype=np.float64),
        method="DOP853",
        t_eval=times,
        rtol=rtol,
        atol=atol,
    )
    if not sol.success:
        raise RuntimeError(f"gradient-flow integration failed: {sol.message}")
    return sol.y.T.copy()
