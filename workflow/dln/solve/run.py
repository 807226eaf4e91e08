"""One run = one set of settings -> one trajectory, analysed, in one NetCDF run file.

This module is on the simulation job's path: it imports NumPy and the kernel only (no xarray,
pandas or SciPy, for GD and gradient-flow runs alike), so a fresh `dln run` process starts fast.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dln.model.problem import ConfigError, Problem, flatten
from dln.model.theory import predict_k
from dln.solve.checks import DTYPES, INITS, SOLVERS
from dln.solve.resources import estimate_mem_seconds, estimate_resources, n_params, n_records
from dln.solve.settings import RunConfig, numerics_identity
from dln.solve.start import initial_weights

# (re-exported: most of the package and the workflow import a run's pieces from here)
__all__ = [
    "DTYPES",
    "INITS",
    "SOLVERS",
    "RunConfig",
    "Trajectory",
    "estimate_mem_seconds",
    "estimate_resources",
    "initial_weights",
    "n_params",
    "n_records",
    "numerics_identity",
    "simulate",
    "source_fingerprint",
    "trajectory_digest",
]

# Source files that decide the numbers in a run file (trajectory and its analysis); their hash
# is the simulations' code version, passed by the workflow so that an edit reruns the runs.
NUMERICS_SOURCES = (
    "model/plainfloat.py",
    "model/problem.py",
    "model/starts.py",
    "model/theory.py",
    "model/native.py",
    "solve/kernel.py",
    "solve/_kernel.c",
    "solve/flow.py",
    "analysis/trajectory.py",
    "analysis/stages.py",
    "model/ode.py",
    "model/reduced.py",
    "model/_ode.c",
    "analysis/escape_model.py",
    "analysis/escape_constant.py",
    "solve/run.py",
    "solve/settings.py",
    "solve/checks.py",
    "solve/start.py",
    "analysis/result.py",
    "data/runfile.py",
    "data/checksum.py",
)


def trajectory_digest(loss, weights) -> str:
    """sha256 (hex) of the loss and the weight snapshots W_1..W_N: for each array the line
    "<name> <dtype> <shape>\\n", then its bytes (little-endian, C order); docs: dln.data.manifest."""
    h = hashlib.sha256()
    for name, values in (("loss", loss), *((f"W{j}", w) for j, w in enumerate(weights, 1))):
        a = np.asarray(values)
        a = np.ascontiguousarray(a, dtype=a.dtype.newbyteorder("<"))
        h.update(f"{name} {a.dtype.str} {list(a.shape)}\n".encode())
        h.update(a.tobytes())
    return h.hexdigest()


def source_fingerprint(files=NUMERICS_SOURCES) -> str:
    """sha256 over source files of this package. The workflow passes such hashes as params, so
    Snakemake reruns a step when code it imports changes (it tracks only the rule's own script)."""
    h = hashlib.sha256()
    here = Path(__file__).parents[1]  # the dln package
    for name in files:
        h.update((here / name).read_bytes())
    return h.hexdigest()[:16]


@dataclass
class Trajectory:
    """A simulated run before it is written: flat weights at the recorded steps."""

    cfg: RunConfig
    problem: Problem
    steps: np.ndarray  # recorded GD iterations
    snaps: np.ndarray  # (n_records, n_params) flat weights, in the run's dtype
    diverged_at: int  # first step whose loss was not finite, -1 if none
    predicted_k: int  # Theorem 3.1's k from W(0); -1: not balanced

    def kept(self) -> np.ndarray:
        """Which records keep their weights in the run file: every weights_every steps and the
        last one."""
        return (self.steps % self.cfg.weights_every == 0) | (self.steps == self.steps[-1])


def simulate(cfg: RunConfig) -> Trajectory:
    """Run one configuration (GD in the run's precision, or the float64 gradient flow)."""
    problem = cfg.problem()
    dtype = np.dtype(cfg.dtype)
    # (a start that overflows or underflows this precision was refused by RunConfig.validate)
    w0 = [w.astype(dtype) for w in initial_weights(cfg, problem)]
    k_pred = predict_k(problem, w0)  # from the weights actually used, in their precision
    theta0 = flatten(w0)
    if cfg.solver == "gd":
        from dln.solve.kernel import gd_run

        snaps, steps, diverged_at = gd_run(
            theta0, problem.Phi, problem.widths, cfg.lr, cfg.steps, cfg.record_every
        )
    else:
        from dln.solve.flow import gf_run

        steps = np.unique(np.r_[np.arange(0, cfg.steps + 1, cfg.record_every), cfg.steps])
        snaps, diverged_at = gf_run(theta0, problem.Phi, problem.widths, cfg.lr * steps), -1
    if len(steps) == 0:  # the kernel found the start's loss not finite: validate's check missed
        raise ConfigError(f"the starting loss 1/2 ||W - Phi||^2 overflows {cfg.dtype}")
    return Trajectory(
        cfg, problem, np.asarray(steps, dtype=np.int64), snaps, int(diverged_at), int(k_pred)
    )
