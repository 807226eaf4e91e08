"""Gather an experiment's run files into one CF NetCDF (dimension `run`) and one CSV table.

Streaming: each run file is read, copied into its row of the output and closed, so memory
holds one run plus the table, whatever the number of runs. Every run analysed itself (its
metrics are variables of its file), so nothing is recomputed here. netCDF4 only: no xarray.
"""

from __future__ import annotations

import csv
import datetime as _dt
import gc
import math
import os

import numpy as np

from .columns import ARRAYS, MAX_VISITS, METRICS, SETTINGS, attrs
from .io import RunFileError, atomic_output

# Per-step variables carried into the aggregate (the weights stay in the run files).
TRAJECTORY_VARS = (
    "loss",
    "loss_gap",
    "sigma1",
    "sigma2",
    "rho",
    "dist_to_limit",
    "dist_to_global",
    "balancedness",
    "grad_norm",
)
MODE_VARS = ("alpha", "beta", "p", "q")
TITLE = "Deep linear network with a width-1 layer: all runs of one experiment"


def read_plan(path):
    """The plan's rows, one at a time (the plan of 10^5 runs is not held in memory)."""
    with open(path, newline="") as fh:
        yield from csv.DictReader(fh)


def step_union(plan) -> np.ndarray:
    """Every step any planned run records: 0, r, 2r, ... and its last step."""
    steps = set()
    for key in {(int(r["steps"]), int(r["record_every"])) for r in plan}:
        n, every = key
        steps.update(range(0, n + 1, every))
        steps.add(n)
    return np.array(sorted(steps), dtype=np.int64)


def plan_shape(path):
    """(recorded steps of all runs, number of levels, study flag names, number of runs),
    from one streaming pass over the plan."""
    grids, d_max, flags, n = set(), 0, [], 0
    for row in read_plan(path):
        grids.add((row["steps"], row["record_every"]))
        d_max = max(d_max, int(row["d"]))
        flags = flags or [c for c in row if c.startswith("in_")]
        n += 1
    steps = step_union([{"steps": a, "record_every": b} for a, b in grids])
    return steps, d_max + 1, flags, n


def _open_run(path, run_id: str):
    """A run file opened with netCDF4, after checking it holds the planned run."""
    import netCDF4

    if not os.path.isfile(path):
        raise RunFileError(f"{path}: run file does not exist")
    try:
        nc = netCDF4.Dataset(path)
    except OSError as err:
        raise RunFileError(
            f"{path}: not a readable NetCDF run file ({err}); delete it and "
            f"rerun Snakemake to recreate it"
        ) from None
    key = run_id.rsplit("-", 1)[-1]
    found = getattr(nc, "run_key", None)
    if getattr(nc, "dln_kind", None) != "run" or found != key:
        nc.close()
        raise RunFileError(
            f"{path}: holds {'run ' + found if found else 'no dln run'}, not the "
            f"planned run {key}; delete it and rerun Snakemake to recreate it"
        )
    return nc


