"""Robustness: hand-edited configs, killed runs, diverged runs, full or read-only disks, repeated
runs on other machines. Everything runs the real workflow (`snakemake` in a temporary directory).

- every invalid config is refused by `snakemake -n` before any job, with one line naming the key,
  the bad value and what is allowed;
- a simulation killed mid-run (SIGTERM, SIGKILL; the job or the whole process group) leaves no
  file at its final path, and the next run redoes exactly that simulation;
- a diverging GD run is recorded as diverged and flows through aggregation and figures;
- corrupt, truncated or foreign run files stop the aggregation with an error naming the file;
- a full or read-only results directory gives a clear error and no file at the final path;
- the same grid point gives bit-identical arrays whatever ran with it and on how many cores;
- run files carry their provenance, the aggregate its config hash, and the report shows it.
"""

from __future__ import annotations

import concurrent.futures
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path

import netCDF4
import numpy as np
import pandas as pd
import pytest
import xarray as xr
import yaml

from conftest import (
    BIN,
    OUT,
    REPO,
    planned_runs,
    run_file,
    small_config,
    snakemake,
    write_config,
)
from dln.data.aggregate import aggregate
from dln.data.io import RunFileError, read_run
from dln.plan.runplan import plan_digest, plan_runs

pytestmark = pytest.mark.workflow

OPTIONAL_STUDIES = ("lr_sweep", "flow", "precision", "depth", "gaussian", "laws")


def run_path(cfg, k=1, lr=5e-4, seed=0, construction="orthogonal", dtype="float64"):
    return run_file(cfg, k=k, lr=lr, seed=seed, construction=construction, dtype=dtype)


