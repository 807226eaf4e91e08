"""The run store: `dln store list|prune` keeps every run file some experiment's plan lists and
removes the others (with their logs)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest


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


# --------------------------------------------------------------------------------------------
# issue 21 item 1: paths are compared resolved, whatever --results is spelled
# --------------------------------------------------------------------------------------------
def _kept(runs) -> list[str]:
    return sorted(p.name for p in runs.iterdir())


def test_prune_through_a_symlinked_results_keeps_the_planned_files(tmp_path):
    runs, _ = _store(tmp_path)
    (tmp_path / "r").symlink_to("results")
    listing = _dln(tmp_path, "list", "--results", "r")
    assert "unused run files: 1" in listing.stdout, listing.stdout
    pruned = _dln(tmp_path, "prune", "--results", "r")
    assert pruned.returncode == 0, pruned.stderr
    assert "removed 1 run files" in pruned.stdout
    assert _kept(runs) == ["lr0.0005-seed0-aaaaaaaaaa.nc", "lr0.001-seed0-cccc.nc"]


def test_prune_with_results_dot_inside_results_keeps_the_planned_files(tmp_path):
    runs, _ = _store(tmp_path)
    pruned = _dln(tmp_path / "results", "prune", "--results", ".")
    assert pruned.returncode == 0, pruned.stderr
    assert "removed 1 run files" in pruned.stdout
    assert _kept(runs) == ["lr0.0005-seed0-aaaaaaaaaa.nc", "lr0.001-seed0-cccc.nc"]


def test_prune_of_a_results_directory_that_is_a_symlink_elsewhere(tmp_path):
    """results -> /elsewhere/store: the plan's results/runs/... live under the link's target."""
    runs, _ = _store(tmp_path)
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "results").rename(tmp_path / "elsewhere/store")
    (tmp_path / "results").symlink_to(tmp_path / "elsewhere/store")
    pruned = _dln(tmp_path, "prune")
    assert pruned.returncode == 0, pruned.stderr
    kept = sorted(p.name for p in (tmp_path / "elsewhere/store/runs").rglob("*.nc"))
    assert kept == ["lr0.0005-seed0-aaaaaaaaaa.nc", "lr0.001-seed0-cccc.nc"]


# --------------------------------------------------------------------------------------------
# issue 21 item 3: a malformed plan.csv is one line naming it, and prune removes nothing
# --------------------------------------------------------------------------------------------
def _no_path_column(plan):
    plan.write_text("run,file\nx,results/runs/x.nc\n")
    return "no 'path' column"


def _not_utf8(plan):
    plan.write_bytes(b"run,path\n\xff\xfe,results/runs/\xff.nc\n")
    return "not UTF-8"


def _a_directory(plan):
    plan.unlink()
    plan.mkdir()
    return "a directory"


def _empty(plan):
    plan.write_text("")
    return "empty"


def _short_row(plan):
    plan.write_text("run,path\nx\n")
    return "line 2"


@pytest.mark.parametrize("damage", [_no_path_column, _not_utf8, _a_directory, _empty, _short_row])
@pytest.mark.parametrize("action", ["list", "prune"])
def test_malformed_plan_is_one_line_naming_it(tmp_path, damage, action):
    runs, _ = _store(tmp_path)
    reason = damage(tmp_path / "results/b/plan.csv")
    before = _kept(runs)
    proc = _dln(tmp_path, action)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
    assert proc.stderr.startswith("error: results/b/plan.csv: "), proc.stderr
    assert reason in proc.stderr
    assert _kept(runs) == before


# --------------------------------------------------------------------------------------------
# issue 21 item 2 (prune side): prune refuses while a Snakemake workflow holds the directory
# --------------------------------------------------------------------------------------------
HOLDING_SNAKEFILE = """
rule hold:
    output: "results/held.txt"
    shell: "cat hold.fifo > {output}"
"""


def test_prune_refuses_while_a_workflow_holds_the_directory(tmp_path):
    """A real Snakemake run whose job blocks reading a FIFO: once the test's open() for writing
    returns, the job runs, so Snakemake holds its lock (taken before any job starts)."""
    runs, _ = _store(tmp_path)
    (tmp_path / "Snakefile").write_text(HOLDING_SNAKEFILE)
    os.mkfifo(tmp_path / "hold.fifo")
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    proc = subprocess.Popen(
        [str(Path(sys.executable).parent / "snakemake"), "--cores", "1", "-d", str(tmp_path)],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        with open(tmp_path / "hold.fifo", "w") as fifo:  # returns once the job reads
            for args in (("prune",), ("prune", "--dry-run"), ("prune", "--results", "results/")):
                refused = _dln(tmp_path, *args)
                assert refused.returncode == 2, refused.stdout + refused.stderr
                assert "Traceback" not in refused.stderr
                assert len(refused.stderr.strip().splitlines()) == 1
                assert ".snakemake/locks" in refused.stderr and "--unlock" in refused.stderr
            listing = _dln(tmp_path, "list")  # listing removes nothing: allowed
            assert listing.returncode == 0, listing.stderr
            fifo.write("done\n")
    finally:
        out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 0, out
    assert len(_kept(runs)) == 3  # nothing was removed while the workflow ran
    pruned = _dln(tmp_path, "prune")  # the workflow ended: its lock is gone
    assert pruned.returncode == 0, pruned.stderr
    assert len(_kept(runs)) == 2