class _Writer:
    """The output file, opened once; `add` appends one run along the unlimited `run` dim."""

    def __init__(self, nc, steps: np.ndarray, n_levels: int):
        self.nc, self.steps = nc, steps
        d = n_levels - 1
        for dim, size in (
            ("run", None),
            ("step", len(steps)),
            ("level", n_levels),
            ("mode", d),
            ("visit", MAX_VISITS),
        ):
            nc.createDimension(dim, size)
        self._var("run", str, ("run",), {"long_name": "run id: the run file below results/runs/"})
        self._var("step", "i8", ("step",), {"long_name": "GD iteration"})[:] = steps
        self._var("level", "i8", ("level",), {"long_name": "critical point index k (0 = origin)"})[
            :
        ] = np.arange(n_levels)
        self._var("mode", "i8", ("mode",), {"long_name": "singular index i"})[:] = np.arange(
            1, d + 1
        )
        for name, (kind, _, _) in {**SETTINGS, **METRICS}.items():
            self._scalar_var(name, kind)
        for name, (dims, _, _) in ARRAYS.items():
            self._var(name, "f8", ("run", *dims), attrs(name), fill=True)
        chunk = dict(zlib=True, complevel=4, shuffle=True)
        self._var(
            "t",
            "f8",
            ("run", "step"),
            {"long_name": "time t = lr x step", "units": "1"},
            fill=True,
            chunksizes=(1, len(steps)),
            **chunk,
        )
        self._var(
            "s",
            "f8",
            ("run", "mode"),
            {"long_name": "singular values s_i of Phi", "units": "1"},
            fill=True,
        )
        self._var(
            "critical_level",
            "f8",
            ("run", "level"),
            {"long_name": "loss L_k at critical point k (k = 0: origin)", "units": "1"},
            fill=True,
        )
        self.flags: list[str] = []

    def _var(self, name, dtype, dims, var_attrs, fill=False, **kw):
        var = self.nc.createVariable(name, dtype, dims, fill_value=np.nan if fill else None, **kw)
        var.setncatts(var_attrs)
        return var

    def _scalar_var(self, name, kind):
        dtype = {"str": str, "bool": "i1", "int": "i8", "float": "f8"}[kind]
        var_attrs = {**attrs(name), **({"dtype": "bool"} if kind == "bool" else {})}
        return self._var(name, dtype, ("run",), var_attrs, fill=kind == "float")

    def add_flags(self, names):
        for name in names:
            study = name[len("in_") :]
            self._var(
                name,
                "i1",
                ("run",),
                {"long_name": f"the run belongs to the study {study}", "dtype": "bool"},
            )
            self.flags.append(name)

    def add(self, i: int, run_id: str, src, flags: dict) -> dict:
        """Copy run `src` (an open netCDF4 run file) into row i; returns its table row."""
        nc = self.nc
        nc["run"][i] = run_id
        row = {"run": run_id}
        for name, (kind, _, _) in {**SETTINGS, **METRICS}.items():
            value = src[name][...]
            value = (
                str(value) if kind == "str" else (value.item() if hasattr(value, "item") else value)
            )
            if kind == "bool":
                value = bool(value)
            nc[name][i] = int(value) if kind in ("bool", "int") else value
            row[name] = value
        for name, value in flags.items():
            nc[name][i] = int(value)
            row[name] = value
        pos = np.searchsorted(self.steps, src["step"][:])
        d = len(src.dimensions["mode"])
        nc["t"][i, pos] = src["t"][:]
        for name in TRAJECTORY_VARS:
            if name not in nc.variables:
                self._var(
                    name,
                    "f8",
                    ("run", "step"),
                    _attrs_of(src[name]),
                    fill=True,
                    chunksizes=(1, len(self.steps)),
                    zlib=True,
                    complevel=4,
                    shuffle=True,
                )
            nc[name][i, pos] = src[name][:]
        for name in MODE_VARS:
            if name not in nc.variables:
                self._var(
                    name,
                    "f8",
                    ("run", "step", "mode"),
                    _attrs_of(src[name]),
                    fill=True,
                    chunksizes=(1, len(self.steps), len(nc.dimensions["mode"])),
                    zlib=True,
                    complevel=4,
                    shuffle=True,
                )
            nc[name][i, pos, :d] = src[name][:]
        nc["s"][i, :d] = src["s"][:]
        nc["critical_level"][i, : d + 1] = src["critical_level"][:]
        levels = src["steps_at_level"][:]
        nc["steps_at_level"][i, : d + 1] = levels
        for lev, n in enumerate(levels):
            row[f"steps_at_L{lev}"] = int(n)
        for name in ("visit_level", "visit_entry_step", "visit_exit_step"):
            nc[name][i, :] = src[name][:]
        return row


def _attrs_of(var) -> dict:
    return {k: var.getncattr(k) for k in var.ncattrs() if not k.startswith("_")}


def _cell(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return "" if math.isnan(value) else repr(value)
    return str(value)


def aggregate(plan_path, dataset_path, table_path, experiment: str, config_hash: str) -> int:
    """Write the experiment's runs.nc and runs.csv from its plan; returns the number of runs.
    Both are written run by run: memory holds one run, whatever the number of runs."""
    import netCDF4

    from .runfile import cf_attrs

    steps, n_levels, flag_names, n_runs = plan_shape(plan_path)
    columns = [
        "run",
        *SETTINGS,
        *flag_names,
        *METRICS,
        *(f"steps_at_L{lev}" for lev in range(n_levels)),
    ]
    now = _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    with (
        atomic_output(dataset_path) as tmp_nc,
        atomic_output(table_path) as tmp_csv,
        open(tmp_csv, "w") as table,
    ):
        table.write(",".join(columns) + "\n")
        out = netCDF4.Dataset(tmp_nc, "w", format="NETCDF4")
        try:
            writer = _Writer(out, steps, n_levels)
            writer.add_flags(flag_names)
            for i, entry in enumerate(read_plan(plan_path)):
                src = _open_run(entry["path"], entry["run"])
                try:
                    flags = {f: entry[f] == "true" for f in flag_names}
                    row = writer.add(i, entry["run"], src, flags)
                finally:
                    src.close()
                table.write(
                    ",".join(_csv_quote(_cell(row.get(c, math.nan))) for c in columns) + "\n"
                )
                if i % 10 == 9:  # netCDF4's closed Datasets sit in reference cycles until a
                    gc.collect(0)  # collection: collect the young ones, so memory stays flat
            out.setncatts(
                {
                    **cf_attrs(
                        TITLE, f"{now}: aggregated {n_runs} runs of experiment {experiment}"
                    ),
                    "dln_kind": "aggregate",
                    "experiment": experiment,
                    "config_hash": config_hash,
                    "n_runs": n_runs,
                    "coordinates": " ".join(["t", *SETTINGS, *flag_names]),
                }
            )
        finally:
            out.close()
    return n_runs


def _csv_quote(text: str) -> str:
    return f'"{text}"' if ("," in text or '"' in text) else text
