"""A run's settings checked before anything runs: allowed values, and a start that its precision
can represent. RunConfig calls validate on construction; the workflow's config check
(dln.plan.configcheck) has refused bad values with a one-line error before this."""

from __future__ import annotations

import math

import numpy as np

from dln.model.problem import ConfigError
from dln.model.starts import CONSTRUCTIONS
from dln.solve.start import initial_weights

SOLVERS = ("gd", "gf")
INITS = ("balanced", "gaussian")
DTYPES = ("float64", "float32")


def validate(cfg) -> None:
    """Cheap assertions: the workflow's config check has refused bad values before this."""
    choices = {"init": INITS, "dtype": DTYPES, "solver": SOLVERS}
    if cfg.init == "balanced":
        choices["construction"] = CONSTRUCTIONS
    for name, allowed in choices.items():
        if getattr(cfg, name) not in allowed:
            raise ConfigError(f"{name}={getattr(cfg, name)!r}: allowed are {list(allowed)}")
    scale = "sigma0" if cfg.init == "balanced" else "init_scale"
    for name in ("lr", scale, "level_tol"):
        x = getattr(cfg, name)
        if not (math.isfinite(x) and x > 0):
            raise ConfigError(f"{name}={x}: must be a finite number > 0")
    for name in ("steps", "record_every", "weights_every"):
        if getattr(cfg, name) < 1:
            raise ConfigError(f"{name}={getattr(cfg, name)}: must be an integer >= 1")
    for name in ("seed", "basis_seed"):
        if not 0 <= getattr(cfg, name) < 2**63:
            raise ConfigError(f"{name}={getattr(cfg, name)}: allowed are 0 .. 2^63 - 1")
    if cfg.record_every > cfg.steps:
        raise ConfigError(f"record_every={cfg.record_every}: must not exceed steps={cfg.steps}")
    if cfg.weights_every % cfg.record_every:
        raise ConfigError(
            f"weights_every={cfg.weights_every}: must be a multiple of "
            f"record_every={cfg.record_every}"
        )
    if cfg.solver == "gf" and cfg.dtype != "float64":
        raise ConfigError(f"dtype={cfg.dtype}: the gradient flow is a float64 reference")
    if not 1e-12 <= cfg.lr <= 1e3:
        raise ConfigError(
            f"lr={cfg.lr}: allowed are 1e-12 .. 1e3 (smaller steps never move "
            f"the weights in floating point)"
        )
    problem = cfg.problem()  # checks widths, spectrum and basis
    if cfg.init == "balanced" and not 0 <= cfg.k <= problem.d:
        raise ConfigError(f"k={cfg.k}: allowed are 0..{problem.d} (d = min(d_0, d_N))")
    check_start(cfg, problem)


def check_start(cfg, problem) -> None:
    """The start must be representable in the run's precision: refuse, before any job, a
    start that underflows to zero or whose loss overflows (the job would have no record)."""
    dtype = np.dtype(cfg.dtype)
    tiny = float(np.finfo(dtype).tiny)
    if cfg.init == "balanced":
        layer_scale = cfg.sigma0 ** (1.0 / cfg.depth)
        if min(cfg.sigma0, layer_scale) < 1e3 * tiny:
            raise ConfigError(
                f"sigma0={cfg.sigma0}: underflows {cfg.dtype} (W = sigma0 u v^T and each "
                f"layer's scale sigma0^(1/N) = {layer_scale:.3g} must stay above "
                f"{1e3 * tiny:.3g}); allowed: a larger sigma0 or float64"
            )
        if _balanced_start_fits(cfg, problem, dtype):
            return
    scale = f"sigma0={cfg.sigma0}" if cfg.init == "balanced" else f"init_scale={cfg.init_scale}"
    with np.errstate(over="ignore", under="ignore"):
        weights = [w.astype(dtype) for w in initial_weights(cfg, problem)]
    if not any(np.any(w) for w in weights):  # what simulate() refuses: no job can start
        raise ConfigError(
            f"{scale}: the start's weights underflow to exactly zero in "
            f"{cfg.dtype}; allowed: a larger start scale or float64"
        )
    with np.errstate(over="ignore", invalid="ignore"):
        from dln.model.problem import product

        gap = product(weights) - problem.Phi.astype(dtype)
        loss = 0.5 * np.sum(gap * gap, dtype=dtype)
    if not np.isfinite(loss):
        big = float(np.max(np.abs(problem.s)))
        if big > 1e15:  # name the real cause: the target's scale, not the start's
            raise ConfigError(
                f"spectrum={list(problem.s)}: the starting loss "
                f"1/2 ||W - Phi||^2 overflows {cfg.dtype} (largest s_i = "
                f"{big:g}); allowed: values whose squares fit {cfg.dtype}"
            )
        raise ConfigError(
            f"{scale}: the starting loss 1/2 ||W - Phi||^2 overflows "
            f"{cfg.dtype}; allowed: a smaller start scale"
        )


def _balanced_start_fits(cfg, problem, dtype) -> bool:
    """A bound that proves a balanced start representable without building it (planning 10^5
    runs builds no W(0)): W_j = c a_j a_{j-1}^T with unit a's and c = sigma0^(1/N), so its
    largest entry is at least c / max width (no layer is all zeros) and the loss is at most
    (sigma0 + ||Phi||_F)^2 / 2, kept 4x below the largest float. Otherwise check_start builds
    the start and looks."""
    finfo = np.finfo(dtype)
    c = cfg.sigma0 ** (1.0 / cfg.depth)
    bound = cfg.sigma0 + math.sqrt(math.fsum(float(s) * float(s) for s in problem.s))
    return c / max(cfg.widths) >= 1e3 * float(finfo.tiny) and bound * bound < float(finfo.max) / 4
