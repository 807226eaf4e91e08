"""The batched kernel and simulate_many: every run's bytes equal the single-run kernel's."""

from __future__ import annotations

import functools
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


@functools.cache
def single_runs(dtype: str):
    """The mixed runs' starts and lrs, and each run alone through the single-run kernel."""
    cfgs = mixed_configs(dtype)
    problem = cfgs[0].problem()
    theta0s = np.stack(
        [flatten([w.astype(dtype) for w in initial_weights(c, problem)]) for c in cfgs]
    )
    lrs = [c.lr for c in cfgs]
    ones = [
        kernel.gd_run(t, problem.Phi, problem.widths, lr, 1500, 100)
        for t, lr in zip(theta0s, lrs, strict=True)
    ]
    return problem, theta0s, lrs, ones


def assert_batch_equals_single_runs(dtype, **build):
    problem, theta0s, lrs, ones = single_runs(dtype)
    batched = kernel.gd_run_batch(theta0s, problem.Phi, problem.widths, lrs, 1500, 100, **build)
    assert len(batched) == len(ones)
    for (snaps, steps, div), one in zip(batched, ones, strict=True):
        assert snaps.dtype == one[0].dtype and snaps.tobytes() == one[0].tobytes()
        assert np.array_equal(steps, one[1]) and div == one[2]
    assert sum(one[2] >= 0 for one in ones) == 1  # the lr = 0.3 run stops where it does alone


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("lanes", kernel.BATCH_LANES)
@pytest.mark.parametrize("isa", ["base", "avx2", "avx512"])
def test_every_batched_build_equals_single_runs_byte_for_byte(dtype, lanes, isa):
    """Each build (instruction set x lanes per call): 14 runs are no multiple of its lanes."""
    if isa not in kernel.batch_isas():
        pytest.skip(f"this CPU or compiler has no {isa} build")
    assert len(mixed_configs(dtype)) % lanes != 0  # a partial, padded block too
    assert_batch_equals_single_runs(dtype, lanes=lanes, isa=isa)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_default_build_equals_single_runs_byte_for_byte(dtype):
    assert_batch_equals_single_runs(dtype)


@pytest.mark.parametrize("build", [{"lanes": 12}, {"isa": "neon"}])
def test_a_build_that_does_not_exist_is_refused(build):
    problem, theta0s, lrs, _ = single_runs("float64")
    with pytest.raises(ValueError, match="no batched build"):
        kernel.gd_run_batch(theta0s, problem.Phi, problem.widths, lrs, 10, 5, **build)


def test_blocks_cover_the_runs_with_the_widest_builds():
    assert kernel.BATCH_LANES == (16, 8)
    assert kernel._blocks(64, None) == [(0, 16, 16), (16, 16, 16), (32, 16, 16), (48, 16, 16)]
    assert kernel._blocks(43, None) == [(0, 16, 16), (16, 16, 16), (32, 11, 16)]
    assert kernel._blocks(37, None) == [(0, 16, 16), (16, 16, 16), (32, 5, 8)]
    assert kernel._blocks(20, 8) == [(0, 8, 8), (8, 8, 8), (16, 4, 8)]


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
