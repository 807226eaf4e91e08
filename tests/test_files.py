"""Output files: only regular files are written (issue 13)."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from dln.io import (
    OutputPathError,
    atomic_output,
    check_output_path,
    write_failure,
    write_text,
)


def temp_files(directory: Path) -> list[Path]:
    return sorted(directory.glob(".*.tmp-*"))


# --------------------------------------------------------------------------------------------
# check_output_path: only a place for a regular file
# --------------------------------------------------------------------------------------------
def _fifo(tmp_path):
    os.mkfifo(tmp_path / "f")
    return str(tmp_path / "f"), "exists and is a FIFO, refusing to replace it"


def _directory(tmp_path):
    (tmp_path / "d").mkdir()
    return str(tmp_path / "d"), "exists and is a directory, refusing to replace it"


def _device(tmp_path):
    return "/dev/null", "exists and is a character device, refusing to replace it"


def _link_to_fifo(tmp_path):
    os.mkfifo(tmp_path / "f")
    (tmp_path / "link").symlink_to(tmp_path / "f")
    return str(tmp_path / "link"), "exists and is a FIFO, refusing to replace it"


def _trailing_slash(tmp_path):
    return str(tmp_path / "newdir") + "/", "path ends in '/'"


def _empty(tmp_path):
    return "", "empty path"


def _dot(tmp_path):
    return f"{tmp_path}/.", "names a directory, not a file"


def _parent_is_file(tmp_path):
    (tmp_path / "file").write_text("x")
    return str(tmp_path / "file" / "sub" / "run.nc"), "is not a directory (it is a regular file)"


REFUSED = [_fifo, _directory, _device, _link_to_fifo, _trailing_slash, _empty, _dot,
           _parent_is_file]


@pytest.mark.parametrize("make", REFUSED, ids=[f.__name__.strip("_") for f in REFUSED])
def test_check_output_path_refuses_with_one_line(tmp_path, make):
    path, reason = make(tmp_path)
    with pytest.raises(OutputPathError) as info:
        check_output_path(path)
    msg = str(info.value)
    assert isinstance(info.value, OSError)  # the CLI's existing `except OSError` reports it
    assert reason in msg and "\n" not in msg
    assert msg.startswith(f"{path or repr('')}: ")
    assert write_failure(path, info.value) == msg  # no disk-full guess for a known cause


def test_check_output_path_accepts_regular_files_and_missing_parents(tmp_path):
    (tmp_path / "old.nc").write_text("old")
    assert check_output_path(str(tmp_path / "old.nc")) == tmp_path / "old.nc"
    assert check_output_path(tmp_path / "a" / "b" / "new.nc") == tmp_path / "a" / "b" / "new.nc"


def test_existing_regular_file_is_replaced(tmp_path):
    """Re-running is normal: an existing regular file is replaced, nothing else is left."""
    out = tmp_path / "run.txt"
    out.write_text("old\n")
    write_text("new\n", out)
    assert out.read_text() == "new\n"
    assert [p.name for p in tmp_path.iterdir()] == ["run.txt"]


def test_atomic_output_refuses_a_fifo_before_writing(tmp_path):
    fifo = tmp_path / "f"
    os.mkfifo(fifo)
    entered = False
    with pytest.raises(OutputPathError, match="FIFO"), atomic_output(fifo):
        entered = True
    assert not entered
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)
    assert temp_files(tmp_path) == []


def test_fifo_created_during_the_write_is_not_replaced(tmp_path):
    """The path is checked again just before the rename."""
    out = tmp_path / "run.txt"
    with pytest.raises(OutputPathError, match="FIFO") as info, atomic_output(out) as tmp:
        tmp.write_text("data\n")
        os.mkfifo(out)
    assert stat.S_ISFIFO(os.lstat(out).st_mode)
    assert temp_files(tmp_path) == []
    assert info.value.__notes__ == [str(info.value)]  # the log line is the reason itself


def test_cli_refuses_a_fifo_and_leaves_it(tmp_path):
    """The reproduction of issue 13: `--out f` with f a FIFO used to leave a regular file."""
    fifo = tmp_path / "f"
    os.mkfifo(fifo)
    proc = subprocess.run(
        [sys.executable, "-m", "dln", "run", "--steps", "2000", "--record-every", "50",
         "--weights-every", "1000", "--out", str(fifo)],
        check=False, capture_output=True, text=True, cwd=tmp_path, timeout=300,
    )
    assert proc.returncode != 0
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)
    assert [p.name for p in tmp_path.iterdir()] == ["f"]
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "is a FIFO, refusing to replace it" in lines[0], proc.stderr
    assert "Traceback" not in proc.stderr and "disk full" not in proc.stderr


# --------------------------------------------------------------------------------------------
# Error messages: the real cause, one line
# --------------------------------------------------------------------------------------------
def test_write_failure_is_one_line(tmp_path):
    """A disk-full error reaches the log as one line: file, error, free bytes, no partial file."""
    err = RuntimeError("NetCDF: HDF error\n(errno 28: No space left on device)")
    line = write_failure(tmp_path / "run.nc", err)
    assert "\n" not in line
    assert line.startswith(f"{tmp_path / 'run.nc'}: could not write the file (NetCDF: HDF error")
    assert "bytes free there" in line and "is the disk full" in line
    assert line.endswith("No half-written file was left at this path.")


def test_disk_full_inside_the_block_gets_the_one_line_note(tmp_path):
    out = tmp_path / "run.txt"
    with pytest.raises(OSError) as info, atomic_output(out) as tmp:
        tmp.write_text("partial")
        raise OSError(28, "No space left on device")
    (note,) = info.value.__notes__
    assert "\n" not in note and "No space left on device" in note and "No half-written" in note
    assert list(tmp_path.iterdir()) == []

