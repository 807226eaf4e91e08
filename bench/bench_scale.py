"""Benchmark of the workflow at scale (not a test; timings never go into tests).

Run:  .venv/bin/python bench/bench_scale.py [--runs 10000] [--local-runs 600]
                                            [--paper-runs 200] [--cores 2]
                                            [--only dry,local,paper,aggregate,parts]

Measured side by side in one run, in fresh temporary directories:
  1. planning: `snakemake -n` on a grid of --runs runs (k 0..5 x seeds, 2,000 steps each), and
     of a hundredth as many: wall time and peak RSS (the ratio: does it grow with the runs?);
  2. the whole local workflow up to the aggregate on --local-runs runs of that grid:
     wall seconds per run;
  3. the paper's runs (1e5 steps, record_every 1000), --paper-runs of them: the whole local
     workflow up to the aggregate beside the arithmetic of the same runs in this process, with
     the single-run kernel (one run after another) and with the batched kernel (one core);
  4. aggregation alone of --runs run files and of a tenth as many (copies of one real run
     file, planned under distinct ids), each in a fresh process: wall time and peak RSS, so
     the ratio shows whether memory grows with the number of runs;
  5. where a run's time goes inside a batch (parts): --local-runs 2,000-step runs of that grid
     computed in this process as a batch job does, each part timed per run (median): GD (the
     batched kernel, per run), analysis, writing the run file, the store check of a stored
     run, and its manifest digest.
--only runs just the listed steps (e.g. `--only local,parts`; default: all).
"""

from __future__ import annotations

import argparse
import functools
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


def grid_config(n_runs: int, paper: bool = False) -> dict:
    cfg = yaml.safe_load((REPO / "config.yaml").read_text())
    seeds = max(1, n_runs // 6)
    if paper:
        cfg["gd"].update(steps=100_000, record_every=1000, weights_every=10_000)
    else:
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
    """Wall seconds of one snakemake call (its peak RSS: peak_rss_mb right after it)."""
    env = dict(
        os.environ, PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}", SLURM_CONF="/dev/null"
    )  # local runs: no wait for the Slurm plugin's scontrol
    cmd = [str(BIN / "snakemake"), "-s", str(REPO / "Snakefile"), "-d", str(work), *args]
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if proc.returncode:
        sys.exit(f"{' '.join(cmd)} failed:\n{proc.stderr[-3000:]}")
    return time.perf_counter() - start


def peak_rss_mb(*args: str) -> float:
    """Peak RSS (MB) of one snakemake call, measured in a child that only waits for it."""
    code = (
        "import resource, subprocess, sys; subprocess.run(sys.argv[1:], capture_output=True);"
        "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)"
    )
    env = dict(os.environ, PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}")
    env["SLURM_CONF"] = "/dev/null"
    cmd = [sys.executable, "-c", code, str(BIN / "snakemake"), "-s", str(REPO / "Snakefile")]
    out = subprocess.run([*cmd, *args], capture_output=True, text=True, env=env).stdout
    return int(out.split()[-1]) / 1024


def arithmetic(cfgs) -> tuple[float, float]:
    """Seconds of GD for these runs here: single-run kernel one by one, batched kernel."""
    import numpy as np

    from dln.model.problem import flatten
    from dln.solve.kernel import gd_run, gd_run_batch
    from dln.solve.run import initial_weights

    problem = cfgs[0].problem()
    thetas = np.stack([flatten(initial_weights(c, problem)) for c in cfgs])
    c0 = cfgs[0]
    start = time.perf_counter()
    for theta, cfg in zip(thetas, cfgs, strict=True):
        gd_run(theta, problem.Phi, problem.widths, cfg.lr, cfg.steps, cfg.record_every)
    single = time.perf_counter() - start
    start = time.perf_counter()
    gd_run_batch(
        thetas, problem.Phi, problem.widths, [c.lr for c in cfgs], c0.steps, c0.record_every
    )
    return single, time.perf_counter() - start


