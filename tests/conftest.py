"""Shared helpers: run the real Snakemake workflow of this repository on small configs."""

from __future__ import annotations

import copy
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
CLUSTER_CONF = "/etc/slurm/slurm.conf"  # tests/slurm/cluster.sh: SLURM_CONF_FILE
CLUSTER_SH = REPO / "tests/slurm/cluster.sh"


def small_config() -> dict:
    """The default config shrunk to a few short runs (each a fraction of a second): the overlay
    .test/config.yaml merged over config.yaml as `snakemake --configfile .test/config.yaml` does
    (a nested update; a null replaces, which switches the studies beyond the paper off)."""
    from snakemake.utils import update_config

    cfg = yaml.safe_load((REPO / "config.yaml").read_text())
    update_config(cfg, yaml.safe_load((REPO / ".test/config.yaml").read_text()))
    # the overlay names its own experiment ("test"); the tests look for results/paper/..., the
    # default experiment's outputs (OUT below), so they keep its name
    cfg["experiment"] = "paper"
    return cfg


OUT = "results/paper"  # the default experiment's outputs, relative to the workflow directory


def run_file(cfg: dict, solver: str = "gd", **settings) -> str:
    """The run file (relative path) of the one planned run of `cfg` with these settings."""
    from dln.plan.runplan import plan_runs, select

    matches = select(plan_runs(cfg), solver=solver, **settings)
    assert len(matches) == 1, f"{len(matches)} planned runs match {settings}"
    return matches[0].path


def write_config(workdir: Path, cfg: dict) -> Path:
    path = workdir / "config.yaml"
    path.write_text(yaml.safe_dump(copy.deepcopy(cfg), sort_keys=False))
    return path


def snakemake(workdir: Path, *args, check=True, timeout=600, env_extra=None):
    """Run this repository's Snakefile in workdir (its config.yaml there)."""
    env = dict(os.environ)
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    env.update(env_extra or {})
    cmd = [str(BIN / "snakemake"), "-s", str(REPO / "Snakefile"), "-d", str(workdir), *args]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
    if check and proc.returncode != 0:
        raise AssertionError(
            f"{' '.join(cmd)} failed:\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}"
        )
    return proc


def planned_jobs(workdir: Path, *args) -> dict[str, int]:
    """Rule -> number of jobs a dry run would execute (empty when nothing is to be done)."""
    proc = snakemake(workdir, "-n", "--quiet", "rules", *args)
    out = proc.stdout + proc.stderr
    counts = {}
    for rule, n in re.findall(r"^(\w+)\s+(\d+)$", out, flags=re.M):
        if rule != "total":
            counts[rule] = int(n)
    return counts


@pytest.fixture
def workdir(tmp_path):
    write_config(tmp_path, small_config())
    return tmp_path


def planned_runs(workdir: Path, *args) -> set[str]:
    """Run files a dry run would (re)create: the runs of the batches it would run that the
    store lacks (a batch job computes only those, dln.data.pipeline.run_batch)."""
    from dln.data.pipeline import stored_run_ok
    from dln.plan.runplan import DEFAULT_BATCHES, plan_runs
    from dln.solve.run import source_fingerprint

    proc = snakemake(workdir, "-n", *args)
    batches = set(re.findall(r"output: results/[^/\s]+/batches/(b\d+)\.tsv", proc.stdout))
    cfg = yaml.safe_load((workdir / "config.yaml").read_text())
    n = cfg.get("batches", DEFAULT_BATCHES)
    code = source_fingerprint()
    return {
        run.path
        for run in plan_runs(cfg).values()
        if run.batch(n) in batches and not stored_run_ok(workdir / run.path, code)
    }


def slurm_unavailable_reason() -> str | None:
    if os.geteuid() != 0:
        return "needs root (tests/slurm/cluster.sh installs and starts the Slurm daemons)"
    if shutil.which("apt-get") is None:
        return "needs apt-get (tests/slurm/cluster.sh installs Slurm with apt)"
    return None


@pytest.fixture(scope="session", autouse=True)
def _local_runs_skip_slurm():
    """Local Snakemake runs read no Slurm config (SLURM_CONF=/dev/null) until slurm_cluster starts.

    Every Snakemake start imports the Slurm executor plugin (2.8.0), which runs
    `scontrol show config` on import (docs/slurm.md, "Start-up cost"). Where Slurm's clients are
    installed but no controller answers, that waits ~9 s; an empty config makes scontrol fail at
    once. Local runs never use Slurm, so this changes nothing else.
    """
    patch = pytest.MonkeyPatch()
    patch.setenv("SLURM_CONF", os.devnull)
    yield patch
    patch.undo()


@pytest.fixture(scope="session")
def slurm_cluster(_local_runs_skip_slurm):
    """A real single-node Slurm cluster for the whole session; yields its start-up seconds.

    Skipped without root or apt (an error on CI, where it must run). From its start on, every
    process sees the real Slurm config again; the cluster stays up until the end of the session.
    """
    reason = slurm_unavailable_reason()
    if reason:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"Slurm tests cannot run on CI: {reason}")
        pytest.skip(reason)
    _local_runs_skip_slurm.undo()
    # the cluster's config (cluster.sh writes it there), also when the caller's shell set
    # SLURM_CONF=/dev/null for its local runs (docs/slurm.md, "Start-up cost")
    _local_runs_skip_slurm.setenv("SLURM_CONF", CLUSTER_CONF)
    t0 = time.monotonic()
    proc = subprocess.run([str(CLUSTER_SH), "start"], capture_output=True, text=True, timeout=900)
    if proc.returncode != 0:
        pytest.fail(f"tests/slurm/cluster.sh start failed:\n{proc.stdout}\n{proc.stderr}")
    yield time.monotonic() - t0
    stop = subprocess.run([str(CLUSTER_SH), "stop"], capture_output=True, text=True, timeout=300)
    assert stop.returncode == 0, stop.stdout + stop.stderr
