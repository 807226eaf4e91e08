"""Files: atomic writes for every output, and reading run files and aggregates with xarray.

xarray is imported inside the readers only: the simulation job writes through dln.data.runfile and
must not pay xarray's import.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import socket
import stat
from contextlib import contextmanager, suppress
from pathlib import Path

ENGINE = "netcdf4"


class RunFileError(Exception):
    """A run file is missing, unreadable, edited or not the planned run. Not an OSError: it is
    no failed write, so write_failure's disk-full guess never reaches it."""


class OutputPathError(OSError):
    """The output path is no place for a regular file (a FIFO, device, directory, empty name)."""


class TempFileVanished(OSError):
    """The temporary file was gone at the final rename: someone else deleted it."""


_NOT_REGULAR = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a FIFO"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


def _kind(mode: int) -> str:
    return next((name for test, name in _NOT_REGULAR if test(mode)), "not a regular file")


def check_output_path(path) -> Path:
    """`path` as a Path if a regular file may be written there, else OutputPathError (one line).

    The final os.replace would turn an existing FIFO or device (as root, /dev/null) into a
    regular file, and `dir/` would silently become a file named `dir`, so both are refused up
    front. An existing regular file is fine: re-running replaces it. A symlink is judged by
    what it points to (a link to /dev/null is refused; a link to a regular file is replaced by
    the new file). Missing parent directories are fine (atomic_output creates them).
    """
    raw = "" if path is None else os.fsdecode(os.fspath(path))
    shown = raw or "''"
    if not raw:
        raise OutputPathError(f"{shown}: empty path (give a file name)")
    if "\0" in raw:
        raise OutputPathError(f"{shown}: path contains a NUL byte")
    if raw.endswith(("/", os.sep)):
        raise OutputPathError(f"{shown}: path ends in '/' (give a file name, not a directory)")
    if os.path.basename(raw) in (".", ".."):
        raise OutputPathError(f"{shown}: names a directory, not a file (give a file name)")
    out = Path(raw)
    try:
        mode = out.stat().st_mode  # follows symlinks: what a write would really replace
    except (FileNotFoundError, NotADirectoryError):
        mode = None  # (a dangling symlink too; a file among the parents is caught below)
    except OSError as err:
        raise OutputPathError(f"{shown}: cannot inspect the path ({err.strerror})") from None
    if mode is not None and not stat.S_ISREG(mode):
        raise OutputPathError(
            f"{shown}: exists and is {_kind(mode)}, refusing to replace it "
            f"(only regular files are written)"
        )
    for parent in out.parents:  # the nearest existing ancestor must be a directory
        try:
            parent_mode = parent.stat().st_mode
        except (FileNotFoundError, NotADirectoryError):
            continue
        except OSError:
            break  # e.g. no permission: the write itself reports that
        if not stat.S_ISDIR(parent_mode):
            kind = "a regular file" if stat.S_ISREG(parent_mode) else _kind(parent_mode)
            raise OutputPathError(f"{shown}: parent {parent} is not a directory (it is {kind})")
        break
    return out


def _writer_tag() -> str:
    """Where this writer runs: host name and PID namespace, so a pid in a temp file's name is
    only ever tested (os.kill) in the place where it means the same process."""
    host = re.sub(r"[^A-Za-z0-9._-]", "_", socket.gethostname()) or "host"
    try:
        namespace = os.stat("/proc/self/ns/pid").st_ino
    except OSError:
        return host
    return f"{host}_pidns{namespace}"


_TEMP_TAIL = re.compile(r"(?P<pid>\d+)-[0-9a-f]{16}-(?P<rest>.*)", re.DOTALL)


def _temp_path(path: Path, suffix: str) -> Path:
    """A temp name no other writer uses: pid + random token (threads share a pid) + writer tag."""
    token = secrets.token_hex(8)
    return path.with_name(f".{path.name}.tmp-{os.getpid()}-{token}-{_writer_tag()}{suffix}")


def _pid_is_dead(pid: int) -> bool:
    """Only ESRCH proves it: a reused pid or an unreaped zombie counts as alive (file kept)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except OSError:  # EPERM: alive, another user's
        return False
    return False


def remove_dead_writers_temp_files(path, suffix: str = "") -> list[Path]:
    """Remove temp files beside `path` whose writer provably died (a SIGKILLed run): made by
    this code on this host and PID namespace, by a pid that no longer exists. A live writer's
    file, another machine's file on a shared filesystem, and names this code did not make are
    left alone: deleting a live writer's temp file would make its final rename fail."""
    path = Path(path)
    return remove_dead_writers_temp_files_of(path.parent, {path.name}, suffix)


