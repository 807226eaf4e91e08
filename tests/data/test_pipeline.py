"""A batch job's bookkeeping (dln.data.pipeline.run_batch): which stored run files it reuses,
the digests its manifest records, and when it syncs its files to disk."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np
import pytest

from dln.data import checksum, pipeline
from dln.data.io import open_run_file
from dln.solve.run import RunConfig, source_fingerprint

SMALL = dict(steps=400, record_every=20, weights_every=200)


@pytest.fixture
def members(tmp_path, monkeypatch):
    """Three planned runs of one batch, as a members file lists them (paths relative to the
    workflow directory)."""
    monkeypatch.chdir(tmp_path)
    cfgs = [RunConfig(k=k, seed=s, **SMALL) for k, s in ((1, 0), (2, 0), (2, 1))]
    return [(cfg.run_id(), f"results/runs/{cfg.run_id()}.nc", cfg) for cfg in cfgs]


def _sha256(path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _flip_a_byte_of_t(path, cfg) -> None:
    """Change one byte inside the stored values of `t` (the header and the attributes,
    code_fingerprint among them, stay intact: only the content checksum can tell)."""
    data = bytearray(Path(path).read_bytes())
    t = cfg.lr * np.arange(0, cfg.steps + 1, cfg.record_every, dtype=np.float64)
    t = t.astype(">f8").tobytes()  # as netCDF stores it
    at = bytes(data).find(t[8:])  # past t[0] = 0.0
    assert at > 0
    data[at] ^= 0x01
    Path(path).write_bytes(bytes(data))


def test_an_edited_or_truncated_stored_file_is_recomputed_and_the_manifest_has_each_sha256(
    members,
):
    code = source_fingerprint()
    rows, computed = pipeline.run_batch(members, code)
    assert computed == 3
    (_, edited, edited_cfg), (_, cut, _), (_, kept, _) = members
    kept_bytes = Path(kept).read_bytes()
    _flip_a_byte_of_t(edited, edited_cfg)
    os.truncate(cut, os.path.getsize(cut) - checksum.TRAILER_SIZE)  # a valid netCDF file still
    rows, computed = pipeline.run_batch(members, code)
    assert computed == 2
    assert Path(kept).read_bytes() == kept_bytes  # reused, not rewritten
    assert [(rid, path) for rid, path, _ in rows] == [(rid, path) for rid, path, _ in members]
    for (_, path, digest), (_, _, cfg) in zip(rows, members, strict=True):
        assert digest == _sha256(path)
        open_run_file(path, cfg.key()).close()  # complete: its checksum holds
    assert pipeline.stored_digest(kept, "another code") is None  # other numerics: recomputed


def test_a_batch_syncs_each_run_file_once_after_writing_them_all(members, monkeypatch):
    events = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd):
        events.append(("fsync", os.fstat(fd).st_ino))
        return real_fsync(fd)

    def replace(src, dst):
        events.append(("rename", str(dst)))
        return real_replace(src, dst)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    pipeline.run_batch(members, source_fingerprint())
    renames = [i for i, (kind, _) in enumerate(events) if kind == "rename"]
    synced = [ino for kind, ino in events[renames[-1] :] if kind == "fsync"]
    assert len(renames) == 3 and all(kind == "rename" for kind, _ in events[: renames[-1] + 1])
    for _, path, _ in members:  # each file once, its directory and the ones above it too
        assert synced.count(os.stat(path).st_ino) == 1
    for directory in ("results/runs", "results"):
        assert os.stat(directory).st_ino in synced


def test_a_batch_removes_its_members_dead_writers_temp_files_and_no_others(members):
    """A killed batch's temp files are swept once per directory before the batch writes
    (not once per run file): a member's file whose writer is dead goes; a live writer's, and
    a temp file of a run that is not a member, stay."""
    from dln.data import io as dln_io

    tag = dln_io._writer_tag()
    no_such_pid = int(Path("/proc/sys/kernel/pid_max").read_text()) + 1  # kill() gives ESRCH
    (_, first, _), *_ = members
    directory, name = os.path.split(first)
    os.makedirs(directory)
    dead = Path(directory, f".{name}.tmp-{no_such_pid}-{'0' * 16}-{tag}")
    kept = [
        Path(directory, f".{name}.tmp-{os.getpid()}-{'1' * 16}-{tag}"),  # alive
        Path(directory, f".not-a-member.nc.tmp-{no_such_pid}-{'2' * 16}-{tag}"),
    ]
    for path in (dead, *kept):
        path.write_text("partial")
    pipeline.run_batch(members, source_fingerprint())
    assert not dead.exists()
    assert all(path.read_text() == "partial" for path in kept)
