"""A small adaptive ODE integrator (Dormand-Prince 5(4)) with event location, in NumPy.

The laws' predictions are integrated inside every simulation job, whose path stays free of
SciPy (importing scipy.integrate costs ~0.7 s, thirty times a GD run of the paper's network).
Events are located by re-taking the last step with a shorter length (regula falsi), so an event
time is as accurate as the steps themselves.

This Python integrator is the reference. The two flows the analysis integrates for every run
(dln.model.reduced, dln.analysis.escape_model) also run it transcribed into C
(dln/model/_ode.c, loaded here as COMPILED), ~100x faster, agreeing to round-off
(tests/model/test_ode_c.py); without a C compiler at install time they fall back to this one.
"""

from __future__ import annotations

import ctypes
import warnings
from dataclasses import dataclass, field

import numpy as np

from dln.model.native import load_extension

_C = np.array([0, 1 / 5, 3 / 10, 4 / 5, 8 / 9, 1.0])
_A = (
    (),
    (1 / 5,),
    (3 / 40, 9 / 40),
    (44 / 45, -56 / 15, 32 / 9),
    (19372 / 6561, -25360 / 2187, 64448 / 6561, -212 / 729),
    (9017 / 3168, -355 / 33, 46732 / 5247, 49 / 176, -5103 / 18656),
)
_B5 = np.array([35 / 384, 0, 500 / 1113, 125 / 192, -2187 / 6784, 11 / 84, 0])
_B4 = np.array([5179 / 57600, 0, 7571 / 16695, 393 / 640, -92097 / 339200, 187 / 2100, 1 / 40])
MAX_STEPS = 200_000


def _load():
    """The compiled flows (dln/model/_ode.c), or None when installed without a C compiler."""
    lib = load_extension("dln.model._ode")
    if lib is None:
        return None
    ptr, i64, f64 = ctypes.c_void_p, ctypes.c_int64, ctypes.c_double
    lib.dln_reduced_flow.restype = None
    lib.dln_reduced_flow.argtypes = [ptr, i64, i64] + [f64] * 5 + [i64] + [f64] * 3 + [ptr] * 3
    lib.dln_modified_flow.restype = f64
    lib.dln_modified_flow.argtypes = [ptr, ptr, ptr, i64, ptr, ptr, i64] + [f64] * 5 + [ptr] * 3
    lib.dln_records_loss_grad.restype = None
    lib.dln_records_loss_grad.argtypes = [ptr, ptr, ptr, i64, ptr, ptr, i64, ptr, i64] + [ptr] * 3
    lib.dln_records_geometry.restype = None
    lib.dln_records_geometry.argtypes = [ptr, i64, ptr, i64, ptr, i64, ptr, ptr, i64] + [ptr] * 6
    return lib


COMPILED = _load()
# "c" normally; "python" (this module's integrator: same maths, ~100x slower per run) when the
# extension could not be built at install time
BACKEND = "c" if COMPILED is not None else "python"
if COMPILED is None:
    warnings.warn(
        "dln: compiled flows dln.model._ode not found (installed without a C compiler?); "
        "integrating the laws' flows in Python, ~25 ms more per analysed run "
        "(docs/performance.md). Reinstall with `pip install -e .` on a machine with gcc/cc.",
        RuntimeWarning,
        stacklevel=1,
    )


@dataclass
class Event:
    """g(t, y) = 0 crossed in `direction` (+1 upward, -1 downward); terminal stops there."""

    g: object
    direction: float = 0.0
    terminal: bool = False
    t: float = float("nan")  # first crossing found
    y: np.ndarray | None = field(default=None, repr=False)


def _step(rhs, t, y, f0, h):
    """One Dormand-Prince step: (y_new, f_new, error estimate)."""
    k = [f0]
    for i in range(1, 6):
        k.append(rhs(t + _C[i] * h, y + h * sum(a * ki for a, ki in zip(_A[i], k, strict=False))))
    y_new = y + h * sum(b * ki for b, ki in zip(_B5[:6], k, strict=True))
    f_new = rhs(t + h, y_new)
    k.append(f_new)
    err = h * sum((b5 - b4) * ki for b5, b4, ki in zip(_B5, _B4, k, strict=True))
    return y_new, f_new, err


def _crossed(ev: Event, g0: float, g1: float) -> bool:
    if not (np.sign(g0) != np.sign(g1) or g1 == 0):
        return False
    return ev.direction == 0 or np.sign(g1 - g0) == np.sign(ev.direction)


def _locate(rhs, ev: Event, t, y, f0, h, g0, g1):
    """The crossing inside the step [t, t + h], by regula falsi (Illinois) on re-taken steps."""
    lo, hi, glo, ghi = 0.0, h, g0, g1
    y_at = y
    for _ in range(60):
        s = hi - ghi * (hi - lo) / (ghi - glo) if ghi != glo else (lo + hi) / 2
        y_at = _step(rhs, t, y, f0, s)[0] if s > 0 else y
        gs = ev.g(t + s, y_at)
        if abs(hi - lo) <= 1e-13 * max(abs(t + h), 1.0) or gs == 0:
            break
        if np.sign(gs) == np.sign(ghi):
            hi, ghi = s, gs
            glo /= 2  # Illinois: keep the stale end from stalling the iteration
        else:
            lo, glo = s, gs
            ghi /= 2
    return t + s, y_at


def integrate(rhs, y0, t_end: float, events=(), rtol=1e-10, atol=1e-12):
    """Integrate y' = rhs(t, y) from t = 0 until t_end or a terminal event; fills each event's
    first crossing (t, y). Returns (t, y) where it stopped."""
    t, y = 0.0, np.asarray(y0, dtype=np.float64)
    f = rhs(t, y)
    h = min(t_end, 1e-3 * max(1.0, t_end) * rtol**0.2)
    gs = [ev.g(t, y) for ev in events]
    for _ in range(MAX_STEPS):
        if t >= t_end:
            break
        h = min(h, t_end - t)
        y_new, f_new, err = _step(rhs, t, y, f, h)
        scale = atol + rtol * np.maximum(np.abs(y), np.abs(y_new))
        e = float(np.sqrt(np.mean((err / scale) ** 2)))
        if e > 1:
            h *= max(0.2, 0.9 * e**-0.2)
            continue
        stops = []
        for i, ev in enumerate(events):
            g1 = ev.g(t + h, y_new)
            if np.isnan(ev.t) and _crossed(ev, gs[i], g1):
                ev.t, ev.y = _locate(rhs, ev, t, y, f, h, gs[i], g1)
                stops += [(ev.t, ev.y)] if ev.terminal else []
            gs[i] = g1
        if stops:
            return min(stops, key=lambda ty: ty[0])
        t, y, f = t + h, y_new, f_new
        h *= min(5.0, 0.9 * max(e, 1e-10) ** -0.2)
    return t, y
