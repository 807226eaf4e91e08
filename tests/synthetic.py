"""Small synthetic dln files that follow the data-model spec (aggregates and run files).

No simulation is run: every value is made up, chosen so that the tests of `dln table`, `dln info`
and `dln diff` can check specific numbers. Files are written exactly as the workflow writes
them: NetCDF-4 through xarray's netcdf4 engine (runs.nc: the per-run table in the root group,
trajectories in one group per study), and the per-run table with pandas' to_csv.
"""

from __future__ import annotations

import copy
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from dln.data.aggregate import MODE_VARS, TRAJECTORY_VARS
from dln.data.checksum import sealed
from dln.data.columns import SETTINGS as COLUMN_SETTINGS

NAN = math.nan
D = 5  # d = min(d_0, d_N) of widths 8-3-5-10-1-4-5
N_STEPS = 4
N_VISITS = 3

SETTINGS = list(COLUMN_SETTINGS)  # the settings columns, in the order files hold them
FLAGS = ["in_grid", "in_lr_sweep", "in_flow", "in_precision", "in_depth", "in_gaussian"]
METRICS = [
    "predicted_k",
    "balanced",
    "final_loss",
    "final_level",
    "reached_global",
    "reached_predicted",
    "diverged",
    "diverged_step",
    "first_level",
    "first_saddle",
    "n_visits",
    "plateau_start",
    "escape_step",
    "stuck_steps",
    "eps_at_plateau",
    "escape_model_steps",
    "notes_estimate_steps",
    "escape_ratio",
    "final_rate_fit",
    "final_rate_paper",
    "final_rate_model",
    "growth_slope_fit",
    "growth_slope_theory",
    "origin_slope_fit",
    "origin_slope_theory",
    "origin_exponent_fit",
    "origin_exponent_theory",
]
BOOL_METRICS = {"balanced", "reached_global", "reached_predicted", "diverged"}
INT_METRICS = {"n_visits"}
INT_SETTINGS = {"seed", "steps", "record_every", "weights_every", "depth", "basis_seed"}
FLOAT_SETTINGS = {"k", "sigma0", "init_scale", "lr", "level_tol"}

BASE = dict(
    solver="gd",
    init="balanced",
    k=3.0,
    construction="orthogonal",
    sigma0=1e-3,
    init_scale=NAN,
    seed=0,
    lr=5e-4,
    steps=100000,
    record_every=50,
    weights_every=1000,
    dtype="float64",
    widths="8-3-5-10-1-4-5",
    depth=6,
    spectrum="linear",
    basis="random",
    basis_seed=0,
    level_tol=1e-3,
    in_grid=True,
    in_lr_sweep=False,
    in_flow=False,
    in_precision=False,
    in_depth=False,
    in_gaussian=False,
)
BASE_METRICS = dict(
    predicted_k=3.0,
    balanced=True,
    final_loss=0.25,
    final_level=3.0,
    reached_global=False,
    reached_predicted=True,
    diverged=False,
    diverged_step=NAN,
    first_level=5.0,
    first_saddle=3.0,
    n_visits=2,
    plateau_start=1000.0,
    escape_step=NAN,
    stuck_steps=12000.0,
    eps_at_plateau=1e-4,
    escape_model_steps=11500.0,
    notes_estimate_steps=9000.0,
    escape_ratio=1.0435,
    final_rate_fit=0.012,
    final_rate_paper=0.0125,
    final_rate_model=0.0124,
    growth_slope_fit=2.01,
    growth_slope_theory=2.0,
    origin_slope_fit=-0.5,
    origin_slope_theory=-0.5,
    origin_exponent_fit=4.9,
    origin_exponent_theory=5.0,
)


def _row(run_id: str, **changes) -> dict:
    row = {"run": run_id, **copy.deepcopy(BASE), **copy.deepcopy(BASE_METRICS)}
    row.update(changes)
    return row


