"""The workflow on a real Slurm cluster through workflow/profiles/slurm.

A module fixture starts a single-node Slurm cluster with accounting (tests/slurm/cluster.sh:
needs root and apt-get; skipped without them, except on CI where that is an error) and stops it
afterwards. Snakemake runs with the profile as shipped, except for the number of simulation
batches (config `batches`), an earlier first status check (5 s instead of
10 s) and, where a test says so, the targets or the number of retries. Checked against Slurm's
own records (sacct):

- every job of a small grid (6 runs in BATCHES simulation batches) runs as a Slurm job, one
  submission per batch, and the workflow completes;
- a few hundred small runs go through in one submission per batch (the sbatch calls counted);
- the trajectories are bit-identical to a local run (`--cores 2`, no profile);
- a Slurm job killed (`scancel --signal=TERM`) while its simulation runs makes Snakemake exit
  non-zero and report that job (with its Slurm log), leaves no file at the run's final path, and
  the next run redoes just that run. (A plain `scancel` is not noticed by plugin 2.8.0 with
  sacct: Snakemake would wait forever; see the test's docstring.)

Run with `pytest tests/slurm/test_slurm.py -s` to see the timings and submission counts.
"""

from __future__ import annotations

import os
import re
import subprocess
import time
from datetime import datetime
from pathlib import Path

import numpy as np
import pytest
import yaml

from conftest import BIN, OUT, REPO, planned_jobs, run_file, small_config, snakemake, write_config
from dln.data.io import read_run

pytestmark = pytest.mark.slurm


PROFILE = REPO / "workflow/profiles/slurm"
BATCHES = 2  # simulation batches (Slurm jobs) of the small grid (the default is 32)
SIMS = 6
OPTIONAL_STUDIES = ("lr_sweep", "flow", "precision", "depth", "gaussian", "laws")
# rules run as part of the `postprocess` group (one Slurm job); `all` has no command and runs
# in the Snakemake process itself; each simulation batch and strict_check are Slurm jobs
# Slurm jobs of their own, and the local rules: `all` (no command) and `spec` (an echo of a
# figure's or table's digest, workflow/rules/figures.smk)
UNGROUPED = {"simulate_batch", "strict_check", "all", "spec"}

# first status check 5 s after a submission instead of the profile's 10 s: the Slurm jobs here
# take 7-80 s, and this saves ~10 s per workflow stage
FAST_CHECKS = ("--slurm-init-seconds-before-status-checks", "5")

NUMBERS: dict[str, object] = {}
# stop after the simulations: the aggregate and the figures (some figures read run files
# directly, so they are not downstream of the aggregate)
# (experiment_config needs no simulation: without it here its post-processing job would run too)
SIMULATIONS_ONLY = (
    "--omit-from",
    "aggregate",
    "manifest",
    "study_table",
    "figure",
    "experiment_config",
)


def report(key: str, value) -> None:
    NUMBERS[key] = value
    print(f"\n[slurm numbers] {key}: {value}", flush=True)


