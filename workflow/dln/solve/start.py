"""A run's initial weights W(0) from its settings (the start of every trajectory)."""

from __future__ import annotations

import numpy as np

from dln.model.problem import Problem
from dln.model.starts import balanced_start, gaussian_start


def initial_weights(cfg, problem: Problem) -> list[np.ndarray]:
    if cfg.init == "gaussian":
        return gaussian_start(problem, cfg.init_scale, cfg.seed)
    return balanced_start(problem, cfg.k, cfg.sigma0, cfg.construction, cfg.seed)