def default_rows() -> list[dict]:
    """Six runs: k=1 and k=3 orthogonal (two seeds), a random construction, a larger step
    size, and one Gaussian start (k, sigma0 NaN, construction empty, stuck_steps NaN)."""
    return [
        _row(
            "gd-orthogonal-float64/k1/lr0.0005-seed0-aaaa0001",
            k=1.0,
            predicted_k=1.0,
            final_level=1.0,
            stuck_steps=5000.0,
            escape_ratio=0.95,
            final_rate_fit=0.031,
            first_saddle=1.0,
        ),
        _row(
            "gd-orthogonal-float64/k3/lr0.0005-seed0-aaaa0002",
            stuck_steps=12000.0,
            escape_ratio=1.0435,
            final_rate_fit=0.012,
        ),
        _row(
            "gd-orthogonal-float64/k3/lr0.0005-seed1-aaaa0003",
            seed=1,
            stuck_steps=14000.0,
            escape_ratio=1.25,
            final_rate_fit=0.014,
        ),
        _row(
            "gd-random-float64/k3/lr0.0005-seed0-aaaa0004",
            construction="random",
            stuck_steps=20000.0,
            escape_ratio=2.5,
            final_rate_fit=0.02,
        ),
        _row(
            "gd-orthogonal-float64/k3/lr0.001-seed0-aaaa0005",
            lr=1e-3,
            in_grid=False,
            in_lr_sweep=True,
            stuck_steps=6000.0,
            escape_ratio=1.1,
            final_rate_fit=0.024,
        ),
        _row(
            "gd-gaussian-float64/lr0.0005-seed0-aaaa0006",
            init="gaussian",
            k=NAN,
            construction="",
            sigma0=NAN,
            init_scale=1e-3,
            in_grid=False,
            in_gaussian=True,
            predicted_k=NAN,
            balanced=False,
            final_level=NAN,
            reached_predicted=False,
            diverged=True,
            diverged_step=777.0,
            n_visits=0,
            stuck_steps=NAN,
            escape_ratio=NAN,
            final_rate_fit=NAN,
            escape_model_steps=NAN,
        ),
    ]


def _column(name: str, values: list):
    if name in BOOL_METRICS or name.startswith("in_"):
        return np.array(values, dtype=bool)
    if name in INT_METRICS or name in INT_SETTINGS:
        return np.array(values, dtype=np.int64)
    if name in FLOAT_SETTINGS or name in METRICS:
        return np.array(values, dtype=np.float64)
    return np.array(values, dtype=object).astype(str)


def aggregate_dataset(
    rows: list[dict] | None = None, experiment: str = "demo", config_hash: str = "c0ffee12"
) -> xr.Dataset:
    """An aggregate (dln_kind = "aggregate") of the given rows, with small 2-D variables."""
    rows = default_rows() if rows is None else rows
    n = len(rows)
    flags = [c for c in rows[0] if c.startswith("in_")]
    coords = {"run": ("run", _column("run", [r["run"] for r in rows]), {"long_name": "run id"})}
    for name in SETTINGS + flags:
        coords[name] = ("run", _column(name, [r[name] for r in rows]), {"long_name": name})
    coords["t"] = (
        ("run", "step"),
        np.tile(np.arange(N_STEPS, dtype=float), (n, 1)),
        {"long_name": "time lr x step"},
    )
    coords["step"] = ("step", np.arange(N_STEPS) * 50, {"long_name": "GD step"})
    coords["level"] = ("level", np.arange(D + 1), {"long_name": "critical point index"})
    coords["mode"] = ("mode", np.arange(1, D + 1), {"long_name": "mode index"})
    coords["visit"] = ("visit", np.arange(N_VISITS), {"long_name": "visit number"})
    data = {}
    for name in METRICS:
        data[name] = ("run", _column(name, [r[name] for r in rows]), {"long_name": name})
    rng = np.random.default_rng(0)
    data["steps_at_level"] = (
        ("run", "level"),
        rng.integers(0, 100, (n, D + 1)),
        {"long_name": "steps spent near each level"},
    )
    for name in ("visit_level", "visit_entry_step", "visit_exit_step"):
        data[name] = (("run", "visit"), np.full((n, N_VISITS), NAN), {"long_name": name})
    for name in TRAJECTORY_VARS:
        data[name] = (("run", "step"), rng.random((n, N_STEPS)), {"long_name": name, "units": "1"})
    for name in MODE_VARS:
        data[name] = (("run", "step", "mode"), rng.random((n, N_STEPS, D)), {"long_name": name})
    data["s"] = (
        ("run", "mode"),
        np.tile(np.arange(D, 0, -1, dtype=float), (n, 1)),
        {"long_name": "singular values s_i of Phi"},
    )
    data["critical_level"] = (
        ("run", "level"),
        np.tile(np.linspace(27.5, 0, D + 1), (n, 1)),
        {"long_name": "loss L_k at critical point k"},
    )
    attrs = {
        "Conventions": "CF-1.11",
        "title": f"dln experiment {experiment}",
        "history": "synthetic",
        "source": "tests/synthetic.py",
        "references": "Chen, Lin & Zhang, ICML 2022",
        "experiment": experiment,
        "config_hash": config_hash,
        "n_runs": n,
        "dln_kind": "aggregate",
    }
    return xr.Dataset(data, coords=coords, attrs=attrs)


