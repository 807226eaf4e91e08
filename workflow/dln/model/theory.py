"""What the paper's Theorem 3.1 and the reduced dynamics predict (docs/theory.md §3, §4, §6, §7)."""

from __future__ import annotations

import numpy as np

from dln.model.problem import Problem, matmul, product, vector_norm

NOT_BALANCED = -1  # predicted_k of a start the theorem does not cover


def critical_levels(problem: Problem) -> np.ndarray:
    """L_0..L_d: L_0 = 1/2 sum s_i^2 (the origin), L_k = L_0 - s_k^2 / 2."""
    s2 = problem.s**2
    L0 = 0.5 * s2.sum()
    return np.concatenate([[L0], L0 - 0.5 * s2])


def limit_matrix(problem: Problem, k: int) -> np.ndarray:
    """s_k u_k v_k^T (zero for k = 0)."""
    if k <= 0:
        return np.zeros((problem.widths[-1], problem.widths[0]))
    return problem.s[k - 1] * np.outer(problem.U[:, k - 1], problem.V[:, k - 1])


DENSE_GRAM_MAX_WIDTH = 64  # up to this width the d_j x d_j Gram matrices are cheap: form them


def _gram_gap_norm(upper, lower):
    """||U^T U - L L^T||_F for U = W_{j+1} (..., d_{j+1}, d_j) and L = W_j (..., d_j, d_{j-1}),
    with at most O(parameters) memory per record.

    For a wide layer d_j the gap (d_j x d_j) has rank <= r = d_{j+1} + d_{j-1}: it is Q S Q^T
    with Q = [U^T | L] (d_j x r) and S = diag(I, -I). With Q = Y R (QR, Y orthonormal columns),
    ||Q S Q^T||_F = ||R S R^T||_F, an r x r matrix. The expanded identity
    ||U^T U||^2 - 2 ||U L||^2 + ||L L^T||^2 costs as little but cancels: on an exactly balanced
    start (widths 8, 3000, 1, 4, 5) it leaves ~5e-8 of the scale, above predict_k's tolerance
    sqrt(eps) ~ 1.5e-8, so a balanced start would be called unbalanced; the QR form stays at
    ~1e-16 like the dense one (tests/model/test_theory_memory.py). Narrow layers keep the dense
    formula, so every architecture up to width 64 gives bit-identical values as before.
    """
    width = lower.shape[-2]
    rank_bound = upper.shape[-2] + lower.shape[-1]
    if width <= max(DENSE_GRAM_MAX_WIDTH, rank_bound):  # d_j^2 <= d_j * r: within the parameters
        gap = np.swapaxes(upper, -1, -2) @ upper - lower @ np.swapaxes(lower, -1, -2)
        return np.linalg.norm(gap, axis=(-2, -1))
    batch = np.broadcast_shapes(upper.shape[:-2], lower.shape[:-2])
    upper_t = np.broadcast_to(
        np.swapaxes(upper, -1, -2), batch + (upper.shape[-1], upper.shape[-2])
    )
    lower = np.broadcast_to(lower, batch + lower.shape[-2:])
    r = np.linalg.qr(np.concatenate([upper_t, lower], axis=-1), mode="r")  # (..., r, r)
    r_upper, r_lower = r[..., :, : upper.shape[-2]], r[..., :, upper.shape[-2] :]
    gap = r_upper @ np.swapaxes(r_upper, -1, -2) - r_lower @ np.swapaxes(r_lower, -1, -2)
    return np.linalg.norm(gap, axis=(-2, -1))


def balancedness_error(weights) -> float:
    """max_j ||W_{j+1}^T W_{j+1} - W_j W_j^T||_F (zero for balanced weights), batched over leading
    axes; never forms a d_j x d_j matrix for a wide layer (see _gram_gap_norm)."""
    weights = [np.asarray(w) for w in weights]
    errs = [_gram_gap_norm(weights[j + 1], weights[j]) for j in range(len(weights) - 1)]
    return np.max(np.stack(errs), axis=0)


def default_tolerance(dtype) -> float:
    """A p_i below sqrt(machine epsilon) of the weights' precision counts as zero: the cast of an
    exactly constructed start to float32 alone leaves |p_i| ~ 1e-7, which is round-off, not signal."""
    return float(np.sqrt(np.finfo(dtype).eps))


def end_vectors(problem: Problem, weights):
    """(sigma, u, v) of the rank-one product, with the sign fixed by the width-1 layer:
    v is the direction of W_r...W_1, so (u, v) move continuously along a trajectory."""
    r = problem.bottleneck
    b = product(weights[:r])[..., 0, :]  # W_r ... W_1, shape (..., d_0)
    bn = vector_norm(b)[..., None]
    v = b / np.where(bn > 0, bn, 1.0)
    Wv = matmul(product(weights), v[..., :, None])[..., 0]
    sigma = vector_norm(Wv)
    u = Wv / np.where(sigma > 0, sigma, 1.0)[..., None]
    return sigma, u, v