def grid_config(steps=2000, k=(1, 2, 3), seeds=(0, 1), batches=BATCHES) -> dict:
    """Only the main grid: len(k) x len(seeds) simulations of `steps` GD steps."""
    cfg = small_config()
    cfg["batches"] = batches
    cfg["limits"].update(max_runs=100_000, allow_large_grid=True)
    cfg["gd"].update(steps=steps, record_every=steps // 40, weights_every=steps // 2)
    cfg["grid"] = {
        "k": list(k),
        "seed": list(seeds),
        "lr": [5.0e-4],
        "construction": ["orthogonal"],
    }
    for study in OPTIONAL_STUDIES:
        cfg.pop(study, None)
    return cfg


def profile_args(*extra) -> list[str]:
    return ["--workflow-profile", str(PROFILE), *FAST_CHECKS, *extra]


def env() -> dict:
    """Snakemake's environment; sbatch exports it to the jobs (they need the venv's python)."""
    e = dict(os.environ)
    e["PATH"] = f"{BIN}{os.pathsep}{e.get('PATH', '')}"
    return e


def submissions(out: str) -> list[tuple[str, str]]:
    """(Slurm job id, kind) for every sbatch Snakemake made; kind from the log's path:
    rule_simulate_batch, group_postprocess, rule_strict_check, ..."""
    found = re.findall(r"has been submitted with SLURM jobid (\d+) \(log: (\S+)\)", out)
    return [(jobid, _kind(log)) for jobid, log in found]


def _kind(log: str) -> str:
    for part in Path(log).parts:
        if part.startswith("group_postprocess"):
            return "group_postprocess"
        if part.startswith(("rule_", "group_")):
            return part
    return log


def run_uuid(out: str) -> str:
    m = re.search(r"SLURM run ID: (\S+)", out)
    assert m, f"no 'SLURM run ID' in the output:\n{out[-3000:]}"
    return m.group(1)


def sacct_jobs(name: str, since: str) -> dict[str, str]:
    """Slurm job id -> state, from the accounting database, for the jobs named `name` (the
    plugin names every job of one Snakemake run after the run's id)."""
    proc = subprocess.run(
        ["sacct", "-X", "-n", "-P", "--name", name, "-S", since, "-o", "JobIDRaw,State"],
        capture_output=True,
        text=True,
        check=True,
    )
    return dict(line.split("|", 1) for line in proc.stdout.splitlines() if line)


def localrules_run(out: str) -> set[str]:
    """Rules Snakemake ran in its own process instead of submitting them."""
    return set(re.findall(r"^\s*localrule (\w+):", out, flags=re.M))


def timed_snakemake(work: Path, *args, check=True):
    t0 = time.monotonic()
    proc = snakemake(work, *args, check=check)
    return proc, time.monotonic() - t0


def assert_same_trajectories(a_dir: Path, b_dir: Path) -> int:
    files = sorted(p.relative_to(a_dir) for p in (a_dir / "results/runs").rglob("*.nc"))
    assert files == sorted(p.relative_to(b_dir) for p in (b_dir / "results/runs").rglob("*.nc"))
    for rel in files:
        a, b = read_run(a_dir / rel), read_run(b_dir / rel)
        assert set(a.data_vars) == set(b.data_vars), rel
        for name in a.data_vars:
            x, y = a[name].values, b[name].values
            same = np.array_equal(x, y, equal_nan=x.dtype.kind == "f")  # NaN: a missing metric
            assert same, f"{rel}: {name} differs"
    return len(files)


# --------------------------------------------------------------------------------------------
# the cluster
# --------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def cluster(slurm_cluster):
    """The session's cluster (conftest.slurm_cluster); yields `since` for sacct: this module's jobs."""
    report("cluster start-up (cluster.sh start)", f"{slurm_cluster:.1f} s")
    yield datetime.now().strftime("%Y-%m-%dT%H:%M:%S")
    print(f"\n[slurm numbers] summary: {NUMBERS}", flush=True)


# --------------------------------------------------------------------------------------------
# the profile (no cluster needed)
# --------------------------------------------------------------------------------------------
def test_profile_groups_every_postprocessing_rule(tmp_path):
    """A new rule (e.g. a figure) that is not in the profile's postprocess group would be a
    Slurm job of its own: keep the profile's list complete."""
    write_config(tmp_path, small_config())
    rules = set(planned_jobs(tmp_path))
    profile = yaml.safe_load((PROFILE / "config.yaml").read_text())
    groups = dict(entry.split("=") for entry in profile["groups"])
    assert set(groups.values()) == {"postprocess"}
    missing = rules - UNGROUPED - set(groups)
    assert not missing, f"add {sorted(missing)} to `groups:` in {PROFILE}/config.yaml"
    assert set(groups) <= rules, f"rules not in the workflow: {sorted(set(groups) - rules)}"


# --------------------------------------------------------------------------------------------
# (a) + (b): a small grid through Slurm, grouped and not, against a local run
# --------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def grid_on_slurm(cluster, tmp_path_factory):
    """The whole workflow on the 6-run grid through the profile, in BATCHES batches."""
    work = tmp_path_factory.mktemp("slurm_grouped")
    write_config(work, grid_config())
    planned = planned_jobs(work)
    assert planned["simulate_batch"] == BATCHES
    proc, wall = timed_snakemake(work, *profile_args(), check=False)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-6000:]
    report(f"wall time, whole workflow through Slurm (6 runs, {BATCHES} batches)", f"{wall:.1f} s")
    return work, out, planned