def remove_dead_writers_temp_files_of(directory, names, suffix: str = "") -> list[Path]:
    """remove_dead_writers_temp_files for the files `names` of `directory`, in one listing of
    it: a batch sweeps each directory of its runs once, not once per run file (a directory of
    the store can hold 10^4 run files, and listing it per file made writing quadratic)."""
    names, tag = set(names), _writer_tag()
    removed = []
    try:
        entries = list(os.scandir(directory))
    except OSError:
        return removed
    for entry in entries:
        found = entry.name
        at = found.find(".tmp-") if found.startswith(".") else -1
        while at > 0 and found[1:at] not in names:  # (a name may hold ".tmp-" itself)
            at = found.find(".tmp-", at + 1)
        if at <= 0:
            continue
        match = _TEMP_TAIL.fullmatch(found[at + len(".tmp-") :])
        if not match or match["rest"] != tag + suffix or not _pid_is_dead(int(match["pid"])):
            continue
        try:
            if not entry.is_file(follow_symlinks=False):
                continue
            os.unlink(entry.path)
        except FileNotFoundError:
            continue  # another writer removed it first
        except OSError:
            continue  # not ours to remove (permissions): harmless, it is only a temp file
        removed.append(Path(entry.path))
    return removed


@contextmanager
def atomic_output(path, suffix: str = "", sweep: bool = True):
    """Yield a temporary path beside `path`; rename it to `path` only if the block succeeds.

    A crash, kill or full disk never leaves a half-written file at `path` (rename is atomic on
    one filesystem). The temp name is unique to this writer, so several writers of one path
    (the workflow and a user re-running the CLI) never touch each other's files; the last to
    finish wins. Temp files of writers that died (SIGKILL) are removed first, unless
    sweep=False (the caller swept the directory itself: remove_dead_writers_temp_files_of).
    `path` must be a place for a regular file (check_output_path), checked before and again
    just before the rename.
    """
    path = check_output_path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if sweep:
        remove_dead_writers_temp_files(path, suffix)
    tmp = _temp_path(path, suffix)
    try:
        yield tmp
        check_output_path(path)  # a FIFO or directory may have appeared there meanwhile
        try:
            os.replace(tmp, path)
        except FileNotFoundError:
            if os.path.lexists(tmp):
                raise
            raise TempFileVanished(
                f"{path}: the temporary file {tmp.name} was not there to be renamed into place "
                f"(deleted by another process, or never created by the writer); {path} was not "
                f"written and no half-written file was left there"
            ) from None
    except BaseException as err:
        if isinstance(err, (OSError, RuntimeError)):  # netCDF4 reports ENOSPC as RuntimeError
            err.add_note(write_failure(path, err))  # (free space measured before the cleanup)
        with suppress(
            OSError
        ):  # frees the space at once even if a library still holds the file open
            os.truncate(tmp, 0)
        tmp.unlink(missing_ok=True)
        raise


def write_failure(path, err: BaseException) -> str:
    """One line for a failed write: the file, the error, and the likely cause."""
    detail = " ".join(str(err).split()) or type(err).__name__  # one log line, whatever err says
    if isinstance(err, (OutputPathError, TempFileVanished)):
        return detail  # the cause is known: no disk-full guess
    try:
        free = f"{shutil.disk_usage(Path(path).parent).free} bytes free there"
    except OSError:
        free = "free space unknown"
    return (
        f"{path}: could not write the file ({detail}; {free}): is the disk full or the directory "
        f"not writable? No half-written file was left at this path."
    )


def write_text(text: str, path) -> Path:
    """Atomic text write (see atomic_output)."""
    with atomic_output(path) as tmp:
        tmp.write_text(text)
    return Path(path)


REBUILD = "delete it and rerun Snakemake, which rebuilds it"
_STORE_KEY = re.compile(r"-(?P<key>[0-9a-f]{10})\.nc$")


def planned_key(path) -> str | None:
    """The run key a store path ends in (<run id>-<key>.nc), None for another name."""
    match = _STORE_KEY.search(os.fspath(path))
    return match["key"] if match else None


def _attr_text(value):
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value


