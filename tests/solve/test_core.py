"""Tests of the numerical core `dln` against the maths of docs/theory.md.

Every expensive trajectory is computed once (module-scoped fixture `runs`) and shared.
Each test checks a property that a plausible bug would break; no test asserts on timing.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys

import numpy as np
import pytest

from dln.analysis.result import analyse_run
from dln.data import io as dln_io
from dln.data.io import RunFileError, read_run
from dln.data.pipeline import simulate_dataset
from dln.data.runfile import write_run_file
from dln.model.problem import (
    PAPER_WIDTHS,
    ConfigError,
    check_widths,
    flatten,
    make_problem,
    product,
    unflatten,
)
from dln.model.starts import CONSTRUCTIONS, balanced_start, end_directions, gaussian_start
from dln.model.theory import (
    alignments,
    balancedness_error,
    critical_levels,
    end_vectors,
    final_rate,
    predict_k,
)
from dln.solve.kernel import gd_numpy, gd_run, make_gradient
from dln.solve.run import RunConfig, simulate

# Architectures other than the paper's, each with a hidden layer of width 1.
OTHER_WIDTHS = (3, 6, 1, 2, 4)  # d = 3, d_0 < d_N
WIDE_D = (6, 4, 1, 3, 7)  # d = min(6, 7) = 6 > the paper's d = 5
SQUARE = (4, 3, 1, 2, 4)  # d_0 = d_N = d, nothing outside range(Phi)
TWO_BOTTLENECKS = (2, 1, 1, 3)  # two consecutive width-1 layers, N = 3
ARCHS = [
    (PAPER_WIDTHS, "random"),
    (WIDE_D, "random"),
    (SQUARE, "identity"),
    ((5, 1, 5), "identity"),
]
PAPER_LEVELS = {0: 27.5, 1: 15.0, 2: 19.5, 3: 23.0, 4: 25.5, 5: 27.0}


def _loss(weights, phi):
    return 0.5 * np.sum((product(weights) - phi) ** 2)


def _first(mask):
    """Index of the first True in a boolean array, or None."""
    idx = np.flatnonzero(mask)
    return int(idx[0]) if idx.size else None


def _longest_true_run(mask):
    """Length (in records) of the longest block of consecutive True values."""
    best = cur = 0
    for m in mask:
        cur = cur + 1 if m else 0
        best = max(best, cur)
    return best


@pytest.fixture(scope="module")
def runs():
    """Paper-setup trajectories shared by several tests (each a few tenths of a second)."""
    return {
        "k1": simulate_dataset(RunConfig(k=1, steps=20_000)),
        "k3": simulate_dataset(RunConfig(k=3, construction="orthogonal", steps=100_000)),
        "k0": simulate_dataset(RunConfig(k=0, steps=100_000)),
        "gf_k2": simulate_dataset(RunConfig(k=2, steps=20_000, solver="gf")),
    }


# --------------------------------------------------------------------------------------------
# 1. gradient
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("widths", [PAPER_WIDTHS, OTHER_WIDTHS, TWO_BOTTLENECKS])
def test_gradient_matches_finite_differences(widths):
    """make_gradient on a random unbalanced network equals central finite differences."""
    problem = make_problem(widths, basis_seed=3)
    phi = problem.Phi
    theta = flatten(gaussian_start(problem, 0.7, seed=11))
    loss, grad = make_gradient(widths, phi)(theta)
    assert loss == pytest.approx(_loss(unflatten(theta, widths), phi), rel=1e-13)
    h = 1e-6
    fd = np.empty_like(theta)
    for i in range(theta.size):
        e = np.zeros_like(theta)
        e[i] = h
        fd[i] = (
            _loss(unflatten(theta + e, widths), phi) - _loss(unflatten(theta - e, widths), phi)
        ) / (2 * h)
    assert np.max(np.abs(grad)) > 0.1  # a meaningful test point, not a near-critical one
    np.testing.assert_allclose(grad, fd, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("widths", [PAPER_WIDTHS, OTHER_WIDTHS, TWO_BOTTLENECKS])
def test_gd_kernel_matches_numpy_reference(widths):
    """One step (and a short run) of the compiled GD equals the plain NumPy loop `gd_numpy`."""
    problem = make_problem(widths, basis_seed=1)
    w0 = gaussian_start(problem, 0.5, seed=2)
    lr = 1e-2
    for steps in (1, 200):
        snaps, rec, div = gd_run(flatten(w0), problem.Phi, widths, lr, steps, record_every=steps)
        assert div == -1 and list(rec) == [0, steps]
        np.testing.assert_array_equal(snaps[0], flatten(w0))
        np.testing.assert_allclose(
            snaps[-1], flatten(gd_numpy(w0, problem.Phi, lr, steps)), rtol=0, atol=1e-12
        )
    # records at every record_every-th step plus the last step
    _, rec, _ = gd_run(flatten(w0), problem.Phi, widths, lr, 1050, record_every=100)
    np.testing.assert_array_equal(rec, list(range(0, 1001, 100)) + [1050])
    # and the one-step update is exactly theta - lr * grad
    _, grad = make_gradient(widths, problem.Phi)(flatten(w0))
    snaps, _, _ = gd_run(flatten(w0), problem.Phi, widths, lr, 1, 1)
    np.testing.assert_allclose(snaps[1], flatten(w0) - lr * grad, rtol=0, atol=1e-15)


# --------------------------------------------------------------------------------------------
# 2-3. balanced starts and the predicted k
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("construction", CONSTRUCTIONS)
@pytest.mark.parametrize("k", range(6))
def test_balanced_start_is_balanced(k, construction):
    """Constructed starts satisfy W_{j+1}^T W_{j+1} = W_j W_j^T and W = sigma0 u v^T, ||u|| = ||v|| = 1."""
    problem = make_problem()
    for seed in range(5):
        for sigma0 in (0.01, 1.0, 30.0):
            w = balanced_start(problem, k, sigma0, construction, seed)
            assert [x.shape for x in w] == problem.shapes()
            assert balancedness_error(w) < 1e-12
            sv = np.linalg.svd(product(w), compute_uv=False)
            assert sv[0] == pytest.approx(sigma0, rel=1e-12)
            assert sv[1] < 1e-12 * sigma0


@pytest.mark.parametrize("widths, basis", ARCHS)
@pytest.mark.parametrize("construction", CONSTRUCTIONS)
def test_predict_k_recovers_requested_k(widths, basis, construction):
    """predict_k(W(0)) is the k the start was built for, for every k in 0..d, with the alignment
    pattern of the notes: orthogonal -> alpha_i = beta_i = 0 for i < k; antisymmetric ->
    alpha_i = -beta_i != 0 for i < k; p_k bounded away from 0; k = 0 -> every p_i = 0."""
    problem = make_problem(widths, basis=basis)
    d = min(widths[0], widths[-1])
    assert problem.d == d
    for k in range(d + 1):
        for seed in range(3):
            w = balanced_start(problem, k, 0.05, construction, seed)
            assert predict_k(problem, w) == k
            sigma, u, v = end_vectors(problem, w)
            assert sigma == pytest.approx(0.05, rel=1e-12)
            alpha, beta = alignments(problem, u, v)
            p = alpha + beta
            if k == 0:
                assert np.all(np.abs(p) < 1e-12)
                continue
            assert np.all(np.abs(p[: k - 1]) < 1e-12)
            assert abs(p[k - 1]) > 0.5
            if construction == "orthogonal" or k == 1:
                assert np.all(np.abs(alpha[: k - 1]) < 1e-12)
                assert np.all(np.abs(beta[: k - 1]) < 1e-12)
            else:
                assert np.all(np.abs(alpha[: k - 1]) > 0.05)
                np.testing.assert_allclose(alpha[: k - 1], -beta[: k - 1], rtol=0, atol=1e-12)
    # k outside 0..d is refused, naming k
    for bad in (-1, d + 1):
        with pytest.raises(ConfigError, match=r"\bk="):
            end_directions(problem, bad, construction, np.random.default_rng(0))


def test_predict_k_not_balanced_for_gaussian_starts():
    """Gaussian starts (unbalanced, any scale) are outside the theorem: predict_k says -1, and
    the run file stores predicted_k as missing with balanced = false."""
    for widths, basis in ARCHS:
        problem = make_problem(widths, basis=basis)
        for scale in (1e-3, 0.1, 1.0):
            for seed in range(3):
                w = gaussian_start(problem, scale, seed)
                assert predict_k(problem, w) == -1
                assert predict_k(problem, [x.astype(np.float32) for x in w]) == -1
    # the docstring's second half: what a Gaussian run stores
    ds = simulate_dataset(
        RunConfig(init="gaussian", init_scale=0.1, steps=100, record_every=50, weights_every=50)
    )
    assert np.isnan(float(ds["predicted_k"])) and not bool(ds["balanced"])


def test_predict_k_sees_small_but_real_p1():
    """A genuine (non round-off) p_1 in a balanced start makes predict_k return 1, not k."""
    problem = make_problem(basis="identity")
    N = problem.depth
    u = np.zeros(5)
    u[[0, 2]] = [1e-4, 1.0]
    v = np.zeros(8)
    v[2] = 1.0
    u /= np.linalg.norm(u)
    a = [v] + [np.ones(n) / np.sqrt(n) for n in problem.widths[1:-1]] + [u]
    w = [np.outer(a[j], a[j - 1]) for j in range(1, N + 1)]
    assert balancedness_error(w) < 1e-12
    assert predict_k(problem, w) == 1
    u[0] = 0.0  # now exactly orthogonal to u_1: k = 3
    a[-1] = u / np.linalg.norm(u)
    w = [np.outer(a[j], a[j - 1]) for j in range(1, N + 1)]
    assert predict_k(problem, w) == 3


def test_critical_levels_paper():
    """L_k of the paper's spectrum (5, 4, 3, 2, 1): 27.5, 15, 19.5, 23, 25.5, 27."""
    levels = critical_levels(make_problem())
    np.testing.assert_allclose(levels, [PAPER_LEVELS[k] for k in range(6)], rtol=0, atol=1e-12)


