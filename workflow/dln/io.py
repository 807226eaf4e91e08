"""Trajectory files: NetCDF-4 through xarray's netcdf4 engine, written atomically."""

from __future__ import annotations

import os
import shutil
from contextlib import contextmanager
from pathlib import Path

import xarray as xr

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


def write_run(ds: xr.Dataset, path) -> Path:
    """Write a Dataset as compressed NetCDF-4, atomically (see atomic_output)."""
    encoding = {name: {"zlib": True, "complevel": 4, "shuffle": True} for name in ds.data_vars}
    with atomic_output(path) as tmp:
        ds.to_netcdf(tmp, engine=ENGINE, format="NETCDF4", encoding=encoding)
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
    return Path(path)


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


def read_run(path) -> xr.Dataset:
    """Load a run file fully into memory (the file is closed on return)."""
    path = Path(path)
    try:
        with xr.open_dataset(path, engine=ENGINE) as ds:
            return ds.load()
    except FileNotFoundError:
        raise RunFileError(f"{path}: run file does not exist") from None
    except Exception as err:  # netCDF4 raises OSError/RuntimeError for corrupt files
        raise RunFileError(
            f"{path}: not a readable NetCDF run file ({err}); delete it and rerun Snakemake to "
            f"recreate it"
        ) from err


def write_text(text: str, path) -> Path:
    """Atomic text write (see atomic_output)."""
    with atomic_output(path) as tmp:
        tmp.write_text(text)
    return Path(path)
