"""Reading a trajectory against the theory: levels visited, plateaus, escapes, final rates.

Used by the aggregation rule; every number in the summary CSV comes from here.
"""

from __future__ import annotations

import json

import numpy as np
import xarray as xr

from .problem import Problem
from .theory import escape_steps, final_gap_model, final_rate


def problem_from_dataset(ds: xr.Dataset) -> Problem:
    widths = tuple(int(w) for w in np.atleast_1d(ds.attrs["widths"]))
    return Problem(widths=widths, s=ds["s"].values, U=ds["U"].values, V=ds["V"].values)


def level_index(loss: np.ndarray, levels: np.ndarray, tol: float) -> np.ndarray:
    """Per record, the critical level the loss is within tol of (-1: none)."""
    near = np.abs(loss[:, None] - levels[None, :]) < tol
    idx = np.argmax(near, axis=1)
    return np.where(near.any(axis=1), idx, -1)


def visits(steps: np.ndarray, loss: np.ndarray, levels: np.ndarray, tol: float):
    """Consecutive stays near critical levels: list of (level, entry_step, exit_step)."""
    idx = level_index(loss, levels, tol)
    out = []
    start = None
    for i, lev in enumerate(idx):
        if start is not None and lev != idx[start]:
            out.append((int(idx[start]), int(steps[start]), int(steps[i])))
            start = None
        if start is None and lev >= 0:
            start = i
    if start is not None:
        out.append((int(idx[start]), int(steps[start]), int(steps[-1])))
    return out


def fit_rate(t: np.ndarray, gap: np.ndarray, lo: float, hi: float, min_points: int = 5):
    """Exponential rate of gap ~ exp(-rate t) over the last stretch with lo <= gap <= hi."""
    inside = (gap >= lo) & (gap <= hi) & np.isfinite(gap)
    if not inside.any():
        return float("nan")
    end = len(inside) - 1 - np.argmax(inside[::-1])
    start = end
    while start > 0 and inside[start - 1]:
        start -= 1
    if end - start + 1 < min_points:
        return float("nan")
    slope = np.polyfit(t[start : end + 1], np.log(gap[start : end + 1]), 1)[0]
    return float(-slope)


def fit_window(dtype: str, level: float) -> tuple[float, float]:
    """Gap range for rate fits: above round-off of the loss in the run's precision."""
    lo = max(1e-10, 100 * np.finfo(np.dtype(dtype)).eps * max(level, 1.0))
    return lo, max(1e-4, 100 * lo)


def final_entry(loss: np.ndarray, levels: np.ndarray, level: int, tol: float) -> int:
    """Index of the record where the run enters its final level for good."""
    away = np.flatnonzero(np.abs(loss - levels[level]) >= tol)
    return int(away[-1] + 1) if away.size else 0


def summarize_run(ds: xr.Dataset, tol: float = 1e-3) -> dict:
    """One row of the summary table for one run file."""
    problem = problem_from_dataset(ds)
    levels = ds["critical_level"].values
    steps, loss, t = ds["step"].values, ds["loss"].values, ds["t"].values
    k_pred = int(ds.attrs["predicted_k"])
    lr = float(ds.attrs["lr"])
    seq = visits(steps, loss, levels, tol)
    final_idx = int(level_index(loss[-1:], levels, tol)[0])
    row = {
        "predicted_k": k_pred,
        "final_loss": float(loss[-1]),
        "final_level": final_idx,
        "reached_global": final_idx == 1,
        "diverged": bool(ds.attrs["diverged"]),
        "diverged_step": int(ds.attrs["diverged_step"]),
        "levels_visited": ";".join(f"L{lev}:{a}-{b}" for lev, a, b in seq),
    }
    # steps spent within tol of each level (sum of record intervals)
    idx = level_index(loss, levels, tol)
    dstep = np.diff(steps, append=steps[-1])
    for lev in range(len(levels)):
        row[f"steps_at_L{lev}"] = int(dstep[idx == lev].sum())
    # the plateau at the predicted saddle and its escape
    row.update(plateau_start=-1, escape_step=-1, stuck_steps=-1, eps_at_plateau=np.nan,
               predicted_stuck_steps=np.nan)
    stays = [(a, b) for lev, a, b in seq if lev == k_pred]
    if k_pred >= 2 and stays:
        entry, exit_ = stays[0]
        row["plateau_start"] = entry
        i_entry = int(np.searchsorted(steps, entry))
        eps = float(abs(ds["p"].values[i_entry, 0]))
        row["eps_at_plateau"] = eps
        if eps > 0:
            row["predicted_stuck_steps"] = float(escape_steps(problem, k_pred, eps, lr))
        if np.any(loss[i_entry:] < levels[k_pred] - tol):
            row["escape_step"] = exit_
            row["stuck_steps"] = exit_ - entry
    # final exponential rate towards the level reached
    # final exponential rate towards the level reached: fitted, the notes' slowest-mode rate,
    # and the mode model fed with the alignments measured on entering the level
    row.update(final_rate_fit=np.nan, final_rate_theory=np.nan, final_rate_model=np.nan)
    if final_idx >= 1:
        gap = loss - levels[final_idx]
        lo, hi = fit_window(str(ds.attrs["dtype"]), levels[final_idx])
        row["final_rate_fit"] = fit_rate(t, gap, lo, hi)
        row["final_rate_theory"] = final_rate(problem, final_idx)
        entry = final_entry(loss, levels, final_idx, tol)
        model = final_gap_model(problem, final_idx, ds["alpha"].values[entry],
                                ds["beta"].values[entry], t[entry:] - t[entry])
        row["final_rate_model"] = fit_rate(t[entry:], model, lo, hi)
    row["config_json"] = ds.attrs.get("config_json", json.dumps({}))
    return row