# --------------------------------------------------------------------------------------------
# 4-7. dynamics
# --------------------------------------------------------------------------------------------
def test_k1_converges_at_predicted_final_rate(runs):
    """GD from a k = 1 start reaches L_1 = 15 to 1e-9; the loss gap's linear rate in t = lr*step
    (fit where the gap is in [1e-10, 1e-4]) is within 1% of 2 (s1 - s2) s1^(1-2/N) = 5.848."""
    ds = runs["k1"]
    problem = make_problem()
    assert ds["predicted_k"] == 1 and not ds["diverged"]
    gap = ds.loss.values - 15.0
    assert abs(gap[-1]) < 1e-9
    expected = final_rate(problem, 1)
    assert expected == pytest.approx(5.848, abs=1e-3)  # the notes' number for the paper's setup
    window = (gap >= 1e-10) & (gap <= 1e-4)
    assert window.sum() >= 20
    slope = np.polyfit(ds.t.values[window], np.log(gap[window]), 1)[0]
    assert -slope == pytest.approx(expected, rel=0.01)
    # the recorded loss_gap is the gap to the predicted level
    np.testing.assert_allclose(ds.loss_gap.values, gap, rtol=0, atol=1e-12)


def test_k3_orthogonal_plateau_then_escape(runs):
    """A k = 3 orthogonal start sits at L_3 = 23 (to 1e-3) for thousands of steps, then escapes
    (seeded by round-off) and reaches L_1 = 15; the loss never increases (small lr)."""
    ds = runs["k3"]
    assert ds["predicted_k"] == 3 and not ds["diverged"]
    loss, step = ds.loss.values, ds.step.values
    every = int(step[1] - step[0])
    on_plateau = np.abs(loss - 23.0) < 1e-3
    assert _longest_true_run(on_plateau) * every >= 2000
    at_min = _first(np.abs(loss - 15.0) < 1e-9)
    assert at_min is not None
    assert np.flatnonzero(on_plateau)[-1] < at_min
    assert np.max(np.diff(loss)) < 1e-12
    # on arrival at the plateau the escape direction p_1 is round-off sized; at the end it is grown
    p1 = ds.p.sel(mode=1).values
    assert abs(p1[np.flatnonzero(on_plateau)[0]]) < 1e-10
    assert abs(p1[-1]) > 1.9
    # GD leaves the balanced set only slowly (O(lr^2) per step; the flow would keep it exactly)
    bal = ds.balancedness.values
    assert bal[0] < 1e-12
    assert 1e-8 < bal.max() < 1e-1


