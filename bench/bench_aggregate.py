"""Benchmark of the aggregation at scale (not a test; timings never go into tests).

Run:  .venv/bin/python bench/bench_aggregate.py [--runs 10000 100000] [--workers 1 2]
                                                [--distinct 256] [--code DIR ...] [--open]

The store: --distinct real analysed run files (k = 0..5 x seeds, 2,000 steps, record_every
50, as bench_scale's grid; 256 by default, so that one chunk of runs.nc's trajectories, 256
runs, holds distinct runs and compresses as real ones would), each hard-linked under many
distinct planned ids `bench/r<i // 1000>/r<i>-<key>`, where <key> is the file's own run key. So the
aggregate's checks all run and pass honestly (every file's content checksum over its bytes,
its dln_kind, its run key against the planned id), but the files are --distinct inodes:
their bytes stay in the page cache, so this measures the aggregation, not a cold disk. The plan lists every run in the
main grid (in_grid) and every tenth also in a second study (in_lr_sweep), so two trajectory
groups are written and a tenth of the runs twice.

Each (code, runs, workers) is aggregated in a fresh process: wall seconds, CPU seconds of
the writer (the process that calls aggregate) and of its readers together (on a busy machine
the CPU seconds say more than the wall time), the peak RSS of the writer and of its largest
reader, and the size of runs.nc. --code DIR puts DIR first on PYTHONPATH (e.g. a `git archive` of an
earlier commit's workflow/ directory) to compare code versions side by side in one run;
code without a `workers` parameter is run as it is (its one process). --open also times
opening the largest runs.nc: xr.open_dataset of the table and of the grid group (loaded),
and dln.data.io.open_aggregate(group="grid"), each in a fresh process with its peak RSS.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

AGGREGATE_CHILD = """
import inspect, resource, sys, time
from dln.data.aggregate import aggregate
workers = int(sys.argv[1])
kw = {"workers": workers} if "workers" in inspect.signature(aggregate).parameters else {}
t = time.perf_counter()
n = aggregate(sys.argv[2], "runs.nc", "runs.csv", "bench", "x", **kw)
wall = time.perf_counter() - t
own, readers = (resource.getrusage(who) for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN))
cpu = own.ru_utime + own.ru_stime, readers.ru_utime + readers.ru_stime
print(n, wall, own.ru_maxrss, readers.ru_maxrss, bool(kw), *cpu)
"""

OPEN_CHILD = """
import resource, sys, time
import xarray as xr
from dln.data.io import open_aggregate
how = sys.argv[1]
t = time.perf_counter()
if how == "table":
    ds = xr.open_dataset("runs.nc").load()
elif how == "group":
    ds = xr.open_dataset("runs.nc", group="trajectories/grid").load()
else:
    ds = open_aggregate("runs.nc", group="grid")
print(time.perf_counter() - t, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


def templates(store: Path, distinct: int) -> list[tuple[str, Path]]:
    """`distinct` real run files (k = 0..5, seeds 0, 1, ...): (run key, path)."""
    from dln.analysis.result import analyse_run
    from dln.data.runfile import write_run_file
    from dln.solve.run import RunConfig, simulate

    out = []
    for i in range(distinct):
        cfg = RunConfig(k=i % 6, seed=i // 6, steps=2000, record_every=50, weights_every=1000)
        path = store / f"template-{cfg.key()}.nc"
        write_run_file(analyse_run(simulate(cfg)), path)
        out.append((cfg.key(), path))
    return out


def build_store(work: Path, n: int, distinct: int) -> list[str]:
    """n planned runs, hard links of `distinct` real run files; their plan rows (no header)."""
    runs = work / "results/runs"
    sources = templates(work, distinct)
    rows = []
    for i in range(n):
        key, source = sources[i % distinct]
        rid = f"bench/r{i // 1000}/r{i}-{key}"
        path = runs / f"{rid}.nc"
        path.parent.mkdir(parents=True, exist_ok=True)
        os.link(source, path)
        sweep = "true" if i % 10 == 0 else "false"
        rows.append(f"{rid},results/runs/{rid}.nc,2000,50,5,true,{sweep}")
    return rows


def child(code: str | None, script: str, *args: str, cwd: Path) -> list[str]:
    env = dict(os.environ)
    if code:
        env["PYTHONPATH"] = os.pathsep.join([code, env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    cmd = [sys.executable, "-c", script, *args]
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    if proc.returncode:
        sys.exit(f"{' '.join(cmd[:2])} ... {' '.join(args)} failed:\n{proc.stderr[-3000:]}")
    return proc.stdout.split()


def aggregate_once(work: Path, code, n: int, workers: int) -> str:
    plan = work / f"plan{n}.csv"
    n_out, wall, own, readers, parallel, cpu_own, cpu_readers = child(
        code, AGGREGATE_CHILD, str(workers), plan.name, cwd=work
    )
    assert int(n_out) == n
    size = (work / "runs.nc").stat().st_size / 1e6
    if parallel == "True" and workers > 1:
        how, readers_mb = f"{workers} readers", f"largest reader {int(readers) / 1024:4.0f} MB"
    else:  # one process: no reader children
        how, readers_mb = "one process", "no readers"
    cpu = f"CPU writer {float(cpu_own):5.1f} s + readers {float(cpu_readers):5.1f} s"
    return (
        f"{n:>7,} runs, {how:>11}: {float(wall):6.1f} s ({cpu}), "
        f"writer {int(own) / 1024:4.0f} MB, {readers_mb}, runs.nc {size:5.0f} MB"
    )


def open_times(work: Path, code) -> list[str]:
    lines = []
    for how in ("table", "group", "open_aggregate"):
        wall, rss = child(code, OPEN_CHILD, how, cwd=work)
        lines.append(f"  open {how:>15}: {float(wall):5.1f} s, peak RSS {int(rss) / 1024:5.0f} MB")
    return lines


def has_workers(code) -> bool:
    script = "import inspect; from dln.data.aggregate import aggregate as a\n"
    script += "print('workers' in inspect.signature(a).parameters)"
    return child(code, script, cwd=REPO)[0] == "True"


def measure(work: Path, args) -> None:
    """Sizes in turn, each code version beside the others (the load drifts); the open times
    right after a version's largest aggregate."""
    workers = {code: args.workers if has_workers(code) else [1] for code in args.code}
    for n in sorted(args.runs):
        for code in args.code:
            print(f"code {code or 'this checkout'}, load {os.getloadavg()[0]:.1f}:", flush=True)
            for w in workers[code]:
                print(aggregate_once(work, code, n, w), flush=True)
            if args.open and n == max(args.runs):
                print("\n".join(open_times(work, code)), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--distinct", type=int, default=256, help="real run files simulated")
    parser.add_argument("--code", nargs="+", default=[None], help="workflow dirs to compare")
    parser.add_argument("--open", action="store_true", help="time opening the largest runs.nc")
    parser.add_argument("--dir", default=None, help="where to build the store (default: tmp)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="dln-agg-", dir=args.dir) as tmp:
        work = Path(tmp)
        rows = build_store(work, max(args.runs), args.distinct)
        header = "run,path,steps,record_every,d,in_grid,in_lr_sweep\n"
        for n in args.runs:
            (work / f"plan{n}.csv").write_text(header + "\n".join(rows[:n]) + "\n")
        print(f"aggregation benchmark (load before: {os.getloadavg()[0]:.1f})", flush=True)
        measure(work, args)
        print(f"load after: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
