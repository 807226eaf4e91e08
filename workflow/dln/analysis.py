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


MIN_STAY = 3  # records: a stay shorter than this is a transit through the band, not a visit


def visits(steps: np.ndarray, loss: np.ndarray, levels: np.ndarray, tol: float,
           min_records: int = MIN_STAY):
    """Stays of at least min_records consecutive records near a critical level:
    list of (level, entry_step, exit_step)."""
    idx = level_index(loss, levels, tol)
    out = []
    start = None
    for i, lev in enumerate(idx):
        if start is not None and lev != idx[start]:
            if i - start >= min_records:
                out.append((int(idx[start]), int(steps[start]), int(steps[i])))
            start = None
        if start is None and lev >= 0:
            start = i
    if start is not None and len(idx) - start >= min(min_records, len(idx)):
        out.append((int(idx[start]), int(steps[start]), int(steps[-1])))
    return out


def final_stretch(gap: np.ndarray, lo: float, hi: float, min_points: int = 5):
    """(first, last) index of the last stretch of records with lo <= gap <= hi, or None."""
    inside = (gap >= lo) & (gap <= hi) & np.isfinite(gap)
    if not inside.any():
        return None
    end = len(inside) - 1 - int(np.argmax(inside[::-1]))
    start = end
    while start > 0 and inside[start - 1]:
        start -= 1
    return (start, end) if end - start + 1 >= min_points else None


def fit_rate(t: np.ndarray, gap: np.ndarray, lo: float, hi: float, min_points: int = 5):
    """Exponential rate of gap ~ exp(-rate t) over the last stretch with lo <= gap <= hi."""
    stretch = final_stretch(gap, lo, hi, min_points)
    if stretch is None:
        return float("nan")
    a, b = stretch
    return float(-np.polyfit(t[a : b + 1], np.log(gap[a : b + 1]), 1)[0])


def fit_window(dtype: str, level: float) -> tuple[float, float]:
    """Gap range for rate fits: above round-off of the loss in the run's precision."""
    lo = max(1e-10, 100 * np.finfo(np.dtype(dtype)).eps * max(level, 1.0))
    return lo, max(1e-4, 100 * lo)


def final_entry(loss: np.ndarray, levels: np.ndarray, level: int, tol: float) -> int:
    """Index of the record where the run enters its final level for good."""
    away = np.flatnonzero(np.abs(loss - levels[level]) >= tol)
    return int(away[-1] + 1) if away.size else 0


