"""The batched kernel and simulate_many: every run's bytes equal the single-run kernel's."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from dln.model.problem import flatten
from dln.solve import kernel
from dln.solve.batch import chunks, simulate_many
from dln.solve.run import RunConfig, initial_weights, simulate

MIXED = [  # k, seed, lr, construction; lr 0.3 diverges within a few steps
    (k, seed, lr, c)
    for (k, c), seed, lr in itertools.product(
        [(1, "orthogonal"), (3, "antisymmetric"), (5, "orthogonal")], [0, 7], [2.5e-4, 1e-3]
    )
] + [(2, 0, 0.3, "orthogonal")]


def mixed_configs(dtype: str, steps=1500, every=100):
    return [
        RunConfig(k=k, seed=s, lr=lr, construction=c, steps=steps, record_every=every,
                  weights_every=every * 5, dtype=dtype)
        for k, s, lr, c in MIXED
    ] + [RunConfig(init="gaussian", init_scale=0.2, seed=3, steps=steps, record_every=every,
                   weights_every=every * 5, dtype=dtype)]  # fmt: skip


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_batched_kernel_equals_single_runs_byte_for_byte(dtype):
    cfgs = mixed_configs(dtype)
    assert len(cfgs) % 8 != 0  # a partial last block too
    problem = cfgs[0].problem()
    theta0s = np.stack(
        [flatten([w.astype(dtype) for w in initial_weights(c, problem)]) for c in cfgs]
    )
    batched = kernel.gd_run_batch(
        theta0s, problem.Phi, problem.widths, [c.lr for c in cfgs], 1500, 100
    )
    diverged = 0
    for cfg, theta0, (snaps, steps, div) in zip(cfgs, theta0s, batched, strict=True):
        one = kernel.gd_run(theta0, problem.Phi, problem.widths, cfg.lr, 1500, 100)
        assert snaps.dtype == one[0].dtype and snaps.tobytes() == one[0].tobytes()
        assert np.array_equal(steps, one[1]) and div == one[2]
        diverged += div >= 0
    assert diverged == 1  # the lr = 0.3 run stops where it does alone; the others go on


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_simulate_many_equals_simulate(dtype):
    cfgs = mixed_configs(dtype, steps=600, every=50) + [
        RunConfig(solver="gf", k=2, steps=600, record_every=50, weights_every=100)
    ] * (dtype == "float64")
    order = [i for ch in chunks(cfgs) for i in ch]
    trajs = [t for ch in chunks(cfgs) for t in simulate_many([cfgs[i] for i in ch])]
    assert sorted(order) == list(range(len(cfgs)))
    for i, traj in zip(order, trajs, strict=True):
        one = simulate(cfgs[i])
        assert traj.snaps.tobytes() == one.snaps.tobytes()
        assert np.array_equal(traj.steps, one.steps)
        assert (traj.diverged_at, traj.predicted_k) == (one.diverged_at, one.predicted_k)


def test_chunks_group_runs_that_can_step_together():
    a = RunConfig(k=1, steps=200, record_every=50, weights_every=100)
    b = RunConfig(k=2, seed=4, lr=1e-3, steps=200, record_every=50, weights_every=100)
    longer = RunConfig(k=1, steps=400, record_every=50, weights_every=100)
    flow = RunConfig(solver="gf", k=1, steps=200, record_every=50, weights_every=100)
    assert chunks([a, longer, b, flow, a]) == [[0, 2, 4], [1], [3]]