def test_every_computing_job_runs_as_a_slurm_job_and_simulations_are_batched(
    grid_on_slurm, cluster
):
    work, out, planned = grid_on_slurm
    subs = submissions(out)
    kinds = [kind for _, kind in subs]
    # the 6 runs in BATCHES Slurm jobs, all post-processing in one, strict_check
    assert kinds.count("rule_simulate_batch") == BATCHES, subs
    assert kinds.count("group_postprocess") == 1, subs
    assert kinds.count("rule_strict_check") == 1, subs
    assert len(subs) == 4, subs
    # Slurm's records: exactly these jobs ran under this workflow run's name, all completed
    states = sacct_jobs(run_uuid(out), cluster)
    assert set(states) == {jobid for jobid, _ in subs}, (states, subs)
    assert set(states.values()) == {"COMPLETED"}, states
    # nothing but the command-less target rule and the spec echoes (localrules) ran outside
    # Slurm; nothing is left to do
    assert localrules_run(out) == {"all", "spec"}
    assert planned_jobs(work) == {}
    assert (work / f"{OUT}/.strict_check.ok").exists()
    ungrouped_jobs = sum(n for rule, n in planned.items() if rule != "all")
    report(
        f"Slurm submissions, whole workflow ({BATCHES} batches)",
        f"{len(subs)} ({BATCHES} simulation batches, 1 postprocess, 1 strict_check); "
        f"one Slurm job per rule job would be {ungrouped_jobs}",
    )


MANY = 300  # "a few hundred small runs"
MANY_BATCHES = 3


