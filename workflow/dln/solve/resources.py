"""What a run needs (memory, wall time), estimated from its settings before it runs: the plan
refuses runs above config.yaml's limits and Slurm jobs ask for the estimate."""

from __future__ import annotations

import math


def n_params(widths) -> int:
    return sum(a * b for a, b in zip(widths[1:], widths[:-1], strict=True))


def n_records(steps: int, record_every: int) -> int:
    """Records of a run, with room for the last step (an upper bound)."""
    return steps // record_every + 2


def estimate_resources(
    widths, steps: int, record_every: int, solver: str = "gd", lr: float = 5e-4, spectrum="linear"
) -> tuple[int, int]:
    """RunConfig.resources() from the settings alone, so that the plan can refuse a run that
    is too large before RunConfig builds its problem (d_N x d_0 matrices)."""
    mem_mb, seconds = estimate_mem_seconds(widths, steps, record_every, solver, lr, spectrum)
    return int(math.ceil(mem_mb)), int(math.ceil(seconds / 60))


def estimate_mem_seconds(widths, steps, record_every, solver, lr, spectrum) -> tuple:
    """(MB, seconds) unrounded: a batch job adds up its runs' seconds."""
    params, records = n_params(widths), n_records(steps, record_every)
    per_record = params + widths[0] * widths[-1] + 8 * min(widths[0], widths[-1])
    mem_mb = 150 + 4 * 8 * records * per_record / 1e6
    seconds = 2 * (1 + 6e-9 * steps * params + 40e-6 * records)
    if solver == "gf":
        seconds += 2 * 30e-6 * _flow_steps(widths, steps, lr, spectrum) * max(params / 150, 1)
    return mem_mb, seconds


def _flow_steps(widths, steps: int, lr: float, spectrum) -> float:
    """RK4 steps of a gradient-flow run (dln.solve.flow): t_end / h with h within a factor 2 of
    1/4 over L = N ||Phi||_F^(2 - 2/N), about 30 us each at the paper's 150 parameters."""
    depth, d = len(widths) - 1, min(widths[0], widths[-1])
    values = range(d, 0, -1) if isinstance(spectrum, str) else spectrum
    frobenius = math.sqrt(math.fsum(float(s) ** 2 for s in values))
    log_steps = (
        math.log(2 * depth / 0.25)
        + (2 - 2 / depth) * math.log(max(frobenius, 1.0))
        + math.log(max(lr * steps, 1e-300))
    )
    return math.exp(min(log_steps, 60.0)) + steps  # (e^60: refused anyway)


def run_resources(cfg) -> tuple[int, int]:
    """(memory in MB, wall time in minutes) the job needs, estimated before it runs.

    Memory: the recorded flat weights in float64 and the per-record quantities (the
    product W, alignments, levels) with a factor 4 for temporaries, plus the process's
    own ~150 MB. Time: ~1.5 ns per multiply-add of GD (4 P per step, measured 0.4 us/step
    at P = 150) and ~40 us per record of analysis, doubled for a busy machine."""
    return estimate_resources(
        cfg.widths, cfg.steps, cfg.record_every, cfg.solver, cfg.lr, cfg.spectrum
    )
