"""Every run file carries a checksum of its content, and one reader (dln.data.io.open_run_file)
used by every stage checks it and the run key (issue 21 items 4-6): an edited, corrupted or
misplaced run file is refused with one line naming the file, its real cause, and how to
rebuild it; never aggregated, tabled, drawn or shown."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import netCDF4
import pytest

from dln.analysis.result import analyse_run
from dln.data import checksum
from dln.data.aggregate import aggregate, study_table
from dln.data.io import RunFileError, open_run_file, open_runs, read_run
from dln.data.runfile import write_run_file
from dln.solve.run import RunConfig, simulate

REBUILD = "delete it and rerun Snakemake"


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """Two real run files in a store layout: k = 2 at lr 5e-4 and at lr 1e-3."""
    root = tmp_path_factory.mktemp("store")
    paths = {}
    for lr in (5e-4, 1e-3):
        cfg = RunConfig(k=2, lr=lr, steps=600, record_every=20, weights_every=300)
        path = root / "results/runs" / f"{cfg.run_id()}.nc"
        write_run_file(analyse_run(simulate(cfg)), path)
        paths[lr] = (cfg, path)
    return root, paths


@pytest.fixture
def work(store, tmp_path, monkeypatch):
    """A copy of the store, the working directory, with a plan of the lr = 5e-4 run."""
    root, paths = store
    shutil.copytree(root / "results", tmp_path / "results")
    monkeypatch.chdir(tmp_path)
    cfg, path = paths[5e-4]
    rel = path.relative_to(root).as_posix()
    (tmp_path / "plan.csv").write_text(
        f"run,path,steps,record_every,d,in_grid\n{cfg.run_id()},{rel},600,20,5,true\n"
    )
    return tmp_path, rel, {lr: p.relative_to(root).as_posix() for lr, (_, p) in paths.items()}


def _readers(rel: str):
    """Every stage's way into a run file, each as a thunk."""
    return {
        "aggregate": lambda: aggregate("plan.csv", "runs.nc", "runs.csv", "x", "h"),
        "study_table": lambda: study_table([rel], "t.csv", "grid", 6),
        "figures": lambda: open_runs([rel], weights=False, planned=True),
        "read_run": lambda: read_run(rel),
    }


def _assert_refused_everywhere(rel: str, *fragments: str):
    for stage, read in _readers(rel).items():
        with pytest.raises(RunFileError) as info:
            read()
        msg = str(info.value)
        assert msg.startswith(f"{rel}: "), (stage, msg)
        assert "\n" not in msg and "disk full" not in msg, (stage, msg)
        for fragment in fragments:
            assert fragment in msg, (stage, msg)
    info = subprocess.run(
        [sys.executable, "-m", "dln", "info", rel], capture_output=True, text=True
    )
    assert info.returncode == 2 and "Traceback" not in info.stderr, info.stderr
    assert len(info.stderr.strip().splitlines()) == 1 and rel in info.stderr, info.stderr


def test_a_fresh_run_file_passes_every_reader(work):
    _, rel, _ = work
    for read in _readers(rel).values():
        read()
    with open_run_file(rel, key=rel.rsplit("-", 1)[-1].removesuffix(".nc")) as f:
        assert f.attrs["run_key"]
    assert (
        (work[0] / rel)
        .read_bytes()
        .endswith(checksum.trailer((work[0] / rel).read_bytes()[: -checksum.TRAILER_SIZE]))
    )


def test_loss_edited_with_netcdf4_is_refused(work):
    """The issue's case: loss[-5:] = -7 was aggregated next to the untouched final_loss."""
    _, rel, _ = work
    with netCDF4.Dataset(rel, "a") as nc:
        nc["loss"][-5:] = -7.0
    # (netCDF-C writes the values in place: the checksum trailer no longer matches them)
    _assert_refused_everywhere(rel, "checksum", REBUILD)
    assert not (work[0] / "runs.nc").exists() and not (work[0] / "runs.csv").exists()


def _variable_offset(rel: str, name: str) -> int:
    from dln.data import cdf

    return cdf.Dataset((Path(rel)).read_bytes())[name].offset


def test_one_byte_of_s1_changed_at_its_offset_is_refused(work):
    """The issue's case: s = [6.5, 4, 3, 2, 1] aggregated with spectrum 'linear'."""
    _, rel, _ = work
    offset = _variable_offset(rel, "s")
    with open(rel, "r+b") as fh:
        fh.seek(offset + 1)  # a byte of the exponent of s_1 (big-endian float64)
        byte = fh.read(1)
        fh.seek(offset + 1)
        fh.write(bytes([byte[0] ^ 0x04]))
    with netCDF4.Dataset(rel) as f:
        assert f["s"][0] != 5.0  # the damage is real
    _assert_refused_everywhere(rel, "does not match its checksum", REBUILD)