def _check_content(path) -> bytes:
    """The file's bytes, after checking their content checksum (before anything parses them)."""
    from dln.data import checksum

    try:
        with open(path, "rb") as fh:
            data = fh.read()
    except OSError as err:
        raise RunFileError(f"{path}: run file cannot be read ({err.strerror})") from None
    problem = checksum.check(data)
    if problem:
        raise RunFileError(f"{path}: {problem}; {REBUILD}")
    return data


def _check_run(src, path, key) -> None:
    """Kind and run key of a parsed run file; RunFileError on the first failure."""
    kind = _attr_text(src.attrs.get("dln_kind"))
    if kind != "run":
        what = f"a dln {kind} file" if kind else "not a dln file (no dln_kind attribute)"
        raise RunFileError(f"{path}: {what}, expected a dln run file; {REBUILD}")
    found = _attr_text(src.attrs.get("run_key"))
    if key is not None and found != key:
        raise RunFileError(
            f"{path}: holds {'run ' + str(found) if found else 'no run key'}, not the planned "
            f"run {key} (a file copied or moved here); {REBUILD}"
        )


def open_run_file(path, key: str | None = None):
    """The one reader of run files: the file parsed from its bytes (a dln.data.cdf.Dataset:
    attrs, ds[name][()]), after checking that its bytes match their content checksum
    (dln.data.checksum), that it is a dln run file, and that it holds run `key` (when given).
    Every stage reads run files through it (aggregate, study tables, figures and the library
    via read_run, dln info/diff, dln verify)."""
    from dln.data import cdf, checksum

    if not os.path.isfile(path):
        what = "is a directory" if os.path.isdir(path) else "does not exist"
        raise RunFileError(f"{path}: run file {what}; rerun Snakemake to create it")
    data = _check_content(path)
    try:  # the content only: a variable's bytes never come from the trailer
        src = cdf.Dataset(memoryview(data)[: -checksum.TRAILER_SIZE])
        dict(src.attrs)  # every global attribute decodes (the readers' own are read later)
    except cdf.FormatError as err:  # a file sealed after it broke
        reason = " ".join(str(err).split()) or type(err).__name__
        raise RunFileError(
            f"{path}: not a readable NetCDF run file ({reason}); {REBUILD}"
        ) from None
    _check_run(src, path, key)
    return src


def _load(path):
    """A NetCDF file fully into memory with xarray; RunFileError naming it if that fails."""
    import xarray as xr

    try:
        with xr.open_dataset(path, engine=ENGINE) as ds:
            return ds.load()
    except Exception as err:  # netCDF4 raises OSError/RuntimeError for corrupt files
        reason = " ".join(str(err).split()) or type(err).__name__
        raise RunFileError(f"{path}: not a readable NetCDF file ({reason}); {REBUILD}") from None


def _open(path, kind: str):
    """Open a dln NetCDF aggregate fully into memory."""
    path = Path(path)
    if not path.is_file():
        raise RunFileError(f"{path}: file does not exist")
    ds = _load(path)
    found = ds.attrs.get("dln_kind")
    if found != kind:
        what = f"a dln {found} file" if found else "not a dln file (no dln_kind attribute)"
        raise RunFileError(f"{path}: {what}, expected a dln {kind} file")
    return ds


def read_run(path, key: str | None = None):
    """One run file as an xarray Dataset (loaded; the file is closed on return), after the
    checks of open_run_file (content checksum; the run key when given)."""
    open_run_file(path, key).close()
    return _load(path)


def open_aggregate(path, group: str | None = None, index: bool = True):
    """An experiment's runs.nc, loaded: the per-run table (root group), or with group= a
    study's trajectories on its own step grid (e.g. "grid" or "trajectories/grid"; the groups are listed in the
    attribute trajectory_groups) together with its runs' metrics from the table. With
    index=True the `run` dimension becomes a pandas MultiIndex (run_id plus every setting), so
    that `ds.sel(solver="gd", k=3, construction="orthogonal")` selects by several settings."""

    ds = _open(path, "aggregate")
    if group is not None:
        ds = _with_trajectories(ds, path, group)
    if not index or ds.sizes.get("run", 0) == 0:
        return ds
    return _index_by_settings(ds)