def test_a_few_hundred_runs_go_in_one_submission_per_batch(grid_on_slurm, cluster, tmp_path):
    """300 runs of 200 steps: MANY_BATCHES sbatch calls for the simulations, not 300 (at 10^5
    runs, the default 8 batches are 8 submissions); the trajectories equal a local run's."""
    cfg = grid_config(steps=200, k=(1, 2, 3, 4, 5), seeds=range(MANY // 5), batches=MANY_BATCHES)
    write_config(tmp_path, cfg)
    assert planned_jobs(tmp_path)["simulate_batch"] == MANY_BATCHES
    proc, wall = timed_snakemake(tmp_path, *profile_args(*SIMULATIONS_ONLY), check=False)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-6000:]
    subs = submissions(out)
    assert [kind for _, kind in subs] == ["rule_simulate_batch"] * MANY_BATCHES, subs
    states = sacct_jobs(run_uuid(out), cluster)
    assert set(states) == {jobid for jobid, _ in subs}
    assert set(states.values()) == {"COMPLETED"}, states
    assert len(list((tmp_path / "results/runs").rglob("*.nc"))) == MANY
    report(f"Slurm submissions, {MANY} runs (simulations only)", f"{len(subs)}")
    report(f"wall time, {MANY} runs through Slurm", f"{wall:.1f} s")
    local = tmp_path / "local"
    local.mkdir()
    write_config(local, cfg)
    snakemake(local, "--cores", "2", *SIMULATIONS_ONLY)
    assert assert_same_trajectories(tmp_path, local) == MANY


def test_trajectories_equal_a_local_run(grid_on_slurm, tmp_path):
    write_config(tmp_path, grid_config())
    t0 = time.monotonic()
    snakemake(tmp_path, "--cores", "2", *SIMULATIONS_ONLY)
    report("wall time, simulations only, local --cores 2", f"{time.monotonic() - t0:.1f} s")
    assert assert_same_trajectories(grid_on_slurm[0], tmp_path) == SIMS


# --------------------------------------------------------------------------------------------
# (c) a Slurm job killed while its simulation runs
# --------------------------------------------------------------------------------------------
# ~10-20 s of GD (0.2-0.4 us per step) after the job starts: the kill (1.2 s in) lands inside
# the GD loop, long before the run could finish
KILL_STEPS = 50_000_000


def _kill_config():
    """Two runs in two batches (the smallest number of batches that separates them)."""
    from dln.plan.runplan import plan_runs

    for n in range(2, 20):
        cfg = grid_config(steps=KILL_STEPS, k=(1, 2), seeds=(0,), batches=n)
        if len({run.batch(n) for run in plan_runs(cfg).values()}) == 2:
            return cfg
    raise AssertionError("no number of batches separates the two runs")


KILL_CONFIG = _kill_config()
KILLED = run_file(KILL_CONFIG, k=2)
SURVIVOR = run_file(KILL_CONFIG, k=1)


def _batch_of(path: str) -> str:
    from dln.plan.runplan import plan_runs

    (run,) = [r for r in plan_runs(KILL_CONFIG).values() if r.path == path]
    return run.batch(KILL_CONFIG["batches"])


def _slurm_job_of(path: str) -> str | None:
    """The queued or running Slurm job whose command targets the batch of `path`."""
    batch = _batch_of(path)
    ids = subprocess.run(
        ["squeue", "-h", "-o", "%i"], capture_output=True, text=True, check=True
    ).stdout.split()
    for jobid in ids:
        script = subprocess.run(
            ["scontrol", "write", "batch_script", jobid, "-"], capture_output=True, text=True
        ).stdout
        if re.search(rf"batch={batch}\b", script):
            return jobid
    return None


def test_killed_job_fails_the_run_and_the_rerun_completes_it(cluster, tmp_path):
    """`scancel --signal=TERM`: the job's processes get SIGTERM, the job ends FAILED.

    (A plain `scancel` ends it as "CANCELLED by <uid>" in sacct, which plugin 2.8.0 does not
    recognise: Snakemake would wait for that job forever, see docs/slurm.md, "Stopping".)
    """
    write_config(tmp_path, KILL_CONFIG)
    args = profile_args("--retries", "0", *SIMULATIONS_ONLY)
    cmd = [str(BIN / "snakemake"), "-s", str(REPO / "Snakefile"), "-d", str(tmp_path), *args]
    log = tmp_path / "snakemake.out"
    sim_log = tmp_path / f"{OUT}/logs/batches/{_batch_of(KILLED)}.log"
    t0 = time.monotonic()
    with open(log, "w") as fh:
        proc = subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT, text=True, env=env())
    try:
        # the job's shell command creates the simulation's log: from then on GD is running
        deadline = time.monotonic() + 120
        while not sim_log.exists():
            assert proc.poll() is None, log.read_text()[-4000:]
            assert time.monotonic() < deadline, "the simulation never started"
            time.sleep(0.1)
        jobid = _slurm_job_of(KILLED)
        assert jobid, subprocess.run(["squeue"], capture_output=True, text=True).stdout
        time.sleep(1.2)  # past the imports (~0.8 s), inside the GD loop
        subprocess.run(["scancel", "--signal=TERM", jobid], check=True)
        t_kill = time.monotonic() - t0
        rc = proc.wait(timeout=150)
    finally:
        if proc.poll() is None:
            proc.terminate()  # Snakemake cancels its Slurm jobs on SIGTERM
            proc.wait(timeout=60)
    out = log.read_text()
    report("kill test: first run", f"{time.monotonic() - t0:.1f} s (scancel at {t_kill:.1f} s)")
    assert rc != 0, out[-4000:]
    # Snakemake reports the failed batch job with its Slurm log (named after the Slurm job
    # id); Slurm's records agree
    assert "Error in rule simulate_batch" in out, out[-4000:]
    assert "slurm_logs/rule_simulate_batch/" in out and f"{jobid}.log" in out, out[-4000:]
    # (Snakemake shows the rule's own log; Slurm's says the step was cancelled)
    slurm_log = next((tmp_path / ".snakemake/slurm_logs/rule_simulate_batch").rglob(f"{jobid}.log"))
    text = slurm_log.read_text()
    assert f"STEP {jobid}.0 ON" in text and "CANCELLED AT" in text, text[-4000:]
    states = sacct_jobs(run_uuid(out), cluster)
    assert states.pop(jobid) == "FAILED"
    assert list(states.values()) == ["COMPLETED"], states
    # killed inside the GD loop (the batch logs each run once its file is written) ...
    assert "computed" not in sim_log.read_text()
    # ... nothing at the final path, and the other simulation completed (keep-going)
    assert not (tmp_path / KILLED).exists()
    read_run(tmp_path / SURVIVOR)
    survivor_mtime = (tmp_path / SURVIVOR).stat().st_mtime_ns

    # the rerun submits exactly the killed simulation and completes it
    proc, wall = timed_snakemake(tmp_path, *args, check=False)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-4000:]
    report("kill test: rerun", f"{wall:.1f} s")
    assert len(submissions(out)) == 1, submissions(out)
    assert read_run(tmp_path / KILLED).sizes["step"] == 41
    assert (tmp_path / SURVIVOR).stat().st_mtime_ns == survivor_mtime
    assert not list((tmp_path / "results/runs").rglob(".*.tmp-*"))
