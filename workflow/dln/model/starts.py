"""Initial weights: balanced rank-one starts aimed at a chosen critical point k
(docs/theory.md §2, §5), and unbalanced Gaussian starts for experiments outside the theorem's
assumptions."""

from __future__ import annotations

import numpy as np

from dln.model.problem import ConfigError, Problem

CONSTRUCTIONS = ("orthogonal", "antisymmetric")


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x)


def _complement_direction(rng, basis: np.ndarray, k: int) -> np.ndarray:
    """Unit vector orthogonal to basis[:, :k-1] whose coefficient on basis[:, k-1] is >= 0.5.

    Keeping that coefficient bounded away from zero makes p_k = alpha_k + beta_k clearly non-zero.
    """
    n = basis.shape[0]
    g = rng.standard_normal(n)
    head = basis[:, : k - 1]
    g = g - head @ (head.T @ g)  # project out u_1..u_{k-1}
    bk = basis[:, k - 1]
    g = g - bk * (bk @ g)
    g = _unit(g) if np.linalg.norm(g) > 1e-12 else np.zeros(n)
    # weight 0.5..1 on the k-th direction, the rest random in the complement
    a = 0.5 + 0.5 * rng.random()
    x = a * bk + np.sqrt(1.0 - a * a) * g
    return _unit(x)


def _outside_range(rng, basis: np.ndarray) -> np.ndarray:
    """Unit vector orthogonal to all columns of basis (zero vector when there is no room)."""
    n, d = basis.shape
    if n == d:
        return np.zeros(n)
    g = rng.standard_normal(n)
    g = g - basis @ (basis.T @ g)
    return _unit(g)


def end_directions(
    problem: Problem, k: int, construction: str, rng
) -> tuple[np.ndarray, np.ndarray]:
    """Unit vectors (u, v) = (a_N, a_0) with the alignment pattern of the notes for index k."""
    U, V, d = problem.U, problem.V, problem.d
    if not 0 <= k <= d:
        raise ConfigError(f"k={k}: allowed are 0..{d} (d = {d})")
    if construction not in CONSTRUCTIONS:
        raise ConfigError(f"construction={construction!r}: allowed are {list(CONSTRUCTIONS)}")
    if k == 0:
        # Every p_i must vanish: v's coordinates in span(v_i) are minus u's.
        # When both ends have room outside the range, leave some weight there.
        u_out, v_out = _outside_range(rng, U), _outside_range(rng, V)
        room = np.linalg.norm(u_out) > 0 and np.linalg.norm(v_out) > 0
        c = _unit(rng.standard_normal(d))
        r = (0.6 + 0.3 * rng.random()) if room else 1.0
        u = U @ (r * c) + np.sqrt(1 - r * r) * u_out
        v = -V @ (r * c) + np.sqrt(1 - r * r) * v_out
        return _unit(u), _unit(v)
    u_k = _complement_direction(rng, U, k)
    v_k = _complement_direction(rng, V, k)
    if construction == "orthogonal" or k == 1:
        return u_k, v_k
    # antisymmetric: alpha_i = -beta_i != 0 for i < k, magnitude 0.2..0.5, total weight <= 0.6
    c = rng.choice([-1.0, 1.0], size=k - 1) * (0.2 + 0.3 * rng.random(k - 1))
    c *= min(1.0, 0.6 / np.linalg.norm(c))
    rest = np.sqrt(1.0 - c @ c)
    u = U[:, : k - 1] @ c + rest * u_k
    v = -V[:, : k - 1] @ c + rest * v_k
    return u, v


def balanced_start(
    problem: Problem, k: int, sigma0: float, construction: str = "orthogonal", seed: int = 0
) -> list[np.ndarray]:
    """W_j = c a_j a_{j-1}^T with c = sigma0^{1/N}, so that W_N...W_1 = sigma0 u v^T (balanced)."""
    if not (np.isfinite(sigma0) and sigma0 > 0):
        raise ConfigError(f"sigma0={sigma0}: must be a finite number > 0")
    rng = np.random.default_rng(seed)
    u, v = end_directions(problem, k, construction, rng)
    widths, N = problem.widths, problem.depth
    a = [v]
    for j in range(1, N):
        a.append(_unit(rng.standard_normal(widths[j])) if widths[j] > 1 else np.ones(1))
    a.append(u)
    c = sigma0 ** (1.0 / N)
    return [c * np.outer(a[j], a[j - 1]) for j in range(1, N + 1)]


def gaussian_start(problem: Problem, scale: float, seed: int = 0) -> list[np.ndarray]:
    """Independent N(0, scale^2) entries: generally unbalanced, outside the theorem."""
    if not (np.isfinite(scale) and scale > 0):
        raise ConfigError(f"init_scale={scale}: must be a finite number > 0")
    rng = np.random.default_rng(seed)
    return [scale * rng.standard_normal(shape) for shape in problem.shapes()]
