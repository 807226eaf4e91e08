"""The records' loss and gradient norm (dln.analysis.trajectory.loss_and_grad_norm): computed for
all records in one compiled call, with the same bits as the per-record loop over the GD kernel's
gradient (the loss is a trajectory variable: its digest is in every manifest)."""

from __future__ import annotations

import numpy as np
import pytest

from dln.analysis.trajectory import loss_and_grad_norm
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
