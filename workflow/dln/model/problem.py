"""The target matrix Phi = sum_i s_i u_i v_i^T and the network architecture (docs/theory.md §1).

U, V and Phi are built on plain Python floats without BLAS/LAPACK (dln.model.plainfloat), so the
target GD sees has the same bits on every machine.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field

import numpy as np

from dln.model import plainfloat

PAPER_WIDTHS = (8, 3, 5, 10, 1, 4, 5)  # d_0 .. d_N of the paper's experiment
BASES = ("random", "identity")


class ConfigError(ValueError):
    """A configuration value is invalid; the message names the field and what is allowed."""


@dataclass(frozen=True)
class Problem:
    widths: tuple[int, ...]  # d_0 .. d_N
    s: np.ndarray  # singular values, strictly decreasing, length d
    U: np.ndarray  # d_N x d, orthonormal columns u_i
    V: np.ndarray  # d_0 x d, orthonormal columns v_i
    # d_N x d_0 target sum_i s_i u_i v_i^T; built from s, U, V when not given (target_matrix)
    Phi: np.ndarray | None = field(default=None, repr=False, compare=False)

    def __post_init__(self):
        if self.Phi is None and self.U is not None and self.V is not None:
            object.__setattr__(self, "Phi", target_matrix(self.s, self.U, self.V))

    @property
    def depth(self) -> int:
        return len(self.widths) - 1

    @property
    def d(self) -> int:
        return len(self.s)

    @property
    def bottleneck(self) -> int:
        """Index r of the first hidden layer of width 1 (W_r is 1 x d_{r-1})."""
        return bottleneck_layer(self.widths)

    def shapes(self) -> list[tuple[int, int]]:
        """Shape of W_j for j = 1..N."""
        w = self.widths
        return [(w[j], w[j - 1]) for j in range(1, len(w))]


def bottleneck_layer(widths) -> int:
    for j in range(1, len(widths) - 1):
        if widths[j] == 1:
            return j
    raise ConfigError(
        f"widths={list(widths)}: at least one hidden width (d_1..d_{{N-1}}) must be 1"
    )


def check_widths(widths) -> tuple[int, ...]:
    widths = tuple(int(w) for w in widths)
    if len(widths) < 3:
        raise ConfigError(
            f"widths={list(widths)}: need d_0..d_N with N >= 2 layers (at least 3 numbers)"
        )
    if any(w < 1 for w in widths):
        raise ConfigError(f"widths={list(widths)}: every width must be a positive integer")
    bottleneck_layer(widths)
    return widths


def make_spectrum(spectrum, d: int) -> np.ndarray:
    """'linear' gives the paper's s_i = d + 1 - i; a list must be strictly decreasing and positive."""
    if isinstance(spectrum, str):
        if spectrum != "linear":
            raise ConfigError(f"spectrum={spectrum!r}: allowed are 'linear' or a list of numbers")
        return np.arange(d, 0, -1, dtype=float)
    s = np.asarray(spectrum, dtype=float)
    if s.ndim != 1 or len(s) != d:
        raise ConfigError(
            f"spectrum={np.atleast_1d(s).tolist()}: need exactly d = {d} values (d = min(d_0, d_N))"
        )
    if not np.all(np.isfinite(s)) or np.any(s <= 0) or np.any(np.diff(s) >= 0):
        raise ConfigError(
            f"spectrum={s.tolist()}: values must be finite, positive and strictly decreasing"
        )
    return s


def orthonormal_columns(rng: np.random.Generator, n: int, m: int) -> np.ndarray:
    """n x m matrix with orthonormal columns: Gram-Schmidt of Gaussian columns drawn from rng's
    uniforms (plainfloat.orthonormal_vectors), Haar-distributed up to rounding; the same bits on
    every machine (no LAPACK QR)."""
    return _columns(plainfloat.orthonormal_vectors(rng, n, m), n)


def _columns(vectors, n: int) -> np.ndarray:
    """n x m array whose columns are the given plain-float vectors (an exact copy)."""
    return np.array(vectors, dtype=np.float64).reshape(-1, n).T.copy()


def target_matrix(s, U, V) -> np.ndarray:
    """Phi[a, b] = sum_i s_i U[a, i] V[b, i], each entry one math.fsum of the rounded terms
    (s_i U[a, i]) V[b, i]: the same bits on every machine (no BLAS)."""
    s, U, V = np.asarray(s).tolist(), np.asarray(U).tolist(), np.asarray(V).tolist()
    su = [[si * ui for si, ui in zip(s, row, strict=True)] for row in U]
    phi = [[math.fsum([a * b for a, b in zip(r, v, strict=True)]) for v in V] for r in su]
    return np.array(phi, dtype=np.float64).reshape(len(U), len(V))


