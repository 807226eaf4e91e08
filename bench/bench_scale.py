"""Benchmark of the workflow at scale (not a test; timings never go into tests).

Run:  .venv/bin/python bench/bench_scale.py [--runs 10000] [--local-runs 600] [--cores 2]

Measured side by side in one run, in fresh temporary directories:
  1. planning: `snakemake -n` on a grid of --runs runs (k 0..5 x seeds, 2,000 steps each);
  2. the whole local workflow up to the aggregate on --local-runs runs of that grid:
     wall seconds per run;
  3. aggregation alone of --runs run files and of a tenth as many (copies of one real run
     file, planned under distinct ids), each in a fresh process: wall time and peak RSS, so
     the ratio shows whether memory grows with the number of runs.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def grid_config(n_runs: int) -> dict:
    cfg = yaml.safe_load((REPO / "config.yaml").read_text())
    seeds = max(1, n_runs // 6)
    cfg["gd"].update(steps=2000, record_every=50, weights_every=1000)
    cfg["grid"] = {
        "k": [0, 1, 2, 3, 4, 5],
        "seed": list(range(seeds)),
        "lr": [5.0e-4],
        "construction": ["orthogonal"],
    }
    cfg["figures"]["main_seed"] = 0
    for study in ("lr_sweep", "flow", "precision", "depth", "gaussian", "laws"):
        cfg[study] = None
    cfg["limits"].update(max_runs=10 * n_runs, allow_large_grid=True)
    return cfg


def snakemake(work: Path, *args: str) -> float:
    env = dict(
        os.environ, PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}", SLURM_CONF="/dev/null"
    )  # local runs: no wait for the Slurm plugin's scontrol
    cmd = [str(BIN / "snakemake"), "-s", str(REPO / "Snakefile"), "-d", str(work), *args]
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if proc.returncode:
        sys.exit(f"{' '.join(cmd)} failed:\n{proc.stderr[-3000:]}")
    return time.perf_counter() - start


AGGREGATE_CHILD = """
import resource, sys, time
from dln.data.aggregate import aggregate
t = time.perf_counter()
n = aggregate("plan.csv", "runs.nc", "runs.csv", "bench", "x")
print(n, time.perf_counter() - t, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


def aggregate_copies(tmp: Path, template: Path, n: int) -> tuple[float, float]:
    """(seconds, peak RSS MB) of aggregating n copies of one run file, in a fresh process."""
    work = tmp / f"agg{n}"
    key = template.stem.rsplit("-", 1)[-1]
    lines = ["run,path,steps,record_every,d,in_grid"]
    for i in range(n):
        rid = f"bench/r{i}-{key}"
        path = work / "results/runs" / f"{rid}.nc"
        path.parent.mkdir(parents=True, exist_ok=True)
        if i == 0:
            shutil.copyfile(template, path)
        else:
            os.link(work / "results/runs" / f"bench/r0-{key}.nc", path)
        lines.append(f"{rid},results/runs/{rid}.nc,2000,50,5,true")
    (work / "plan.csv").write_text("\n".join(lines) + "\n")
    out = subprocess.run(
        [sys.executable, "-c", AGGREGATE_CHILD],
        cwd=work,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    shutil.rmtree(work)
    return float(out[1]), int(out[2]) / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--local-runs", type=int, default=600)
    parser.add_argument("--cores", default="2")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="dln-scale-") as tmp:
        tmp = Path(tmp)
        big = tmp / "big"
        big.mkdir()
        (big / "config.yaml").write_text(yaml.safe_dump(grid_config(args.runs)))
        dry = snakemake(big, "-n", "--quiet")
        small = tmp / "small"
        small.mkdir()
        (small / "config.yaml").write_text(yaml.safe_dump(grid_config(args.local_runs)))
        n_local = 6 * max(1, args.local_runs // 6)
        local = snakemake(small, "--cores", args.cores, "results/paper/runs.nc")
        template = next((small / "results/runs").rglob("*.nc"))
        t_small, mem_small = aggregate_copies(tmp, template, args.runs // 10)
        t_big, mem_big = aggregate_copies(tmp, template, args.runs)
    print(f"scale benchmark, --cores {args.cores}, 2,000 steps per run")
    print(f"dry run (snakemake -n) of {args.runs:,} runs:            {dry:8.1f} s")
    print(
        f"local workflow to the aggregate, {n_local:,} runs:        {local:8.1f} s"
        f"  = {local / n_local:.3f} s per run"
    )
    print(
        f"aggregation of {args.runs // 10:,} run files:                 {t_small:8.1f} s,"
        f" peak RSS {mem_small:6.0f} MB"
    )
    print(
        f"aggregation of {args.runs:,} run files:                {t_big:8.1f} s,"
        f" peak RSS {mem_big:6.0f} MB"
    )
    print(f"ratios 10x runs: time x{t_big / t_small:.1f}, peak memory x{mem_big / mem_small:.2f}")


if __name__ == "__main__":
    main()