def tiny_config(steps=2000, **grid) -> dict:
    """Only the main grid (default: the single point k = 1, seed 0, lr 5e-4), `steps` GD steps."""
    cfg = small_config()
    cfg["gd"].update(steps=steps, record_every=steps // 40, weights_every=steps // 2)
    cfg["grid"] = {"k": [1], "seed": [0], "lr": [5.0e-4], "construction": ["orthogonal"], **grid}
    for study in OPTIONAL_STUDIES:
        cfg.pop(study, None)
    return cfg


def run_arrays(path) -> xr.Dataset:
    return read_run(path)


def assert_same_arrays(a: xr.Dataset, b: xr.Dataset):
    """Every data variable and coordinate bit-identical (NaN where NaN), and the same config."""
    assert set(a.variables) == set(b.variables)
    for name in a.variables:
        x, y = a[name].values, b[name].values
        assert x.dtype == y.dtype and x.shape == y.shape, name
        same = np.array_equal(x, y, equal_nan=x.dtype.kind == "f")
        assert same, f"{name} differs"
    assert a.attrs["settings_json"] == b.attrs["settings_json"]


def dot_tmp_files(root: Path) -> list[Path]:
    return [p for p in root.rglob(".*.tmp-*")]


# --------------------------------------------------------------------------------------------
# Bad input: every invalid config is refused before any job starts, with one clear line
# --------------------------------------------------------------------------------------------
def _set(path: str, value):
    def edit(cfg):
        node = cfg
        *parents, last = path.split(".")
        for p in parents:
            node = node[p]
        node[last] = value

    return edit


def _text(old: str, new: str):
    """Edit the YAML text itself (what a researcher types), not the parsed dict."""
    return ("text", old, new)


# (id, edit, fragments the message must contain: the key, the bad value, what is allowed)
BAD_CONFIGS = [
    (
        "unknown-key-typo",
        _set("gd.stpes", 5),
        ["unknown key 'stpes' in gd", "allowed keys: dtype, record_every, steps, weights_every"],
    ),
    (
        "wrong-type-text-for-int",
        _set("gd.steps", "many"),
        ["gd.steps = 'many'", "expected integer"],
    ),
    # (a scalar where a list is expected is a one-element axis: tests/plan/test_experiment_config)
    (
        "yaml-1e-2-is-text",
        _text("sigma0: 0.01", "sigma0: 1e-2"),
        ["start.sigma0 = '1e-2'", "expected number", "write 1.0e-3"],
    ),
    ("empty-grid-list", _set("grid.k", []), ["grid.k = []", "at least 1 value"]),
    (
        "duplicate-grid-values",
        _set("grid.seed", [0, 0]),
        ["grid.seed = [0, 0]", "duplicate values", "each value may appear once"],
    ),
    (
        "duplicate-lr-spelled-differently",
        _set("grid.lr", [5.0e-4, 0.0005]),
        ["grid.lr = [0.0005, 0.0005]", "duplicate values"],
    ),
    ("k-above-d", _set("grid.k", [1, 6]), ["grid.k=6", "allowed are 0..5"]),
    ("k-above-d-in-a-study", _set("lr_sweep", {"k": [9]}), ["lr_sweep.k=9", "allowed are 0..5"]),
    (
        "new-axis-bad-value",
        _set("grid.sigma0", [0.01, -1.0]),
        ["grid.sigma0[1] = -1.0", "allowed: > 0"],
    ),
    ("unknown-axis", _set("grid.sigma", [0.01]), ["unknown key 'sigma' in grid", "sigma0"]),
    ("k-negative", _set("grid.k", [-1]), ["grid.k[0] = -1", "allowed: >= 0"]),
    ("lr-zero", _set("grid.lr", [0.0]), ["grid.lr[0] = 0.0", "allowed: > 0"]),
    ("lr-negative", _set("grid.lr", [-1.0e-3]), ["grid.lr[0] = -0.001", "allowed: > 0"]),
    ("steps-zero", _set("gd.steps", 0), ["gd.steps = 0", "allowed: >= 1"]),
    ("stride-zero", _set("gd.record_every", 0), ["gd.record_every = 0", "allowed: >= 1"]),
    ("sigma0-negative", _set("start.sigma0", -0.01), ["start.sigma0 = -0.01", "allowed: > 0"]),
    (
        "stride-above-steps",
        _set("gd.record_every", 5000),
        ["gd.record_every=5000", "must not exceed steps=2000"],
    ),
    (
        "weights-stride-not-multiple",
        _set("gd.weights_every", 75),
        ["gd.weights_every=75", "multiple of record_every=50"],
    ),
    (
        "widths-without-width-1",
        _set("problem.widths", [8, 3, 5, 4, 5]),
        ["problem.widths=[8, 3, 5, 4, 5]", "hidden width (d_1..d_{N-1}) must be 1"],
    ),
    (
        "widths-one-layer",
        _set("problem.widths", [8, 1]),
        ["problem.widths = [8, 1]", "at least 3 values"],
    ),
    (
        "spectrum-increasing",
        _set("problem.spectrum", [1, 2, 3, 4, 5]),
        ["problem.spectrum=[1, 2, 3, 4, 5]", "positive and strictly decreasing"],
    ),
    (
        "spectrum-zero",
        _set("problem.spectrum", [5, 4, 3, 2, 0]),
        ["problem.spectrum[4] = 0", "allowed: > 0"],
    ),
    (
        "spectrum-length-not-d",
        _set("problem.spectrum", [5, 4, 3, 2]),
        ["problem.spectrum=[5, 4, 3, 2]", "exactly d = 5 values"],
    ),
    (
        "unknown-construction",
        _set("start.construction", "orthogonl"),
        ["start.construction = 'orthogonl'", "allowed: 'orthogonal', 'antisymmetric'"],
    ),
    (
        "unknown-dtype",
        _set("gd.dtype", "float16"),
        ["gd.dtype = 'float16'", "allowed: 'float64', 'float32'"],
    ),
    (
        "grid-above-max-runs",
        _set("limits.max_runs", 1),
        ["plans 2 runs", "limits.max_runs=1", "limits.allow_large_grid: true"],
    ),
    ("experiment-name-with-slash", _set("experiment", "a/b"), ["experiment = 'a/b'"]),
    (
        "nan",
        _text("sigma0: 0.01", "sigma0: .nan"),
        ["start.sigma0 = nan", "not a finite number", "finite numbers only"],
    ),
    ("inf-in-list", _set("grid.lr", [float("inf")]), ["grid.lr[0] = inf", "not a finite number"]),
    (
        "yaml-key-twice",
        _text("  steps: 2000\n", "  steps: 2000\n  steps: 3000\n"),
        ["key 'steps' appears twice", "allowed: each key once"],
    ),
    (
        "main-seed-not-in-grid",
        _set("figures.main_seed", 5),
        ["figures.main_seed = 5", "grid.seed = [0]"],
    ),
]


def _bad_workdir(root: Path, case_id: str, edit) -> Path:
    work = root / case_id
    work.mkdir()
    cfg = tiny_config(k=[1, 2])
    if isinstance(edit, tuple):
        _, old, new = edit
        text = yaml.safe_dump(cfg, sort_keys=False)
        assert old in text, (old, text)
        (work / "config.yaml").write_text(text.replace(old, new, 1))
    else:
        edit(cfg)
        write_config(work, cfg)
    return work


@pytest.fixture(scope="module")
def bad_config_results(tmp_path_factory):
    """`snakemake -n` on every bad config, three at a time (each call is ~2 s of start-up)."""
    root = tmp_path_factory.mktemp("badcfg")
    works = {case_id: _bad_workdir(root, case_id, edit) for case_id, edit, _ in BAD_CONFIGS}
    with concurrent.futures.ThreadPoolExecutor(max_workers=3) as pool:
        futures = {cid: pool.submit(snakemake, w, "-n", check=False) for cid, w in works.items()}
        return {cid: (works[cid], f.result()) for cid, f in futures.items()}


@pytest.mark.parametrize(
    "case_id, fragments", [(c, f) for c, _, f in BAD_CONFIGS], ids=[c for c, _, _ in BAD_CONFIGS]
)
def test_bad_config_is_refused_before_any_job(bad_config_results, case_id, fragments):
    work, proc = bad_config_results[case_id]
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0, out
    lines = [line for line in out.splitlines() if line.startswith("config error:")]
    assert len(lines) == 1, out  # one message ...
    for fragment in fragments:  # ... naming the key, the bad value and what is allowed
        assert fragment in lines[0], f"{fragment!r} not in {lines[0]!r}"
    assert "WorkflowError" in out and "Traceback" not in out  # no Python traceback
    assert not (work / "results").exists()  # no job ran, nothing was written
    assert "Job stats" not in out


def test_large_grid_runs_with_the_explicit_opt_in(tmp_path):
    cfg = tiny_config(k=[1, 2])
    cfg["limits"].update(max_runs=1, allow_large_grid=True)
    write_config(tmp_path, cfg)
    assert planned_runs(tmp_path) == {run_path(cfg, 1), run_path(cfg, 2)}


# --------------------------------------------------------------------------------------------
# Faults: killed simulations
# --------------------------------------------------------------------------------------------
# ~8-15 s of GD per simulation (0.2-0.4 us per step): the kill lands inside the GD loop,
# seconds before the run could finish, however busy the machine
KILL_STEPS = 40_000_000
KILL_CONFIG = tiny_config(steps=KILL_STEPS, k=[1, 2])


def _job_pid(out_path: str):
    """Pid of the `dln run ... --out out_path` process, or of the `dln batch` process whose
    members file lists out_path, if it runs."""
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            argv = (d / "cmdline").read_bytes().split(b"\0")
            if not any(a.endswith(b"dln") for a in argv):
                continue
            if b"run" in argv and out_path.encode() in argv:
                return int(d.name)
            if b"batch" in argv:
                members = argv[argv.index(b"--members") + 1].decode()
                if f"\t{out_path}\t" in (d / "cwd" / members).read_text():
                    return int(d.name)
        except (OSError, ValueError, IndexError):
            continue
    return None


def _start_snakemake(work: Path, *args):
    env = dict(os.environ, PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}")
    cmd = [str(BIN / "snakemake"), "-s", str(REPO / "Snakefile"), "-d", str(work), *args]
    # a session of its own: the job processes share its process group (killpg reaches all)
    return subprocess.Popen(
        cmd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
        start_new_session=True,
    )


def _wait_for_job(proc, out_path: str, timeout=90.0) -> int:
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        pid = _job_pid(out_path)
        if pid is not None:
            return pid
        if proc.poll() is not None:
            raise AssertionError(f"snakemake ended before the job started:\n{proc.stdout.read()}")
        time.sleep(0.05)
    raise AssertionError(f"no `dln run` for {out_path} after {timeout} s")


@pytest.fixture(scope="module")
def kill_base(tmp_path_factory):
    """Grid k = 1, 2 with slow runs; the k = 2 run is already complete."""
    work = tmp_path_factory.mktemp("killbase")
    write_config(work, KILL_CONFIG)
    snakemake(work, "--cores", "1", run_path(KILL_CONFIG, 2))
    return work


@pytest.fixture
def kill_work(kill_base, tmp_path):
    work = tmp_path / "wf"
    shutil.copytree(kill_base, work, symlinks=True)  # keeps mtimes and .snakemake metadata
    return work


@pytest.mark.parametrize(
    "target, sig",
    [
        ("job", signal.SIGTERM),
        ("job", signal.SIGKILL),
        ("all", signal.SIGTERM),
        ("all", signal.SIGKILL),
    ],
    ids=["job-SIGTERM", "job-SIGKILL", "snakemake+job-SIGTERM", "snakemake+job-SIGKILL"],
)
def test_killed_simulation_leaves_no_output_and_only_it_reruns(kill_work, target, sig):
    """Kill a real simulation mid-run: the job process alone (OOM killer, `kill`), or Snakemake
    and the job together (a scheduler cancelling the allocation, a crash). No file may appear at
    the run's final path, the finished k = 2 run stays untouched, and the next `snakemake` plans
    exactly the killed run again."""
    work, killed = kill_work, run_path(KILL_CONFIG, 1)
    done = work / run_path(KILL_CONFIG, 2)
    before = (done.stat().st_mtime_ns, done.read_bytes())
    proc = _start_snakemake(work, "--cores", "1")
    pid = _wait_for_job(proc, killed)
    time.sleep(1.0)  # past the imports, inside the GD loop
    if target == "job":
        os.kill(pid, sig)
    else:
        os.killpg(proc.pid, sig)
    try:
        out, _ = proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        # Snakemake 9's SIGTERM handler can deadlock on its scheduler lock (seen ~1 in 3 when it
        # arrives at an unlucky moment); the files are what this test is about, so end it here.
        warnings.warn(
            "snakemake did not exit within 60 s of SIGTERM (upstream deadlock)", stacklevel=2
        )
        os.killpg(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate()
        sig = signal.SIGKILL
    assert proc.returncode != 0, out
    assert not (work / killed).exists(), out
    assert dot_tmp_files(work / "results") == []
    assert (done.stat().st_mtime_ns, done.read_bytes()) == before
    assert planned_runs(work) == {killed}  # (a dry run needs no lock)
    if target == "all" and sig == signal.SIGKILL:
        # Snakemake had no chance to remove its lock: the next run says how to proceed ...
        locked = snakemake(work, "--cores", "1", check=False)
        assert locked.returncode != 0 and "--unlock" in locked.stdout + locked.stderr
        snakemake(work, "--unlock")
        # ... and then recomputes only the killed run
        rerun = snakemake(work, "--cores", "1", killed)
        assert re.findall(r"output: (results/runs/\S+\.nc)", rerun.stdout + rerun.stderr) == [
            killed
        ]
        assert not read_run(work / killed)["diverged"]
        assert (done.stat().st_mtime_ns, done.read_bytes()) == before


def test_second_workflow_on_the_same_results_is_refused(kill_work):
    """Two workflows writing one results/ directory: Snakemake's lock refuses the second.
    The first workflow's job is stopped (SIGSTOP) while the second starts, so the first holds
    its lock for certain, however slow or busy the machine."""
    work = kill_work
    proc = _start_snakemake(work, "--cores", "1")
    pid = _wait_for_job(proc, run_path(KILL_CONFIG, 1))
    os.kill(pid, signal.SIGSTOP)
    try:
        second = snakemake(work, "--cores", "1", check=False)
        out = second.stdout + second.stderr
        assert second.returncode != 0
        assert "Directory cannot be locked" in out, out
    finally:
        os.kill(pid, signal.SIGKILL)
        proc.communicate(timeout=60)
    assert not (work / run_path(KILL_CONFIG, 1)).exists()


def test_prune_refuses_while_the_workflow_runs(kill_work):
    """Was: prune removed the running workflow's fresh run files (its plan was not on disk
    yet), and the workflow died with "Missing files after 5 seconds". The job is stopped
    (SIGSTOP) while prune runs, so the workflow holds its lock for certain."""
    work = kill_work
    done = work / run_path(KILL_CONFIG, 2)
    unused = done.with_name("lr0.0005-seed9-0123456789.nc")  # in no plan
    shutil.copyfile(done, unused)
    proc = _start_snakemake(work, "--cores", "1")
    pid = _wait_for_job(proc, run_path(KILL_CONFIG, 1))
    os.kill(pid, signal.SIGSTOP)
    try:
        prune = subprocess.run(
            [sys.executable, "-m", "dln", "store", "prune"],
            cwd=work,
            capture_output=True,
            text=True,
        )
    finally:
        os.kill(pid, signal.SIGKILL)
        proc.communicate(timeout=60)
    assert prune.returncode == 2 and len(prune.stderr.strip().splitlines()) == 1, prune.stderr
    assert "a Snakemake workflow holds" in prune.stderr and "--unlock" in prune.stderr
    assert done.exists() and unused.exists()


def test_sigterm_while_writing_removes_the_temporary_file(tmp_path):
    """SIGTERM that arrives while the run file is being written (after the GD loop): the job
    removes its temporary file and exits with 128 + 15; nothing appears at the final path."""
    out = tmp_path / "runs" / "run.nc"
    marker = tmp_path / "writing"
    script = f"""
import os, sys, time
from dln.cli import main as cli
real = os.fsync
def held(fd):  # the file is written, not yet renamed: wait here until the test's SIGTERM
    real(fd)
    open({str(marker)!r}, "w").close()
    time.sleep(600)
os.fsync = held
sys.exit(cli.main(sys.argv[1:]))
"""
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            script,
            "run",
            "--k",
            "1",
            "--steps",
            "2000",
            "--record-every",
            "50",
            "--weights-every",
            "1000",
            "--out",
            str(out),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    start = time.monotonic()
    while not marker.exists():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() - start < 60
        time.sleep(0.05)
    assert len(list(out.parent.glob(".run.nc.tmp-*"))) == 1  # the half-written file exists
    proc.send_signal(signal.SIGTERM)
    proc.communicate(timeout=30)
    assert proc.returncode == 128 + signal.SIGTERM
    assert list(out.parent.iterdir()) == []


# --------------------------------------------------------------------------------------------
# Faults: disk full, read-only results
# --------------------------------------------------------------------------------------------
def _mount(*args):
    proc = subprocess.run(["mount", *args], capture_output=True, text=True)
    if proc.returncode != 0:
        pytest.skip(f"cannot mount here ({proc.stderr.strip()}); needs root")


def test_disk_full_gives_a_clear_error_and_no_partial_file(tmp_path):
    """results/ on a 64 KiB tmpfs: the logs fit, a run file (~400 KiB) does not."""
    work = tmp_path / "wf"
    (work / "results").mkdir(parents=True)
    cfg = tiny_config()
    cfg["gd"].update(record_every=2, weights_every=20)  # 1,001 records, 101 weight snapshots
    write_config(work, cfg)
    target = run_path(cfg, 1)
    _mount("-t", "tmpfs", "-o", "size=64k", "tmpfs", str(work / "results"))
    try:
        proc = snakemake(work, "--cores", "1", target, check=False)
        out = proc.stdout + proc.stderr
        assert proc.returncode != 0
        assert "Error in rule simulate" in out
        assert not (work / target).exists()
        # (the plan and the batches' members files are written before any job)
        plan_files = (".log", ".members", ".csv")
        assert [
            p
            for p in (work / "results").rglob("*")
            if p.is_file() and p.suffix not in plan_files and p.name != ".plan-digest"
        ] == []
        log = work / target.replace("results/runs/", "results/logs/runs/").replace(".nc", ".log")
        text = log.read_text()
        assert f"error: {target}: could not write the file" in text
        assert "is the disk full" in text and "No half-written file" in text
        assert "Traceback" not in text
    finally:
        subprocess.run(["umount", str(work / "results")], check=True)


def test_read_only_results_gives_a_clear_error(tmp_path):
    work = tmp_path / "wf"
    (work / "results").mkdir(parents=True)
    (tmp_path / "src").mkdir()
    cfg = tiny_config()
    write_config(work, cfg)
    _mount("--bind", str(tmp_path / "src"), str(work / "results"))
    try:
        _mount("-o", "remount,bind,ro", str(work / "results"))
        proc = snakemake(work, "--cores", "1", run_path(cfg, 1), check=False)
        out = proc.stdout + proc.stderr
        assert proc.returncode != 0
        # (the plan is written first, while the workflow parses: it fails there, in one line)
        assert "Read-only file system" in out and "cannot write the plan" in out
        assert list((tmp_path / "src").iterdir()) == []
    finally:
        subprocess.run(["umount", str(work / "results")], check=True)


# --------------------------------------------------------------------------------------------
# Reproducibility
# --------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def repro(tmp_path_factory):
    """One grid point made three times: alone on 1 core (twice, separate directories), and
    inside a larger grid (2 k x 2 seeds) on 2 cores from a fresh results directory."""
    dirs = {}
    for name, cfg, cores in (
        ("alone", tiny_config(), "1"),
        ("again", tiny_config(), "1"),
        ("grid", tiny_config(k=[1, 2], seed=[0, 1]), "2"),
    ):
        work = tmp_path_factory.mktemp(name)
        write_config(work, cfg)
        runs = list(plan_runs(cfg))
        snakemake(work, "--cores", cores, *[f"results/runs/{rid}.nc" for rid in runs])
        assert cfg["gd"]["steps"] == 2000
        dirs[name] = (work, cfg, runs)
    return dirs


def test_same_config_gives_bit_identical_arrays(repro):
    a = run_arrays(repro["alone"][0] / run_path(repro["alone"][1], 1))
    b = run_arrays(repro["again"][0] / run_path(repro["again"][1], 1))
    assert_same_arrays(a, b)


def test_results_do_not_depend_on_cores_or_grid_companions(repro):
    a = run_arrays(repro["alone"][0] / run_path(repro["alone"][1], 1))
    c = run_arrays(repro["grid"][0] / run_path(repro["grid"][1], 1))
    assert_same_arrays(a, c)


def test_two_parallel_jobs_on_a_fresh_results_dir_both_succeed(repro):
    """`--cores 2` from a fresh results directory. The kernel is plain C compiled when the
    package is installed (dln/solve/_kernel.c, loaded with ctypes): there is no JIT and no cache
    directory that parallel jobs could race on, so a cold start is just a start."""
    work, _, runs = repro["grid"]
    assert len(runs) == 4
    for rid in runs:
        ds = read_run(work / f"results/runs/{rid}.nc")
        assert np.all(np.isfinite(ds["loss"].values))
    assert dot_tmp_files(work / "results") == []


def test_run_files_carry_full_provenance(repro):
    work, cfg, runs = repro["alone"]
    ds = read_run(work / run_path(cfg, 1))
    planned = plan_runs(cfg)[runs[0]].config
    assert ds.attrs["settings_json"] == planned.settings_json()  # the complete settings
    assert ds.attrs["run_key"] == planned.key() and runs[0].endswith(planned.key())
    settings = json.loads(ds.attrs["settings_json"])
    assert settings["steps"] == 2000 and settings["lr"] == 5e-4 and settings["k"] == 1
    versions = json.loads(ds.attrs["package_versions"])  # versions of what the job imported
    assert "numpy" in versions and "unknown" not in versions.values()
    assert "netCDF4" not in versions  # the job encodes its run files itself (dln.data.cdf)
    from dln.solve.run import source_fingerprint

    assert ds.attrs["code_fingerprint"] == source_fingerprint()  # code version
    assert ds.attrs["git_commit"] and ds.attrs["dln_version"]
    assert ds.attrs["platform"] and ds.attrs["python_version"]  # platform
    from dln.solve.kernel import BACKEND

    assert ds.attrs["kernel_backend"] == BACKEND  # the backend this installation has


# --------------------------------------------------------------------------------------------
# Diverged runs, aggregation inputs, config hash in the report
# --------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def diverged_wf(tmp_path_factory):
    """The whole workflow with lr = 0.1 (diverges within ~20 steps) in the grid and the lr sweep,
    then the report."""
    work = tmp_path_factory.mktemp("diverged")
    cfg = small_config()
    cfg["gd"].update(steps=2000, record_every=50, weights_every=1000)
    cfg["grid"] = {"k": [1, 2], "seed": [0], "lr": [5.0e-4, 0.1], "construction": ["orthogonal"]}
    cfg["lr_sweep"] = {"k": [2], "seed": [0], "lr": [5.0e-4, 0.1]}
    cfg["flow"] = {"k": [2], "seed": [0]}
    write_config(work, cfg)
    proc = snakemake(work, "--cores", "2")
    snakemake(work, "--report", f"{OUT}/report.html")
    return work, cfg, proc


def diverged_paths(cfg):
    return [run_path(cfg, 1, lr=0.1), run_path(cfg, 2, lr=0.1)]


def test_diverged_runs_are_recorded_and_flow_through(diverged_wf):
    work, cfg, proc = diverged_wf
    assert proc.returncode == 0  # the workflow did not fail
    for path in diverged_paths(cfg):
        ds = read_run(work / path)
        assert ds["diverged"] and ds["diverged_step"] > 0
        assert ds.sizes["step"] < cfg["gd"]["steps"] // cfg["gd"]["record_every"] + 1
        assert np.all(np.isfinite(ds["loss"].values))  # records stop before the overflow
    table = pd.read_csv(work / f"{OUT}/runs.csv", index_col="run")
    flagged = {f"results/runs/{rid}.nc" for rid in table.index[table["diverged"]]}
    assert flagged == set(diverged_paths(cfg))
    for path in diverged_paths(cfg):
        row = table.loc[path[len("results/runs/") : -3]]
        assert row["diverged_step"] > 0 and np.isnan(row["final_level"])
        assert not row["reached_global"]
    with xr.open_dataset(work / f"{OUT}/runs.nc", engine="netcdf4") as agg:
        div = agg["diverged"].values.astype(bool)
        assert div.sum() == 2
        assert np.all(agg["diverged_step"].values[div] > 0)
        assert np.all(np.isnan(agg["diverged_step"].values[~div]))  # missing, never -1
    for png in (work / f"{OUT}/figures").glob("*.png"):
        assert png.stat().st_size > 5_000


def test_figures_mark_diverged_runs(diverged_wf):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from dln.data.io import open_runs
    from dln.figures import plotting

    work, cfg, _ = diverged_wf
    paths = [work / p for p in diverged_paths(cfg)] + [work / run_path(cfg, 1)]
    ds = open_runs(paths, weights=False)
    fig, ax = plt.subplots()
    for i in range(ds.sizes["run"]):
        run = ds.isel(run=i)
        n_lines = len(ax.lines)
        suffix = plotting.mark_diverged(ax, run)
        if bool(run["diverged"]):
            assert "diverged" in suffix and len(ax.lines) == n_lines + 1
            assert ax.lines[-1].get_marker() == "x"
        else:
            assert suffix == "" and len(ax.lines) == n_lines
    plt.close(fig)


def test_aggregate_and_report_carry_the_config_hash(diverged_wf):
    work, cfg, _ = diverged_wf
    with xr.open_dataset(work / f"{OUT}/runs.nc", engine="netcdf4") as agg:
        value = agg.attrs["config_hash"]
    assert value == plan_digest(plan_runs(cfg))
    html = (work / f"{OUT}/report.html").read_text(errors="replace")
    assert value in html


@pytest.mark.parametrize("damage", ["truncated", "garbage", "foreign"])
def test_bad_run_file_stops_aggregation_naming_it(diverged_wf, tmp_path, damage):
    """A damaged run file (cut short, overwritten, or a valid file of another configuration
    copied in) makes the aggregation fail with an error naming the file; no aggregate is left."""
    work = tmp_path / "wf"
    shutil.copytree(diverged_wf[0], work, symlinks=True)
    victim = run_path(diverged_wf[1], 1)
    path = work / victim
    if damage == "truncated":
        data = path.read_bytes()
        path.write_bytes(data[: len(data) // 2])
        expect = "has no content checksum"
    elif damage == "garbage":
        path.write_bytes(b"this is not a NetCDF file\n" * 100)
        expect = "has no content checksum"
    else:
        args = [
            "run",
            "--k",
            "1",
            "--lr",
            "5e-4",
            "--steps",
            "2000",
            "--record-every",
            "50",
            "--weights-every",
            "1000",
            "--sigma0",
            "0.02",
            "--out",
            str(path),
        ]
        subprocess.run([sys.executable, "-m", "dln", *args], check=True, capture_output=True)
        expect = "not the planned run"
    # the run files are not Snakemake's inputs (batches are): the workflow names the changed
    # file before any job, and with the command it recommends the aggregation runs again
    proc = snakemake(work, "--cores", "1", f"{OUT}/runs.nc", check=False)
    assert proc.returncode != 0 and victim in proc.stdout + proc.stderr
    proc = snakemake(work, "--cores", "1", f"{OUT}/runs.nc", "-R", "aggregate", check=False)
    assert proc.returncode != 0
    log = (work / f"{OUT}/logs/aggregate.log").read_text()
    assert f"{victim}: " in log and expect in log and "delete it and rerun" in log
    assert not (work / f"{OUT}/runs.nc").exists()


def test_aggregate_function_names_a_truncated_file(tmp_path, diverged_wf, monkeypatch):
    work, cfg, _ = diverged_wf
    monkeypatch.chdir(work)
    victim = run_path(cfg, 1)
    plan = (work / f"{OUT}/plan.csv").read_text()
    cut = tmp_path / "cut.nc"
    cut.write_bytes((work / victim).read_bytes()[:3000])
    (tmp_path / "plan.csv").write_text(plan.replace(victim, str(cut)))
    with pytest.raises(RunFileError, match=r"cut\.nc: has no content checksum"):
        aggregate(tmp_path / "plan.csv", tmp_path / "runs.nc", tmp_path / "runs.csv", "x", "x")
    assert not (tmp_path / "runs.nc").exists() and not (tmp_path / "runs.csv").exists()


# --------------------------------------------------------------------------------------------
# issue 21 item 8: captions take their values from the plan (grid: null, a list of grids)
# --------------------------------------------------------------------------------------------
MAIN_GRIDS = {
    "grid-null": None,
    "grid-list": [
        {"k": [1], "seed": [0], "lr": [5.0e-4]},
        {"k": [2], "seed": [0], "lr": [1.0e-3]},
    ],
}


@pytest.mark.parametrize("grid", list(MAIN_GRIDS), ids=list(MAIN_GRIDS))
def test_main_grid_null_or_a_list_builds_the_dag(tmp_path, grid):
    """Was: a KeyError/TypeError traceback from fig1's caption (config["grid"]["lr"][0]) while
    Snakemake built the DAG, even with -n."""
    cfg = tiny_config()
    cfg["grid"] = MAIN_GRIDS[grid]
    write_config(tmp_path, cfg)
    proc = snakemake(tmp_path, "-n", check=False)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    assert "Traceback" not in out


# --------------------------------------------------------------------------------------------
# issue 21 item 9: an experiment name may not name an existing file or a reserved directory
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "name, fragment",
    [
        ("README.md", "results/README.md is an existing file"),
        ("runs", "reserved"),
        ("logs", "reserved"),
    ],
)
def test_experiment_name_of_a_file_or_reserved_directory_is_refused(tmp_path, name, fragment):
    """Was (README.md): Snakemake's NotADirectoryError traceback, even with -n."""
    write_config(tmp_path, tiny_config())
    readme = tmp_path / "results/README.md"
    readme.parent.mkdir()
    readme.write_text("the committed results/README.md\n")
    proc = snakemake(tmp_path, "-n", "--config", f"experiment={name}", check=False)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0, out
    lines = [line for line in out.splitlines() if line.startswith("config error:")]
    assert len(lines) == 1 and "Traceback" not in out, out
    assert f"experiment = {name!r}" in lines[0] and fragment in lines[0], lines[0]
    assert "allowed:" in lines[0]
    assert readme.read_text() == "the committed results/README.md\n"
    assert sorted(p.name for p in (tmp_path / "results").iterdir()) == ["README.md"]


# --------------------------------------------------------------------------------------------
# issue 21 items 4, 6, 8 through the real workflow: figures check run files like the aggregate
# --------------------------------------------------------------------------------------------
def test_figure_refuses_a_run_file_copied_over_another_planned_path(diverged_wf, tmp_path):
    """Was: fig1 drew the lr = 0.1 run as the planned lr = 5e-4 one, with an empty log."""
    work = tmp_path / "wf"
    shutil.copytree(diverged_wf[0], work, symlinks=True)
    cfg = diverged_wf[1]
    victim = run_path(cfg, 1)
    shutil.copyfile(work / run_path(cfg, 1, lr=0.1), work / victim)
    figure = f"{OUT}/figures/fig1_loss_by_k.png"
    # a plain rerun stops before any job (the file is newer than its batch's manifest); forcing
    # the figure skips that check, so the figure's own reader must refuse the file
    proc = snakemake(work, "--cores", "1", figure, check=False)
    assert proc.returncode != 0 and str(victim) in proc.stdout + proc.stderr
    proc = snakemake(work, "--cores", "1", figure, "--forcerun", figure, check=False)
    assert proc.returncode != 0, proc.stdout + proc.stderr
    log = (work / f"{OUT}/logs/figures/fig1_loss_by_k.log").read_text()
    assert f"{victim}: holds run " in log and "not the planned run" in log, log
    assert "delete it and rerun Snakemake" in log and "disk full" not in log, log


def test_figure_refuses_an_edited_run_file(diverged_wf, tmp_path):
    work = tmp_path / "wf"
    shutil.copytree(diverged_wf[0], work, symlinks=True)
    victim = run_path(diverged_wf[1], 1)
    with netCDF4.Dataset(work / victim, "a") as nc:
        nc["loss"][-5:] = -7.0
    figure = f"{OUT}/figures/fig1_loss_by_k.png"
    proc = snakemake(work, "--cores", "1", figure, "--forcerun", figure, check=False)
    assert proc.returncode != 0, proc.stdout + proc.stderr
    log = (work / f"{OUT}/logs/figures/fig1_loss_by_k.log").read_text()
    assert f"{victim}: " in log and "checksum" in log and "delete it and rerun" in log, log


def test_report_captions_come_from_the_plan(diverged_wf):
    """Main grid lr = [5e-4, 0.1]: the landing page and fig1's caption list both (was: the
    first config value only, and a crash for grid: null or a list of grids)."""
    html = (diverged_wf[0] / f"{OUT}/report.html").read_text(errors="replace")
    assert "Main grid (from the plan)" in html
    assert "lr = 0.0005, 0.1" in html
