"""The kernel backend is part of the run key (issue 21 item 7): the C kernel and the NumPy
fallback (BLAS products, other trajectories) never share a run file in the store."""

from __future__ import annotations

import numpy as np

import dln.solve.kernel as kernel
from dln.cli.main import main
from dln.solve.run import RunConfig, numerics_identity


def _numpy_backend(monkeypatch):
    monkeypatch.setattr(kernel, "_LIB", None)
    monkeypatch.setattr(kernel, "BACKEND", "numpy")


def test_backends_get_different_keys_and_paths(monkeypatch):
    settings = dict(k=3, seed=1, steps=2000)
    c_cfg = RunConfig(**settings)
    c_key, c_id = c_cfg.key(), c_cfg.run_id()
    assert kernel.BACKEND == "c" and numerics_identity() == ""
    _numpy_backend(monkeypatch)
    numpy_cfg = RunConfig(**settings)
    assert numpy_cfg.settings_json() == c_cfg.settings_json()
    assert numpy_cfg.key() != c_key and numpy_cfg.run_id() != c_id
    monkeypatch.undo()
    assert RunConfig(**settings).key() == c_key  # the C key does not depend on the process


def test_fallback_refuses_the_c_kernels_key(monkeypatch, tmp_path, capsys):
    c_key = RunConfig(k=2, steps=100, record_every=50, weights_every=50).key()
    _numpy_backend(monkeypatch)
    out = tmp_path / "run.nc"
    args = ["run", "--k", "2", "--steps", "100", "--record-every", "50", "--weights-every", "50"]
    assert main([*args, "--out", str(out), "--expect-key", c_key]) == 2
    assert "hash to" in capsys.readouterr().err and not out.exists()


def test_the_two_backends_give_different_bytes(monkeypatch):
    """Why they must not share a key: the same settings, other last bits after a few steps."""
    from dln.model.problem import flatten
    from dln.solve.run import initial_weights

    cfg = RunConfig(k=2, seed=0, steps=300, record_every=300, weights_every=300)
    problem = cfg.problem()
    theta0 = flatten(initial_weights(cfg, problem))
    c_snaps, _, _ = kernel.gd_run(theta0, problem.Phi, problem.widths, cfg.lr, 300, 300)
    _numpy_backend(monkeypatch)
    np_snaps, _, _ = kernel.gd_run(theta0, problem.Phi, problem.widths, cfg.lr, 300, 300)
    np.testing.assert_allclose(np_snaps, c_snaps, rtol=0, atol=1e-12)
    assert not np.array_equal(np_snaps, c_snaps)
