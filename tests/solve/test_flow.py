"""The gradient-flow reference (dln.solve.flow): the compiled RK4 loop (kernel.make_rk4) gives
the bytes of the NumPy steps it replaces (flow._rk4 on the compiled gradient), which remain the
flow's definition and its path without the compiled kernel."""

from __future__ import annotations

import numpy as np
import pytest

from dln.model.problem import flatten
from dln.solve import flow
from dln.solve.kernel import make_gradient, make_rk4
from dln.solve.run import RunConfig, initial_weights

STARTS = [
    dict(k=1, seed=0),
    dict(k=0, seed=1),
    dict(k=5, seed=2, construction="antisymmetric"),
    dict(init="gaussian", init_scale=0.3, seed=4),
    dict(k=1, seed=0, widths=[2, 2, 1, 3, 2], spectrum=[2.0, 1.0]),
    dict(k=2, seed=0, widths=[3, 1, 4]),
]


def _start(kw):
    cfg = RunConfig(solver="gf", steps=1500, record_every=100, **kw)
    problem = cfg.problem()
    return cfg, problem, flatten(initial_weights(cfg, problem))


@pytest.mark.parametrize("kw", STARTS, ids=lambda kw: "-".join(f"{k}{v}" for k, v in kw.items()))
def test_the_compiled_steps_are_the_numpy_steps_byte_for_byte(kw):
    _, problem, theta0 = _start(kw)
    rk4 = make_rk4(problem.widths, problem.Phi)
    loss_grad = make_gradient(problem.widths, problem.Phi)
    h = flow.flow_step(flow.stiffness(problem.Phi, problem.depth))
    for n in (1, 7, 300):
        compiled = rk4(theta0, h, n)
        reference = flow._rk4(loss_grad, theta0, h, n)
        assert compiled.tobytes() == reference.tobytes(), n
    assert rk4(theta0, h, 0).tobytes() == theta0.tobytes()
    np.testing.assert_array_equal(theta0, _start(kw)[2])  # the start is not changed in place


def test_a_flow_run_is_the_same_with_and_without_the_compiled_loop(monkeypatch):
    cfg, problem, theta0 = _start(STARTS[0])
    times = cfg.lr * np.arange(0, cfg.steps + 1, cfg.record_every)
    compiled = flow.gf_run(theta0, problem.Phi, problem.widths, times)
    monkeypatch.setattr(flow, "make_rk4", lambda widths, phi: None)
    stepped = flow.gf_run(theta0, problem.Phi, problem.widths, times)
    assert compiled.tobytes() == stepped.tobytes()
    assert np.isfinite(compiled).all() and not np.array_equal(compiled[0], compiled[-1])
