"""Many runs in one process: the GD runs of one architecture, target and length go through the
batched kernel together (dln.solve.kernel.gd_run_batch, byte for byte the single-run kernel's
result); other runs (the gradient flow, a lone run) through dln.solve.run.simulate."""

from __future__ import annotations

import numpy as np

from dln.model.problem import ConfigError, flatten
from dln.model.theory import predict_k
from dln.solve.run import RunConfig, Trajectory, initial_weights, simulate

# snapshots of one kernel call at most this large (bytes): a chunk's runs are held together
MAX_CHUNK_BYTES = 256 * 2**20


def lockstep_key(cfg: RunConfig):
    """Runs with equal keys can step together: one architecture, target, precision, length."""
    if cfg.solver != "gd":
        return None
    return (cfg.widths, cfg.spectrum, cfg.basis, cfg.basis_seed, cfg.dtype, cfg.steps,
            cfg.record_every)  # fmt: skip


def chunks(cfgs: list[RunConfig]) -> list[list[int]]:
    """Indices of cfgs in groups that step together (bounded memory), in first-seen order;
    a run that steps alone is a group of one."""
    groups: dict = {}
    for i, cfg in enumerate(cfgs):
        key = lockstep_key(cfg)
        groups.setdefault(key if key is not None else ("alone", i), []).append(i)
    out = []
    for members in groups.values():
        cfg = cfgs[members[0]]
        size = cfg.n_records * cfg.n_params * np.dtype(cfg.dtype).itemsize
        step = max(1, MAX_CHUNK_BYTES // max(size, 1))
        out += [members[i : i + step] for i in range(0, len(members), step)]
    return out


def simulate_many(cfgs: list[RunConfig]) -> list[Trajectory]:
    """simulate() of each configuration (same order), GD runs in lockstep where they can."""
    if len(cfgs) == 1 or lockstep_key(cfgs[0]) is None:
        return [simulate(cfg) for cfg in cfgs]
    from dln.solve.kernel import gd_run_batch

    problem = cfgs[0].problem()
    dtype = np.dtype(cfgs[0].dtype)
    starts = [[w.astype(dtype) for w in initial_weights(cfg, problem)] for cfg in cfgs]
    theta0s = np.stack([flatten(w0) for w0 in starts])
    results = gd_run_batch(
        theta0s, problem.Phi, problem.widths, [c.lr for c in cfgs], cfgs[0].steps,
        cfgs[0].record_every,
    )  # fmt: skip
    out = []
    for cfg, w0, (snaps, steps, diverged_at) in zip(cfgs, starts, results, strict=True):
        if len(steps) == 0:  # as simulate(): the start's loss was not finite
            raise ConfigError(f"the starting loss 1/2 ||W - Phi||^2 overflows {cfg.dtype}")
        out.append(Trajectory(cfg, problem, steps, snaps, diverged_at, int(predict_k(problem, w0))))
    return out
