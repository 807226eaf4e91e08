"""Arithmetic that gives the same bits on every machine, for everything that shapes a trajectory.

The target's bases (U, V, hence Phi) and the start W(0) are built here on plain Python floats,
with IEEE-754 +, -, *, / and sqrt only (each correctly rounded, so the same on every CPU) and
with sums that do not depend on an order: a dot product is math.fsum of the rounded products,
i.e. their exact sum rounded once. Nothing here calls BLAS/LAPACK (whose kernels are chosen per
CPU and round differently), a NumPy reduction, or a libm transcendental function (glibc picks
FMA or non-FMA variants of exp/log/pow per CPU). Orthogonal starts escape their saddle through
round-off, so a last-bit difference in W(0) moves the escape by thousands of steps: these bits
must not depend on the machine (docs/theory.md §5, "Same bits everywhere").

Random numbers: only the uniform doubles of NumPy's PCG64 generator (`rng.random()`, an exact
function of the generator's 64-bit output). Normal draws are Marsaglia's polar method on those
uniforms with the logarithm computed here (`log`, within 1 ulp of the true value): N(0, 1) up
to rounding, but not NumPy's `standard_normal` stream (whose ziggurat calls libm's exp/log in its
tails). Cost: a vector of n normals takes ~1.3 n uniforms; orthonormalising m columns of length
n takes ~4 n m^2 Python operations (m, n are the widths of the network's ends, 5 and 8 in the
paper: microseconds).
"""

from __future__ import annotations

import math
from fractions import Fraction

# fdlibm's split of ln 2: LN2_HI has 32 trailing zero bits, so e * LN2_HI is exact for |e| < 2^20
LN2_HI = 6.93147180369123816490e-01
LN2_LO = 1.90821492927058770002e-10
SQRT_HALF = 0.70710678118654752440
# 1 / (2j + 1) for j = 1..12: the series of atanh(s)/s - 1 in z = s^2, |s| <= 0.1716
_ATANH = tuple(1.0 / (2 * j + 1) for j in range(1, 13))


# Independent streams of one seed (SeedSequence spawn keys): the target's bases and the start
# never draw the same numbers, also when basis_seed == seed (with one stream, a start's first
# Gaussian vector would be the bases' first column before normalisation).
BASIS_STREAM, START_STREAM = 0, 1


def generator(seed: int, stream: int):
    """NumPy's PCG64 generator for `stream` of `seed` (integer hashing: the same everywhere)."""
    import numpy as np

    return np.random.default_rng(np.random.SeedSequence(int(seed), spawn_key=(stream,)))


def log(x: float) -> float:
    """Natural logarithm of a finite x > 0 from +, -, *, / only (within 1 ulp of ln x).

    x = m 2^e with m in [sqrt(1/2), sqrt(2)) (math.frexp: exact), ln m = 2 atanh(s) with
    s = (m - 1)/(m + 1), summed to 12 terms (|s| <= 0.1716: the rest is below 1e-19 of ln m).
    """
    m, e = math.frexp(x)
    if m < SQRT_HALF:
        m, e = 2.0 * m, e - 1
    f = m - 1.0  # exact (Sterbenz)
    s = f / (2.0 + f)
    z = s * s
    r = _ATANH[-1]
    for c in reversed(_ATANH[:-1]):
        r = c + z * r
    # ln(1 + f) = 2 s + 2 s z r = f - (f^2/2 - s (f^2/2 + 2 z r)), fdlibm's accurate arrangement
    hfsq = 0.5 * f * f
    log_m = f - (hfsq - s * (hfsq + 2.0 * z * r))
    return e * LN2_HI + (log_m + e * LN2_LO)


def normals(rng, n: int) -> list[float]:
    """n independent N(0, 1) draws (up to rounding) from rng's uniforms, Marsaglia's polar
    method: (x, y) uniform in the unit disc, both times sqrt(-2 ln r^2 / r^2)."""
    out: list[float] = []
    while len(out) < n:
        x = 2.0 * rng.random() - 1.0
        y = 2.0 * rng.random() - 1.0
        r2 = x * x + y * y
        if 0.0 < r2 < 1.0:
            f = math.sqrt(-2.0 * log(r2) / r2)
            out.append(x * f)
            out.append(y * f)
    return out[:n]


def dot(x, y) -> float:
    """sum_i x_i y_i: the rounded products' exact sum, rounded once (independent of order)."""
    return math.fsum([a * b for a, b in zip(x, y, strict=True)])


def norm(x) -> float:
    return math.sqrt(dot(x, x))


def unit(x) -> list[float]:
    n = norm(x)
    return [a / n for a in x]


def scaled(c: float, x) -> list[float]:
    return [c * a for a in x]


def combination(coeffs, vectors) -> list[float]:
    """sum_i c_i x_i, each coordinate one math.fsum of the rounded terms c_i x_i[a]."""
    vectors = list(vectors)
    n = len(vectors[0])
    return [math.fsum([c * v[a] for c, v in zip(coeffs, vectors, strict=True)]) for a in range(n)]


def add(x, y) -> list[float]:
    return [a + b for a, b in zip(x, y, strict=True)]


def project_out(g, basis) -> list[float]:
    """g minus its components along the orthonormal vectors of `basis`: modified Gram-Schmidt,
    applied twice ("twice is enough": the result is orthogonal to `basis` to ~1 ulp)."""
    for _ in range(2):
        for q in basis:
            c = dot(q, g)
            g = [a - c * b for a, b in zip(g, q, strict=True)]
    return g


def orthonormal_vectors(rng, n: int, m: int) -> list[list[float]]:
    """m orthonormal vectors of length n (m <= n): Gram-Schmidt of Gaussian vectors, i.e. the Q
    of a QR factorisation with R's diagonal positive, Haar-distributed up to rounding."""
    if not 0 <= m <= n:
        raise ValueError(f"{m} orthonormal vectors do not fit in dimension {n}")
    basis: list[list[float]] = []
    for _ in range(m):
        basis.append(unit(project_out(normals(rng, n), basis)))
    return basis


def root(x: float, n: int) -> float:
    """x^(1/n) correctly rounded, for a finite x > 0 and n >= 1 (libm's pow may differ in the
    last bit between CPUs): pow's estimate, then moved to the double whose rounding interval
    holds the exact root, decided in exact rational arithmetic."""
    if n == 1:
        return float(x)
    c = float(x) ** (1.0 / n)
    target = Fraction(float(x))
    while True:
        below, above = math.nextafter(c, 0.0), math.nextafter(c, math.inf)
        lo = (Fraction(below) + Fraction(c)) / 2
        hi = (Fraction(c) + Fraction(above)) / 2
        if target < lo**n:
            c = below
        elif target > hi**n:
            c = above
        else:  # lo^n <= x <= hi^n (no ties for n >= 2: a 54-bit midpoint's power is no double)
            return c
