"""Gradient descent on the full layer weights: a small C kernel (dln/solve/_kernel.c) through ctypes.

The C file's header explains the algorithm: the width-1 layer makes every layer's gradient an
outer product of two vectors, about 4 x sum_j d_j d_{j-1} multiply-adds per step. It is built
when the package is installed (setuptools extension), so no process pays a compilation or JIT
start-up cost; float64 and float32 are separate compiled loops.
"""

from __future__ import annotations

import ctypes
import itertools

import numpy as np

from dln.model.native import load_extension, pointer
from dln.model.problem import bottleneck_layer

# the batched kernel's builds: runs per call (compile-time lane counts), instruction sets
BATCH_LANES = (16, 8)
_ISAS = ("base", "avx2", "avx512")


def _load():
    """The compiled library, or None when the package was installed without a C compiler."""
    lib = load_extension("dln.solve._kernel")
    if lib is None:
        return None
    ptr = ctypes.c_void_p
    i64 = ctypes.c_int64
    for suffix, real in (("f64", ctypes.c_double), ("f32", ctypes.c_float)):
        gd = getattr(lib, f"dln_gd_{suffix}")
        gd.restype = i64
        gd.argtypes = [ptr, ptr, ptr, i64, ptr, ptr, i64, real, i64, i64, ptr, ptr, ptr, ptr]
        for lanes, isa in itertools.product(BATCH_LANES, _ISAS):
            gb = getattr(lib, f"dln_gd_batch_{suffix}_{lanes}_{isa}", None)
            if gb is not None:  # the x86 builds exist only where the compiler made them
                gb.restype = None
                gb.argtypes = [ptr, ptr, ptr, i64, ptr, ptr, i64, ptr, i64, i64, i64]
                gb.argtypes += [ptr, ptr, ptr, ptr, ptr]
        lg = getattr(lib, f"dln_loss_grad_{suffix}")
        lg.restype = ctypes.c_double
        lg.argtypes = [ptr, ptr, ptr, i64, ptr, ptr, i64, ptr, ptr]
    lib.dln_gf_rk4_f64.restype = None
    lib.dln_gf_rk4_f64.argtypes = [ptr, ptr, ptr, i64, ptr, ptr, i64, ctypes.c_double, i64, ptr]
    lib.dln_batch_isas.restype = i64
    return lib


_LIB = _load()
# "c" normally; "numpy" (much slower per step, same maths; docs/performance.md) when the
# extension could not be built at install time. Recorded in every run file's attributes.
BACKEND = "c" if _LIB is not None else "numpy"
if _LIB is None:
    import warnings

    warnings.warn(
        "dln: compiled kernel dln.solve._kernel not found (installed without a C compiler?); "
        "using the NumPy fallback, much slower per step (docs/performance.md). "
        "Reinstall with `pip install -e .` "
        "on a machine with gcc/cc for full speed.",
        RuntimeWarning,
        stacklevel=1,
    )
_SUFFIX = {np.dtype(np.float64): "f64", np.dtype(np.float32): "f32"}


def loss_grad_address() -> ctypes.c_void_p:
    """The address of the float64 loss and gradient (dln_loss_grad_f64), for the compiled
    loops of dln/model/_ode.c, which call it without a ctypes round trip."""
    return ctypes.cast(_LIB.dln_loss_grad_f64, ctypes.c_void_p)


class Layout:
    """Offsets of W_j in the flat vector and of the per-layer work vectors; the bottleneck r."""

    def __init__(self, widths):
        self.widths = np.ascontiguousarray(widths, dtype=np.int64)
        self.N = len(self.widths) - 1
        self.offs = np.zeros(self.N + 1, dtype=np.int64)
        self.offs[1:] = np.cumsum(self.widths[1:] * self.widths[:-1])
        self.voff = np.zeros(self.N + 2, dtype=np.int64)
        self.voff[1:] = np.cumsum(self.widths)
        self.r = bottleneck_layer(self.widths)
        self.n_params = int(self.offs[-1])

    def args(self):
        return (pointer(self.widths), self.N, pointer(self.offs), pointer(self.voff), self.r)


def _checked(theta: np.ndarray, layout: Layout) -> np.ndarray:
    if theta.dtype not in _SUFFIX:
        raise TypeError(f"dtype {theta.dtype} not supported (float64 or float32)")
    if theta.shape != (layout.n_params,):
        raise ValueError(f"theta has shape {theta.shape}, expected ({layout.n_params},)")
    return np.ascontiguousarray(theta)