def make_problem(
    widths=PAPER_WIDTHS, spectrum="linear", basis="random", basis_seed: int = 0
) -> Problem:
    """The target of these settings. Built once per process for each setting (the plan
    validates ~100 runs of one problem; the bases are Python-float Gram-Schmidt): the cached
    problem's arrays are read-only."""
    widths = check_widths(widths)
    try:
        key = (widths, spectrum if isinstance(spectrum, str) else tuple(spectrum), basis)
        return _cached_problem(*key, basis_seed)
    except TypeError:  # an unhashable value: build it (make_spectrum names what is wrong)
        return _build_problem(widths, spectrum, basis, basis_seed)


@functools.lru_cache(maxsize=32)
def _cached_problem(widths, spectrum, basis, basis_seed) -> Problem:
    problem = _build_problem(widths, spectrum, basis, basis_seed)
    for array in (problem.s, problem.U, problem.V, problem.Phi):
        array.flags.writeable = False
    return problem


def _build_problem(widths, spectrum, basis, basis_seed) -> Problem:
    d = min(widths[0], widths[-1])
    s = make_spectrum(spectrum, d)
    if basis == "random":
        rng = plainfloat.generator(basis_seed, plainfloat.BASIS_STREAM)
        U = orthonormal_columns(rng, widths[-1], d)
        V = orthonormal_columns(rng, widths[0], d)
    elif basis == "identity":
        U = np.eye(widths[-1], d)
        V = np.eye(widths[0], d)
    else:
        raise ConfigError(f"basis={basis!r}: allowed are {list(BASES)}")
    return Problem(widths=widths, s=s, U=U, V=V)


def flat_size(widths) -> int:
    return sum(widths[j] * widths[j - 1] for j in range(1, len(widths)))


def unflatten(theta: np.ndarray, widths) -> list[np.ndarray]:
    """Views W_1..W_N into a flat parameter vector (row-major blocks, layer 1 first).

    Works on a leading batch axis too: theta of shape (..., P) gives (..., d_j, d_{j-1}).
    """
    out, off = [], 0
    for j in range(1, len(widths)):
        n = widths[j] * widths[j - 1]
        out.append(theta[..., off : off + n].reshape(theta.shape[:-1] + (widths[j], widths[j - 1])))
        off += n
    return out


def flatten(weights) -> np.ndarray:
    return np.concatenate([np.asarray(w).ravel() for w in weights])


def matmul(a, b) -> np.ndarray:
    """a @ b, batched over leading axes, in a fixed order without BLAS: the sum over k = 0, 1, ...
    of the elementwise products a[..., :, k] b[..., k, :], each + and * rounded on its own, so the
    same bits on every CPU (BLAS's kernels round differently per CPU). For the analysis of the
    records: a last-bit difference in p_1 ~ 1e-15 moves the escape model's printed numbers."""
    a, b = np.asarray(a), np.asarray(b)
    out = a[..., :, 0:1] * b[..., 0:1, :]
    for k in range(1, a.shape[-1]):
        out = out + a[..., :, k : k + 1] * b[..., k : k + 1, :]
    return out


def vector_norm(x) -> np.ndarray:
    """||x|| along the last axis, summed in a fixed order (matmul)."""
    x = np.asarray(x)
    return np.sqrt(matmul(x[..., None, :], x[..., :, None])[..., 0, 0])


def product(weights) -> np.ndarray:
    """W_N ... W_1 (batched over leading axes), in a fixed order (matmul: no BLAS)."""
    W = weights[0]
    for Wj in weights[1:]:
        W = matmul(Wj, W)
    return W


def spectrum_values(row):
    """s_1..s_d of a run from its stored settings (a table row or run file: `widths` as
    "d_0,...,d_N" (older files: "d_0-...-d_N"), `spectrum` as "s_1,...,s_d" or "linear")."""
    widths = str(row["widths"]).replace("-", ",").split(",")
    spectrum = str(row["spectrum"])
    if spectrum == "linear":
        return np.arange(min(int(widths[0]), int(widths[-1])), 0, -1, dtype=float)
    return np.array(spectrum.split(","), dtype=float)