AGGREGATE_CHILD = """
import resource, sys, time
from dln.data.aggregate import aggregate
t = time.perf_counter()
n = aggregate("plan.csv", "runs.nc", "runs.csv", "bench", "x", workers=int(sys.argv[1]))
print(n, time.perf_counter() - t, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


def aggregate_copies(tmp: Path, template: Path, n: int, workers: int) -> tuple[float, float]:
    """(seconds, peak RSS MB: the writer's process) of aggregating n copies of one run file,
    in a fresh process with `workers` reader processes."""
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
        [sys.executable, "-c", AGGREGATE_CHILD, str(workers)],
        cwd=work,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    shutil.rmtree(work)
    return float(out[1]), int(out[2]) / 1024


def dry_runs(tmp: Path, n: int) -> tuple[float, float, float, float]:
    """(seconds, MB) of `snakemake -n` for n runs and for n / 100."""
    out = []
    for runs in (n, max(6, n // 100)):
        work = tmp / f"dry{runs}"
        work.mkdir()
        (work / "config.yaml").write_text(yaml.safe_dump(grid_config(runs)))
        out += [snakemake(work, "-n", "--quiet"), peak_rss_mb("-d", str(work), "-n", "--quiet")]
    return tuple(out)


def paper_runs(tmp: Path, n: int, cores: str) -> tuple[int, float, float, float]:
    """(runs, workflow s, single-run kernel s, batched kernel s) for n of the paper's runs."""
    from dln.plan.runplan import plan_runs

    work = tmp / "paper"
    work.mkdir()
    cfg = grid_config(n, paper=True)
    (work / "config.yaml").write_text(yaml.safe_dump(cfg))
    wall = snakemake(work, "--cores", cores, "results/paper/runs.nc")
    cfgs = [run.config for run in plan_runs(cfg).values()]
    single, batched = arithmetic(cfgs)
    return len(cfgs), wall, single, batched


STEPS = ("dry", "local", "paper", "aggregate", "parts")


def batch_parts(n: int) -> dict:
    """Median ms per run of each part of a batch job's work, on n 2,000-step runs of the grid,
    in this process, called as dln.data.pipeline.run_batch calls them: GD (batched, per run),
    analysis, write, the batch's final sync (per run), then on the stored files the store
    check and the manifest digest. (Before the batch-end sync, write included an fsync per
    file and the check and digest were two passes; the script measures either version.)"""
    import inspect
    import statistics

    from dln.analysis.result import analyse_run
    from dln.data import pipeline
    from dln.data.runfile import write_run_file
    from dln.plan.runplan import plan_runs
    from dln.solve.batch import simulate_many
    from dln.solve.run import source_fingerprint

    cfgs = [run.config for run in plan_runs(grid_config(n)).values()][:n]
    code, times = source_fingerprint(), {p: [] for p in ("analysis", "write", "check", "digest")}
    batch_sync = "sync" in inspect.signature(write_run_file).parameters
    write = functools.partial(write_run_file, sync=False) if batch_sync else write_run_file
    start = time.perf_counter()
    trajectories = simulate_many(cfgs)
    gd = (time.perf_counter() - start) / len(cfgs)

    def timed(part, func, *args):
        start = time.perf_counter()
        out = func(*args)
        times[part].append(time.perf_counter() - start)
        return out

    with tempfile.TemporaryDirectory(prefix="dln-parts-") as tmp:
        paths = [Path(tmp) / f"r{i}.nc" for i in range(len(cfgs))]
        for traj, path in zip(trajectories, paths, strict=True):
            timed("write", write, timed("analysis", analyse_run, traj), path)
        start = time.perf_counter()
        if batch_sync:
            pipeline.sync_to_disk(paths)
        sync = (time.perf_counter() - start) / len(cfgs)
        for path in paths:
            if batch_sync:  # one pass: checksum, fingerprint and the manifest's digest
                assert timed("check", pipeline.stored_digest, path, code)
            else:
                assert timed("check", pipeline.stored_run_ok, path, code)
                timed("digest", pipeline.file_sha256, path)
        size = paths[0].stat().st_size
    out = {part: 1000 * statistics.median(t) if t else 0.0 for part, t in times.items()}
    return {"runs": len(cfgs), "gd": 1000 * gd, "sync": 1000 * sync, **out, "bytes": size}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--local-runs", type=int, default=600)
    parser.add_argument("--paper-runs", type=int, default=200)
    parser.add_argument("--cores", default="2")
    parser.add_argument("--only", default=",".join(STEPS), help="comma-separated steps to run")
    args = parser.parse_args()
    args.only = set(args.only.split(","))
    if args.only - set(STEPS):
        parser.error(f"--only: unknown steps {sorted(args.only - set(STEPS))} (steps: {STEPS})")
    print(f"scale benchmark, --cores {args.cores}; load before: {os.getloadavg()}")
    with tempfile.TemporaryDirectory(prefix="dln-scale-") as tmp:
        tmp = Path(tmp)
        if "dry" in args.only:
            report_dry(args, *dry_runs(tmp, args.runs))
        if {"local", "aggregate"} & args.only:
            small = tmp / "small"
            small.mkdir()
            (small / "config.yaml").write_text(yaml.safe_dump(grid_config(args.local_runs)))
            n_local = 6 * max(1, args.local_runs // 6)
            local = snakemake(small, "--cores", args.cores, "results/paper/runs.nc")
            print(
                f"local workflow to the aggregate, {n_local:,} runs of 2,000 steps: "
                f"{local:.1f} s = {1000 * local / n_local:.1f} ms per run"
            )
        if "paper" in args.only:
            report_paper(*paper_runs(tmp, args.paper_runs, args.cores))
        if "aggregate" in args.only:
            template = next((small / "results/runs").rglob("*.nc"))
            report_aggregate(
                args,
                aggregate_copies(tmp, template, args.runs // 10, int(args.cores)),
                aggregate_copies(tmp, template, args.runs, int(args.cores)),
            )
    if "parts" in args.only:
        report_parts(batch_parts(args.local_runs))
    print(f"load after: {os.getloadavg()}")


def report_dry(args, dry, dry_mb, dry_small, dry_small_mb) -> None:
    n_small = max(6, args.runs // 100)
    print(f"dry run (snakemake -n) of {args.runs:,} runs: {dry:.1f} s, {dry_mb:.0f} MB")
    print(
        f"dry run of {n_small:,} runs: {dry_small:.1f} s, {dry_small_mb:.0f} MB "
        f"(ratio: time x{dry / dry_small:.1f}, memory x{dry_mb / dry_small_mb:.2f})"
    )


def report_paper(n, wall, single, batched) -> None:
    print(
        f"paper runs (1e5 steps), {n:,}: workflow {wall:.1f} s; arithmetic here, one core: "
        f"single-run kernel {single:.1f} s, batched kernel {batched:.1f} s"
    )
    print(
        f"  ratios: workflow / single-run arithmetic x{wall / single:.2f}, workflow / batched "
        f"arithmetic x{wall / batched:.2f}, single / batched x{single / batched:.2f}"
    )


def report_aggregate(args, small, big) -> None:
    for n, (t, mem) in ((args.runs // 10, small), (args.runs, big)):
        print(
            f"aggregation of {n:,} run files ({args.cores} readers): {t:.1f} s, peak RSS {mem:.0f} MB"
        )
    print(f"ratios 10x runs: time x{big[0] / small[0]:.1f}, peak memory x{big[1] / small[1]:.2f}")


def report_parts(p: dict) -> None:
    print(
        f"a batch's parts, {p['runs']} runs of 2,000 steps, ms per run (median): GD "
        f"{p['gd']:.2f} (batched kernel), analysis {p['analysis']:.2f}, write {p['write']:.2f}, "
        f"batch-end sync {p['sync']:.2f} (mean), store check {p['check']:.2f}, manifest digest "
        f"{p['digest']:.2f} (0: part of the check); run file {p['bytes']:,} bytes"
    )


if __name__ == "__main__":
    main()
