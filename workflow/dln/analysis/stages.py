"""Reading a trajectory against the theory: levels visited, plateaus, escapes, final rates.

Each simulation job analyses its own run (`analyse`) and stores the metrics in its run file, so
aggregation only gathers them. NumPy only: this is on the simulation job's path.
"""

from __future__ import annotations

import numpy as np

from dln.model.problem import Problem
from dln.model.theory import escape_steps, final_gap_model, final_rate

MAX_VISITS = 8  # stays recorded per run (the first ones); n_visits counts all


def level_index(loss: np.ndarray, levels: np.ndarray, tol: float) -> np.ndarray:
    """Per record, the critical level the loss is within tol of (-1: none)."""
    near = np.abs(loss[:, None] - levels[None, :]) < tol
    idx = np.argmax(near, axis=1)
    return np.where(near.any(axis=1), idx, -1)


MIN_STAY = 3  # records: a stay shorter than this is a transit through the band, not a visit


def visits(
    steps: np.ndarray, loss: np.ndarray, levels: np.ndarray, tol: float, min_records: int = MIN_STAY
):
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


def polynomial_stage(rec: dict, problem: Problem, k_pred: int) -> dict:
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
    t, sigma, rho = rec["t"], rec["sigma1"], rec["rho"]
    out = dict(
        growth_slope_fit=np.nan,
        growth_slope_theory=np.nan,
        origin_slope_fit=np.nan,
        origin_slope_theory=np.nan,
        origin_exponent_fit=np.nan,
        origin_exponent_theory=np.nan,
    )
    if N < 3 or len(t) < 5:
        return out
    p = 1 - 2 / N

    def slopes(window):
        fit = np.polyfit(t[window], sigma[window] ** -p, 1)[0]
        return float(fit), float(-(N - 2) * np.mean(rho[window] - sigma[window]))

    if k_pred >= 1 and rho[0] > 0 and sigma[0] > 0:
        big = sigma >= 0.1 * rho[0]
        first_big = int(np.argmax(big)) if big.any() else len(t)
        window = np.arange(len(t)) < first_big
        if window.sum() >= 5:
            out["growth_slope_fit"], out["growth_slope_theory"] = slopes(window)
    if k_pred == 0 and rho[-1] < 0:
        late = (t >= t[-1] / 2) & (sigma > 0) & (t > 0)
        if late.sum() >= 5:
            out["origin_slope_fit"], out["origin_slope_theory"] = slopes(late)
            out["origin_exponent_fit"] = float(
                np.polyfit(np.log(t[late]), np.log(sigma[late]), 1)[0]
            )
            out["origin_exponent_theory"] = float(-N / (N - 2))
    return out


def origin_exit(rec: dict, model: float, k_pred: int) -> dict:
    """The polynomial stage from a small start as one number: the time t = lr x step of the first
    record with sigma1 >= rho(0)/2, against `model`, the same time on the reduced (sigma, u, v)
    flow integrated from W(0) (dln.model.reduced: u and v rotate while sigma grows, so rho is not
    frozen at rho(0)). NaN unless k >= 1 and 0 < sigma(0) < rho(0)/2; the measured time is NaN
    when the run never gets there."""
    out = dict(origin_exit_time=np.nan, origin_exit_time_model=np.nan, origin_exit_ratio=np.nan)
    t, sigma, rho = rec["t"], rec["sigma1"], rec["rho"]
    if k_pred < 1 or len(t) < 2 or not np.isfinite(model):
        return out
    out["origin_exit_time_model"] = float(model)
    above = np.flatnonzero(sigma >= float(rho[0]) / 2)
    if above.size:
        out["origin_exit_time"] = float(t[above[0]])
        out["origin_exit_ratio"] = float(t[above[0]] / model)
    return out


PREDICTIONS = (  # made from W(0), lr and dtype alone (dln.analysis.escape_model.predict_escape)
    "origin_exit_time_model",
    "predicted_plateau_start",
    "escape_log_gain",
    "predicted_eps",
    "predicted_stuck_steps",
)


def no_predictions() -> dict:
    return dict.fromkeys(PREDICTIONS, float("nan"))


def _nan_if(cond: bool, value) -> float:
    return float("nan") if cond else float(value)


def plateau_and_escape(
    rec: dict, problem: Problem, levels, k_pred: int, lr: float, tol: float, seq
) -> dict:
    """The plateau at the predicted saddle k >= 2 and its escape, against the escape model
    ln(p_exit/eps) / ((s_1 - s_k) s_k^{1-2/N} lr) and the notes' ln(1/eps) estimate."""
    out = dict(
        plateau_start=np.nan,
        escape_step=np.nan,
        stuck_steps=np.nan,
        eps_at_plateau=np.nan,
        escape_model_steps=np.nan,
        notes_estimate_steps=np.nan,
    )
    stays = [(a, b) for lev, a, b in seq if lev == k_pred]
    if k_pred < 2 or not stays:
        return out
    steps, loss = rec["step"], rec["loss"]
    entry, exit_ = stays[0]
    out["plateau_start"] = float(entry)
    i_entry = int(np.searchsorted(steps, entry))
    eps = float(abs(rec["p"][i_entry, 0]))
    out["eps_at_plateau"] = eps
    if eps > 0:
        out["notes_estimate_steps"] = float(escape_steps(problem, k_pred, eps, lr))
        # the loss leaves the tol band once s_k (s_1 - s_k) p_1^2 / 4 = tol, i.e. at p_exit; the
        # notes' ln(1/eps) counts the growth to p_1 ~ 1 instead
        sk, s1 = problem.s[k_pred - 1], problem.s[0]
        p_exit = np.sqrt(4 * tol / (sk * (s1 - sk)))
        out["escape_model_steps"] = (
            float(escape_steps(problem, k_pred, eps / p_exit, lr)) if eps < p_exit else 0.0
        )
    if np.any(loss[i_entry:] < levels[k_pred] - tol):
        out["escape_step"] = float(exit_)
        out["stuck_steps"] = float(exit_ - entry)
    return out


