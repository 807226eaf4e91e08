"""The column dictionary: every setting and per-run metric, with its meaning and units.

One place for the names: run files and the aggregate take their `long_name`/`units` attributes
from here, and results/README.md's column table is generated from it (tests check both).
Kinds: str, bool, int, float. Every number has units: `1` (dimensionless, indices, seeds) or
`steps` (GD iterations); flags and labels have none. Missing values are NaN (empty in CSV), never
-1: an int variable of a NetCDF file that misses a value stores MISSING_INT there and says so in
its `missing_value` attribute, which xarray decodes to NaN. Labels have one canonical form:
widths and spectrum as the CLI takes them (comma-separated), the spectrum always by its values.
"""

from __future__ import annotations

import math

# the NetCDF default fill of int64: where an integer column has no value (xarray reads NaN)
MISSING_INT = -9223372036854775806

# name -> (kind, long_name, units); units None: not a physical quantity (labels, counts, flags)
SETTINGS = {
    "solver": ("str", "solver: gd (gradient descent) or gf (gradient-flow reference)", None),
    "init": ("str", "start: balanced rank-one or unbalanced Gaussian", None),
    "k": (
        "int",
        "target critical point of a balanced start (0 = origin); NaN for Gaussian",
        "1",
    ),
    "construction": (
        "str",
        "balanced start's construction: orthogonal or antisymmetric; empty for Gaussian",
        None,
    ),
    "sigma0": ("float", "start scale sigma(0) of a balanced start; NaN for Gaussian", "1"),
    "init_scale": ("float", "entry scale of a Gaussian start; NaN for balanced", "1"),
    "seed": ("int", "seed of the start's random directions", "1"),
    "lr": ("float", "GD step size (also the flow's time unit per step)", "1"),
    "steps": ("int", "GD iterations of the run", "steps"),
    "record_every": ("int", "iterations between recorded steps", "steps"),
    "weights_every": ("int", "iterations between stored weight snapshots", "steps"),
    "dtype": ("str", "floating-point precision of GD: float64 or float32", None),
    "widths": ("str", "layer widths d_0,...,d_N (as dln run --widths takes them)", None),
    "depth": ("int", "number of layers N", "1"),
    "spectrum": (
        "str",
        "singular values s_1,...,s_d of Phi (config's linear: s_i = d + 1 - i, e.g. 5,4,3,2,1)",
        None,
    ),
    "basis": ("str", "singular vectors of Phi: random (from basis_seed) or identity", None),
    "basis_seed": ("int", "seed of Phi's random singular vectors", "1"),
    "level_tol": ("float", "analysis: |loss - L_k| below this counts as being at level k", "1"),
}

METRICS = {
    "predicted_k": (
        "int",
        "Theorem 3.1's k from W(0) alone; NaN when the start is not balanced",
        "1",
    ),
    "balanced": ("bool", "the start is balanced (the theorem applies)", None),
    "final_loss": ("float", "loss at the last recorded step", "1"),
    "final_level": (
        "int",
        "critical level k the run ends at (within level_tol); NaN: none or diverged",
        "1",
    ),
    "reached_global": ("bool", "ends at L_1, the global minimum", None),
    "reached_predicted": (
        "bool",
        "the first level reached after leaving L_0 is L_k of predicted_k (k = 0: stays at L_0)",
        None,
    ),
    "diverged": ("bool", "the loss became non-finite; records stop before that step", None),
    "diverged_step": ("int", "first iteration with a non-finite loss; NaN if none", "steps"),
    "first_level": (
        "int",
        "first critical level visited (at least 3 consecutive records); NaN: none",
        "1",
    ),
    "first_saddle": ("int", "first level visited other than L_0; NaN: none", "1"),
    "n_visits": ("int", "number of stays at critical levels", "1"),
    "plateau_start": (
        "int",
        "iteration the run enters the plateau at saddle predicted_k >= 2; NaN: none",
        "steps",
    ),
    "escape_step": (
        "int",
        "iteration the run leaves that plateau downwards; NaN: no escape",
        "steps",
    ),
    "stuck_steps": (
        "int",
        "escape_step - plateau_start: iterations stuck at the saddle; NaN: no escape",
        "steps",
    ),
    "eps_at_plateau": ("float", "|p_1| when the plateau starts: the seed of the escape", "1"),
    "escape_model_steps": (
        "float",
        "growth-exponent check (not a prediction): ln(p_exit/eps) / ((s_1 - s_k) s_k^(1-2/N) lr) "
        "iterations with eps = eps_at_plateau read off this run, p_exit where the loss leaves "
        "the level_tol band",
        "steps",
    ),
    "notes_estimate_steps": (
        "float",
        "notes' estimate: ln(1/eps) / ((s_1 - s_k) s_k^(1-2/N) lr) "
        "iterations (growth of p_1 to ~1), eps read off this run",
        "steps",
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
        "steps",
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
        "steps",
    ),
    "stuck_prediction_ratio": ("float", "stuck_steps / predicted_stuck_steps", "1"),
    "final_rate_fit": (
        "float",
        "fitted exponential rate (in t = lr x step) of the final loss gap",
        "1",
    ),
    "final_rate_paper": (
        "float",
        "the paper's rate 2 (s_l - s_{l+1}) s_l^(1-2/N) at the final level l (l = 1: the "
        "paper's k = 1 rate), which assumes mode l + 1 is excited; not this run's own rate "
        "when its start left that mode out (see final_rate_model)",
        "1",
    ),
    "final_rate_model": (
        "float",
        "this run's own predicted final rate: the final-stage mode model of its limit, fed "
        "with the alignments measured on entering it (the slowest excited mode)",
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
    "steps_at_level": (("level",), "iterations spent within level_tol of each level L_k", "steps"),
    "visit_level": (("visit",), "critical level of each stay (NaN: no such stay)", "1"),
    "visit_entry_step": (("visit",), "iteration the stay starts", "steps"),
    "visit_exit_step": (("visit",), "iteration the stay ends (NaN: at the end)", "steps"),
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


def canonical_widths(widths) -> str:
    """Layer widths as dln run --widths takes them: "8,3,5,10,1,4,5" (also from "8-3-5-...")."""
    text = widths if isinstance(widths, str) else ",".join(map(str, widths))
    return text.replace("-", ",")


def canonical_spectrum(spectrum, widths) -> str:
    """The spectrum by its values, "5,4,3,2,1": the config's `linear` and its values are one
    setting, so they get one label."""
    if spectrum == "linear":
        dims = [int(w) for w in canonical_widths(widths).split(",")]
        return ",".join(str(s) for s in range(min(dims[0], dims[-1]), 0, -1))
    if isinstance(spectrum, str):
        spectrum = [float(s) for s in spectrum.split(",")]
    return ",".join(f"{s:g}" for s in spectrum)


def as_int(value):
    """An int column's value: int, or None where missing (None, NaN)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return int(value)
