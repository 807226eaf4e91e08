"""Output files: only regular files are written, and concurrent writers of one path never break
each other (issue 13). Every concurrent case is held by the test (a pipe or an Event it
releases), never by a sleep."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from dln.data import io as dln_io
from dln.data.io import (
    OutputPathError,
    TempFileVanished,
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


REFUSED = [
    _fifo,
    _directory,
    _device,
    _link_to_fifo,
    _trailing_slash,
    _empty,
    _dot,
    _parent_is_file,
]


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
        [
            sys.executable,
            "-m",
            "dln",
            "run",
            "--steps",
            "2000",
            "--record-every",
            "50",
            "--weights-every",
            "1000",
            "--out",
            str(fifo),
        ],
        check=False,
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=300,
    )
    assert proc.returncode != 0
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)
    assert [p.name for p in tmp_path.iterdir()] == ["f"]
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "is a FIFO, refusing to replace it" in lines[0], proc.stderr
    assert "Traceback" not in proc.stderr and "disk full" not in proc.stderr


# --------------------------------------------------------------------------------------------
# Concurrent writers of one path
# --------------------------------------------------------------------------------------------
HELD_WRITER = """
import sys
from pathlib import Path
from dln.data.io import atomic_output
with atomic_output(Path(sys.argv[1])) as tmp:
    tmp.write_text("first writer\\n")
    print(tmp.name, flush=True)
    sys.stdin.readline()  # held inside the block until the test writes a line
print("done", flush=True)
"""


def _start_held_writer(out: Path) -> tuple[subprocess.Popen, Path]:
    """A writer process blocked inside `with atomic_output(out)` after writing its temp file."""
    proc = subprocess.Popen(
        [sys.executable, "-c", HELD_WRITER, str(out)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    name = proc.stdout.readline().strip()  # blocks until the child is inside its block
    if not name:
        raise AssertionError(f"writer did not start: {proc.communicate(timeout=60)}")
    return proc, out.parent / name


def test_second_writer_process_does_not_break_a_live_first_writer(tmp_path):
    """A user re-runs the CLI on the path the workflow is writing: the second writer starts and
    finishes while the first is held inside its block. Both succeed; the last to finish wins."""
    out = tmp_path / "run.txt"
    first, first_tmp = _start_held_writer(out)
    try:
        assert first_tmp.read_text() == "first writer\n"
        with atomic_output(out) as tmp:
            assert tmp != first_tmp
            tmp.write_text("second writer\n")
        assert out.read_text() == "second writer\n"
        assert first_tmp.read_text() == "first writer\n"  # the live writer's file is untouched
    finally:
        stdout, stderr = first.communicate("go\n", timeout=60)
    assert first.returncode == 0, stderr
    assert stdout.strip() == "done"
    assert out.read_text() == "first writer\n"
    assert temp_files(tmp_path) == []


def test_second_writer_thread_does_not_break_a_live_first_writer(tmp_path):
    """The same with two threads of one process (one pid): the random token keeps them apart."""
    out = tmp_path / "run.txt"
    inside, release = threading.Event(), threading.Event()
    outcome = {}

    def first_writer():
        try:
            with atomic_output(out) as tmp:
                tmp.write_text("first writer\n")
                outcome["tmp"] = tmp
                inside.set()
                release.wait()
            outcome["ok"] = True
        except Exception as err:  # noqa: BLE001 (the test reports it)
            outcome["error"] = err
            inside.set()

    thread = threading.Thread(target=first_writer)
    thread.start()
    try:
        inside.wait()
        assert "error" not in outcome, outcome
        write_text("second writer\n", out)
        assert out.read_text() == "second writer\n"
        assert outcome["tmp"].read_text() == "first writer\n"
    finally:
        release.set()
        thread.join()
    assert outcome.get("ok"), outcome
    assert out.read_text() == "first writer\n"
    assert temp_files(tmp_path) == []


def test_sigkilled_writers_temp_file_is_removed_by_the_next_writer(tmp_path):
    """A writer killed inside its block leaves its temp file; its pid is dead, so the next
    writer of that path removes it."""
    out = tmp_path / "run.txt"
    proc, dead_tmp = _start_held_writer(out)
    proc.kill()
    proc.communicate(timeout=60)  # reaped: the pid no longer exists
    assert dead_tmp.exists()
    write_text("next\n", out)
    assert out.read_text() == "next\n"
    assert temp_files(tmp_path) == []


def test_only_provably_dead_writers_files_are_removed(tmp_path):
    """Kept: a live pid's file, another host's file (shared filesystem), names of other
    programs or older versions. Removed: this host's file whose pid does not exist."""
    out = tmp_path / "run.txt"
    prefix, tag = f".{out.name}.tmp-", dln_io._writer_tag()
    no_such_pid = int(Path("/proc/sys/kernel/pid_max").read_text()) + 1  # kill() gives ESRCH
    dead = tmp_path / f"{prefix}{no_such_pid}-{'0' * 16}-{tag}"
    kept = [
        tmp_path / f"{prefix}{os.getpid()}-{'1' * 16}-{tag}",  # alive (this process)
        tmp_path / f"{prefix}{no_such_pid}-{'2' * 16}-otherhost{tag}",  # another machine
        tmp_path / f"{prefix}{no_such_pid}-{'3' * 16}-{tag}.pdf",  # another suffix
        tmp_path / f"{prefix}{no_such_pid}",  # an older version's name: unknown host
        tmp_path / f".other.txt.tmp-{no_such_pid}-{'4' * 16}-{tag}",  # another target
    ]
    for p in [dead, *kept]:
        p.write_text("partial")
    write_text("done\n", out)
    assert not dead.exists()
    assert all(p.read_text() == "partial" for p in kept)
    assert out.read_text() == "done\n"


# --------------------------------------------------------------------------------------------
# Error messages: the real cause, one line
# --------------------------------------------------------------------------------------------
def test_vanished_temp_file_names_the_real_cause(tmp_path):
    """Another process deleting the temp file is reported as such, not as a full disk."""
    out = tmp_path / "run.txt"
    with pytest.raises(TempFileVanished) as info, atomic_output(out) as tmp:
        tmp.write_text("data\n")
        tmp.unlink()  # what a careless cleaner would do
    msg = str(info.value)
    assert "was not there to be renamed into place" in msg and "deleted by another process" in msg
    assert "disk full" not in msg and "\n" not in msg
    assert info.value.__notes__ == [msg]
    assert not out.exists() and temp_files(tmp_path) == []


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