def escape_prediction(metrics: dict, predictions: dict) -> dict:
    """The escape law's prediction beside the measured stuck length (their ratio)."""
    out = {name: float(predictions[name]) for name in PREDICTIONS[1:]}
    pred = out["predicted_stuck_steps"]
    out["stuck_prediction_ratio"] = (
        float(metrics["stuck_steps"] / pred) if np.isfinite(pred) and pred > 0 else np.nan
    )
    return out


def final_stage(rec: dict, problem: Problem, levels, final_idx: int, dtype: str) -> dict:
    """Final exponential rate towards the level reached: fitted, the notes' slowest-mode rate,
    and the mode model fed with the alignments measured on entering the level."""
    out = dict(final_rate_fit=np.nan, final_rate_paper=np.nan, final_rate_model=np.nan)
    if final_idx < 1:
        return out
    t = rec["t"]
    gap = rec["loss"] - levels[final_idx]
    lo, hi = fit_window(dtype, levels[final_idx])
    out["final_rate_fit"] = fit_rate(t, gap, lo, hi)
    out["final_rate_paper"] = final_rate(problem, final_idx)
    stretch = final_stretch(gap, lo, hi)
    if stretch is not None:
        a, b = stretch  # the model starts from the alignments where the fit starts
        model = final_gap_model(
            problem, final_idx, rec["alpha"][a], rec["beta"][a], t[a : b + 1] - t[a]
        )
        # only positive model gaps have a log: an exact 0 (no mode left to decay, e.g. d = 1)
        # gives no fit (NaN), not a divide-by-zero warning
        out["final_rate_model"] = fit_rate(t[a : b + 1], model, np.finfo(float).tiny, np.inf)
    return out


def level_metrics(seq, loss, levels, tol: float, k_pred: int, diverged_at: int) -> dict:
    """Which levels a run visits, where it ends, and whether that is what Theorem 3.1 says."""
    diverged = diverged_at >= 0
    final_idx = -1 if diverged else int(level_index(loss[-1:], levels, tol)[0])
    first_level = seq[0][0] if seq else -1
    # small starts begin near the origin's level L_0; the saddle reached after it is the test
    first_saddle = next((lev for lev, _, _ in seq if lev != 0), -1)
    return {
        "predicted_k": _nan_if(k_pred < 0, k_pred),
        "balanced": k_pred >= 0,
        "final_loss": float(loss[-1]),
        "final_level": _nan_if(final_idx < 0, final_idx),
        "reached_global": final_idx == 1,
        # the theorem's prediction: the flow (and GD, before any escape) reaches L_k first
        "reached_predicted": bool(
            (k_pred == 0 and first_level == 0 and first_saddle == -1)
            or (k_pred >= 1 and first_saddle == k_pred)
        ),
        "diverged": diverged,
        "diverged_step": _nan_if(not diverged, diverged_at),
        "first_level": _nan_if(first_level < 0, first_level),
        "first_saddle": _nan_if(first_saddle < 0, first_saddle),
        "n_visits": len(seq),
    }


def level_arrays(steps, loss, levels, tol: float, seq) -> dict:
    """Steps spent within tol of each level (sum of record intervals) and the first stays."""
    idx = level_index(loss, levels, tol)
    dstep = np.diff(steps, append=steps[-1])
    visit = np.full((3, MAX_VISITS), np.nan)
    for i, stay in enumerate(seq[:MAX_VISITS]):
        visit[:, i] = stay
    return {
        "steps_at_level": np.array(
            [dstep[idx == lev].sum() for lev in range(len(levels))], dtype=np.int64
        ),
        "visit_level": visit[0],
        "visit_entry_step": visit[1],
        "visit_exit_step": visit[2],
    }


def analyse(
    rec: dict,
    problem: Problem,
    levels,
    k_pred: int,
    diverged_at: int,
    lr: float,
    dtype: str,
    tol: float,
    predictions: dict | None = None,
) -> tuple[dict, dict]:
    """(metrics, arrays) of one run from its records and the predictions made from its start
    (PREDICTIONS): scalar metrics named as in dln.data.columns.METRICS and the per-run arrays of
    dln.data.columns.ARRAYS. Missing values are NaN."""
    predictions = {**no_predictions(), **(predictions or {})}
    steps, loss = rec["step"], rec["loss"]
    seq = visits(steps, loss, levels, tol)
    metrics = level_metrics(seq, loss, levels, tol, k_pred, diverged_at)
    final_idx = -1 if np.isnan(metrics["final_level"]) else int(metrics["final_level"])
    metrics.update(plateau_and_escape(rec, problem, levels, k_pred, lr, tol, seq))
    model = metrics["escape_model_steps"]
    metrics["escape_ratio"] = float(metrics["stuck_steps"] / model if model else np.nan)
    metrics.update(escape_prediction(metrics, predictions))
    metrics.update(final_stage(rec, problem, levels, final_idx, dtype))
    metrics.update(polynomial_stage(rec, problem, k_pred))
    metrics.update(origin_exit(rec, predictions["origin_exit_time_model"], k_pred))
    return metrics, level_arrays(steps, loss, levels, tol, seq)
