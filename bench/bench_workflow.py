"""Benchmark of the whole workflow on this machine (not a test; timings never go into tests).

Run:  .venv/bin/python bench/bench_workflow.py [--cores 2] [--config config.yaml]

In a fresh temporary working directory with the given config (default: the repository's, i.e.
the paper's full experiment) it times, one after the other in one run:
  1. the full rebuild from an empty results/ (`snakemake --cores N`),
  2. a no-op rerun (nothing to do),
  3. the rerun after adding one seed to grid.seed, and which jobs it ran,
(the paper's studies; --with-laws keeps the laws study too)
and prints the wall times, the jobs per rule, and the ratios to the full rebuild.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def snakemake(workdir: Path, *args: str) -> tuple[float, dict[str, int]]:
    # SLURM_CONF=/dev/null: a local run does not wait for the Slurm plugin's scontrol
    env = dict(
        os.environ, PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}", SLURM_CONF="/dev/null"
    )
    cmd = [str(BIN / "snakemake"), "-s", str(REPO / "Snakefile"), "-d", str(workdir), *args]
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    wall = time.perf_counter() - start
    if proc.returncode:
        sys.exit(f"{' '.join(cmd)} failed:\n{proc.stderr[-3000:]}")
    out = proc.stdout + proc.stderr
    table = out.split("Job stats:")[1].split("Reasons:")[0] if "Job stats:" in out else ""
    jobs = {r: int(n) for r, n in re.findall(r"^(\w+)\s+(\d+)$", table, flags=re.M) if r != "total"}
    return wall, jobs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cores", default="2")
    parser.add_argument("--config", default=str(REPO / "config.yaml"))
    parser.add_argument(
        "--with-laws",
        action="store_true",
        help="keep the laws study (the targets refer to the paper's studies)",
    )
    args = parser.parse_args()
    cfg = yaml.safe_load(Path(args.config).read_text())
    if not args.with_laws:
        cfg["laws"] = None
    with tempfile.TemporaryDirectory(prefix="dln-bench-") as tmp:
        work = Path(tmp)
        (work / "config.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
        full, jobs_full = snakemake(work, "--cores", args.cores)
        noop, jobs_noop = snakemake(work, "--cores", args.cores)
        cfg["grid"]["seed"] = cfg["grid"]["seed"] + [max(cfg["grid"]["seed"]) + 1]
        (work / "config.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
        # the same experiment with another config: said on purpose (an experiment is its config)
        seed, jobs_seed = snakemake(work, "--cores", args.cores, "--config", "overwrite=true")
    print(f"workflow benchmark, --cores {args.cores}, config {args.config}")
    print(f"{'step':<34}{'wall s':>9}{'vs full':>9}  jobs")
    for name, wall, jobs in (
        ("full rebuild from empty results/", full, jobs_full),
        ("no-op rerun", noop, jobs_noop),
        ("rerun after adding one seed", seed, jobs_seed),
    ):
        listing = ", ".join(f"{r} {n}" for r, n in jobs.items() if r != "all") or "none"
        print(f"{name:<34}{wall:>9.1f}{wall / full:>9.2f}  {listing}")


if __name__ == "__main__":
    main()
