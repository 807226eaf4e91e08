"""Initial weights: balanced rank-one starts aimed at a chosen critical point k
(docs/theory.md §2, §5), and unbalanced Gaussian starts for experiments outside the theorem's
assumptions.

Every start is built on plain Python floats with +, -, *, /, sqrt and order-independent sums
(dln.model.plainfloat) from the uniforms of NumPy's PCG64 generator, and becomes a NumPy array
only at the end: W(0) has the same bits on every machine, whatever BLAS or CPU it has. The
Gaussian draws are the polar method's (N(0, 1) up to rounding), so random directions are uniform
on the sphere up to rounding, not NumPy's `standard_normal` stream.
"""

from __future__ import annotations

import math

import numpy as np

from dln.model import plainfloat as pf
from dln.model.problem import ConfigError, Problem

CONSTRUCTIONS = ("orthogonal", "antisymmetric")


def _vectors(basis: np.ndarray) -> list[list[float]]:
    """The columns of an n x d array as plain-float lists (exact)."""
    return np.asarray(basis, dtype=np.float64).T.tolist()


def _complement_direction(rng, basis: list, k: int) -> list[float]:
    """Unit vector orthogonal to basis[:k-1] whose coefficient on basis[k-1] is >= 0.5.

    Keeping that coefficient bounded away from zero makes p_k = alpha_k + beta_k clearly non-zero.
    """
    n = len(basis[0])
    bk = basis[k - 1]
    g = pf.normals(rng, n)
    # unit vector orthogonal to b_1..b_k (none when they span the space)
    g = pf.unit(pf.project_out(g, basis[:k])) if n > k else [0.0] * n
    # weight 0.5..1 on the k-th direction, the rest random in the complement
    a = 0.5 + 0.5 * rng.random()
    return pf.unit(pf.add(pf.scaled(a, bk), pf.scaled(math.sqrt(1.0 - a * a), g)))


def _outside_range(rng, basis: list, n: int) -> list[float] | None:
    """Unit vector orthogonal to all of `basis` (vectors of length n); None when there is no
    room (n == len(basis))."""
    if n == len(basis):
        return None
    return pf.unit(pf.project_out(pf.normals(rng, n), basis))


def _end_directions(problem: Problem, k: int, construction: str, rng):
    """end_directions on plain-float lists."""
    d = problem.d
    if not 0 <= k <= d:
        raise ConfigError(f"k={k}: allowed are 0..{d} (d = {d})")
    if construction not in CONSTRUCTIONS:
        raise ConfigError(f"construction={construction!r}: allowed are {list(CONSTRUCTIONS)}")
    U, V = _vectors(problem.U), _vectors(problem.V)
    if k == 0:
        # Every p_i must vanish: v's coordinates in span(v_i) are minus u's.
        # When both ends have room outside the range, leave some weight there.
        u_out = _outside_range(rng, U, problem.widths[-1])
        v_out = _outside_range(rng, V, problem.widths[0])
        room = u_out is not None and v_out is not None
        c = pf.unit(pf.normals(rng, d))
        r = (0.6 + 0.3 * rng.random()) if room else 1.0
        rc = pf.scaled(r, c)
        u, v = pf.combination(rc, U), pf.scaled(-1.0, pf.combination(rc, V))
        if room:
            rest = math.sqrt(1.0 - r * r)
            u, v = pf.add(u, pf.scaled(rest, u_out)), pf.add(v, pf.scaled(rest, v_out))
        return pf.unit(u), pf.unit(v)
    u_k = _complement_direction(rng, U, k)
    v_k = _complement_direction(rng, V, k)
    if construction == "orthogonal" or k == 1:
        return u_k, v_k
    # antisymmetric: alpha_i = -beta_i != 0 for i < k, magnitude 0.2..0.5, total weight <= 0.6
    c = [(1.0 if rng.random() < 0.5 else -1.0) * (0.2 + 0.3 * rng.random()) for _ in range(k - 1)]
    c = pf.scaled(min(1.0, 0.6 / pf.norm(c)), c)
    rest = math.sqrt(1.0 - pf.dot(c, c))
    u = pf.add(pf.combination(c, U[: k - 1]), pf.scaled(rest, u_k))
    v = pf.add(pf.scaled(-1.0, pf.combination(c, V[: k - 1])), pf.scaled(rest, v_k))
    return u, v


def end_directions(
    problem: Problem, k: int, construction: str, rng
) -> tuple[np.ndarray, np.ndarray]:
    """Unit vectors (u, v) = (a_N, a_0) with the alignment pattern of the notes for index k."""
    u, v = _end_directions(problem, k, construction, rng)
    return np.array(u, dtype=np.float64), np.array(v, dtype=np.float64)


def balanced_start(
    problem: Problem, k: int, sigma0: float, construction: str = "orthogonal", seed: int = 0
) -> list[np.ndarray]:
    """W_j = c a_j a_{j-1}^T with c = sigma0^{1/N} (correctly rounded), so that
    W_N...W_1 = sigma0 u v^T up to rounding (balanced)."""
    if not (math.isfinite(sigma0) and sigma0 > 0):
        raise ConfigError(f"sigma0={sigma0}: must be a finite number > 0")
    rng = pf.generator(seed, pf.START_STREAM)
    u, v = _end_directions(problem, k, construction, rng)
    widths, N = problem.widths, problem.depth
    a = [v]
    for j in range(1, N):
        a.append(pf.unit(pf.normals(rng, widths[j])) if widths[j] > 1 else [1.0])
    a.append(u)
    c = pf.root(sigma0, N)
    weights = []
    for j in range(1, N + 1):
        left = pf.scaled(c, a[j])
        weights.append(np.array([[x * y for y in a[j - 1]] for x in left], dtype=np.float64))
    return weights


def gaussian_start(problem: Problem, scale: float, seed: int = 0) -> list[np.ndarray]:
    """Independent N(0, scale^2) entries (polar-method normals, row-major, layer 1 first):
    generally unbalanced, outside the theorem."""
    if not (math.isfinite(scale) and scale > 0):
        raise ConfigError(f"init_scale={scale}: must be a finite number > 0")
    rng = pf.generator(seed, pf.START_STREAM)
    return [
        np.array(pf.scaled(scale, pf.normals(rng, rows * cols)), dtype=np.float64).reshape(
            rows, cols
        )
        for rows, cols in problem.shapes()
    ]
