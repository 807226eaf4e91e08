"""The column dictionary: every setting and per-run metric, with its meaning and units.

One place for the names: run files and the aggregate take their `long_name`/`units` attributes
from here, and results/README.md's column table is generated from it (tests check both).
Missing values are NaN (empty in CSV), never -1; booleans are true/false.
"""

from __future__ import annotations

# name -> (kind, long_name, units); units None: not a physical quantity (labels, counts, flags)
SETTINGS = {
    "solver": ("str", "solver: gd (gradient descent) or gf (gradient-flow reference)", None),
    "init": ("str", "start: balanced rank-one or unbalanced Gaussian", None),
    "k": (
        "float",
        "target critical point of a balanced start (0 = origin); NaN for Gaussian",
        None,
    ),
    "construction": (
        "str",
        "balanced start's construction: orthogonal or antisymmetric; empty for Gaussian",
        None,
    ),
    "sigma0": ("float", "start scale sigma(0) of a balanced start; NaN for Gaussian", "1"),
    "init_scale": ("float", "entry scale of a Gaussian start; NaN for balanced", "1"),
    "seed": ("int", "seed of the start's random directions", None),
    "lr": ("float", "GD step size (also the flow's time unit per step)", "1"),
    "steps": ("int", "GD iterations of the run", None),
    "record_every": ("int", "iterations between recorded steps", None),
    "weights_every": ("int", "iterations between stored weight snapshots", None),
    "dtype": ("str", "floating-point precision of GD: float64 or float32", None),
    "widths": ("str", "layer widths d_0-...-d_N", None),
    "depth": ("int", "number of layers N", None),
    "spectrum": ("str", "singular values of Phi: linear (s_i = d + 1 - i) or s_1,...,s_d", None),
    "basis": ("str", "singular vectors of Phi: random (from basis_seed) or identity", None),
    "basis_seed": ("int", "seed of Phi's random singular vectors", None),
    "level_tol": ("float", "analysis: |loss - L_k| below this counts as being at level k", "1"),
}

