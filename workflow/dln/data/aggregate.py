"""Gather an experiment's run files into one CF NetCDF and one CSV table.

runs.nc holds the per-run table in its root group (dimension `run`: settings and study flags
as coordinates, metrics, per-run arrays on `level`, `mode`, `visit`) and the trajectories in one
group per study, on that study's own step grid (a study whose runs record different grids has
one subgroup per grid, `trajectories/<study>/steps<n>_every<r>`):
`xr.open_dataset(path, group="trajectories/grid")` is the main grid, with no padding from other studies' grids. A run in two studies is in both
groups. Integers are integers (int64; MISSING_INT plus a `missing_value` attribute where a
value is missing, which xarray reads as NaN).

Streaming: each run file is read, copied into its rows of the output and closed, so memory
holds a few runs plus one block of rows per group, whatever the number of runs. With
workers > 1, reader processes read the run files (round robin) and this process takes their
payloads in plan order and writes everything, so the output does not depend on the number of
readers. Every run analysed itself (its metrics are variables of its file), so nothing is
recomputed here. No xarray: run files are parsed from their checked bytes (dln.data.cdf, via
dln.data.io.open_run_file) and the output is written with netCDF4.
"""

from __future__ import annotations

import csv
import datetime as _dt
import fcntl
import json
import math
import os
import pickle
import subprocess
import sys
import warnings
from contextlib import closing, contextmanager, suppress
from pathlib import Path

import numpy as np

from dln.analysis.stages import MAX_VISITS
from dln.data.columns import (
    ARRAYS,
    METRICS,
    MISSING_INT,
    SETTINGS,
    as_int,
    attrs,
    canonical_spectrum,
    canonical_widths,
)
from dln.data.io import REBUILD, RunFileError, atomic_output, open_run_file

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
    """Every step any of these planned runs records: 0, r, 2r, ... and its last step."""
    steps = set()
    for key in {(int(r["steps"]), int(r["record_every"])) for r in plan}:
        n, every = key
        steps.update(range(0, n + 1, every))
        steps.add(n)
    return np.array(sorted(steps), dtype=np.int64)


class PlanShape:
    """What the output's layout needs, from one streaming pass over the plan: the number of
    runs, the study flags, the levels, and per study its step grids (steps, record_every)
    with the largest d of their runs."""

    def __init__(self, path):
        self.n, self.d_max, self.flags = 0, 0, []
        self.grids: dict[str, dict[tuple[int, int], int]] = {}
        for row in read_plan(path):
            self.n += 1
            d, grid = int(row["d"]), (int(row["steps"]), int(row["record_every"]))
            self.d_max = max(self.d_max, d)
            self.flags = self.flags or [c for c in row if c.startswith("in_")]
            for flag in self.flags:
                if row[flag] == "true":
                    grids = self.grids.setdefault(flag[len("in_") :], {})
                    grids[grid] = max(grids.get(grid, 0), d)

    def group(self, study: str, grid: tuple[int, int]) -> str:
        """The NetCDF group of a study's runs on one step grid: below TRAJECTORIES, since a
        group may not share a name with the root's variables (the depth study and the depth
        setting)."""
        if len(self.grids[study]) == 1:
            return f"{TRAJECTORIES}/{study}"
        return f"{TRAJECTORIES}/{study}/steps{grid[0]}_every{grid[1]}"


TRAJECTORIES = "trajectories"  # the parent group of the studies' trajectory groups
_DTYPE = {"str": str, "bool": "i1", "int": "i8", "float": "f8"}
_BUFFER = {"str": object, "bool": "i1", "int": "i8", "float": "f8"}
_FILL = {"str": None, "bool": 0, "int": MISSING_INT, "float": np.nan}


