"""dln.plan.batchstate: what finished batches left, read from their manifests alone."""

import os

from dln.plan.batchstate import batch_state, manifest_text, read_manifest


def finished_batch(tmp_path, name, runs, code="abc"):
    """Run files, then the manifest written after them (as a batch job does)."""
    rows = []
    for rid in runs:
        path = tmp_path / f"{rid}.nc"
        path.write_text(rid)
        os.utime(path, (1_000, 1_000))
        rows.append((rid, str(path), "0" * 64))
    manifest = tmp_path / f"{name}.tsv"
    manifest.write_text(manifest_text(rows, code))
    os.utime(manifest, (2_000, 2_000))
    return manifest


def test_manifest_round_trip(tmp_path):
    manifest = finished_batch(tmp_path, "b0", ["r1", "r2"])
    code, rows = read_manifest(manifest)
    assert code == "abc" and [r for r, _ in rows] == ["r1", "r2"]
    assert read_manifest(tmp_path / "missing.tsv") is None


def test_runs_of_the_current_code_with_unchanged_files_are_settled(tmp_path):
    b0 = finished_batch(tmp_path, "b0", ["r1", "r2"])
    b1 = finished_batch(tmp_path, "b1", ["r3"], code="old")
    state = batch_state([b0, b1, tmp_path / "b2.tsv"], "abc")
    assert state.settled == {"r1", "r2"} and state.changed == {}


def test_a_deleted_or_rewritten_run_file_is_changed_not_settled(tmp_path):
    b0 = finished_batch(tmp_path, "b0", ["r1", "r2", "r3"])
    (tmp_path / "r1.nc").unlink()
    os.utime(tmp_path / "r2.nc", (3_000, 3_000))  # written after its batch finished
    state = batch_state([b0], "abc")
    assert state.settled == {"r3"}
    assert state.changed == {b0: [str(tmp_path / "r1.nc"), str(tmp_path / "r2.nc")]}


def test_a_manifest_without_the_code_line_settles_nothing(tmp_path):
    b0 = finished_batch(tmp_path, "b0", ["r1"])
    b0.write_text(b0.read_text().split("\n", 1)[1])  # an older release's manifest
    os.utime(b0, (2_000, 2_000))
    assert read_manifest(b0)[0] == "" and batch_state([b0], "abc").settled == set()