METRICS = {
    "predicted_k": (
        "float",
        "Theorem 3.1's k from W(0) alone; NaN when the start is not balanced",
        None,
    ),
    "balanced": ("bool", "the start is balanced (the theorem applies)", None),
    "final_loss": ("float", "loss at the last recorded step", "1"),
    "final_level": (
        "float",
        "critical level k the run ends at (within level_tol); NaN: none or diverged",
        None,
    ),
    "reached_global": ("bool", "ends at L_1, the global minimum", None),
    "reached_predicted": (
        "bool",
        "the first level reached after leaving L_0 is L_k of predicted_k (k = 0: stays at L_0)",
        None,
    ),
    "diverged": ("bool", "the loss became non-finite; records stop before that step", None),
    "diverged_step": ("float", "first iteration with a non-finite loss; NaN if none", None),
    "first_level": (
        "float",
        "first critical level visited (at least 3 consecutive records); NaN: none",
        None,
    ),
    "first_saddle": ("float", "first level visited other than L_0; NaN: none", None),
    "n_visits": ("int", "number of stays at critical levels", None),
    "plateau_start": (
        "float",
        "iteration the run enters the plateau at saddle predicted_k >= 2; NaN: none",
        None,
    ),
    "escape_step": (
        "float",
        "iteration the run leaves that plateau downwards; NaN: no escape",
        None,
    ),
    "stuck_steps": (
        "float",
        "escape_step - plateau_start: iterations stuck at the saddle; NaN: no escape",
        None,
    ),
    "eps_at_plateau": ("float", "|p_1| when the plateau starts: the seed of the escape", "1"),
    "escape_model_steps": (
        "float",
        "growth-exponent check (not a prediction): ln(p_exit/eps) / ((s_1 - s_k) s_k^(1-2/N) lr) "
        "iterations with eps = eps_at_plateau read off this run, p_exit where the loss leaves "
        "the level_tol band",
        None,
    ),
    "notes_estimate_steps": (
        "float",
        "notes' estimate: ln(1/eps) / ((s_1 - s_k) s_k^(1-2/N) lr) "
        "iterations (growth of p_1 to ~1), eps read off this run",
        None,
    ),
    "escape_ratio": (
        "float",
        "stuck_steps / escape_model_steps: checks the growth exponent (s_1 - s_k) s_k^(1-2/N), "
        "not how long a start stays stuck",
        "1",
    ),
    "predicted_plateau_start": (
        "float",
        "iteration the reduced flow from W(0) reaches L_k + level_tol (saddle k >= 2, GD)",
        None,
    ),
    "escape_log_gain": (
        "float",
        "ln G: integral of (s_1 - rho) sigma^(1-2/N) dt along the reduced flow from W(0) to "
        "the plateau (growth of a p_1 seed before it)",
        "1",
    ),
    "predicted_eps": (
        "float",
        "escape law's |p_1| at the plateau from W(0), lr, dtype: C u G (round-off, C fitted "
        "once per precision) plus, off the orthogonal set, the modified-loss flow's p_1",
        "1",
    ),
    "predicted_stuck_steps": (
        "float",
        "escape law: ln(p_exit/predicted_eps) / ((s_1 - s_k) s_k^(1-2/N) lr) iterations, "
        "computed before the run from W(0), lr and dtype",
        None,
    ),
    "stuck_prediction_ratio": ("float", "stuck_steps / predicted_stuck_steps", "1"),
    "final_rate_fit": (
        "float",
        "fitted exponential rate (in t = lr x step) of the final loss gap",
        "1",
    ),
    "final_rate_theory": (
        "float",
        "notes' final rate 2 (s_k - s_{k+1}) s_k^(1-2/N) at the final level",
        "1",
    ),
    "final_rate_model": (
        "float",
        "final-stage mode model's rate, fed with the alignments at entry",
        "1",
    ),
    "growth_slope_fit": (
        "float",
        "fitted slope in t of sigma^-(1-2/N) while growing from a small start",
        "1",
    ),
    "growth_slope_theory": (
        "float",
        "reduced dynamics: -(N-2) <rho - sigma> over the same records",
        "1",
    ),
    "origin_slope_fit": (
        "float",
        "fitted slope in t of sigma^-(1-2/N) on the origin plateau (k = 0)",
        "1",
    ),
    "origin_slope_theory": (
        "float",
        "reduced dynamics: -(N-2) <rho - sigma> over the same records",
        "1",
    ),
    "origin_exponent_fit": ("float", "fitted d log sigma / d log t on the origin plateau", "1"),
    "origin_exponent_theory": ("float", "-N/(N-2): the origin plateau's asymptotic exponent", "1"),
    "origin_exit_time": (
        "float",
        "time t = lr x step of the first record with sigma1 >= rho(0)/2 "
        "(growth from a small start, k >= 1); NaN: not applicable or not reached",
        "1",
    ),
    "origin_exit_time_model": (
        "float",
        "time t at which the reduced (sigma, u, v) flow integrated from W(0) reaches "
        "sigma = rho(0)/2 (u, v rotate: rho is not frozen); "
        "NaN unless k >= 1 and 0 < sigma(0) < rho(0)/2",
        "1",
    ),
    "origin_exit_ratio": ("float", "origin_exit_time / origin_exit_time_model", "1"),
    "trajectory_sha256": (
        "str",
        "sha256 of the run's loss and weight arrays (dln.data.manifest): equal on every machine",
        None,
    ),
}

# per-run arrays (not table columns): name -> (dims after `run`, long_name, units)
ARRAYS = {
    "steps_at_level": (("level",), "iterations spent within level_tol of each level L_k", None),
    "visit_level": (("visit",), "critical level of each stay (NaN: no such stay)", None),
    "visit_entry_step": (("visit",), "iteration the stay starts", None),
    "visit_exit_step": (("visit",), "iteration the stay ends", None),
}


def attrs(name: str) -> dict:
    """CF attributes (long_name, units) of a setting, metric or per-run array."""
    for table in (SETTINGS, METRICS):
        if name in table:
            _, long_name, units = table[name]
            return {"long_name": long_name, **({"units": units} if units else {})}
    if name in ARRAYS:
        _, long_name, units = ARRAYS[name]
        return {"long_name": long_name, **({"units": units} if units else {})}
    raise KeyError(name)


def dictionary_rows() -> list[tuple[str, str, str]]:
    """(column, meaning, units) of every column of runs.csv, in table order."""
    rows = [("run", "run id: the run file's path below results/runs/, without .nc", "")]
    for name, (_, long_name, units) in {**SETTINGS, **METRICS}.items():
        rows.append((name, long_name, units or ""))
    rows.append(("in_<study>", "the run belongs to that study of the config (true/false)", ""))
    return rows


def markdown_table() -> str:
    """The column dictionary of runs.csv as a Markdown table (results/README.md)."""
    lines = ["| column | meaning | units |", "| --- | --- | --- |"]
    for name, meaning, units in dictionary_rows():
        lines.append(f"| `{name}` | {meaning.replace('|', '/')} | {units} |")
    return "\n".join(lines)
