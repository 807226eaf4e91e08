"""Per-step quantities of docs/theory.md §8, computed from recorded weight snapshots.

GD and the gradient flow share this code, so their records are comparable by construction.
"""

from __future__ import annotations

import numpy as np

from dln.model import ode
from dln.model.native import pointer
from dln.model.problem import Problem, product, unflatten
from dln.model.theory import (
    alignments,
    balancedness_error,
    critical_levels,
    end_vectors,
    limit_matrix,
)
from dln.solve import kernel


def _alignment_quantities(alpha, beta, rho) -> dict[str, tuple]:
    """The alignments of §8 (alpha, beta, p, q per mode, and rho) as (dims, values, attrs)."""
    return {
        "alpha": (("step", "mode"), alpha, {"long_name": "alpha_i = u_i^T u", "units": "1"}),
        "beta": (("step", "mode"), beta, {"long_name": "beta_i = v_i^T v", "units": "1"}),
        "p": (
            ("step", "mode"),
            alpha + beta,
            {"long_name": "p_i = alpha_i + beta_i", "units": "1"},
        ),
        "q": (
            ("step", "mode"),
            alpha - beta,
            {"long_name": "q_i = alpha_i - beta_i", "units": "1"},
        ),
        "rho": (("step",), rho, {"long_name": "rho = u^T Phi v", "units": "1"}),
    }


def loss_and_grad_norm(problem: Problem, snaps: np.ndarray, backend: str = ode.BACKEND):
    """Per record, the loss and |grad| over all layers: the GD kernel's loss and gradient (fixed-
    order C loops, no BLAS: the stored loss has the same bits everywhere) and the norm by the
    pairwise sum. backend "c": all records in one call (dln/model/_ode.c); "python": a loop."""
    snaps = np.ascontiguousarray(snaps, dtype=np.float64)
    loss, grad_norm = np.empty(len(snaps)), np.empty(len(snaps))
    if backend == "c" and kernel.BACKEND == "c":
        layout = kernel.Layout(problem.widths)
        phi = np.ascontiguousarray(problem.Phi, dtype=np.float64)
        work = np.empty(4 * int(layout.voff[-1]) + 2 * layout.n_params)
        ode.COMPILED.dln_records_loss_grad(
            kernel.loss_grad_address(), pointer(phi), pointer(layout.widths), layout.N,
            pointer(layout.offs), pointer(layout.voff), layout.r, pointer(snaps),
            len(snaps), pointer(work), pointer(loss), pointer(grad_norm),
        )  # fmt: skip
        return loss, grad_norm
    loss_grad = kernel.make_gradient(problem.widths, problem.Phi, np.float64)
    for i, theta in enumerate(snaps):
        loss[i], grad = loss_grad(theta)
        grad_norm[i] = np.sqrt(np.sum(grad * grad))  # not np.linalg.norm: its dot is BLAS's
    return loss, grad_norm


def geometry(problem: Problem, snaps: np.ndarray, backend: str = ode.BACKEND):
    """Per record W = W_N ... W_1, its end vectors u, v and their alignments alpha, beta, by
    fixed-order sums (no BLAS; a round-off-sized p_1 = alpha_1 + beta_1 is measured from them).
    backend "c": one compiled loop (dln/model/_ode.c), the same operations and bits as "python":
    dln.model.problem.product, theory.end_vectors and theory.alignments on the whole stack."""
    snaps = np.ascontiguousarray(snaps, dtype=np.float64)
    if backend != "c":
        weights = unflatten(snaps, problem.widths)
        _, u, v = end_vectors(problem, weights)
        return (product(weights), u, v, *alignments(problem, u, v))
    layout = kernel.Layout(problem.widths)
    n, d0, dN, d = len(snaps), problem.widths[0], problem.widths[-1], problem.d
    W, u, v = np.empty((n, dN, d0)), np.empty((n, dN)), np.empty((n, d0))
    alpha, beta = np.empty((n, d)), np.empty((n, d))
    U, V = (np.ascontiguousarray(x, dtype=np.float64) for x in (problem.U, problem.V))
    work = np.empty(2 * max(problem.widths) * d0)
    ode.COMPILED.dln_records_geometry(
        pointer(snaps), n, pointer(layout.widths), layout.N, pointer(layout.offs),
        layout.r, pointer(U), pointer(V), d, pointer(work), pointer(W),
        pointer(u), pointer(v), pointer(alpha), pointer(beta),
    )  # fmt: skip
    return W, u, v, alpha, beta


def quantities(problem: Problem, snaps: np.ndarray, predicted_k: int) -> dict[str, tuple]:
    """name -> (dims, values, attrs) for every recorded step; snaps is (n_records, n_params)."""
    snaps = np.ascontiguousarray(snaps, dtype=np.float64)
    weights = unflatten(snaps, problem.widths)
    Phi = problem.Phi
    # the stored loss is a trajectory variable: the kernel's, the same bits on every machine
    loss, grad_norm = loss_and_grad_norm(problem, snaps)
    levels = critical_levels(problem)
    W, u, v, alpha, beta = geometry(problem, snaps)
    sv = np.linalg.svd(W, compute_uv=False)
    rho = np.einsum("ni,ij,nj->n", u, Phi, v)
    known = predicted_k >= 0
    limit = limit_matrix(problem, max(predicted_k, 0))
    nan = np.full_like(loss, np.nan)
    return {
        "loss": (("step",), loss, {"long_name": "loss 1/2 ||W_N...W_1 - Phi||_F^2", "units": "1"}),
        "loss_gap": (
            ("step",),
            loss - levels[predicted_k] if known else nan,
            {"long_name": "loss minus the critical level L_k of the predicted limit", "units": "1"},
        ),
        "level_gap": (
            ("step", "level"),
            loss[:, None] - levels[None, :],
            {"long_name": "loss minus each critical level L_k", "units": "1"},
        ),
        "sigma1": (("step",), sv[:, 0], {"long_name": "largest singular value of W", "units": "1"}),
        "sigma2": (
            ("step",),
            sv[:, 1] if sv.shape[1] > 1 else np.zeros_like(loss),
            {"long_name": "second singular value of W", "units": "1"},
        ),
        **_alignment_quantities(alpha, beta, rho),
        "dist_to_limit": (
            ("step",),
            np.linalg.norm(W - limit, axis=(-2, -1)) if known else nan,
            {"long_name": "||W - s_k u_k v_k^T||_F for the predicted k", "units": "1"},
        ),
        "dist_to_global": (
            ("step",),
            np.linalg.norm(W - limit_matrix(problem, 1), axis=(-2, -1)),
            {"long_name": "||W - s_1 u_1 v_1^T||_F (global minimiser)", "units": "1"},
        ),
        "balancedness": (
            ("step",),
            balancedness_error(weights),
            {"long_name": "max_j ||W_{j+1}^T W_{j+1} - W_j W_j^T||_F", "units": "1"},
        ),
        "grad_norm": (
            ("step",),
            grad_norm,
            {"long_name": "gradient norm over all layers", "units": "1"},
        ),
    }
