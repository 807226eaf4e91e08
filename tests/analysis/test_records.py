"""The analysis's compiled loops over a run's records (dln/model/_ode.c) give the bits of the
code they replace: loss and gradient norm (the loss is a trajectory variable: its digest is in
every manifest) and the product's end vectors and alignments (p_1 is measured from them)."""

from __future__ import annotations

import numpy as np
import pytest

from dln.analysis.trajectory import geometry, loss_and_grad_norm
from dln.solve.kernel import make_gradient
from dln.solve.run import RunConfig, simulate


@pytest.mark.parametrize(
    "settings",
    [
        dict(k=2, seed=1, steps=2000, record_every=10),
        dict(k=3, seed=2, construction="antisymmetric", dtype="float32", steps=500, record_every=5),
        dict(widths=(6, 4, 1, 3, 5), k=5, seed=0, steps=800, record_every=20),
    ],
)
def test_compiled_records_loop_gives_the_per_record_loops_bits(settings):
    traj = simulate(RunConfig(**settings))
    snaps = np.asarray(traj.snaps, dtype=np.float64)
    loss, grad_norm = loss_and_grad_norm(traj.problem, snaps, backend="c")
    ref_loss, ref_norm = loss_and_grad_norm(traj.problem, snaps, backend="python")
    assert len(loss) == len(snaps) > 20
    assert np.array_equal(loss, ref_loss) and np.array_equal(grad_norm, ref_norm)
    loss_grad = make_gradient(traj.problem.widths, traj.problem.Phi)
    for i in (0, len(snaps) // 2, len(snaps) - 1):
        value, grad = loss_grad(snaps[i])
        assert loss[i] == value  # the kernel's loss, bit for bit
        assert grad_norm[i] == pytest.approx(np.linalg.norm(grad), rel=1e-14)


@pytest.mark.parametrize(
    "settings",
    [
        dict(k=2, seed=1, steps=2000, record_every=10),
        dict(k=3, seed=2, construction="antisymmetric", dtype="float32", steps=500, record_every=5),
        dict(widths=(6, 1, 3, 5), k=4, seed=0, steps=800, record_every=20),  # bottleneck r = 1
        dict(widths=(6, 4, 1, 3, 5), k=0, seed=3, steps=800, record_every=20),
    ],
)
def test_compiled_geometry_gives_the_numpy_codes_bits(settings):
    """W, u, v, alpha, beta per record: p_1 at round-off size is measured from them, so the
    compiled loop must repeat problem.product / theory.end_vectors / theory.alignments exactly."""
    traj = simulate(RunConfig(**settings))
    snaps = np.asarray(traj.snaps, dtype=np.float64)
    compiled = geometry(traj.problem, snaps, backend="c")
    reference = geometry(traj.problem, snaps, backend="python")
    for name, c, ref in zip(("W", "u", "v", "alpha", "beta"), compiled, reference, strict=True):
        assert c.shape == ref.shape and np.array_equal(c, ref), name
