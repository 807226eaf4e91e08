"""Aggregation with reader processes (aggregate(workers=...), issue 22): the same runs.nc and
runs.csv as one process, memory that does not grow with the runs, and a damaged run file
still stops it with one line naming the first such file in plan order."""

from __future__ import annotations

import fcntl
import os
import struct
import termios
import time

import numpy as np
import pytest
import xarray as xr

from dln.analysis.result import analyse_run
from dln.data.aggregate import _Readers, aggregate
from dln.data.io import RunFileError
from dln.data.runfile import write_run_file
from dln.solve.run import RunConfig, simulate


def _run_line(root, rid: str, flags: str, **settings) -> str:
    cfg = RunConfig(weights_every=100, **settings)
    path = root / "results/runs" / f"{rid}-{cfg.key()}.nc"
    write_run_file(analyse_run(simulate(cfg)), path)
    return f"{rid}-{cfg.key()},results/runs/{rid}-{cfg.key()}.nc,{cfg.steps},{cfg.record_every},{cfg.d},{flags}"


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """Seven distinct runs in two studies: two step grids in one study, a run in both, a
    Gaussian start (no k: missing integers), a shallower net (fewer modes)."""
    root = tmp_path_factory.mktemp("store")
    short = dict(steps=300, record_every=50)
    lines = ["run,path,steps,record_every,d,in_grid,in_laws"]
    lines += [_run_line(root, f"a{k}", "true,false", k=k, **short) for k in range(3)]
    lines.append(_run_line(root, "b", "true,true", k=1, seed=1, **short))
    lines.append(_run_line(root, "c", "false,true", k=1, steps=200, record_every=10))
    gauss = dict(init="gaussian", init_scale=0.2, **short)
    lines.append(_run_line(root, "g", "true,false", **gauss))
    lines.append(_run_line(root, "w", "true,false", k=1, widths=(8, 1, 4, 5), **short))
    (root / "plan.csv").write_text("\n".join(lines) + "\n")
    return root


def _aggregate(root, name: str, workers: int):
    n = aggregate("plan.csv", f"{name}.nc", f"{name}.csv", "x", "h", workers=workers)
    return n, root / f"{name}.nc", root / f"{name}.csv"


def _groups(path) -> list[str]:
    with xr.open_dataset(path) as ds:
        return ["", *ds.attrs["trajectory_groups"].split()]


@pytest.mark.parametrize("workers", [2, 3])
def test_readers_write_what_one_process_writes(store, workers, monkeypatch):
    """Same table (bytes of runs.csv) and, group by group, identical datasets (values,
    dtypes, attributes; only the root's history time stamp may differ)."""
    monkeypatch.chdir(store)
    n1, nc1, csv1 = _aggregate(store, "one", 1)
    n2, nc2, csv2 = _aggregate(store, f"many{workers}", workers)
    assert n1 == n2 == 7
    assert csv1.read_bytes() == csv2.read_bytes()
    assert _groups(nc1) == _groups(nc2) and len(_groups(nc1)) == 4
    for group in _groups(nc1):
        with (
            xr.open_dataset(nc1, group=group or None) as a,
            xr.open_dataset(nc2, group=group or None) as b,
        ):
            a.attrs.pop("history", None), b.attrs.pop("history", None)
            assert a.identical(b), group
            for name in a.variables:
                assert a[name].encoding.get("dtype") == b[name].encoding.get("dtype"), name
    with xr.open_dataset(nc2) as table:
        assert np.isnan(table["k"].values[5]) and table.sizes["mode"] == 5


