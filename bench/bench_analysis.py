"""Benchmark of one run's analysis (dln.analysis.result.analyse_run), compiled loops against the
Python reference, side by side in one process.

Run:  .venv/bin/python bench/bench_analysis.py [--repeat 7]

For each case (k = 0, k = 2 orthogonal, k = 2 antisymmetric; 2,000 steps recording every 10,
and the paper's 1e5 steps recording every 50) it simulates the run once, then times
analyse_run alternately with the compiled paths (dln/model/_ode.c: the reduced flow, the
modified-loss flow, the records' loss/gradient norm and geometry) and with their Python
references (backend="python": dln.model.ode's Dormand-Prince in NumPy, the per-record kernel
calls and NumPy products: the code that ran before the compiled loops, with |g| by np.sum
instead of np.linalg.norm), and prints best and median ms per run and the ratio of the bests. It also
times the GD run itself, and prints the largest relative difference between the two paths'
predictions (exit time, plateau time, log gain, eps) over the cases.
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import time

import numpy as np

from dln.analysis import escape_model, trajectory
from dln.analysis.result import analyse_run
from dln.model import reduced
from dln.solve.run import RunConfig, simulate

CASES = {
    "k=0, 2,000 steps": dict(k=0, steps=2000, record_every=10),
    "k=2 orthogonal, 2,000 steps": dict(k=2, steps=2000, record_every=10),
    "k=2 antisymmetric, 2,000 steps": dict(
        k=2, construction="antisymmetric", steps=2000, record_every=10
    ),
    "k=0, 1e5 steps": dict(k=0, steps=100_000),
    "k=2 orthogonal, 1e5 steps": dict(k=2, steps=100_000),
    "k=2 antisymmetric, 1e5 steps": dict(k=2, construction="antisymmetric", steps=100_000),
}
SWITCHED = (
    reduced.reduced_path,
    escape_model.discretisation_seed,
    trajectory.loss_and_grad_norm,
    trajectory.geometry,
)
PREDICTIONS = (
    "origin_exit_time_model",
    "predicted_plateau_start",
    "escape_log_gain",
    "predicted_eps",
)


@contextlib.contextmanager
def backend(name: str):
    """Every switched function's default backend set to `name` for the block."""
    saved = [f.__defaults__ for f in SWITCHED]
    try:
        for f in SWITCHED:
            f.__defaults__ = (*f.__defaults__[:-1], name)
        yield
    finally:
        for f, d in zip(SWITCHED, saved, strict=True):
            f.__defaults__ = d


def timed(fn) -> float:
    t = time.perf_counter()
    fn()
    return (time.perf_counter() - t) * 1e3


def compare(traj) -> tuple[float, float, float]:
    """(ms per analysis compiled, Python, max relative difference of the predictions), medians"""
    times = {"c": [], "python": []}
    metrics = {}
    for _ in range(ARGS.repeat):
        for name in ("c", "python"):
            with backend(name):
                times[name].append(
                    timed(lambda name=name: metrics.update({name: analyse_run(traj).metrics}))
                )
    diff = 0.0
    for key in PREDICTIONS:
        a, b = metrics["python"][key], metrics["c"][key]
        if np.isfinite(a) or np.isfinite(b):
            diff = max(diff, abs(b - a) / abs(a))
    return times["c"], times["python"], diff


def main() -> None:
    worst = 0.0
    print(
        f"{'case':32s} {'GD ms':>8s} {'analysis ms: compiled':>22s} {'python':>16s} {'ratio':>6s}"
    )
    for label, settings in CASES.items():
        cfg = RunConfig(seed=1, **settings)
        gd = min(timed(lambda cfg=cfg: simulate(cfg)) for _ in range(3))
        traj = simulate(cfg)
        c, py, diff = compare(traj)
        worst = max(worst, diff)
        ratio = min(py) / min(c)  # best of each: the least disturbed by other load
        print(
            f"{label:32s} {gd:8.2f} {min(c):9.2f} (med {statistics.median(c):6.2f})"
            f" {min(py):7.2f} (med {statistics.median(py):6.2f}) {ratio:6.1f}x"
        )
    print(f"largest relative difference of the predictions, compiled vs Python: {worst:.2e}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeat", type=int, default=7)
    ARGS = parser.parse_args()
    main()
