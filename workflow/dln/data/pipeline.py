"""One run from settings to file: solve -> quantities and analysis -> write. Each step is a
function of its own (dln.solve.run.simulate, dln.analysis.result.analyse_run,
dln.data.runfile.write_run_file), so each is testable alone and a batch job can reuse them."""

from __future__ import annotations

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


def stored_run_ok(path, code: str) -> bool:
    """A complete run file of this code is already in the store (writes are atomic, so a file
    there is complete; one written by other numerics' code is redone)."""
    import h5py

    try:
        with h5py.File(path, "r") as src:
            found = src.attrs.get("code_fingerprint")
    except OSError:  # missing or unreadable: compute it
        return False
    return (found.decode() if isinstance(found, bytes) else found) == code


def file_sha256(path) -> str:
    import hashlib

    with open(path, "rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def run_batch(members, code: str, log=None) -> tuple[list[tuple[str, str, str]], int]:
    """Compute the members the store lacks, the GD runs of one architecture in lockstep
    (dln.solve.batch), and write each run file atomically as soon as its chunk is done: a
    killed batch leaves complete run files or none. Returns the manifest rows (run id, run
    file, sha256 of the file) and the number of runs computed."""
    from dln.solve.batch import chunks, simulate_many

    todo = [(rid, path, cfg) for rid, path, cfg in members if not stored_run_ok(path, code)]
    for chunk in chunks([cfg for _, _, cfg in todo]):
        trajectories = simulate_many([todo[i][2] for i in chunk])
        for i, traj in zip(chunk, trajectories, strict=True):
            run = analyse_run(traj)
            with _sigterm_exits():
                write_run_file(run, todo[i][1])
            if log is not None:
                print(f"computed {todo[i][0]}", file=log, flush=True)
    return [(rid, path, file_sha256(path)) for rid, path, _ in members], len(todo)


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
