"""One run's analysis, as a value: the per-step quantities of its records, its metrics and its
per-run arrays. The run file's writer (dln.data.runfile) writes what it is handed here and
computes nothing itself."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dln.analysis.escape_model import predict_escape
from dln.analysis.stages import analyse, no_predictions
from dln.analysis.trajectory import quantities
from dln.model.problem import unflatten
from dln.model.reduced import reduced_path
from dln.model.theory import critical_levels
from dln.solve.run import Trajectory, trajectory_digest


@dataclass
class AnalysedRun:
    traj: Trajectory
    data: dict  # recorded quantity -> (dims, values along `step`, CF attributes)
    metrics: dict  # metric name (dln.data.columns.METRICS) -> value
    arrays: dict  # per-run array (steps_at_level, visit_*) -> values


def predictions(traj: Trajectory) -> dict:
    """What the laws predict for this run from its start W(0) (the first record), lr and dtype
    alone, never from the trajectory. Only GD starts on the balanced set get them; a
    gradient-flow run gets the polynomial-stage exit time (it needs no lr or precision)."""
    cfg, k = traj.cfg, traj.predicted_k
    if k < 1:
        return no_predictions()
    w0 = unflatten(np.asarray(traj.snaps[0], dtype=np.float64), traj.problem.widths)
    if cfg.solver != "gd":  # the flow has no step size or round-off seed: only the exit time
        exit_time = reduced_path(traj.problem, w0, k, cfg.level_tol).exit_time
        return {**no_predictions(), "origin_exit_time_model": exit_time}
    return predict_escape(traj.problem, w0, k, cfg.lr, cfg.dtype, cfg.level_tol)


def analyse_run(traj: Trajectory) -> AnalysedRun:
    """The recorded quantities of a simulated run, then its analysis (levels, plateau, escape,
    rates) from those records."""
    data = quantities(traj.problem, traj.snaps, traj.predicted_k)
    rec = {name: values for name, (_, values, _) in data.items()}
    rec.update(step=traj.steps, t=traj.cfg.lr * traj.steps.astype(np.float64))
    metrics, arrays = analyse(
        rec,
        traj.problem,
        critical_levels(traj.problem),
        traj.predicted_k,
        traj.diverged_at,
        traj.cfg.lr,
        traj.cfg.dtype,
        traj.cfg.level_tol,
        predictions(traj),
    )
    weights = unflatten(traj.snaps[traj.kept()], traj.problem.widths)
    metrics["trajectory_sha256"] = trajectory_digest(data["loss"][1], weights)
    return AnalysedRun(traj=traj, data=data, metrics=metrics, arrays=arrays)
