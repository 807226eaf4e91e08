"""Gather an experiment's run files into one CF NetCDF (dimension `run`) and one CSV table.

Streaming: each run file is read, copied into its row of the output and closed, so memory
holds one run plus the table, whatever the number of runs. Every run analysed itself (its
metrics are variables of its file), so nothing is recomputed here. No xarray: run files are
read with h5py (a netCDF-4 file is an HDF5 file; h5py opens one in ~1.5 ms where netCDF4,
which reads every variable's metadata on open, takes ~6 ms) and the output is written with
netCDF4.
"""

from __future__ import annotations

import csv
import datetime as _dt
import json
import math
import os

import numpy as np

from dln.analysis.stages import MAX_VISITS
from dln.data.columns import ARRAYS, METRICS, SETTINGS, attrs
from dln.data.io import RunFileError, atomic_output

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


def _text(value):
    """An HDF5 attribute as netCDF4 would return it: text as str, anything else as is."""
    return value.decode() if isinstance(value, bytes) else value


def _open_run(path, run_id: str):
    """A run file opened with h5py, after checking it holds the planned run."""
    import h5py

    if not os.path.isfile(path):
        raise RunFileError(f"{path}: run file does not exist")
    try:
        src = h5py.File(path, "r")
    except OSError as err:
        raise RunFileError(
            f"{path}: not a readable NetCDF run file ({err}); delete it and "
            f"rerun Snakemake to recreate it"
        ) from None
    key = run_id.rsplit("-", 1)[-1]
    found = _text(src.attrs.get("run_key"))
    if _text(src.attrs.get("dln_kind")) != "run" or found != key:
        src.close()
        raise RunFileError(
            f"{path}: holds {'run ' + found if found else 'no dln run'}, not the "
            f"planned run {key}; delete it and rerun Snakemake to recreate it"
        )
    return src


# what the aggregate copies from a run file: its datasets (read whole) and the attributes of
# the per-step ones (the output's variables take them from the first run)
_COPIED = ("step", "t", "mode", "s", "critical_level", "steps_at_level", "visit_level",
           "visit_entry_step", "visit_exit_step", *TRAJECTORY_VARS, *MODE_VARS)  # fmt: skip


class _Var:
    """A dataset read into memory, with the h5py interface the writer uses (x[()], attrs)."""

    def __init__(self, value, var_attrs):
        self.value, self.attrs = value, var_attrs

    def __getitem__(self, key):
        return self.value

    @property
    def shape(self):
        return self.value.shape


class _Loaded:
    """A run file read into memory (a worker's result): src[name] and src.attrs as h5py's."""

    def __init__(self, data: dict, var_attrs: dict, file_attrs: dict):
        self.data, self.var_attrs, self.attrs = data, var_attrs, file_attrs

    def __getitem__(self, name):
        return _Var(self.data[name], self.var_attrs.get(name, {}))

    def close(self) -> None:
        pass


def load_run(args) -> _Loaded:
    """Read what the aggregate needs from one run file (in a worker process); the variables'
    attributes only if asked (the writer takes them from the first run: reading them costs
    more than the data)."""
    path, run_id, with_attrs = args
    src = _open_run(path, run_id)
    try:
        data = {name: src[name][()] for name in _COPIED}
        names = (*TRAJECTORY_VARS, *MODE_VARS) if with_attrs else ()
        var_attrs = {name: _attrs_of(src[name]) for name in names}
        return _Loaded(data, var_attrs, {"row_json": _text(src.attrs["row_json"])})
    finally:
        src.close()


def reader_pool(workers: int):
    """Processes that read run files (None: read here). Forked before the output file is
    opened: a spawned worker would run the calling Snakemake script again as its __main__."""
    if workers <= 1:
        return None
    import multiprocessing

    return multiprocessing.get_context("fork").Pool(workers)


def loaded_runs(entries, pool, block: int = 128):
    """(plan entry, loaded run) in plan order, read by `pool`'s processes `block` entries at
    a time (memory: a block, whatever the grid's size), or here without a pool."""
    if pool is None:  # the open file itself: nothing copied
        for entry in entries:
            src = _open_run(entry["path"], entry["run"])
            try:
                yield entry, src
            finally:
                src.close()
        return
    import itertools

    it, first = iter(entries), True
    while chunk := list(itertools.islice(it, block)):
        args = [(e["path"], e["run"], first and i == 0) for i, e in enumerate(chunk)]
        first = False
        yield from zip(chunk, pool.map(load_run, args, chunksize=8), strict=True)