def polynomial_stage(ds: xr.Dataset, problem: Problem, k_pred: int) -> dict:
    """The polynomial stages of the notes, measured against the reduced dynamics.

    With y = sigma^{-(1-2/N)}, d sigma/dt = N sigma^{2-2/N} (rho - sigma) gives
    dy/dt = -(N-2)(rho - sigma): y is linear in t while rho is about constant.
    Growth from a small start (k >= 1, rho > 0): y falls; fitted over the records with
    sigma < 0.1 rho(0), compared with -(N-2) <rho - sigma> over the same records.
    Origin plateau (k = 0, rho < 0): y rises, so sigma ~ t^{-N/(N-2)} once t dominates;
    fitted over the second half of the budget. The local exponent d log sigma / d log t there
    is reported too; it approaches -N/(N-2) only for t much larger than the budget.
    """
    N = problem.depth
    t, sigma, rho = ds["t"].values, ds["sigma1"].values, ds["rho"].values
    out = dict(growth_slope_fit=np.nan, growth_slope_theory=np.nan,
               origin_slope_fit=np.nan, origin_slope_theory=np.nan,
               origin_exponent_fit=np.nan, origin_exponent_theory=np.nan)
    if N < 3 or len(t) < 5:
        return out
    p = 1 - 2 / N

    def slopes(window):
        fit = np.polyfit(t[window], sigma[window] ** -p, 1)[0]
        return float(fit), float(-(N - 2) * np.mean(rho[window] - sigma[window]))

    if k_pred >= 1 and rho[0] > 0:
        first_big = np.argmax(sigma >= 0.1 * rho[0]) if np.any(sigma >= 0.1 * rho[0]) else len(t)
        window = np.arange(len(t)) < first_big
        if window.sum() >= 5:
            out["growth_slope_fit"], out["growth_slope_theory"] = slopes(window)
    if k_pred == 0 and rho[-1] < 0:
        late = (t >= t[-1] / 2) & (sigma > 0)
        if late.sum() >= 5:
            out["origin_slope_fit"], out["origin_slope_theory"] = slopes(late)
            out["origin_exponent_fit"] = float(np.polyfit(np.log(t[late]), np.log(sigma[late]), 1)[0])
            out["origin_exponent_theory"] = float(-N / (N - 2))
    return out


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
        "first_level": seq[0][0] if seq else -1,
        # small starts begin near the origin's level L_0; the saddle reached after it is the test
        "first_saddle": next((lev for lev, _, _ in seq if lev != 0), -1),
    }
    # the theorem's prediction: the flow (and GD, before any escape) reaches L_k first
    row["reached_predicted"] = bool(
        (k_pred == 0 and row["first_level"] == 0 and row["first_saddle"] == -1)
        or (k_pred >= 1 and row["first_saddle"] == k_pred)
    )
    # steps spent within tol of each level (sum of record intervals)
    idx = level_index(loss, levels, tol)
    dstep = np.diff(steps, append=steps[-1])
    for lev in range(len(levels)):
        row[f"steps_at_L{lev}"] = int(dstep[idx == lev].sum())
    # the plateau at the predicted saddle and its escape
    row.update(plateau_start=-1, escape_step=-1, stuck_steps=-1, eps_at_plateau=np.nan,
               predicted_stuck_steps=np.nan, predicted_stuck_steps_band=np.nan)
    stays = [(a, b) for lev, a, b in seq if lev == k_pred]
    if k_pred >= 2 and stays:
        entry, exit_ = stays[0]
        row["plateau_start"] = entry
        i_entry = int(np.searchsorted(steps, entry))
        eps = float(abs(ds["p"].values[i_entry, 0]))
        row["eps_at_plateau"] = eps
        if eps > 0:
            row["predicted_stuck_steps"] = float(escape_steps(problem, k_pred, eps, lr))
            # the loss leaves the tol band once s_k (s_1 - s_k) p_1^2 / 4 = tol, i.e. at
            # p_exit; the notes' ln(1/eps) counts the growth to p_1 ~ 1 instead
            sk, s1 = problem.s[k_pred - 1], problem.s[0]
            p_exit = np.sqrt(4 * tol / (sk * (s1 - sk)))
            row["predicted_stuck_steps_band"] = float(
                escape_steps(problem, k_pred, eps / p_exit, lr)) if eps < p_exit else 0.0
        if np.any(loss[i_entry:] < levels[k_pred] - tol):
            row["escape_step"] = exit_
            row["stuck_steps"] = exit_ - entry
    # final exponential rate towards the level reached: fitted, the notes' slowest-mode rate,
    # and the mode model fed with the alignments measured on entering the level
    row.update(final_rate_fit=np.nan, final_rate_theory=np.nan, final_rate_model=np.nan)
    if final_idx >= 1:
        gap = loss - levels[final_idx]
        lo, hi = fit_window(str(ds.attrs["dtype"]), levels[final_idx])
        row["final_rate_fit"] = fit_rate(t, gap, lo, hi)
        row["final_rate_theory"] = final_rate(problem, final_idx)
        stretch = final_stretch(gap, lo, hi)
        if stretch is not None:
            a, b = stretch  # the model starts from the alignments where the fit starts
            model = final_gap_model(problem, final_idx, ds["alpha"].values[a],
                                    ds["beta"].values[a], t[a : b + 1] - t[a])
            row["final_rate_model"] = fit_rate(t[a : b + 1], model, 0.0, np.inf)
    row["escape_ratio"] = (row["stuck_steps"] / row["predicted_stuck_steps"]
                           if row["stuck_steps"] > 0 else np.nan)
    row["escape_ratio_band"] = (row["stuck_steps"] / row["predicted_stuck_steps_band"]
                                if row["stuck_steps"] > 0 and row["predicted_stuck_steps_band"] > 0
                                else np.nan)
    row.update(polynomial_stage(ds, problem, k_pred))
    row["config_json"] = ds.attrs.get("config_json", json.dumps({}))
    return row