def gd_run(theta0: np.ndarray, phi: np.ndarray, widths, lr: float, steps: int, record_every: int):
    """Run `steps` GD steps from the flat weights theta0, in theta0's dtype.

    Returns (snapshots, recorded_steps, diverged_at): the flat weights at steps 0, r, 2r, ...
    and the last step, and the first step whose loss was not finite (-1 if none; the run stops
    there and keeps what it recorded).
    """
    layout = Layout(widths)
    theta = _checked(theta0, layout).copy()
    dtype = theta.dtype
    steps, every = int(steps), int(record_every)
    if steps < 0 or every < 1:
        raise ValueError(f"steps={steps} must be >= 0 and record_every={every} >= 1")
    phi = np.ascontiguousarray(phi, dtype=dtype).ravel()
    n_rec = steps // every + 1 + (1 if steps % every else 0)
    snaps = np.empty((n_rec, layout.n_params), dtype=dtype)
    rec_steps = np.empty(n_rec, dtype=np.int64)
    work = np.empty(4 * int(layout.voff[-1]) + layout.n_params, dtype=dtype)
    if _LIB is None:
        return _gd_numpy_recorded(
            theta, phi.reshape(int(layout.widths[-1]), -1), layout, lr, steps, every
        )
    diverged = ctypes.c_int64(-1)
    gd = getattr(_LIB, f"dln_gd_{_SUFFIX[dtype]}")
    n = gd(
        pointer(theta),
        pointer(phi),
        *layout.args(),
        dtype.type(lr),
        steps,
        every,
        pointer(work),
        pointer(snaps),
        pointer(rec_steps),
        ctypes.byref(diverged),
    )
    return snaps[:n], rec_steps[:n], int(diverged.value)


def batch_isas() -> list[str]:
    """The instruction sets of the batched kernel's builds that this CPU can run, widest last."""
    if _LIB is None:
        return []
    bits = int(_LIB.dln_batch_isas())
    return [isa for i, isa in enumerate(_ISAS) if bits >> i & 1]


def _blocks(n: int, lanes: int | None) -> list[tuple[int, int, int]]:
    """(first run, runs, lanes) of each kernel call for n runs: calls of the widest build, then
    one of the narrowest build that holds the rest (padded), or all of `lanes` if given."""
    widest = lanes or max(BATCH_LANES)
    out = [(s, widest, widest) for s in range(0, n - n % widest, widest)]
    rest = n % widest
    if rest:
        out.append((n - rest, rest, lanes or min(w for w in BATCH_LANES if w >= rest)))
    return out


def gd_run_batch(
    theta0s: np.ndarray, phi: np.ndarray, widths, lrs, steps: int, every: int, *,
    lanes: int | None = None, isa: str | None = None,
):  # fmt: skip
    """gd_run for B runs of one architecture and target in lockstep (the batched C kernel):
    theta0s is (B, n_params), lrs B step sizes. Returns one (snapshots, recorded_steps,
    diverged_at) per run, each byte for byte gd_run's. lanes (one of BATCH_LANES) and isa (one
    of batch_isas()) choose a build, for tests; by default the widest this CPU runs."""
    theta0s = np.asarray(theta0s)
    if _LIB is None:  # no compiled kernel: one run at a time
        pairs = zip(theta0s, lrs, strict=True)
        return [gd_run(t, phi, widths, lr, steps, every) for t, lr in pairs]
    isa = isa or batch_isas()[-1]
    if isa not in batch_isas() or lanes not in (None, *BATCH_LANES):
        raise ValueError(f"no batched build with lanes={lanes}, isa={isa} on this CPU")
    layout, lrs, out = Layout(widths), list(lrs), []
    for start, n, width in _blocks(len(theta0s), lanes):
        block, lr = theta0s[start : start + n], lrs[start : start + n]
        # a partial block is padded with copies of its last run
        block = np.concatenate([block, np.repeat(block[-1:], width - n, axis=0)])
        out += _gd_block(block, phi, layout, lr + lr[-1:] * (width - n), steps, every, isa)[:n]
    return out


def _gd_block(thetas, phi, layout: Layout, lrs, steps: int, every: int, isa: str):
    """One call of the batched kernel: as many runs as its build has lanes."""
    for t in thetas:
        _checked(t, layout)
    dtype, lanes = thetas.dtype, len(thetas)
    steps, every = int(steps), int(every)
    if steps < 0 or every < 1:
        raise ValueError(f"steps={steps} must be >= 0 and record_every={every} >= 1")
    theta = _aligned((layout.n_params, lanes), dtype)  # the runs are the contiguous axis
    theta[...] = thetas.T
    lr = _aligned((lanes,), dtype)
    lr[...] = [dtype.type(x) for x in lrs]
    phi = np.ascontiguousarray(phi, dtype=dtype).ravel()
    n_rec = steps // every + 1 + (1 if steps % every else 0)
    snaps = np.empty((lanes, n_rec, layout.n_params), dtype=dtype)
    rec_steps = np.empty(n_rec, dtype=np.int64)
    n_recs = np.empty(lanes, dtype=np.int64)
    diverged = np.empty(lanes, dtype=np.int64)
    work = _aligned((2 * int(layout.voff[-1]) * lanes,), dtype)
    fn = getattr(_LIB, f"dln_gd_batch_{_SUFFIX[dtype]}_{lanes}_{isa}")
    args = (pointer(lr), steps, every, n_rec, pointer(work), pointer(snaps), pointer(rec_steps))
    fn(pointer(theta), pointer(phi), *layout.args(), *args, pointer(n_recs), pointer(diverged))
    return [
        (snaps[i, : n_recs[i]], rec_steps[: n_recs[i]].copy(), int(diverged[i]))
        for i in range(lanes)
    ]


