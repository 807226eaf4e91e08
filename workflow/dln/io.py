"""Files: atomic writes for every output, and reading run files and aggregates with xarray.

xarray is imported inside the readers only: the simulation job writes through dln.runfile and
must not pay xarray's import.
"""

from __future__ import annotations

import os
import shutil
from contextlib import contextmanager
from pathlib import Path

ENGINE = "netcdf4"


class RunFileError(OSError):
    """A run file is missing, truncated or not a valid trajectory file."""


@contextmanager
def atomic_output(path, suffix: str = ""):
    """Yield a temporary path beside `path`; rename it to `path` only if the block succeeds.

    A crash, kill or full disk never leaves a half-written file at `path` (rename is atomic on
    one filesystem). Temporary files left by an earlier SIGKILLed attempt are removed first.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    for stale in path.parent.glob(f".{path.name}.tmp-*"):
        stale.unlink(missing_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}{suffix}")
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException as err:
        if isinstance(err, (OSError, RuntimeError)):  # netCDF4 reports ENOSPC as RuntimeError
            err.add_note(write_failure(path, err))  # (free space measured before the cleanup)
        try:  # frees the space at once even if a library still holds the file open
            os.truncate(tmp, 0)
        except OSError:
            pass
        tmp.unlink(missing_ok=True)
        raise


def write_failure(path, err: BaseException) -> str:
    """One line for a failed write: the file, the error, and the likely cause."""
    try:
        free = f"{shutil.disk_usage(Path(path).parent).free} bytes free there"
    except OSError:
        free = "free space unknown"
    return (
        f"{path}: could not write the file ({err}; {free}): is the disk full or the directory "
        f"not writable? No half-written file was left at this path."
    )


def write_text(text: str, path) -> Path:
    """Atomic text write (see atomic_output)."""
    with atomic_output(path) as tmp:
        tmp.write_text(text)
    return Path(path)


def _open(path, kind: str):
    """Open a dln NetCDF file of the given kind ('run' or 'aggregate') fully into memory."""
    import xarray as xr

    path = Path(path)
    if not path.is_file():
        raise RunFileError(f"{path}: file does not exist")
    try:
        with xr.open_dataset(path, engine=ENGINE) as ds:
            ds = ds.load()
    except Exception as err:  # netCDF4 raises OSError/RuntimeError for corrupt files
        raise RunFileError(f"{path}: not a readable NetCDF file ({err}); delete it and rerun "
                           f"Snakemake to recreate it") from err
    found = ds.attrs.get("dln_kind")
    if found != kind:
        what = f"a dln {found} file" if found else "not a dln file (no dln_kind attribute)"
        raise RunFileError(f"{path}: {what}, expected a dln {kind} file")
    return ds


def read_run(path):
    """One run file as an xarray Dataset (loaded; the file is closed on return)."""
    return _open(path, "run")


def open_aggregate(path, index: bool = True):
    """An experiment's runs.nc, loaded. With index=True the `run` dimension becomes a pandas
    MultiIndex (run_id plus every setting that varies), so that
    `ds.sel(solver="gd", k=3, construction="orthogonal")` selects by several settings at once."""
    import pandas as pd
    import xarray as xr

    from .columns import SETTINGS

    ds = _open(path, "aggregate")
    if not index or ds.sizes.get("run", 0) == 0:
        return ds
    varying = [n for n in SETTINGS if n in ds.coords and ds[n].ndim == 1
               and pd.Series(ds[n].values).nunique(dropna=False) > 1]
    levels = pd.MultiIndex.from_arrays([ds["run"].values, *(ds[n].values for n in varying)],
                                       names=["run_id", *varying])
    coords = xr.Coordinates.from_pandas_multiindex(levels, "run")
    return ds.drop_vars(["run", *varying]).assign_coords(coords)


def open_runs(paths, weights: bool = True):
    """Run files combined into one Dataset along a new `run` dimension (the run ids), with the
    settings as `run` coordinates, the metrics as `run` variables and the steps joined (NaN
    where a run has no record). With weights=True (W_j, Phi, U, V kept) the runs must share one
    architecture; weights=False drops them, so any runs combine. Raises RunFileError saying
    why when they cannot be combined."""
    import xarray as xr

    runs = [read_run(p) for p in paths]
    if not runs:
        raise RunFileError("open_runs: no run files given")
    if not weights:
        runs = [ds.drop_vars([v for v in ds.variables if v[0] == "W" or v in ("Phi", "U", "V")]
                             + [d for d in ds.dims if d[0] == "n" and d[1:].isdigit()],
                             errors="ignore") for ds in runs]
    widths = {str(ds["widths"].values) for ds in runs}
    if weights and len(widths) > 1:
        raise RunFileError(f"open_runs: the run files have different architectures "
                           f"(widths {sorted(widths)}): their weight dimensions n0..nN differ; "
                           f"open each architecture separately")
    problem = {(ds["spectrum"].item(), ds["basis"].item(), int(ds["basis_seed"])) for ds in runs}
    ids = [str(Path(p).with_suffix("").as_posix()).split("runs/", 1)[-1] for p in paths]
    pieces = []
    for rid, ds in zip(ids, runs):
        ds = ds.drop_vars(["Phi", "U", "V"], errors="ignore")
        scalars = [c for c in ds.coords if ds[c].ndim == 0]
        # every setting becomes a `run` coordinate, also where all runs agree on it
        ds = ds.assign_coords({c: ("run", [ds[c].item()], ds[c].attrs) for c in scalars})
        pieces.append(ds.expand_dims(run=[rid]) if "run" not in ds.dims else ds)
    combined = xr.concat(pieces, dim="run", data_vars="all", join="outer", coords="different",
                         compat="equals", combine_attrs="drop_conflicts")
    if weights and len(problem) == 1:  # one target matrix: keep it once
        for name in ("Phi", "U", "V"):
            combined[name] = runs[0][name]
    return combined


def problem_from_dataset(ds):
    """The Problem (widths, Phi's SVD) of a run file read with xarray."""
    import numpy as np

    from .problem import Problem

    widths = tuple(int(w) for w in str(ds["widths"].values).split("-"))
    return Problem(widths=widths, s=np.asarray(ds["s"].values), U=np.asarray(ds["U"].values),
                   V=np.asarray(ds["V"].values))


def simulate_dataset(cfg, path=None):
    """Run one configuration, analyse it, write its run file and return the file as a Dataset
    (the interactive path: the same file the workflow's job writes). Without `path` the file
    goes to a temporary directory that is removed afterwards."""
    import tempfile

    from .run import simulate
    from .runfile import write_run_file

    traj = simulate(cfg)
    if path is not None:
        write_run_file(traj, path)
        return read_run(path)
    with tempfile.TemporaryDirectory() as tmp:
        target = Path(tmp) / "run.nc"
        write_run_file(traj, target)
        return read_run(target)