def test_k0_stays_at_origin_level(runs):
    """A k = 0 start stays at L_0 = 27.5 for the whole 1e5-step budget: within 1e-3 once the
    start transient (loss 27.5 + sigma|rho|, sigma decaying) is over, never below 27.5 - 1e-3."""
    ds = runs["k0"]
    assert ds["predicted_k"] == 0 and not ds["diverged"]
    loss, step = ds.loss.values, ds.step.values
    assert step[-1] == 100_000
    assert np.all(loss > 27.5 - 1e-3)
    assert np.all(loss < 27.5 + 0.05)  # sigma0 = 0.01 and |rho| <= s_1 = 5
    tail = step >= 50_000
    assert np.all(np.abs(loss[tail] - 27.5) < 1e-3)
    assert ds.sigma1.values[-1] < ds.sigma1.values[0]
    assert np.max(np.abs(ds.p.values)) < 1e-6


def test_gf_k2_reaches_saddle_level_before_escape(runs):
    """The gradient-flow reference from a k = 2 start reaches L_2 = 19.5 to 1e-6 before any
    escape below 19.5 - 1e-3, and the flow keeps the start balanced."""
    ds = runs["gf_k2"]
    assert ds["solver"] == "gf" and ds["predicted_k"] == 2
    loss = ds.loss.values
    reached = _first(np.abs(loss - 19.5) < 1e-6)
    escaped = _first(loss < 19.5 - 1e-3)
    assert reached is not None
    assert escaped is None or reached < escaped
    assert np.max(ds.balancedness.values) < 1e-9
    np.testing.assert_allclose(ds.t.values, 5e-4 * ds.step.values)


