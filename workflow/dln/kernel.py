"""Gradient descent on the full layer weights, compiled with Numba.

The weights live in one flat vector (W_1 first, each block row-major) so that the compiled loop
works on plain arrays of any depth. The width-1 layer r (which the setting requires) makes the
product rank one, W = c_N h_0 with the column c_j = W_j...W_{r+1} and the row h_j = W_r...W_{j+1},
so every layer's gradient is an outer product of two vectors:
    j > r:  grad_j = e_j c_{j-1}^T,  e_N = G h_0^T,  e_{j-1} = W_j^T e_j
    j <= r: grad_j = h_j^T m_{j-1}^T, m_0 = G^T c_N,  m_j = W_j m_{j-1}
with G = W - Phi. That is exact (no approximation) and costs about 4 x sum_j d_j d_{j-1}
multiply-adds per step instead of 3 x d_0 x sum_j d_j d_{j-1} for dense prefix products.
Compiled code is cached on disk (numba cache=True) so later processes skip compilation.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from .problem import bottleneck_layer, flat_size


def layout(widths):
    """(widths, offsets of W_j in the flat vector, offsets of layer-j vectors, bottleneck r)."""
    widths = np.asarray(widths, dtype=np.int64)
    N = len(widths) - 1
    offs = np.zeros(N + 1, dtype=np.int64)
    for j in range(1, N + 1):
        offs[j] = offs[j - 1] + widths[j] * widths[j - 1]
    voff = np.zeros(N + 2, dtype=np.int64)
    voff[1:] = np.cumsum(widths)
    return widths, offs, voff, bottleneck_layer(widths)


def scratch(widths, dtype):
    """Work vectors h, c, e, m (one slot of length d_j per layer index j) and the residual G."""
    n = int(np.sum(widths))
    return np.zeros((4, n), dtype=dtype), np.zeros(int(widths[0] * widths[-1]), dtype=dtype)


@njit(cache=True)
def loss_and_grad(theta, phi, widths, offs, voff, r, vecs, G, grad):
    """0.5 ||W_N...W_1 - Phi||_F^2 and its gradient, written into grad (vecs, G are scratch)."""
    N = widths.shape[0] - 1
    d0, dN = widths[0], widths[N]
    zero = theta[0] * 0
    h, c, e, m = vecs[0], vecs[1], vecs[2], vecs[3]
    # rows h_{j-1} = h_j W_j from h_r = 1 down to h_0 = W_r...W_1
    h[voff[r]] = 1
    for j in range(r, 0, -1):
        dj, dm, w = widths[j], widths[j - 1], offs[j - 1]
        for b in range(dm):
            acc = zero
            for a in range(dj):
                acc += h[voff[j] + a] * theta[w + a * dm + b]
            h[voff[j - 1] + b] = acc
    # columns c_j = W_j c_{j-1} from c_r = 1 up to c_N = W_N...W_{r+1}
    c[voff[r]] = 1
    for j in range(r + 1, N + 1):
        dj, dm, w = widths[j], widths[j - 1], offs[j - 1]
        for a in range(dj):
            acc = zero
            for b in range(dm):
                acc += theta[w + a * dm + b] * c[voff[j - 1] + b]
            c[voff[j] + a] = acc
    # residual G = c_N h_0 - Phi, loss, e_N = G h_0^T, m_0 = G^T c_N
    loss = zero
    for a in range(dN):
        e[voff[N] + a] = zero
    for b in range(d0):
        m[b] = zero
    for a in range(dN):
        ca = c[voff[N] + a]
        for b in range(d0):
            g = ca * h[b] - phi[a * d0 + b]
            G[a * d0 + b] = g
            loss += g * g
            e[voff[N] + a] += g * h[b]
            m[b] += g * ca
    # e_{j-1} = W_j^T e_j for the layers above the bottleneck
    for j in range(N, r + 1, -1):
        dj, dm, w = widths[j], widths[j - 1], offs[j - 1]
        for b in range(dm):
            acc = zero
            for a in range(dj):
                acc += theta[w + a * dm + b] * e[voff[j] + a]
            e[voff[j - 1] + b] = acc
    # m_j = W_j m_{j-1} for the layers below the bottleneck
    for j in range(1, r):
        dj, dm, w = widths[j], widths[j - 1], offs[j - 1]
        for a in range(dj):
            acc = zero
            for b in range(dm):
                acc += theta[w + a * dm + b] * m[voff[j - 1] + b]
            m[voff[j] + a] = acc
    # outer products
    for j in range(1, N + 1):
        dj, dm, w = widths[j], widths[j - 1], offs[j - 1]
        if j > r:
            left, lo, right, ro = e, voff[j], c, voff[j - 1]
        else:
            left, lo, right, ro = h, voff[j], m, voff[j - 1]
        for a in range(dj):
            la = left[lo + a]
            for b in range(dm):
                grad[w + a * dm + b] = la * right[ro + b]
    return 0.5 * loss


@njit(cache=True)
def _gd_loop(theta0, phi, widths, offs, voff, r, vecs, G, lr, steps, record_every):
    theta = theta0.copy()
    P = theta.shape[0]
    grad = np.empty(P, dtype=theta.dtype)
    n_rec = steps // record_every + 1 + (1 if steps % record_every else 0)
    snaps = np.empty((n_rec, P), dtype=theta.dtype)
    rec_steps = np.empty(n_rec, dtype=np.int64)
    n = 0
    diverged_at = -1
    for t in range(steps + 1):
        loss = loss_and_grad(theta, phi, widths, offs, voff, r, vecs, G, grad)
        if not np.isfinite(loss):
            diverged_at = t
            break
        if t % record_every == 0 or t == steps:
            snaps[n] = theta
            rec_steps[n] = t
            n += 1
        if t == steps:
            break
        for i in range(P):
            theta[i] -= lr * grad[i]
    return snaps[:n], rec_steps[:n], diverged_at


def gd_run(theta0: np.ndarray, phi: np.ndarray, widths, lr: float, steps: int, record_every: int):
    """Run `steps` GD steps from the flat weights theta0, in theta0's dtype.

    Returns (snapshots, recorded_steps, diverged_at): the flat weights at steps 0, r, 2r, ...
    and the last step, and the first step whose loss was not finite (-1 if none; the run stops
    there and keeps what it recorded).
    """
    dtype = theta0.dtype
    widths, offs, voff, r = layout(widths)
    if theta0.shape != (flat_size(widths),):
        raise ValueError(f"theta0 has shape {theta0.shape}, expected ({flat_size(widths)},)")
    phi = np.ascontiguousarray(phi, dtype=dtype).ravel()
    vecs, G = scratch(widths, dtype)
    return _gd_loop(
        theta0, phi, widths, offs, voff, r, vecs, G, dtype.type(lr), int(steps), int(record_every)
    )


def make_gradient(widths, phi: np.ndarray, dtype=np.float64):
    """A callable theta -> (loss, grad) on the compiled kernel (used by the gradient flow)."""
    widths, offs, voff, r = layout(widths)
    phi = np.ascontiguousarray(phi, dtype=dtype).ravel()
    vecs, G = scratch(widths, dtype)

    def loss_grad(theta):
        grad = np.empty_like(theta)
        loss = loss_and_grad(theta, phi, widths, offs, voff, r, vecs, G, grad)
        return loss, grad

    return loss_grad


def gd_numpy(weights, phi: np.ndarray, lr: float, steps: int):
    """The plain reference: a loop over layers with `@`, for benchmarks and tests."""
    weights = [w.copy() for w in weights]
    N = len(weights)
    for _ in range(steps):
        prefix = [weights[0]]
        for W in weights[1:]:
            prefix.append(W @ prefix[-1])
        G = prefix[-1] - phi
        B = G
        grads = [None] * N
        for j in range(N - 1, -1, -1):
            grads[j] = B @ prefix[j - 1].T if j > 0 else B
            B = weights[j].T @ B
        for W, g in zip(weights, grads):
            W -= lr * g
    return weights