def write_runs_nc(ds: xr.Dataset, path: Path) -> None:
    """runs.nc as the aggregation lays it out: the per-run table in the root group, the
    trajectories in one group per study (its runs only)."""
    per_step = [n for n in ds.variables if "step" in ds[n].dims and n != "step"]
    groups = [f[3:] for f in ds.coords if f.startswith("in_") and ds[f].values.any()]
    root = ds.drop_vars([*per_step, "step"]).assign_attrs(
        trajectory_groups=" ".join(f"trajectories/{g}" for g in groups)
    )
    root.to_netcdf(path, engine="netcdf4")
    settings = [n for n in SETTINGS if n in ds.coords]
    for study in groups:
        part = ds[per_step].isel(run=ds[f"in_{study}"].values)
        part = part.reset_coords(
            [c for c in part.coords if c not in ("run", "step", "mode", "t", *settings)], drop=True
        )
        part.to_netcdf(path, engine="netcdf4", group=f"trajectories/{study}", mode="a")


def runs_table(rows: list[dict]) -> pd.DataFrame:
    """The per-run table as runs.csv holds it: empty construction is a missing cell."""
    flags = [c for c in rows[0] if c.startswith("in_")]
    df = pd.DataFrame(rows)[["run", *SETTINGS, *flags, *METRICS]]
    df["construction"] = df["construction"].replace("", NAN)
    return df


def write_aggregate(
    results: Path,
    experiment: str = "demo",
    rows: list[dict] | None = None,
    config_hash: str = "c0ffee12",
) -> Path:
    """Write results/<experiment>/runs.nc and runs.csv; return the experiment directory."""
    rows = default_rows() if rows is None else rows
    exp = Path(results) / experiment
    exp.mkdir(parents=True, exist_ok=True)
    write_runs_nc(aggregate_dataset(rows, experiment, config_hash), exp / "runs.nc")
    runs_table(rows).to_csv(exp / "runs.csv", index=False)
    return exp


