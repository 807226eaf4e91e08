"""One run from settings to file: solve -> quantities and analysis -> write. Each step is a
function of its own (dln.solve.run.simulate, dln.analysis.result.analyse_run,
dln.data.runfile.write_run_file), so each is testable alone and a batch job can reuse them."""

from __future__ import annotations

import errno
import os
from contextlib import contextmanager
from pathlib import Path

from dln.analysis.result import AnalysedRun, analyse_run
from dln.data.io import read_run
from dln.data.runfile import write_run_file
from dln.solve.run import RunConfig, simulate


def run_to_file(cfg: RunConfig, path) -> AnalysedRun:
    """Simulate `cfg`, analyse the trajectory and write the run file to `path` (atomically)."""
    run = analyse_run(simulate(cfg))
    write_run_file(run, path)
    return run


def simulate_dataset(cfg, path=None):
    """Run one configuration, analyse it, write its run file and return the file as a Dataset
    (the interactive path: the same file the workflow's job writes). Without `path` the file
    goes to a temporary directory that is removed afterwards."""
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        target = Path(tmp) / "run.nc" if path is None else path
        run_to_file(cfg, target)
        return read_run(target)


# --- batches: one process computes many planned runs (the workflow's simulation job) ---------


def read_members(path) -> list[tuple[str, str, RunConfig]]:
    """(run id, run file, settings) of a batch's members file (dln.plan.runplan.members_text),
    each run's key checked against its settings."""
    import json

    members = []
    with open(path) as fh:
        for line in fh:
            rid, run_path, settings = line.rstrip("\n").split("\t")
            cfg = RunConfig(**json.loads(settings))
            if not rid.endswith(f"-{cfg.key()}"):
                raise ValueError(f"{path}: run {rid}: its settings hash to {cfg.key()}")
            members.append((rid, run_path, cfg))
    return members


def stored_digest(path, code: str) -> str | None:
    """The sha256 of the run file at `path` if the store may reuse it, else None: it must be
    complete and unedited (its bytes match their content checksum, dln.data.checksum) and
    written by this code (its code_fingerprint attribute). The checksum matters: a batch syncs
    its files to disk only before its manifest (run_batch), so after a power loss a run file
    of a batch that never finished may be renamed into place but hold lost bytes. One read and
    one pass of sha256 over the bytes; of the header, only the global attributes are parsed."""
    from dln.data.checksum import verified_digest

    try:
        with open(path, "rb") as fh:
            data = fh.read()
    except OSError:  # missing or unreadable: compute it
        return None
    digest = verified_digest(data)
    if digest is None or _code_fingerprint(data) != code:
        return None
    return digest


def _code_fingerprint(data: bytes) -> str | None:
    """The code_fingerprint attribute of a run file's bytes (already checked, so the parser
    reads exactly the bytes that were verified)."""
    from dln.data import cdf

    try:
        found = cdf.global_attributes(data).get("code_fingerprint")
    except cdf.FormatError:
        return None
    return found if isinstance(found, str) else None


def stored_run_ok(path, code: str) -> bool:
    """A complete run file of this code is already in the store (see stored_digest)."""
    return stored_digest(path, code) is not None


def run_batch(members, code: str, log=None) -> tuple[list[tuple[str, str, str]], int]:
    """Compute the members the store lacks, the GD runs of one architecture in lockstep
    (dln.solve.batch), and write each run file atomically as soon as its chunk is done: a
    killed batch leaves complete run files or none. Returns the manifest rows (run id, run
    file, sha256 of the file) and the number of runs computed; every member's file is on disk
    (fsynced) when it returns."""
    from dln.data.io import remove_dead_writers_temp_files_of
    from dln.solve.batch import chunks, simulate_many

    digests = {rid: stored_digest(path, code) for rid, path, _ in members}
    todo = [(rid, path, cfg) for rid, path, cfg in members if digests[rid] is None]
    by_directory = {}
    for _, path, _ in todo:
        directory, name = os.path.split(path)
        by_directory.setdefault(directory or ".", set()).add(name)
    for directory, names in by_directory.items():  # once per directory, not per run file
        remove_dead_writers_temp_files_of(directory, names)
    for chunk in chunks([cfg for _, _, cfg in todo]):
        trajectories = simulate_many([todo[i][2] for i in chunk])
        for i, traj in zip(chunk, trajectories, strict=True):
            run = analyse_run(traj)
            with _sigterm_exits():
                digests[todo[i][0]] = write_run_file(run, todo[i][1], sync=False, sweep=False)
            if log is not None:
                print(f"computed {todo[i][0]}", file=log, flush=True)
    sync_to_disk([path for _, path, _ in members])
    return [(rid, path, digests[rid]) for rid, path, _ in members], len(todo)


def sync_to_disk(paths) -> None:
    """fsync the files, then their directories (the renames that named them), before the
    caller records them in a manifest, the output Snakemake trusts. One sync per file at the
    end of a batch, not one per file as it is written: a kill never leaves a half-written file
    (atomic renames), and a power loss can only leave files whose checksum fails, which
    nothing reads and the store does not reuse (stored_digest). A stored file that another,
    killed batch wrote is synced here too (cheap when its bytes are already on disk)."""
    for path in paths:
        with open(path, "rb") as fh:
            os.fsync(fh.fileno())
    for directory in _directories(paths):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        except OSError as err:
            if err.errno != errno.EINVAL:  # EINVAL: this filesystem cannot sync a directory
                raise
        finally:
            os.close(fd)


def _directories(paths) -> list[str]:
    """The files' directories and, inside the working directory, their ancestors (which
    atomic_output may have created)."""
    cwd, out = os.getcwd(), set()
    for path in paths:
        directory = os.path.dirname(os.path.abspath(path))
        out.add(directory)
        while directory.startswith(cwd + os.sep):
            directory = os.path.dirname(directory)
            out.add(directory)
    return sorted(out)


@contextmanager
def _sigterm_exits():
    """While a file is written, SIGTERM raises SystemExit, so the atomic writer removes its
    temporary file; otherwise it ends the process at once (a Python handler would wait for
    the kernel's return, minutes for a large chunk, past Slurm's grace period)."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def _exit(signum, frame):
        raise SystemExit(128 + signum)

    previous = signal.signal(signal.SIGTERM, _exit)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