# --------------------------------------------------------------------------------------------
# 8. run files
# --------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def small_run():
    return simulate(
        RunConfig(
            k=2, construction="antisymmetric", steps=3000, record_every=50, weights_every=1000
        )
    )


def test_run_file_format(small_run, tmp_path):
    """The run file has the documented layout: settings as scalar coordinates, metrics as
    scalar variables, CF attributes on the file and every variable, weights that reproduce
    the recorded loss, and the command that reproduces it."""
    path = tmp_path / "sub" / "run.nc"
    write_run_file(analyse_run(small_run), path)
    back = read_run(path)
    problem = make_problem()
    assert back.loss.dims == ("step",)
    for name in ("solver", "k", "construction", "sigma0", "seed", "lr", "widths", "dtype"):
        assert name in back.coords and back[name].ndim == 0, name
    assert back["solver"] == "gd" and back["k"] == 2 and back["construction"] == "antisymmetric"
    assert np.isnan(back["init_scale"])  # does not apply to a balanced start: missing
    assert back["predicted_k"] == 2 and back["predicted_k"].ndim == 0
    for key in ("Conventions", "title", "history", "source", "references", "command"):
        assert back.attrs.get(key), key
    assert back.attrs["Conventions"] == "CF-1.11" and "2201.02761" in back.attrs["references"]
    for name in back.variables:
        if name not in back.dims:
            assert back[name].attrs.get("long_name"), name
    assert back.Phi.shape == (problem.widths[-1], problem.widths[0])
    np.testing.assert_allclose(back.Phi.values, problem.Phi, rtol=0, atol=1e-15)
    for j in range(1, problem.depth + 1):
        Wj = back[f"W{j}"]
        assert Wj.dims[0] == "snapshot"
        assert Wj.shape[1:] == (problem.widths[j], problem.widths[j - 1])
    snaps = back.snapshot.values
    np.testing.assert_array_equal(snaps, [0, 1000, 2000, 3000])
    # stored weights reproduce the recorded loss at the snapshot steps
    w = [back[f"W{j}"].values for j in range(1, problem.depth + 1)]
    loss_from_w = 0.5 * np.sum((product(w) - back.Phi.values) ** 2, axis=(-2, -1))
    np.testing.assert_allclose(loss_from_w, back.loss.sel(step=snaps).values, rtol=1e-13)
    assert [p.name for p in path.parent.iterdir()] == ["run.nc"]  # no temp file left
    # the stored command reproduces the file bit for bit (provenance aside)
    cmd = back.attrs["command"].split()
    assert cmd[:2] == ["dln", "run"]
    again = tmp_path / "again.nc"
    res = _cli("run", *cmd[2:-2], "--out", str(again), cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    other = read_run(again)
    for name in back.data_vars:
        np.testing.assert_array_equal(back[name].values, other[name].values)


def test_failed_write_leaves_nothing(small_run, tmp_path, monkeypatch):
    """A write that fails half-way leaves no file at the final path, no temp file, and an
    existing file at that path untouched."""
    import builtins
    import errno

    import dln.data.runfile as runfile

    class HalfThenFull:  # the file's first half is written, then the disk is full
        def __init__(self, path, mode):
            self.fh = builtins.open(path, mode)  # noqa: SIM115 (closed by __exit__)

        def write(self, data):
            self.fh.write(data[: len(data) // 2])
            self.fh.flush()
            raise OSError(errno.ENOSPC, "No space left on device (simulated)")

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.fh.close()

    monkeypatch.setattr(runfile, "open", HalfThenFull, raising=False)
    target = tmp_path / "run.nc"
    with pytest.raises(OSError, match="simulated"):
        write_run_file(analyse_run(small_run), target)
    assert list(tmp_path.iterdir()) == []

    monkeypatch.delattr(runfile, "open")
    write_run_file(analyse_run(small_run), target)
    before = target.read_bytes()
    monkeypatch.setattr(runfile, "open", HalfThenFull, raising=False)
    with pytest.raises(OSError):
        write_run_file(analyse_run(small_run), target)
    assert [p.name for p in tmp_path.iterdir()] == ["run.nc"]
    assert target.read_bytes() == before

    # a failure at the final rename is cleaned up too
    monkeypatch.delattr(runfile, "open")

    def bad_replace(src, dst):
        raise OSError("rename failed (simulated)")

    monkeypatch.setattr(dln_io.os, "replace", bad_replace)
    with pytest.raises(OSError, match="simulated"):
        write_run_file(analyse_run(small_run), tmp_path / "other.nc")
    assert [p.name for p in tmp_path.iterdir()] == ["run.nc"]


def test_read_run_errors(tmp_path):
    """Missing and corrupt files raise RunFileError naming the path."""
    with pytest.raises(RunFileError, match="missing.nc"):
        read_run(tmp_path / "missing.nc")
    bad = tmp_path / "bad.nc"
    bad.write_bytes(b"not a netcdf file")
    with pytest.raises(RunFileError, match="bad.nc"):
        read_run(bad)


# --------------------------------------------------------------------------------------------
# 9-11. determinism, float32, divergence
# --------------------------------------------------------------------------------------------
def _data_arrays_equal(a, b):
    return all(
        np.array_equal(a[name].values, b[name].values, equal_nan=a[name].dtype.kind == "f")
        for name in a.variables
    )


def test_same_seed_bit_identical_different_seed_differs():
    """The same config gives bit-identical trajectories; another seed gives another one."""
    cfg = dict(k=3, construction="antisymmetric", steps=5000, record_every=50, weights_every=500)
    a = simulate_dataset(RunConfig(seed=7, **cfg))
    b = simulate_dataset(RunConfig(seed=7, **cfg))
    c = simulate_dataset(RunConfig(seed=8, **cfg))
    assert set(a.variables) == set(b.variables)
    assert _data_arrays_equal(a, b)
    assert a.attrs["run_key"] == b.attrs["run_key"] != c.attrs["run_key"]
    assert not np.array_equal(a.W1.values, c.W1.values)
    assert not np.array_equal(a.loss.values, c.loss.values)
    # the kernel alone, too
    problem = make_problem()
    theta0 = flatten(balanced_start(problem, 2, 0.01, "orthogonal", 3))
    r1 = gd_run(theta0, problem.Phi, problem.widths, 5e-4, 3000, 100)
    r2 = gd_run(theta0.copy(), problem.Phi, problem.widths, 5e-4, 3000, 100)
    assert np.array_equal(r1[0], r2[0]) and np.array_equal(r1[1], r2[1])


@pytest.mark.parametrize("construction", CONSTRUCTIONS)
def test_float32_predicted_k_every_k(construction):
    """predicted_k survives the float32 cast of the start (round-off ~1e-7 is not a signal)."""
    for widths, basis in [(PAPER_WIDTHS, "random"), (SQUARE, "identity")]:
        problem = make_problem(widths, basis=basis)
        for k in range(problem.d + 1):
            for seed in range(3):
                w = balanced_start(problem, k, 0.01, construction, seed)
                assert predict_k(problem, [x.astype(np.float32) for x in w]) == k
    for k in range(6):  # and through simulate(), which stores it
        ds = simulate_dataset(
            RunConfig(
                k=k,
                construction=construction,
                dtype="float32",
                steps=50,
                record_every=50,
                weights_every=50,
            )
        )
        assert ds["predicted_k"] == k


def test_float32_runs_converge(runs):
    """float32 GD keeps float32 weights, converges to L_1 from k = 1 and from a k = 3 saddle, and
    (coarser round-off seeding the escape) leaves the saddle sooner than float64."""
    problem = make_problem()
    theta0 = flatten(balanced_start(problem, 1, 0.01)).astype(np.float32)
    snaps, _, _ = gd_run(theta0, problem.Phi, problem.widths, 5e-4, 100, 50)
    assert snaps.dtype == np.float32
    k1 = simulate_dataset(RunConfig(k=1, dtype="float32", steps=20_000))
    assert k1.W1.dtype == np.float32 and k1["dtype"] == "float32"
    assert k1["predicted_k"] == 1
    assert abs(k1.loss.values[-1] - 15.0) < 1e-6
    k3 = simulate_dataset(RunConfig(k=3, dtype="float32", steps=40_000))
    assert k3["predicted_k"] == 3
    assert abs(k3.loss.values[-1] - 15.0) < 1e-6
    assert _longest_true_run(np.abs(k3.loss.values - 23.0) < 1e-3) * 50 >= 2000

    def escape_step(ds):
        return int(ds.step.values[_first(ds.loss.values < 23.0 - 1e-2)])

    assert escape_step(k3) < escape_step(runs["k3"])


def test_divergence_is_flagged_and_returns():
    """A far too large step size: the run stops, is flagged, and keeps its finite records."""
    for every in (1, 50):
        ds = simulate_dataset(
            RunConfig(k=1, sigma0=1.0, lr=1.0, steps=1000, record_every=every, weights_every=every)
        )
        assert bool(ds["diverged"])
        div = float(ds["diverged_step"])
        assert 0 <= div <= 1000
        assert ds.step.values[-1] < div
        assert np.all(np.isfinite(ds.loss.values))
        assert ds.snapshot.values[0] == 0 and ds.sizes["snapshot"] >= 1
    ok = simulate_dataset(RunConfig(k=1, steps=1000, record_every=50, weights_every=500))
    assert not ok["diverged"] and np.isnan(ok["diverged_step"])  # missing, never -1


# --------------------------------------------------------------------------------------------
# 12. command line
# --------------------------------------------------------------------------------------------
def _cli(*args, cwd):
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST")}
    return subprocess.run(
        [sys.executable, "-m", "dln", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_cli_run_writes_file(tmp_path):
    """`python -m dln run --k 3 ...` writes a run file with predicted_k = 3."""
    out = tmp_path / "X.nc"
    res = _cli(
        "run",
        "--k",
        "3",
        "--seed",
        "0",
        "--lr",
        "5e-4",
        "--steps",
        "2000",
        "--out",
        str(out),
        cwd=tmp_path,
    )
    assert res.returncode == 0, res.stderr
    ds = read_run(out)
    assert int(ds["predicted_k"]) == 3
    assert ds.step.values[-1] == 2000 and float(ds["lr"]) == 5e-4
    assert re.search(r"predicted[ _]k\W{1,3}3\b", res.stdout), res.stdout  # reports the k
    assert sorted(p.name for p in tmp_path.iterdir()) == ["X.nc"]


def test_cli_help_lists_options(tmp_path):
    res = _cli("run", "--help", cwd=tmp_path)
    assert res.returncode == 0
    for opt in (
        "--k",
        "--seed",
        "--lr",
        "--steps",
        "--out",
        "--record-every",
        "--weights-every",
        "--widths",
        "--spectrum",
        "--construction",
        "--sigma0",
        "--dtype",
        "--solver",
    ):
        assert opt in res.stdout, opt


@pytest.mark.parametrize(
    "args, field",
    [
        (["--k", "9"], "k=9"),
        (["--widths", "3,3,3"], "widths="),
        (["--spectrum", "1,2,3,4,5"], "spectrum="),
        (["--construction", "diagonal"], "--construction"),
    ],
)
def test_cli_bad_value_names_field(tmp_path, args, field):
    """A bad value exits non-zero with a message naming the field, and writes nothing."""
    res = _cli("run", "--out", str(tmp_path / "bad.nc"), "--steps", "100", *args, cwd=tmp_path)
    assert res.returncode != 0
    assert field in res.stderr
    assert "Traceback" not in res.stderr
    assert list(tmp_path.iterdir()) == []


# --------------------------------------------------------------------------------------------
# 13. configuration errors
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "kwargs, field",
    [
        (dict(widths=(8, 3, 5, 10, 2, 4, 5)), "widths"),  # no width-1 hidden layer
        (dict(widths=(1, 3, 4)), "widths"),  # width 1 only at the input is not a hidden layer
        (dict(widths=(5, 1)), "widths"),  # N = 1
        (dict(spectrum=(5, 4, 4, 2, 1)), "spectrum"),  # not strictly decreasing
        (dict(spectrum=(1, 2, 3, 4, 5)), "spectrum"),
        (dict(spectrum=(5, 4, 3)), "spectrum"),  # wrong length (d = 5)
        (dict(spectrum=(5, 4, 3, 2, -1)), "spectrum"),
        (dict(spectrum="geometric"), "spectrum"),
        (dict(construction="diagonal"), "construction"),
        (dict(basis="hadamard"), "basis"),
        (dict(k=6), "k"),
        (dict(k=-1), "k"),
        (dict(lr=0.0), "lr"),
        (dict(sigma0=float("nan")), "sigma0"),
        (dict(dtype="float16"), "dtype"),
        (dict(solver="euler"), "solver"),
        (dict(steps=0), "steps"),
        (dict(steps=100, record_every=30, weights_every=50), "weights_every"),
    ],
)
def test_config_errors_name_the_field(kwargs, field):
    """Every invalid RunConfig raises ConfigError at construction, naming the offending field."""
    with pytest.raises(ConfigError, match=rf"^{field}="):
        RunConfig(**kwargs)


def test_problem_level_errors_name_the_field():
    """The same checks hold when the problem is built directly."""
    with pytest.raises(ConfigError, match="^widths="):
        check_widths((4, 2, 3))
    with pytest.raises(ConfigError, match="^widths="):
        make_problem((4, 0, 1, 3))
    with pytest.raises(ConfigError, match="^spectrum="):
        make_problem(PAPER_WIDTHS, spectrum=(5, 4, 3, 2))
    with pytest.raises(ConfigError, match="^basis="):
        make_problem(PAPER_WIDTHS, basis="eye")
    with pytest.raises(ConfigError, match="^sigma0="):
        balanced_start(make_problem(), 1, -1.0)
    with pytest.raises(ConfigError, match="^construction="):
        balanced_start(make_problem(), 2, 0.1, construction="sym")
