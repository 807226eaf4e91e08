"""The run store: `dln store list|prune` keeps every run file some experiment's plan lists and
removes the others (with their logs)."""

from __future__ import annotations

import subprocess
import sys


def _store(tmp_path):
    runs = tmp_path / "results/runs/gd-orthogonal-float64/N6-k1"
    runs.mkdir(parents=True)
    logs = tmp_path / "results/logs/runs/gd-orthogonal-float64/N6-k1"
    logs.mkdir(parents=True)
    for name in ("lr0.0005-seed0-aaaaaaaaaa", "lr0.0005-seed0-bbbbbbbbbb", "lr0.001-seed0-cccc"):
        (runs / f"{name}.nc").write_bytes(b"x")
        (logs / f"{name}.log").write_text("log")
    for experiment, keep in (("a", "aaaaaaaaaa"), ("b", "cccc")):
        (tmp_path / f"results/{experiment}").mkdir()
        rid = (
            f"gd-orthogonal-float64/N6-k1/lr0.{'0005' if experiment == 'a' else '001'}-seed0-{keep}"
        )
        (tmp_path / f"results/{experiment}/plan.csv").write_text(
            f"run,path\n{rid},results/runs/{rid}.nc\n"
        )
    return runs, logs


def _dln(tmp_path, *args):
    return subprocess.run(
        [sys.executable, "-m", "dln", "store", *args], cwd=tmp_path, capture_output=True, text=True
    )


def test_list_and_prune_keep_what_experiments_use(tmp_path):
    runs, logs = _store(tmp_path)
    listing = _dln(tmp_path, "list")
    assert listing.returncode == 0, listing.stderr
    assert "a: 1 runs planned, 1 run files present" in listing.stdout
    assert "unused run files: 1" in listing.stdout and "bbbbbbbbbb" in listing.stdout
    dry = _dln(tmp_path, "prune", "--dry-run")
    assert "would remove" in dry.stdout and (runs / "lr0.0005-seed0-bbbbbbbbbb.nc").exists()
    pruned = _dln(tmp_path, "prune")
    assert pruned.returncode == 0, pruned.stderr
    assert sorted(p.name for p in runs.iterdir()) == [
        "lr0.0005-seed0-aaaaaaaaaa.nc",
        "lr0.001-seed0-cccc.nc",
    ]
    assert not (logs / "lr0.0005-seed0-bbbbbbbbbb.log").exists()
    assert (logs / "lr0.0005-seed0-aaaaaaaaaa.log").exists()


def test_no_store_is_one_error_line(tmp_path):
    proc = _dln(tmp_path, "list")
    assert (
        proc.returncode == 2
        and proc.stderr.startswith("error: ")
        and "Traceback" not in proc.stderr
    )