def alignments(problem: Problem, u, v):
    """alpha_i = u_i^T u, beta_i = v_i^T v (i = 1..d), batched over leading axes; fixed-order
    sums (matmul), so a round-off-sized p_1 has the same bits on every CPU."""
    u, v = np.asarray(u), np.asarray(v)
    alpha = matmul(u[..., None, :], problem.U)[..., 0, :]
    beta = matmul(v[..., None, :], problem.V)[..., 0, :]
    return alpha, beta


def predict_k(problem: Problem, weights, tol: float | None = None) -> int:
    """The index k of Theorem 3.1 from the weights alone.

    Returns NOT_BALANCED (-1) when the start is not balanced (the theorem says nothing), and 0 when
    sigma(0) = 0 or every p_i vanishes.
    """
    weights = [np.asarray(w) for w in weights]
    if tol is None:
        # the tolerance follows the precision of the weights as given (float32 -> sqrt(eps32)),
        # so it must be taken before the cast to float64 below
        tol = default_tolerance(np.result_type(np.float32, *weights))
    weights = [w.astype(np.float64) for w in weights]
    sigma, u, v = end_vectors(problem, weights)
    # compare with the size of W_j W_j^T, sigma^{2/N}, so that tiny Gaussian starts still count as unbalanced
    scale = max(float(sigma), 1e-300) ** (2.0 / problem.depth)
    if balancedness_error(weights) > tol * scale:
        return NOT_BALANCED
    if sigma <= 0:
        return 0
    alpha, beta = alignments(problem, u, v)
    nonzero = np.flatnonzero(np.abs(alpha + beta) > tol)
    return int(nonzero[0]) + 1 if nonzero.size else 0


def final_rate(problem: Problem, k: int) -> float:
    """Predicted exponential rate (in t = lr x step) of the loss gap near s_k u_k v_k^T.

    k < d: 2 (s_k - s_{k+1}) s_k^{1-2/N}, set by the direction mode towards u_{k+1}, v_{k+1}.
    k = d: 2 s_d^{2-2/N} from the part of u or v outside the range of Phi, if there is room for it;
    otherwise only sigma relaxes, at N s_d^{2-2/N} (loss gap twice that).
    """
    s, N, d = problem.s, problem.depth, problem.d
    if not 1 <= k <= d:
        return float("nan")
    sk = s[k - 1]
    if k < d:
        return 2.0 * (sk - s[k]) * sk ** (1 - 2 / N)
    if max(problem.widths[0], problem.widths[-1]) > d:
        return 2.0 * sk ** (2 - 2 / N)
    return 2.0 * N * sk ** (2 - 2 / N)


def escape_time(problem: Problem, k: int, eps: float) -> float:
    """tau_esc = ln(1/eps) / (s_1 - s_k): reduced time to leave saddle k from a seed eps in p_1."""
    s = problem.s
    if not 2 <= k <= problem.d:
        return float("nan")
    return float(np.log(1.0 / eps) / (s[0] - s[k - 1]))


def escape_steps(problem: Problem, k: int, eps: float, lr: float) -> float:
    """GD iterations to escape saddle k: tau_esc / (lr s_k^{1-2/N})."""
    sk = problem.s[k - 1] if 1 <= k <= problem.d else float("nan")
    return escape_time(problem, k, eps) / (lr * sk ** (1 - 2 / problem.depth))


def final_stage_modes(problem: Problem, level: int, alpha, beta):
    """Amplitudes and rates of the loss gap's modes near s_l u_l v_l^T, from the alignments
    (alpha, beta) at the moment the run enters level l.

    Linearising at the limit (rho -> s_l, sigma = rho): with p_j = alpha_j + beta_j,
        L - L_l ~ sum_{j != l} s_l (s_l - s_j) p_j^2 / 4 exp(-2 (s_l - s_j) s_l^{1-2/N} t)
                 + s_l^2 (|u_out|^2 + |v_out|^2) / 2 exp(-2 s_l^{2-2/N} t)
    (the q_j modes decay at s_l + s_j and are left out). Only j > l decay; the slowest mode
    with a non-negligible amplitude sets the observed final rate, e.g. a start orthogonal to
    u_2, v_2 keeps p_2 at round-off and converges at the p_3 rate instead.
    Returns (amplitudes, rates) as arrays.
    """
    s, N = problem.s, problem.depth
    sl = s[level - 1]
    alpha, beta = np.asarray(alpha), np.asarray(beta)
    p = alpha + beta
    below = np.arange(problem.d) >= level  # modes j > l (0-based index >= l)
    amps = list(sl * (sl - s[below]) * p[below] ** 2 / 4)
    rates = list(2 * (sl - s[below]) * sl ** (1 - 2 / N))
    out = max(0.0, 1 - alpha @ alpha) + max(0.0, 1 - beta @ beta)
    amps.append(sl**2 * out / 2)
    rates.append(2 * sl ** (2 - 2 / N))
    return np.array(amps), np.array(rates)


def final_gap_model(problem: Problem, level: int, alpha, beta, dt):
    """Predicted loss gap L - L_l at times dt after entering level l (see final_stage_modes)."""
    amps, rates = final_stage_modes(problem, level, alpha, beta)
    return np.exp(-np.outer(np.asarray(dt, dtype=float), rates)) @ amps
