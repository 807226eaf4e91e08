"""dln.solve.checks: a start its precision cannot represent is refused before any job, also
where the planner proves a balanced start representable without building it."""

import numpy as np
import pytest

from dln.model.problem import ConfigError, product
from dln.solve import checks
from dln.solve.run import RunConfig, initial_weights


def start_representable(cfg) -> bool:
    """What check_start's exact path tests: some weight is non-zero and the loss is finite."""
    dtype = np.dtype(cfg.dtype)
    problem = cfg.problem()
    with np.errstate(over="ignore", under="ignore", invalid="ignore"):
        weights = [w.astype(dtype) for w in initial_weights(cfg, problem)]
        gap = product(weights) - problem.Phi.astype(dtype)
        loss = 0.5 * np.sum(gap * gap, dtype=dtype)
    return any(np.any(w) for w in weights) and bool(np.isfinite(loss))


SCALES = [1e-30, 1e-8, 1e-3, 1.0, 1e6, 1e15, 1e18, 1e19, 1e150, 1e153, 1e154, 1e200]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("widths", [(8, 3, 5, 10, 1, 4, 5), (3, 1, 3)])
def test_the_planners_bound_admits_only_representable_starts(dtype, widths):
    admitted = refused = 0
    for sigma0 in SCALES:
        try:
            cfg = RunConfig(widths=widths, k=1, sigma0=sigma0, dtype=dtype, steps=10,
                            record_every=1, weights_every=1)  # fmt: skip
        except ConfigError:
            refused += 1
            continue
        if checks._balanced_start_fits(cfg, cfg.problem(), np.dtype(dtype)):
            admitted += 1
            assert start_representable(cfg), sigma0
    assert admitted and refused  # both sides of the bound were exercised


def test_a_start_past_the_bound_is_still_checked_exactly():
    # 1e20 in float32: the bound fails (its square passes the largest float32), the start is
    # built and its loss overflows: refused with the start scale named
    with pytest.raises(ConfigError, match="sigma0=1e\\+20: the starting loss"):
        RunConfig(k=1, sigma0=1e20, dtype="float32")