class _Rows:
    """One NetCDF group's variables along its unlimited `run` dimension. Rows are buffered and
    written in blocks: netCDF4's per-call cost (~0.1 ms) times ~130 variables per run dominated
    the aggregation when each run was written alone."""

    def __init__(self, nc, block_bytes: float = 16e6):
        self.nc, self.block_bytes, self.kinds, self.written = nc, block_bytes, {}, 0
        self.missing: set[str] = set()
        self.buf: dict | None = None
        nc.createDimension("run", None)

    def var(self, name, kind, dims, var_attrs, **kw):
        """A variable along `run` (dims after it); kind says its type and missing value."""
        fill = np.nan if kind == "float" else None
        var = self.nc.createVariable(name, _DTYPE[kind], ("run", *dims), fill_value=fill, **kw)
        var.setncatts({**var_attrs, **({"dtype": "bool"} if kind == "bool" else {})})
        self.kinds[name] = kind
        return var

    def next_row(self) -> int:
        """The buffer row of the next run (its variables hold their missing value)."""
        if self.buf is None:
            self._new_block()
        return self.filled

    def done_row(self) -> None:
        self.filled += 1
        if self.filled == self.block:
            self.flush()

    def block_rows(self, tails: dict) -> int:
        """Rows per block for variables of these shapes after `run`: as many as fit
        block_bytes, at most 256."""
        per_run = 8 * sum(max(1, int(np.prod(t))) for t in tails.values())
        return int(max(1, min(256, self.block_bytes // per_run)))

    def _new_block(self) -> None:
        tails = {n: self.nc[n].shape[1:] for n in self.kinds}
        self.block = self.block_rows(tails)
        self.buf = {
            n: np.full((self.block, *tails[n]), _FILL[k], dtype=_BUFFER[k])
            for n, k in self.kinds.items()
        }
        self.filled = 0

    def flush(self) -> None:
        """Write the buffered rows after those already written."""
        if self.buf is None or not self.filled:
            return
        start, count = self.written, self.filled
        for name, values in self.buf.items():
            self.nc[name][start : start + count] = values[:count]
            if self.kinds[name] == "int" and (values[:count] == MISSING_INT).any():
                self.missing.add(name)
        self.written += count
        self._new_block()

    def close(self) -> None:
        """Flush; an int variable that misses a value says so (xarray reads it as NaN)."""
        self.flush()
        for name in sorted(self.missing):
            self.nc[name].setncattr("missing_value", np.int64(MISSING_INT))


def _put(buf, j: int, name: str, kind: str, value) -> None:
    if kind == "int":
        value = as_int(value)
        buf[name][j] = MISSING_INT if value is None else value
    elif kind == "bool":
        buf[name][j] = int(bool(value))
    else:
        buf[name][j] = value


def _index_var(nc, name: str, values, long_name: str, units=None) -> None:
    nc.createDimension(name, len(values))
    var = nc.createVariable(name, "i8", (name,))
    var[:] = values
    var.setncatts({"long_name": long_name, **({"units": units} if units else {})})


def _settings_vars(rows: _Rows) -> None:
    for name, (kind, _, _) in SETTINGS.items():
        rows.var(name, kind, (), attrs(name))


class _Table(_Rows):
    """The root group: one row per run with its settings, study flags, metrics and per-run
    arrays (steps at each level, the stays, s_i, L_k)."""

    def __init__(self, nc, n_levels: int, flags: list[str]):
        super().__init__(nc)
        self.flags, d = flags, n_levels - 1
        _index_var(nc, "level", np.arange(n_levels), "critical point index k (0 = origin)", "1")
        _index_var(nc, "mode", np.arange(1, d + 1), "singular index i", "1")
        _index_var(nc, "visit", np.arange(MAX_VISITS), "stay number", "1")
        self.var("run", "str", (), {"long_name": "run id: the run file below results/runs/"})
        _settings_vars(self)
        for name in flags:
            study = {"long_name": f"the run belongs to the study {name[len('in_') :]}"}
            self.var(name, "bool", (), study)
        for name, (kind, _, _) in METRICS.items():
            self.var(name, kind, (), attrs(name))
        for name, (dims, _, _) in ARRAYS.items():
            self.var(name, "int", dims, attrs(name), chunksizes=self._chunks(nc, dims))
        s_attrs = {"long_name": "singular values s_i of Phi", "units": "1"}
        self.var("s", "float", ("mode",), s_attrs, chunksizes=self._chunks(nc, ("mode",)))
        level = {"long_name": "loss L_k at critical point k (k = 0: origin)", "units": "1"}
        self.var(
            "critical_level", "float", ("level",), level, chunksizes=self._chunks(nc, ("level",))
        )

    @staticmethod
    def _chunks(nc, dims) -> tuple:
        """Per-run arrays in chunks of 256 runs (a block): netCDF's default for a 2-D variable
        along an unlimited dimension is one run per chunk, 6e5 chunks of a few values for 1e5
        runs, which made loading the table slow and large."""
        return (256, *(len(nc.dimensions[d]) for d in dims))

    def add(self, row: dict, arrays: dict) -> None:
        j, buf = self.next_row(), self.buf
        buf["run"][j] = row["run"]
        for name in (*SETTINGS, *METRICS, *self.flags):
            _put(buf, j, name, self.kinds[name], row[name])
        d = arrays["s"].shape[0]
        buf["s"][j, :d] = arrays["s"]
        buf["critical_level"][j, : d + 1] = arrays["critical_level"]
        buf["steps_at_level"][j, : d + 1] = [row[f"steps_at_L{lev}"] for lev in range(d + 1)]
        for name in _VISITS:
            values = arrays[name]
            known = ~np.isnan(values)
            buf[name][j, known] = values[known].astype(np.int64)
        self.done_row()


class _Trajectories(_Rows):
    """A study's group on one step grid: run ids, settings (coordinates, for hue="k") and the
    recorded quantities along `step` (t, loss, ..., and alpha, beta, p, q along `mode`)."""

    def __init__(self, nc, steps: np.ndarray, d: int):
        super().__init__(nc, block_bytes=8e6)
        self.steps, self.d = steps, d
        _index_var(nc, "step", steps, "GD iteration", "steps")
        _index_var(nc, "mode", np.arange(1, d + 1), "singular index i", "1")
        self.var("run", "str", (), {"long_name": "run id: the run file below results/runs/"})
        _settings_vars(self)
        self.created = False

    def _create(self, path, run_id: str) -> None:
        """The per-step variables, with the attributes of the group's first run (read here:
        the readers send values only). A chunk is one block of rows, so each block is written
        as whole chunks: one chunk per run made 3e6 chunks for 1e5 runs, too small to
        compress (the file was larger than the raw values) and slow to write and read."""
        n, d = len(self.steps), self.d
        with _open_run(path, run_id) as src, _reading(path):
            var_attrs = {name: _attrs_of(src[name]) for name in (*TRAJECTORY_VARS, *MODE_VARS)}
        tails = {name: self.nc[name].shape[1:] for name in self.kinds}
        tails |= {name: (n,) for name in ("t", *TRAJECTORY_VARS)}
        tails |= {name: (n, d) for name in MODE_VARS}
        rows = self.block_rows(tails)
        kw = dict(zlib=True, complevel=4, shuffle=True)
        t_attrs = {"long_name": "time t = lr x step", "units": "1"}
        for name, a in (("t", t_attrs), *((v, var_attrs[v]) for v in TRAJECTORY_VARS)):
            self.var(name, "float", ("step",), a, chunksizes=(rows, n), **kw)
        for name in MODE_VARS:
            self.var(
                name, "float", ("step", "mode"), var_attrs[name], chunksizes=(rows, n, d), **kw
            )
        self.created = True

    def add(self, row: dict, records: dict, path) -> None:
        if not self.created:
            self._create(path, row["run"])
        j, buf = self.next_row(), self.buf
        buf["run"][j] = row["run"]
        for name in SETTINGS:
            _put(buf, j, name, self.kinds[name], row[name])
        pos = np.searchsorted(self.steps, records["step"])
        for name in ("t", *TRAJECTORY_VARS):
            buf[name][j, pos] = records[name]
        d = records["p"].shape[-1]
        for name in MODE_VARS:
            buf[name][j, pos, :d] = records[name]
        self.done_row()


def _text(value):
    """An attribute as text: str as is, bytes decoded (anything else as is)."""
    return value.decode() if isinstance(value, bytes) else value


def _open_run(path, run_id: str):
    """A run file parsed, after checking it holds the planned run and matches its
    content checksum (dln.data.io.open_run_file, the reader every stage uses)."""
    return open_run_file(path, run_id.rsplit("-", 1)[-1])


@contextmanager
def _reading(path):
    """Name the run file in any error reading it (after its checksum passed: a row that is
    not what the writer writes, e.g. a file sealed by another tool)."""
    try:
        yield
    except (KeyError, ValueError, TypeError, OSError) as err:
        reason = " ".join(str(err).split()) or type(err).__name__
        raise RunFileError(
            f"{path}: not a run file as dln writes it ({type(err).__name__}: {reason}); {REBUILD}"
        ) from None


def _attrs_of(var) -> dict:
    """A variable's CF attributes (long_name, units, ...), without netCDF's own (_Encoding)."""
    return {k: _text(v) for k, v in var.attrs.items() if not k.startswith("_")}


def _read(src, name: str) -> np.ndarray:
    """A variable of a parsed run file, whole."""
    return src[name][()]


def table_row(run_id: str, src) -> dict:
    """A run's row of the per-run table (settings, metrics, steps at each level), from its
    open run file: the run's `row_json` attribute holds the same values as its variables.
    Labels in their canonical form, integers as int (None where missing)."""
    stored = json.loads(_text(src.attrs["row_json"]))
    row = {"run": run_id}
    for name, (kind, _, _) in {**SETTINGS, **METRICS}.items():
        value = stored[name]
        if kind == "bool":
            value = bool(value)
        elif kind == "float":
            value = math.nan if value is None else float(value)
        elif kind == "int":
            value = as_int(value)
        row[name] = value
    row["widths"] = canonical_widths(row["widths"])
    row["spectrum"] = canonical_spectrum(row["spectrum"], row["widths"])
    for lev, n in enumerate(_read(src, "steps_at_level")):
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
            with _open_run(path, run_id) as src, _reading(path):
                row = {**table_row(run_id, src), f"in_{study}": True}
            rows.writerow([_cell(row.get(c, math.nan)) for c in columns])
    return len(run_paths)


def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return "" if math.isnan(value) else repr(value)
    return str(value)


_RECORDS = ("step", "t", *TRAJECTORY_VARS, *MODE_VARS)
_VISITS = ("visit_level", "visit_entry_step", "visit_exit_step")


def run_payload(entry: dict, flags: list[str]) -> dict:
    """What the aggregate takes from one planned run file (its checks passed): its table row
    with the plan's study flags, its per-run arrays and, if it is in a study, its records.
    Plain values and numpy arrays only, so that a reader process can send it (pickle)."""
    with _open_run(entry["path"], entry["run"]) as src, _reading(entry["path"]):
        row = table_row(entry["run"], src)
        row.update({f: entry[f] == "true" for f in flags})
        arrays = {name: _read(src, name) for name in ("s", "critical_level", *_VISITS)}
        in_study = any(row[f] for f in flags)
        records = {name: _read(src, name) for name in _RECORDS} if in_study else None
    return {"row": row, "arrays": arrays, "records": records}


def _copy_run(entry: dict, payload: dict, shape: PlanShape, table: _Table, groups: dict):
    """Copy one planned run into the table and its studies' groups."""
    row = payload["row"]
    table.add(row, payload["arrays"])
    grid = (int(entry["steps"]), int(entry["record_every"]))
    for flag in shape.flags:
        if row[flag]:
            group = groups[shape.group(flag[len("in_") :], grid)]
            group.add(row, payload["records"], entry["path"])


def _open_groups(out, shape: PlanShape) -> dict[str, _Trajectories]:
    groups = {}
    for study, grids in shape.grids.items():
        for grid, d in grids.items():
            name = shape.group(study, grid)
            nc = out.createGroup(name)
            grid_rows = [{"steps": grid[0], "record_every": grid[1]}]
            groups[name] = _Trajectories(nc, step_union(grid_rows), d)
            nc.setncatts(
                {
                    "title": f"{TITLE}: trajectories of the study {study}",
                    "study": study,
                    "coordinates": " ".join(["t", *SETTINGS]),
                }
            )
    return groups


def _payloads(plan_path, flags: list[str], workers: int):
    """(plan row, run payload) of every planned run, in plan order: read here (workers <= 1)
    or by `workers` reader processes."""
    if workers <= 1:
        for entry in read_plan(plan_path):
            yield entry, run_payload(entry, flags)
        return
    with _Readers(plan_path, workers) as readers:
        for i, entry in enumerate(read_plan(plan_path)):
            yield entry, readers.take(i % workers)


_PACKAGE_ROOT = os.fspath(Path(__file__).resolve().parents[2])  # the directory holding dln/
_READER = "from dln.data.aggregate import read_runs; read_runs()"
_PIPE_BYTES = 1 << 20  # Linux's default limit for an unprivileged process; ~100 runs


class _Readers:
    """Reader processes: reader w reads the planned runs i with i % workers == w, in plan
    order, and sends each one's payload (pickled) through its stdout. The parent takes them in
    plan order, so the output is the sequential one; a reader that is ahead blocks on its full
    pipe, so memory holds at most a pipe's worth of runs per reader. Separate interpreters
    (not multiprocessing): spawn would re-run a Snakemake script's top level in every
    reader, and fork copies a process that holds open HDF5 files and BLAS threads."""

    def __init__(self, plan_path, workers: int):
        path = os.pathsep.join(filter(None, (_PACKAGE_ROOT, os.environ.get("PYTHONPATH"))))
        env = {**os.environ, "PYTHONPATH": path}
        self.procs = []
        try:
            for w in range(workers):
                args = [sys.executable, "-c", _READER, os.fspath(plan_path), str(w), str(workers)]
                self.procs.append(
                    subprocess.Popen(args, stdout=subprocess.PIPE, stderr=_stderr(), env=env)
                )
                with suppress(AttributeError, OSError):  # a bigger pipe where the OS allows one
                    fcntl.fcntl(self.procs[-1].stdout, fcntl.F_SETPIPE_SZ, _PIPE_BYTES)
        except BaseException as err:  # (no reader left running if one cannot start)
            self.__exit__(type(err), err, None)
            raise

    def take(self, w: int) -> dict:
        """The next payload of reader w; its RunFileError (naming the file) is raised here."""
        try:
            kind, value = pickle.load(self.procs[w].stdout)
        except EOFError:
            code = self.procs[w].wait()
            raise RuntimeError(
                f"aggregate: reader process {w} ended early (exit code {code}); "
                f"its error is above, on stderr (a Snakemake job's log)"
            ) from None
        if kind == "error":
            raise RunFileError(value)
        return value

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        """Readers that are done have exited; on an error the others are stopped."""
        for proc in self.procs:
            if exc[0] is not None:
                proc.kill()
            proc.wait()
            proc.stdout.close()


def _stderr():
    """This process's sys.stderr for a reader, where it is a file (a Snakemake job sends it to
    the job's log, dln.data.io.job_log); else None: the reader inherits stderr as it is."""
    try:
        sys.stderr.fileno()
    except (AttributeError, OSError, ValueError):  # (io.UnsupportedOperation is an OSError)
        return None
    sys.stderr.flush()
    return sys.stderr


def read_runs() -> None:
    """A reader process of _Readers: argv is the plan, this reader's number w, the number of
    readers. Its stdout carries the payloads; anything else a library prints there goes to
    stderr, so it cannot corrupt them. The first unreadable run file ends it, naming it."""
    plan_path, w, workers = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    if os.environ.get("DLN_FIGURE_GATE", "") == "1":  # as dln.data.io.job_log: warnings fail
        warnings.simplefilter("error")
    flags = None
    with out:
        for i, entry in enumerate(read_plan(plan_path)):
            flags = flags if flags is not None else [c for c in entry if c.startswith("in_")]
            if i % workers != w:
                continue
            try:
                message = ("run", run_payload(entry, flags))
            except RunFileError as err:
                message = ("error", str(err))
            pickle.dump(message, out, protocol=pickle.HIGHEST_PROTOCOL)
            if message[0] == "error":
                break


def _root_attrs(shape: PlanShape, groups: dict, experiment: str, config_hash: str) -> dict:
    from dln.data.runfile import cf_attrs

    now = _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    history = f"{now}: aggregated {shape.n} runs of experiment {experiment}"
    return {
        **cf_attrs(TITLE, history),
        "dln_kind": "aggregate",
        "experiment": experiment,
        "config_hash": config_hash,
        "n_runs": shape.n,
        "trajectory_groups": " ".join(groups),
        "coordinates": " ".join([*SETTINGS, *shape.flags]),
    }


@contextmanager
def _no_chunk_cache(netCDF4):
    """Variables created meanwhile have no chunk cache: the aggregate writes each block once,
    in order, so a cache only holds written chunks until it is full (netCDF's default, 64 MB
    per variable, grew the writer to 840 MB for 1e5 runs; without one it stays at ~90 MB and
    spends less CPU). The library's default is restored for whoever opens files next."""
    default = netCDF4.get_chunk_cache()
    netCDF4.set_chunk_cache(0, 1, 1.0)
    try:
        yield
    finally:
        netCDF4.set_chunk_cache(*default)


def aggregate(
    plan_path, dataset_path, table_path, experiment: str, config_hash: str, workers: int = 1
) -> int:
    """Write the experiment's runs.nc and runs.csv from its plan; returns the number of runs.
    Both are written run by run, in plan order, by this process; `workers` > 1 reader
    processes read the run files. Memory holds a few runs per reader, whatever their number;
    the output does not depend on `workers`."""
    import netCDF4

    shape = PlanShape(plan_path)
    columns = table_columns(shape.flags, shape.d_max + 1)
    with (
        atomic_output(dataset_path) as tmp_nc,
        atomic_output(table_path) as tmp_csv,
        open(tmp_csv, "w") as csv_file,
    ):
        table_rows = csv.writer(csv_file, lineterminator="\n")
        table_rows.writerow(columns)
        with _no_chunk_cache(netCDF4):
            out = netCDF4.Dataset(tmp_nc, "w", format="NETCDF4")
            try:
                table = _Table(out, shape.d_max + 1, shape.flags)
                groups = _open_groups(out, shape)
                with closing(_payloads(plan_path, shape.flags, workers)) as payloads:
                    for entry, payload in payloads:
                        _copy_run(entry, payload, shape, table, groups)
                        row = payload["row"]
                        table_rows.writerow([_cell(row.get(c, math.nan)) for c in columns])
                for rows in (table, *groups.values()):
                    rows.close()
                out.setncatts(_root_attrs(shape, groups, experiment, config_hash))
            finally:
                out.close()
    return shape.n
