"""The target and the start are built without BLAS/LAPACK or libm (issue 18 §1): on plain Python
floats with IEEE +, -, *, /, sqrt and order-independent sums, so W(0) and Phi have the same bits
on every machine. The digests below were computed once; every machine that runs the suite checks
that it builds the same bytes."""

from __future__ import annotations

import ast
import hashlib
import inspect
import math

import numpy as np
import pytest

from dln.model import plainfloat as pf
from dln.model import problem as problem_module
from dln.model import starts as starts_module
from dln.model.problem import make_problem
from dln.model.starts import CONSTRUCTIONS, balanced_start, gaussian_start
from dln.solve.run import RunConfig, initial_weights

BLAS_ENTRY_POINTS = ("dot", "matmul", "einsum", "inner", "outer", "tensordot", "vdot", "kron")


def _build_everything():
    """Every kind of target and start of the default architecture and a wider one."""
    out = []
    for widths in ((8, 3, 5, 10, 1, 4, 5), (6, 1, 9), (4, 1, 4)):
        for basis in ("random", "identity"):
            problem = make_problem(widths, basis=basis, basis_seed=3)
            out += [problem.U, problem.V, problem.Phi]
            for k in range(problem.d + 1):
                for construction in CONSTRUCTIONS:
                    out += balanced_start(problem, k, 0.01, construction, seed=k)
            out += gaussian_start(problem, 0.2, seed=1)
    return out


def test_building_phi_and_w0_calls_no_blas(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("BLAS/LAPACK called while building Phi or W(0)")

    for name in BLAS_ENTRY_POINTS:
        monkeypatch.setattr(np, name, refuse)
    for name in dir(np.linalg):
        if not name.startswith("_") and callable(getattr(np.linalg, name)):
            monkeypatch.setattr(np.linalg, name, refuse)
    real_rng = np.random.default_rng

    class UniformsOnly:
        """A generator that gives only PCG64's uniform doubles (standard_normal's ziggurat calls
        libm's exp/log in its tails)."""

        def __init__(self, seed):
            self.random = real_rng(seed).random

    monkeypatch.setattr(np.random, "default_rng", UniformsOnly)
    assert _build_everything()


def _numpy_names(tree) -> set[str]:
    """np.<name> attributes used, and whether any `@` appears."""
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.MatMult):
            names.add("@")
        if (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id == "np"
        ):
            names.add(node.attr)
    return names


def test_construction_source_uses_numpy_only_to_hold_the_result():
    """`@` on arrays cannot be patched, so the source is read: the construction's code uses
    NumPy only to create arrays and the generator, never to compute."""
    allowed = {"array", "asarray", "float64", "ndarray", "random", "eye", "arange"}
    sources = [
        inspect.getsource(pf),
        inspect.getsource(starts_module),
        *(
            inspect.getsource(getattr(problem_module, name))
            for name in ("_build_problem", "orthonormal_columns", "_columns", "target_matrix")
        ),
    ]
    for source in sources:
        used = _numpy_names(ast.parse(source))
        assert used <= allowed, used - allowed


def _sha(arrays) -> str:
    h = hashlib.sha256()
    for a in arrays:
        h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()[:16]


# sha256 (first 16 hex digits) of the bytes, computed once on the machine that wrote this test
GOLDEN = {
    "phi_default": "92bc9c4b6979d71b",
    "w0_k3_seed1_orthogonal": "972d2d06d32d885a",
    "w0_k2_seed0_antisymmetric_float32": "90d4d4542263ccfd",
    "w0_gaussian_seed0": "778ec7f341d89f61",
}


def _golden_values() -> dict:
    problem = make_problem()
    return {
        "phi_default": _sha([problem.U, problem.V, problem.Phi]),
        "w0_k3_seed1_orthogonal": _sha(initial_weights(RunConfig(k=3, seed=1), problem)),
        "w0_k2_seed0_antisymmetric_float32": _sha(
            w.astype(np.float32)
            for w in initial_weights(
                RunConfig(k=2, construction="antisymmetric", dtype="float32"), problem
            )
        ),
        "w0_gaussian_seed0": _sha(
            initial_weights(RunConfig(init="gaussian", init_scale=0.2), problem)
        ),
    }


def test_target_and_starts_have_the_committed_bytes():
    assert _golden_values() == GOLDEN


def test_log_within_one_ulp():
    rng = np.random.default_rng(0)
    xs = [rng.random() for _ in range(20000)] + [1e-300, 5e-324, 0.5, 1.0, 2.0, 1e300, 1.5]
    xs += [1.0 - i * 2.0**-53 for i in range(1, 200)]
    for x in xs:
        assert abs(pf.log(x) - math.log(x)) <= math.ulp(math.log(x)), x
    assert pf.log(1.0) == 0.0


def test_normals_are_standard_normal():
    z = np.array(pf.normals(np.random.default_rng(1), 200_000))
    assert abs(z.mean()) < 0.01 and abs(z.var() - 1) < 0.01
    assert abs((z**4).mean() - 3) < 0.05  # Gaussian kurtosis
    assert abs(np.mean(np.abs(z) < 1) - 0.6826894921) < 0.005
    assert pf.normals(np.random.default_rng(1), 5) == pf.normals(np.random.default_rng(1), 6)[:5]


@pytest.mark.parametrize("x", [0.01, 1e-4, 0.3, 123.0, 1e-300, 7.0, 2.0**-1074])
def test_root_is_correctly_rounded(x):
    from fractions import Fraction

    for n in range(1, 17):
        c = pf.root(x, n)
        lo = (Fraction(math.nextafter(c, 0)) + Fraction(c)) / 2
        hi = (Fraction(c) + Fraction(math.nextafter(c, math.inf))) / 2
        assert lo**n <= Fraction(x) <= hi**n
    assert pf.root(8.0, 3) == 2.0 and pf.root(1e-6, 6) == 0.1


def test_orthonormal_columns():
    U = problem_module.orthonormal_columns(np.random.default_rng(4), 9, 9)
    np.testing.assert_allclose(U.T @ U, np.eye(9), rtol=0, atol=1e-15)
    problem = make_problem()
    np.testing.assert_allclose(
        problem.Phi, (problem.U * problem.s) @ problem.V.T, rtol=0, atol=1e-14
    )