class _Writer:
    """The output file, opened once; `add` appends one run along the unlimited `run` dim."""

    def __init__(self, nc, steps: np.ndarray, n_levels: int):
        self.nc, self.steps, self.n_levels = nc, steps, n_levels
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

    # rows buffered before one write per variable: netCDF4's per-call cost (~0.1 ms) times
    # ~130 variables per run dominated the aggregation when each run was written alone
    BLOCK_BYTES = 64e6

    def _new_block(self) -> None:
        n, d = len(self.steps), self.n_levels - 1
        per_run = 8 * n * (1 + len(TRAJECTORY_VARS) + d * len(MODE_VARS))
        self.block = int(max(1, min(256, self.BLOCK_BYTES // per_run)))
        B = self.block
        dtypes = {"bool": "i1", "int": "i8", "float": "f8"}
        buf = {"run": np.empty(B, dtype=object)}
        for name, (kind, _, _) in {**SETTINGS, **METRICS}.items():
            buf[name] = np.empty(B, dtype=object) if kind == "str" else np.zeros(B, dtypes[kind])
        for name in self.flags:
            buf[name] = np.zeros(B, "i1")
        for name in ("t", *TRAJECTORY_VARS):
            buf[name] = np.full((B, n), np.nan)
        for name in MODE_VARS:
            buf[name] = np.full((B, n, d), np.nan)
        buf["s"] = np.full((B, d), np.nan)
        for name in ("critical_level", "steps_at_level"):
            buf[name] = np.full((B, d + 1), np.nan)
        for name in ("visit_level", "visit_entry_step", "visit_exit_step"):
            buf[name] = np.full((B, MAX_VISITS), np.nan)
        self.buf, self.filled = buf, 0

    def flush(self) -> None:
        """Write the buffered rows after those already written."""
        if not getattr(self, "filled", 0):
            return
        start, count = self.written, self.filled
        for name, values in self.buf.items():
            self.nc[name][start : start + count] = values[:count]
        self.written += count
        self._new_block()

    def add(self, run_id: str, src, flags: dict) -> dict:
        """Copy run `src` (an open h5py run file) into the next row; returns its table row."""
        if not hasattr(self, "buf"):
            self.written = 0
            self._new_block()
        self._create_step_vars(src)
        buf, j = self.buf, self.filled
        buf["run"][j] = run_id
        row = table_row(run_id, src)
        for name, (kind, _, _) in {**SETTINGS, **METRICS}.items():
            buf[name][j] = int(row[name]) if kind in ("bool", "int") else row[name]
        for name, value in flags.items():
            buf[name][j] = int(value)
            row[name] = value
        pos = np.searchsorted(self.steps, src["step"][()])
        d = src["mode"].shape[0]
        buf["t"][j, pos] = src["t"][()]
        for name in TRAJECTORY_VARS:
            buf[name][j, pos] = src[name][()]
        for name in MODE_VARS:
            buf[name][j, pos, :d] = src[name][()]
        buf["s"][j, :d] = src["s"][()]
        buf["critical_level"][j, : d + 1] = src["critical_level"][()]
        # (the row already holds them: no second read of the file's steps_at_level)
        buf["steps_at_level"][j, : d + 1] = [row[f"steps_at_L{lev}"] for lev in range(d + 1)]
        for name in ("visit_level", "visit_entry_step", "visit_exit_step"):
            buf[name][j, :] = src[name][()]
        self.filled += 1
        if self.filled == self.block:
            self.flush()
        return row

    def _create_step_vars(self, src) -> None:
        """The per-step variables, created with the first run's attributes."""
        if "loss" in self.nc.variables:
            return
        n, d = len(self.steps), self.n_levels - 1
        chunk = dict(zlib=True, complevel=4, shuffle=True)
        for name in TRAJECTORY_VARS:
            self._var(
                name,
                "f8",
                ("run", "step"),
                _attrs_of(src[name]),
                fill=True,
                chunksizes=(1, n),
                **chunk,
            )
        for name in MODE_VARS:
            self._var(
                name,
                "f8",
                ("run", "step", "mode"),
                _attrs_of(src[name]),
                fill=True,
                chunksizes=(1, n, d),
                **chunk,
            )


# HDF5 attributes the netCDF library keeps for itself (dimension scales, ids)
_NETCDF_INTERNAL = {"DIMENSION_LIST", "REFERENCE_LIST", "CLASS", "NAME"}


def _attrs_of(var) -> dict:
    """A variable's CF attributes (long_name, units, ...), without netCDF's own."""
    return {
        k: _text(v)
        for k, v in var.attrs.items()
        if not k.startswith("_") and k not in _NETCDF_INTERNAL
    }


def table_row(run_id: str, src) -> dict:
    """A run's row of the per-run table (settings, metrics, steps at each level), from its
    open run file: the run's `row_json` attribute holds the same values as its variables."""
    stored = json.loads(_text(src.attrs["row_json"]))
    row = {"run": run_id}
    for name, (kind, _, _) in {**SETTINGS, **METRICS}.items():
        value = stored[name]
        if kind == "bool":
            value = bool(value)
        elif kind == "float":
            value = float(value)
        row[name] = value
    for lev, n in enumerate(src["steps_at_level"][()]):
        row[f"steps_at_L{lev}"] = int(n)
    return row


def table_columns(flag_names, n_levels: int) -> list[str]:
    """The per-run table's columns, in order."""
    return [
        "run",
        *SETTINGS,
        *flag_names,
        *METRICS,
        *(f"steps_at_L{lev}" for lev in range(n_levels)),
    ]


def run_id_of(path) -> str:
    """The run id of a run file in the store: its path below results/runs/, without .nc."""
    return os.path.relpath(path, "results/runs").removesuffix(".nc")


def study_table(run_paths, table_path, study: str, n_levels: int) -> int:
    """One study's rows of the per-run table, results/<experiment>/tables/<study>.csv, from
    the study's run files; returns the number of rows. A figure that draws one study reads
    this table, not runs.csv, so it is redrawn only when a run of its study changes."""
    columns = table_columns([f"in_{study}"], n_levels)
    with atomic_output(table_path) as tmp, open(tmp, "w") as out:
        rows = csv.writer(out, lineterminator="\n")
        rows.writerow(columns)
        for path in run_paths:
            run_id = run_id_of(path)
            src = _open_run(path, run_id)
            try:
                row = {**table_row(run_id, src), f"in_{study}": True}
            finally:
                src.close()
            rows.writerow([_cell(row.get(c, math.nan)) for c in columns])
    return len(run_paths)


def _cell(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return "" if math.isnan(value) else repr(value)
    return str(value)


def aggregate(
    plan_path, dataset_path, table_path, experiment: str, config_hash: str, workers: int = 1
) -> int:
    """Write the experiment's runs.nc and runs.csv from its plan; returns the number of runs.
    Both are written run by run: memory holds a block of runs, whatever the number of runs;
    `workers` processes read the run files (this one writes)."""
    steps, n_levels, flag_names, n_runs = plan_shape(plan_path)
    pool = reader_pool(workers)
    try:
        _aggregate(plan_path, dataset_path, table_path, (steps, n_levels, flag_names, n_runs),
                   {"experiment": experiment, "config_hash": config_hash}, pool)  # fmt: skip
    finally:
        if pool is not None:
            pool.terminate()
    return n_runs


def _aggregate(plan_path, dataset_path, table_path, shape, meta: dict, pool) -> None:
    import netCDF4

    from dln.data.runfile import cf_attrs

    steps, n_levels, flag_names, n_runs = shape
    experiment, config_hash = meta["experiment"], meta["config_hash"]
    columns = table_columns(flag_names, n_levels)
    now = _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    with (
        atomic_output(dataset_path) as tmp_nc,
        atomic_output(table_path) as tmp_csv,
        open(tmp_csv, "w") as table,
    ):
        table_rows = csv.writer(table, lineterminator="\n")
        table_rows.writerow(columns)
        out = netCDF4.Dataset(tmp_nc, "w", format="NETCDF4")
        try:
            writer = _Writer(out, steps, n_levels)
            writer.add_flags(flag_names)
            for entry, src in loaded_runs(read_plan(plan_path), pool):
                flags = {f: entry[f] == "true" for f in flag_names}
                row = writer.add(entry["run"], src, flags)
                table_rows.writerow([_cell(row.get(c, math.nan)) for c in columns])
            writer.flush()
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