def _with_trajectories(table, path, group: str):
    """A trajectory group of runs.nc with the table's metrics and flags of its runs."""
    import xarray as xr

    groups = str(table.attrs.get("trajectory_groups", "")).split()
    if group not in groups and f"trajectories/{group}" in groups:  # a study's name will do
        group = f"trajectories/{group}"
    if group not in groups:
        raise RunFileError(
            f"{path}: no trajectory group {group!r} (groups: {', '.join(groups) or 'none'})"
        )
    with xr.open_dataset(path, engine=ENGINE, group=group) as ds:
        ds = ds.load()
    per_run = [n for n in table.variables if table[n].dims == ("run",) and n not in ds.variables]
    ds = ds.merge(table[per_run].sel(run=ds["run"].values), compat="override")
    return ds.assign_attrs({**table.attrs, **ds.attrs})


def _index_by_settings(ds):
    import pandas as pd
    import xarray as xr

    from dln.data.columns import SETTINGS

    settings = [n for n in SETTINGS if n in ds.coords and ds[n].ndim == 1]
    levels = pd.MultiIndex.from_arrays(
        [ds["run"].values, *(ds[n].values for n in settings)], names=["run_id", *settings]
    )
    coords = xr.Coordinates.from_pandas_multiindex(levels, "run")
    return ds.drop_vars(["run", *settings]).assign_coords(coords)


def open_runs(paths, weights: bool = True, planned: bool = False):
    """Run files combined into one Dataset along a new `run` dimension (the run ids), with the
    settings as `run` coordinates, the metrics as `run` variables and the steps joined (NaN
    where a run has no record). With weights=True (W_j, Phi, U, V kept) the runs must share one
    architecture; weights=False drops them, so any runs combine. Raises RunFileError saying
    why when they cannot be combined. planned=True: the paths are store paths, and each file
    must hold the run its name ends in (a file copied over another run's path is refused)."""
    import xarray as xr

    runs = [read_run(p, _expected_key(p) if planned else None) for p in paths]
    if not runs:
        raise RunFileError("open_runs: no run files given")
    if not weights:
        runs = [
            ds.drop_vars(
                [v for v in ds.variables if v[0] == "W" or v in ("Phi", "U", "V")]
                + [d for d in ds.dims if d[0] == "n" and d[1:].isdigit()],
                errors="ignore",
            )
            for ds in runs
        ]
    widths = {str(ds["widths"].values) for ds in runs}
    if weights and len(widths) > 1:
        raise RunFileError(
            f"open_runs: the run files have different architectures "
            f"(widths {sorted(widths)}): their weight dimensions n0..nN differ; "
            f"open each architecture separately"
        )
    problem = {(ds["spectrum"].item(), ds["basis"].item(), int(ds["basis_seed"])) for ds in runs}
    ids = [str(Path(p).with_suffix("").as_posix()).split("runs/", 1)[-1] for p in paths]
    pieces = []
    for rid, ds in zip(ids, runs, strict=True):
        ds = ds.drop_vars(["Phi", "U", "V"], errors="ignore")
        scalars = [c for c in ds.coords if ds[c].ndim == 0]
        # every setting becomes a `run` coordinate, also where all runs agree on it
        ds = ds.assign_coords({c: ("run", [ds[c].item()], ds[c].attrs) for c in scalars})
        pieces.append(ds.expand_dims(run=[rid]) if "run" not in ds.dims else ds)
    combined = xr.concat(
        pieces,
        dim="run",
        data_vars="all",
        join="outer",
        coords="different",
        compat="equals",
        combine_attrs="drop_conflicts",
    )
    if weights and len(problem) == 1:  # one target matrix: keep it once
        for name in ("Phi", "U", "V"):
            combined[name] = runs[0][name]
    return combined


def _expected_key(path) -> str:
    key = planned_key(path)
    if key is None:
        raise RunFileError(f"{path}: not a run store path (<run id>-<10-hex-digit key>.nc)")
    return key


def job_log(sm) -> None:
    """Send a Snakemake script job's errors and warnings to its log (sm.log[0]). Under the
    tests' quality gate (DLN_FIGURE_GATE=1) a warning is an error."""
    import atexit
    import sys
    import warnings

    if sm.log:
        log = open(sm.log[0], "w", buffering=1)  # noqa: SIM115 (open for the whole job)
        sys.stderr = log

        def close() -> None:  # before shutdown: a file still open at exit is a ResourceWarning
            sys.stderr = sys.__stderr__
            log.close()

        atexit.register(close)
    # the switch of dln.figures.figcheck.gate_enabled (figcheck imports nothing of dln, by design)
    if os.environ.get("DLN_FIGURE_GATE", "") == "1":
        warnings.simplefilter("error")