def run_dataset(row: dict | None = None) -> xr.Dataset:
    """A run file (dln_kind = "run") for one row: scalar settings and metrics, trajectories on
    `step`, weights W1..W6, Phi, U, V, s, critical_level, visits on `visit`."""
    row = default_rows()[1] if row is None else row
    widths = [int(w) for w in row["widths"].split("-")]
    coords = {}
    for name in SETTINGS:
        value = _column(name, [row[name]])[0]
        coords[name] = ((), value, {"long_name": name})
    coords["step"] = ("step", np.arange(N_STEPS) * 50, {"long_name": "GD step"})
    coords["t"] = ("step", np.arange(N_STEPS) * row["lr"] * 50, {"long_name": "time lr x step"})
    coords["level"] = ("level", np.arange(D + 1), {"long_name": "critical point index"})
    coords["mode"] = ("mode", np.arange(1, D + 1), {"long_name": "mode index"})
    data = {}
    for name in METRICS:
        data[name] = ((), _column(name, [row[name]])[0], {"long_name": name})
    rng = np.random.default_rng(1)
    for name in TRAJECTORY_VARS:
        data[name] = (("step",), rng.random(N_STEPS), {"long_name": name, "units": "1"})
    for name in MODE_VARS:
        data[name] = (("step", "mode"), rng.random((N_STEPS, D)), {"long_name": name})
    for j in range(1, len(widths)):
        data[f"W{j}"] = (
            (f"n{j}", f"n{j - 1}"),
            rng.random((widths[j], widths[j - 1])),
            {"long_name": f"layer weights W_{j}"},
        )
    last = len(widths) - 1
    data["Phi"] = ((f"n{last}", "n0"), rng.random((widths[-1], widths[0])), {"long_name": "Phi"})
    data["U"] = ((f"n{last}", "mode"), rng.random((widths[-1], D)), {"long_name": "U"})
    data["V"] = (("n0", "mode"), rng.random((widths[0], D)), {"long_name": "V"})
    data["s"] = (("mode",), np.arange(D, 0, -1, dtype=float), {"long_name": "s_i"})
    data["critical_level"] = (("level",), np.linspace(27.5, 0, D + 1), {"long_name": "L_k"})
    data["steps_at_level"] = (
        ("level",),
        np.array([0, 0, 0, 12000, 0, 3000]),
        {"long_name": "steps near each level"},
    )
    data["visit_level"] = (("visit",), np.array([5.0, 3.0, NAN]), {"long_name": "level visited"})
    data["visit_entry_step"] = (("visit",), np.array([0.0, 3050.0, NAN]), {"long_name": "entry"})
    data["visit_exit_step"] = (("visit",), np.array([3000.0, NAN, NAN]), {"long_name": "exit"})
    settings = {
        name: (None if isinstance(row[name], float) and math.isnan(row[name]) else row[name])
        for name in SETTINGS
    }
    attrs = {
        "Conventions": "CF-1.11",
        "title": "dln run",
        "history": "synthetic",
        "source": "tests/synthetic.py",
        "references": "Chen, Lin & Zhang, ICML 2022",
        "dln_kind": "run",
        "command": (
            f"dln run --k {int(row['k']) if row['k'] == row['k'] else 0} "
            f"--seed {row['seed']} --lr {row['lr']} --steps {row['steps']} "
            "--out out.nc"
        ),
        "settings_json": json.dumps(settings, sort_keys=True),
        "run_key": "1a2b3c4d",
        "dln_version": "0.1.0",
        "kernel_backend": "c",
        "code_fingerprint": "f00dfeed",
        "git_commit": "3fffe1c",
        "python_version": "3.11.2",
        "platform": "Linux-x86_64",
        "package_versions": json.dumps({"numpy": "2.4.6", "xarray": "2026.9.0"}),
    }
    return xr.Dataset(data, coords=coords, attrs=attrs)


def write_run(path: Path, row: dict | None = None, **attr_changes) -> Path:
    ds = run_dataset(row)
    ds.attrs.update(attr_changes)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    ds.to_netcdf(path, engine="netcdf4", format=RUN_FILE_FORMAT)
    seal(path)  # the content checksum every reader of run files checks
    return path


# the netCDF format of dln's run files (dln.data.cdf), as netCDF4-python names it
RUN_FILE_FORMAT = "NETCDF3_64BIT_DATA"


def seal(path) -> None:
    """Append the content checksum trailer to a file written by another tool, as the run-file
    writer does to its own (dln.data.checksum)."""
    path = Path(path)
    path.write_bytes(sealed(path.read_bytes())[0])
