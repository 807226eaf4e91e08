"""balancedness_error on wide layers: O(parameters) memory per record, and the accuracy of the
dense formula (issue 13). Memory is measured with tracemalloc (numpy reports its buffers to it),
so the test checks structure, not timing."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

from dln.model.problem import make_problem
from dln.model.starts import CONSTRUCTIONS, balanced_start
from dln.model.theory import NOT_BALANCED, balancedness_error, predict_k

WIDE = (8, 3000, 1, 4, 5)  # the example: 5.9 GB with 41 records before


def dense_reference(weights):
    """The definition, forming every d_j x d_j Gram matrix (one record at a time, so that the
    reference itself stays at a few 3000 x 3000 matrices)."""
    batch = np.broadcast_shapes(*(w.shape[:-2] for w in weights))
    weights = [np.broadcast_to(w, batch + w.shape[-2:]) for w in weights]
    out = np.empty(batch)
    for i in np.ndindex(batch):
        out[i] = max(
            np.linalg.norm(
                weights[j + 1][i].T @ weights[j + 1][i] - weights[j][i] @ weights[j][i].T
            )
            for j in range(len(weights) - 1)
        )
    return out


def random_weights(widths, batch=(), seed=0):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal((*batch, widths[j], widths[j - 1])) for j in range(1, len(widths))]


@pytest.mark.parametrize("widths", [WIDE, (8, 300, 200, 1, 5), (3, 100, 2), (50, 90, 1, 70)])
@pytest.mark.parametrize("batch", [(), (3,), (2, 3)])
def test_matches_the_dense_formula_on_random_weights(widths, batch):
    w = random_weights(widths, batch)
    got, ref = balancedness_error(w), dense_reference(w)
    assert np.shape(got) == batch
    np.testing.assert_allclose(got, ref, rtol=1e-12)


def test_batched_and_unbatched_layers_broadcast_like_the_dense_formula():
    w = random_weights(WIDE, (4,))
    w[0] = w[0][0]  # one W_1 for every record
    np.testing.assert_allclose(balancedness_error(w), dense_reference(w), rtol=1e-12)


def test_narrow_architectures_give_the_same_bits_as_before():
    """Up to width 64 the dense formula is kept: stored runs stay bit-identical."""
    w = random_weights((8, 3, 5, 10, 1, 4, 5), (41,))
    before = np.max(
        np.stack(
            [  # the implementation before issue 13, verbatim
                np.linalg.norm(
                    np.swapaxes(w[j + 1], -1, -2) @ w[j + 1] - w[j] @ np.swapaxes(w[j], -1, -2),
                    axis=(-2, -1),
                )
                for j in range(len(w) - 1)
            ]
        ),
        axis=0,
    )
    assert np.array_equal(balancedness_error(w), before)


@pytest.mark.parametrize("construction", CONSTRUCTIONS)
@pytest.mark.parametrize("sigma0", [0.01, 1.0, 30.0])
def test_balanced_wide_start_stays_at_round_off(construction, sigma0):
    """A balanced start must read ~1e-16 of its scale sigma0^(2/N), not the ~5e-8 the expanded
    identity leaves (which is above predict_k's tolerance sqrt(eps) ~ 1.5e-8)."""
    problem = make_problem(widths=WIDE)
    scale = sigma0 ** (2.0 / problem.depth)
    for k in range(1, problem.d + 1):
        w = balanced_start(problem, k, sigma0, construction, seed=k)
        assert balancedness_error(w) < 1e-14 * scale
        assert balancedness_error([x[None] for x in w])[0] < 1e-14 * scale
        assert predict_k(problem, w) not in (NOT_BALANCED, 0)


def _expanded_gap_norm(a, b):
    """||A^T A - B B^T||_F from ||A A^T||^2 - 2 ||A B||^2 + ||B^T B||^2 (the Gram of each
    matrix on its smaller side): as cheap as the QR form and exact in exact arithmetic."""
    sq = (
        np.linalg.norm(a @ a.T) ** 2 - 2 * np.linalg.norm(a @ b) ** 2 + np.linalg.norm(b.T @ b) ** 2
    )
    return np.sqrt(max(sq, 0.0))


def test_expanded_identity_cancels_where_balancedness_error_does_not():
    """Why the QR form: on the balanced wide starts the expanded identity leaves ~1e-8 of the
    scale (near predict_k's tolerance sqrt(eps) ~ 1.5e-8), balancedness_error round-off. Fails
    if balancedness_error is rewritten with the identity (or anything else that cancels)."""
    problem = make_problem(widths=WIDE)
    expanded, ours = [], []
    for construction in CONSTRUCTIONS:
        for k in range(1, problem.d + 1):
            w = balanced_start(problem, k, 30.0, construction, seed=k)
            scale = 30.0 ** (2.0 / problem.depth)
            expanded.append(
                max(_expanded_gap_norm(w[j + 1], w[j]) for j in range(len(w) - 1)) / scale
            )
            ours.append(balancedness_error(w) / scale)
    assert max(expanded) > 1e-9  # the trap is real on these inputs
    assert max(ours) < 1e-14
    # and on generic (unbalanced) input both agree with the definition
    rng = np.random.default_rng(1)
    a, b = rng.standard_normal((3, 500)), rng.standard_normal((500, 6))
    assert _expanded_gap_norm(a, b) == pytest.approx(np.linalg.norm(a.T @ a - b @ b.T), rel=1e-10)


def test_wide_layer_memory_is_bounded_by_the_weights():
    """Widths 8, 3000, 1, 4, 5 with 41 records: the 3000 x 3000 Gram matrices alone would be
    41 x 72 MB; the peak must stay within a few times the weights' own bytes (~8.9 MB)."""
    w = random_weights(WIDE, (41,))
    weight_bytes = sum(x.nbytes for x in w)
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        err = balancedness_error(w)
        peak = tracemalloc.get_traced_memory()[1] - before
    finally:
        tracemalloc.stop()
    assert err.shape == (41,)
    assert 0 < peak < 4 * weight_bytes, f"peak {peak / 1e6:.1f} MB for {weight_bytes / 1e6:.1f} MB"
    one_gram = WIDE[1] ** 2 * 8
    assert peak < one_gram  # not even one 3000 x 3000 matrix was formed