def _break(path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def test_a_damaged_run_file_stops_the_readers_naming_the_first_in_plan_order(
    store, tmp_path, monkeypatch
):
    """Runs 2 and 3 are damaged (read by different readers): the error names run 2, in one
    line, as one process would; no runs.nc or runs.csv is left."""
    import shutil

    shutil.copytree(store / "results", tmp_path / "results")
    shutil.copy(store / "plan.csv", tmp_path / "plan.csv")
    monkeypatch.chdir(tmp_path)
    rows = (tmp_path / "plan.csv").read_text().splitlines()[1:]
    for row in rows[2:4]:
        _break(tmp_path / row.split(",")[1])
    messages = []
    for workers in (1, 2):
        with pytest.raises(RunFileError) as info:
            aggregate("plan.csv", "runs.nc", "runs.csv", "x", "h", workers=workers)
        messages.append(str(info.value))
        assert not os.path.exists("runs.nc") and not os.path.exists("runs.csv")
    first = rows[2].split(",")[1]
    assert messages[0] == messages[1] and messages[1].startswith(f"{first}: ")
    assert "\n" not in messages[1] and "has no content checksum" in messages[1]


def _pipe_bytes(stream) -> int:
    return struct.unpack("i", fcntl.ioctl(stream, termios.FIONREAD, b"\0\0\0\0"))[0]


def test_a_reader_ahead_of_the_writer_waits(store, tmp_path, monkeypatch):
    """A reader holds one run and its pipe a bounded number: while nothing is taken, a
    reader of 400 planned runs (~4 MB of payloads) fills its pipe and then waits, alive."""
    monkeypatch.chdir(store)
    first = (store / "plan.csv").read_text().splitlines()[:2]
    (tmp_path / "plan.csv").write_text("\n".join(first + first[1:] * 399) + "\n")
    with _Readers(tmp_path / "plan.csv", 1) as readers:
        reader, pipe = readers.procs[0], readers.procs[0].stdout
        # the condition itself, not a quiet second: the kernel says the reader sleeps in a
        # write to its pipe (wchan), which a pipe holding fewer than 400 payloads makes full
        deadline = time.monotonic() + 120
        while not _blocked_writing(reader.pid):
            assert reader.poll() is None, "the reader ended: it did not wait for the writer"
            assert time.monotonic() < deadline, "the reader never blocked on its pipe"
            time.sleep(0.05)
        capacity = fcntl.fcntl(pipe, fcntl.F_GETPIPE_SZ)
        assert 0 < _pipe_bytes(pipe) <= capacity <= 2**20
        payload = readers.take(0)
        assert payload["row"]["k"] == 0 and payload["records"]["loss"].shape == (7,)
        reader.kill()


def _blocked_writing(pid: int) -> bool:
    """Whether the process sleeps in a pipe write (Linux: /proc/<pid>/wchan names the kernel
    function, pipe_write or anon_pipe_write)."""
    with open(f"/proc/{pid}/wchan") as fh:
        return fh.read().strip().endswith("pipe_write")


def _copies(work, store, template: str, n: int) -> None:
    """work/plan.csv: n runs that are hard links of one run file of `store` (its plan row
    `template`), under distinct ids that end in its run key."""
    rid, path, rest = template.split(",", 2)
    lines = ["run,path,steps,record_every,d,in_grid,in_laws"]
    for i in range(n):
        copy = f"results/runs/copies/r{i}-{rid.rsplit('-', 1)[-1]}.nc"
        (work / copy).parent.mkdir(parents=True, exist_ok=True)
        os.link(store / path, work / copy)
        lines.append(f"{copy[len('results/runs/') : -len('.nc')]},{copy},{rest}")
    (work / "plan.csv").write_text("\n".join(lines) + "\n")


@pytest.mark.slow
def test_the_writer_memory_does_not_grow_with_the_runs_its_readers_send(
    store, tmp_path, monkeypatch
):
    """Python memory of the writer (the readers are other processes) for 30 and 300 runs
    read by 2 readers: it takes one payload at a time, so the peak stays flat."""
    import tracemalloc

    template = (store / "plan.csv").read_text().splitlines()[4]  # in both studies
    peaks = {}
    for n in (30, 300):
        work = tmp_path / f"n{n}"
        _copies(work, store, template, n)
        monkeypatch.chdir(work)
        tracemalloc.start()
        try:
            assert aggregate("plan.csv", "runs.nc", "runs.csv", "x", "h", workers=2) == n
            peaks[n] = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
    assert (peaks[300] - peaks[30]) / 270 < 2500, peaks


def test_trajectories_and_per_run_arrays_are_chunked_by_blocks_of_runs(store, monkeypatch):
    """A chunk of a trajectory variable, and of a per-run array of the table, holds a block
    of runs (was one run per chunk: for 1e5 runs 3e6 chunks of 41 values, too small to
    compress, and 6e5 chunks in the table, which took 900 MB to load)."""
    import netCDF4

    monkeypatch.chdir(store)
    _, path, _ = _aggregate(store, "chunks", 1)
    with netCDF4.Dataset(path) as nc:
        grid = nc["trajectories/grid"]
        for name in ("t", "loss", "grad_norm", "alpha", "q"):
            rows, *tail = grid[name].chunking()
            assert rows == 256 and tuple(tail) == grid[name].shape[1:], name
        for name in ("steps_at_level", "visit_level", "visit_exit_step", "s", "critical_level"):
            rows, *tail = nc[name].chunking()
            assert rows == 256 and tuple(tail) == nc[name].shape[1:], name


def test_a_reader_that_fails_is_reported_with_its_error(store, tmp_path, monkeypatch, capfd):
    """A reader that dies of an error that is no RunFileError (a plan without `path`) stops
    the aggregation, saying which reader ended and how; its traceback is on stderr (in a
    Snakemake job, the job's log); nothing is left at the outputs."""
    lines = (store / "plan.csv").read_text().splitlines()
    cut = [",".join(c for i, c in enumerate(line.split(",")) if i != 1) for line in lines]
    (tmp_path / "plan.csv").write_text("\n".join(cut) + "\n")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(RuntimeError, match=r"reader process 0 ended early \(exit code 1\)"):
        aggregate("plan.csv", "runs.nc", "runs.csv", "x", "h", workers=2)
    assert "KeyError: 'path'" in capfd.readouterr().err
    assert not os.path.exists("runs.nc") and not os.path.exists("runs.csv")