def test_a_corrupt_header_is_refused_before_it_is_parsed(work):
    """A byte of a variable's offset in the header: a parser would read the wrong bytes."""
    _, rel, _ = work
    data = bytearray(Path(rel).read_bytes())
    at = data.find(_variable_offset(rel, "loss").to_bytes(8, "big"))
    assert 0 < at < _variable_offset(rel, "step")  # inside the header
    data[at + 7] ^= 0x08
    Path(rel).write_bytes(bytes(data))
    _assert_refused_everywhere(rel, "does not match its checksum", REBUILD)


def test_a_file_cut_before_sealing_names_the_file_and_the_parsers_reason(work):
    """A file cut short before its checksum was computed (so the checksum passes): the
    parser's reason reaches the user with the file's name, and no disk-full guess."""
    _, rel, _ = work
    data = Path(rel).read_bytes()[: -checksum.TRAILER_SIZE]
    Path(rel).write_bytes(checksum.sealed(data[: _variable_offset(rel, "s")])[0])
    # (the study table reads the row and steps_at_level only, which are still whole)
    for stage in ("aggregate", "figures", "read_run"):
        with pytest.raises(RunFileError) as info:
            _readers(rel)[stage]()
        msg = str(info.value)
        assert msg.startswith(f"{rel}: ") and "disk full" not in msg, (stage, msg)
        assert REBUILD in msg, (stage, msg)
        # dln.data.cdf's reason, or netCDF-C's for the xarray readers
        assert "past the end of the file" in msg or "NetCDF: " in msg, (stage, msg)


def test_a_missing_table_row_is_refused_naming_the_file(work):
    """Was: a KeyError traceback for row_json."""
    _, rel, _ = work
    with netCDF4.Dataset(rel, "a") as nc:
        nc.delncattr("row_json")
    _assert_refused_everywhere(rel, REBUILD)


def test_a_run_file_without_checksum_is_refused(work):
    _, rel, _ = work
    data = (work[0] / rel).read_bytes()
    (work[0] / rel).write_bytes(data[: -checksum.TRAILER_SIZE])  # a valid netCDF file again
    _assert_refused_everywhere(rel, "no content checksum", REBUILD)


def test_a_file_copied_over_another_planned_path_is_refused_by_the_figures(work):
    """Was: fig1 drew an lr = 1e-3 run as the planned lr = 5e-4 one; only the aggregate
    checked the key. Now every reader does, and says so without a disk-full hint."""
    _, rel, rels = work
    shutil.copyfile(rels[1e-3], rel)
    for stage in ("aggregate", "study_table", "figures"):
        with pytest.raises(RunFileError) as info:
            _readers(rel)[stage]()
        msg = str(info.value)
        assert msg.startswith(f"{rel}: holds run "), (stage, msg)
        assert "not the planned run" in msg and "disk full" not in msg, (stage, msg)


def test_dln_info_checks_the_key_a_store_path_ends_in(work):
    _, rel, rels = work
    shutil.copyfile(rels[1e-3], rel)
    info = subprocess.run(
        [sys.executable, "-m", "dln", "info", rel], capture_output=True, text=True
    )
    assert info.returncode == 2 and len(info.stderr.strip().splitlines()) == 1, info.stderr
    assert f"{rel}: holds run " in info.stderr and "not the planned run" in info.stderr
    fine = subprocess.run(
        [sys.executable, "-m", "dln", "info", rels[1e-3]], capture_output=True, text=True
    )
    assert fine.returncode == 0, fine.stderr


def test_run_file_error_is_no_os_error():
    """A read error is no failed write: write_failure's disk-full guess must never reach it."""
    assert not issubclass(RunFileError, OSError)


def test_a_missing_run_file_is_named(work):
    _, rel, _ = work
    (work[0] / rel).unlink()
    with pytest.raises(RunFileError, match="does not exist"):
        open_runs([rel], planned=True)
    with pytest.raises(RunFileError, match="does not exist") as info:
        aggregate("plan.csv", "runs.nc", "runs.csv", "x", "h")
    assert "disk full" not in str(info.value)


def test_checksums_are_stable_and_distinct(store):
    """Two runs of different settings carry different checksums; reading changes nothing."""
    _, paths = store
    sums = []
    for _, path in paths.values():
        before = path.read_bytes()
        read_run(path)
        assert path.read_bytes() == before
        sums.append(before[-checksum.TRAILER_SIZE :])
    assert len(set(sums)) == 2 and all(s.startswith(checksum.MAGIC) for s in sums)
