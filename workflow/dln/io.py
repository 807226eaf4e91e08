"""Trajectory files: NetCDF-4 through xarray's netcdf4 engine, written atomically."""

from __future__ import annotations

import os
import re
import secrets
import shutil
import socket
import stat
from contextlib import contextmanager
from pathlib import Path

import xarray as xr

ENGINE = "netcdf4"


class RunFileError(OSError):
    """A run file is missing, truncated or not a valid trajectory file."""


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
    prefix, tag = f".{path.name}.tmp-", _writer_tag()
    removed = []
    try:
        entries = list(os.scandir(path.parent))
    except OSError:
        return removed
    for entry in entries:
        if not entry.name.startswith(prefix):
            continue
        match = _TEMP_TAIL.fullmatch(entry.name[len(prefix):])
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
def atomic_output(path, suffix: str = ""):
    """Yield a temporary path beside `path`; rename it to `path` only if the block succeeds.

    A crash, kill or full disk never leaves a half-written file at `path` (rename is atomic on
    one filesystem). The temp name is unique to this writer, so several writers of one path
    (the workflow and a user re-running the CLI) never touch each other's files; the last to
    finish wins. Temp files of writers that died (SIGKILL) are removed first. `path` must be a
    place for a regular file (check_output_path), checked before and again just before the
    rename.
    """
    path = check_output_path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
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