def _aligned(shape, dtype, align: int = 64) -> np.ndarray:
    """An empty C-ordered array starting on a cache line: a lane group's vector loads then never
    straddle two lines (NumPy aligns to 16 bytes only)."""
    size = int(np.prod(shape)) * dtype.itemsize
    raw = np.empty(size + align, dtype=np.uint8)
    skip = -raw.ctypes.data % align
    return raw[skip : skip + size].view(dtype).reshape(shape)


def make_rk4(widths, phi: np.ndarray):
    """A callable (theta, h, n) -> theta after n RK4 steps of length h of the gradient flow, in
    float64 on the compiled kernel (dln_gf_rk4_f64: the operations of dln.solve.flow._rk4 in
    the same order, the same bytes); None without the compiled kernel."""
    if _LIB is None:
        return None
    layout = Layout(widths)
    phi = np.ascontiguousarray(phi, dtype=np.float64).ravel()
    work = np.empty(4 * int(layout.voff[-1]) + 5 * layout.n_params)
    fixed = (pointer(phi), *layout.args())

    def rk4(theta, h: float, n: int) -> np.ndarray:
        theta = np.array(_checked(np.asarray(theta, dtype=np.float64), layout))
        _LIB.dln_gf_rk4_f64(pointer(theta), *fixed, h, n, pointer(work))
        return theta

    return rk4


def make_gradient(widths, phi: np.ndarray, dtype=np.float64):
    """A callable theta -> (loss, grad) on the compiled kernel (used by the gradient flow)."""
    layout = Layout(widths)
    dtype = np.dtype(dtype)
    phi = np.ascontiguousarray(phi, dtype=dtype).ravel()
    if _LIB is None:
        return lambda theta: _loss_grad_numpy(
            _checked(np.asarray(theta, dtype=dtype), layout),
            phi.reshape(int(layout.widths[-1]), -1),
            layout.widths,
        )
    work = np.empty(4 * int(layout.voff[-1]), dtype=dtype)
    fn = getattr(_LIB, f"dln_loss_grad_{_SUFFIX[dtype]}")
    # pointers of the arrays that do not change between calls, taken once (the per-record
    # gradient norms call this thousands of times)
    fixed_before = (pointer(phi), *layout.args())
    fixed_work = pointer(work)

    def loss_grad(theta):
        theta = _checked(np.asarray(theta, dtype=dtype), layout)
        grad = np.empty_like(theta)
        loss = fn(
            pointer(theta),
            *fixed_before,
            fixed_work,
            pointer(grad),
        )
        return loss, grad

    return loss_grad


def _numpy_grads(weights, phi):
    """Loss and per-layer gradients with dense prefix products: the plain reference."""
    prefix = [weights[0]]
    for W in weights[1:]:
        prefix.append(W @ prefix[-1])
    G = prefix[-1] - phi
    B = G
    grads = [None] * len(weights)
    for j in range(len(weights) - 1, -1, -1):
        grads[j] = B @ prefix[j - 1].T if j > 0 else B
        B = weights[j].T @ B
    return 0.5 * float(np.sum(G * G)), grads


def gd_numpy(weights, phi: np.ndarray, lr: float, steps: int):
    """The plain reference: a loop over layers with `@`, for benchmarks and tests."""
    weights = [w.copy() for w in weights]
    for _ in range(steps):
        _, grads = _numpy_grads(weights, phi)
        for W, g in zip(weights, grads, strict=True):
            W -= lr * g
    return weights


def _loss_grad_numpy(theta, phi, widths):
    from dln.model.problem import flatten, unflatten

    loss, grads = _numpy_grads(unflatten(theta, widths), phi)
    return loss, flatten(grads).astype(theta.dtype)


def _gd_numpy_recorded(theta, phi, layout, lr, steps, every):
    """Fallback with gd_run's contract, for installs without the compiled kernel."""
    from dln.model.problem import unflatten

    weights = unflatten(theta, layout.widths)  # views: updating them updates theta
    lr = theta.dtype.type(lr)
    snaps, rec_steps = [], []
    diverged_at = -1
    for t in range(steps + 1):
        loss, grads = _numpy_grads(weights, phi)
        if not np.isfinite(loss):
            diverged_at = t
            break
        if t % every == 0 or t == steps:
            snaps.append(theta.copy())
            rec_steps.append(t)
        if t == steps:
            break
        for W, g in zip(weights, grads, strict=True):
            W -= lr * g
    return np.array(snaps), np.array(rec_steps, dtype=np.int64), diverged_at
