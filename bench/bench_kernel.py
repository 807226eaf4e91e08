"""Benchmark of the GD kernel on the paper's setup (RunConfig defaults: k = 1, lr = 5e-4).

Run:  .venv/bin/python bench/bench_kernel.py [--steps 100000] [--numpy-steps 3000] [--repeat 5]

What it measures, all in one process unless said otherwise:
  1. correctness gate: `dln.solve.kernel.gd_run` and the plain NumPy loop `dln.solve.kernel.gd_numpy` agree to
     1e-10 (max abs) in the final weights after 2,000 steps -- exits with status 1 if not;
  2. microseconds per GD step of the compiled kernel (float64 and float32; `--steps` steps with the
     default recording every 50 steps, best and median wall time and best CPU time of `--repeat`
     runs; the C kernel is compiled at install time);
  3. microseconds per step of the NumPy loop, timed on `--numpy-steps` steps (much
     slower: docs/performance.md);
  4. wall time of a fresh `python -m dln run --k 1 --steps 100000 --out <tmp>.nc` process
     (median of 3 after one warm-up run, so that the file cache is warm): this is what one
     workflow job costs, including imports, the trajectory quantities and the NetCDF write;
  2b. the batched kernel (`gd_run_batch`: B = 8, 64, 256 runs of the paper's architecture in
     lockstep, mixed k and seeds, on the default build; B = 64 on each instruction set's build),
     microseconds per step per run, after checking that every build's runs (19 of them: a full
     block and a padded one) equal the single-run kernel's byte for byte (exits with status 1
     if not);
  5. if `jax` is importable: a jit-compiled `jax.lax.scan` of the same update in float64
     (jax_enable_x64), and a `jax.vmap` of it over B = 64 runs (microseconds per step per run),
     each checked against the kernel and timed the same way; otherwise it says so.

Note: the environment may set OPENBLAS_CORETYPE (it selects OpenBLAS's CPU kernels). It affects only
the NumPy/BLAS side (`gd_numpy`, not the C kernel, which calls no BLAS). For a NumPy comparison
on the machine's native kernels one may run the script with that variable unset
(`env -u OPENBLAS_CORETYPE ...`); this script does not change it.
"""

from __future__ import annotations

import argparse
import itertools
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from dln.model.problem import flatten, unflatten
from dln.solve.kernel import BATCH_LANES, batch_isas, gd_numpy, gd_run, gd_run_batch
from dln.solve.run import RunConfig, initial_weights

AGREE_STEPS = 2_000
AGREE_TOL = 1e-10


def timed(fn, repeat):
    """(best, median) wall seconds of fn() over `repeat` calls, and the best CPU seconds of this
    process (on a machine shared with other jobs, wall time also counts the waits for a core)."""
    times, cpu = [], []
    for _ in range(repeat):
        t0, c0 = time.perf_counter(), time.process_time()
        fn()
        times.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    return min(times), statistics.median(times), min(cpu)


def row(name: str, steps: int, timing, per: int) -> tuple:
    """A table row: name, steps timed, then best, median and best CPU microseconds per `per`."""
    return (name, steps, *(seconds / per * 1e6 for seconds in timing))


def jax_runner(weights, phi, lr, steps):
    """A jit-compiled lax.scan of `steps` GD steps (float64); returns a callable -> final weights."""
    import jax

    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp

    phi = jnp.asarray(phi, dtype=jnp.float64)

    def loss(ws):
        W = ws[0]
        for Wj in ws[1:]:
            W = Wj @ W
        return 0.5 * jnp.sum((W - phi) ** 2)

    value_and_grad = jax.value_and_grad(loss)

    def step(ws, _):
        value, grads = value_and_grad(ws)
        return tuple(w - lr * g for w, g in zip(ws, grads, strict=True)), value

    @jax.jit
    def run(ws):
        return jax.lax.scan(step, ws, None, length=steps)

    ws0 = tuple(jnp.asarray(w, dtype=jnp.float64) for w in weights)

    def call():
        final, losses = run(ws0)
        jax.block_until_ready(final)
        return [np.asarray(w) for w in final]

    return call, jax.__version__


def cli_wall_times(steps, n=3):
    """Fresh-process wall seconds of `python -m dln run --k 1 --steps <steps>` (after a warm-up)."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "bench.nc"
        cmd = [
            sys.executable,
            "-m",
            "dln",
            "run",
            "--k",
            "1",
            "--steps",
            str(steps),
            "--out",
            str(out),
        ]
        times = []
        for i in range(n + 1):
            t0 = time.perf_counter()
            res = subprocess.run(cmd, capture_output=True, text=True)
            dt = time.perf_counter() - t0
            if res.returncode != 0:
                sys.exit(f"CLI run failed ({res.returncode}):\n{res.stderr}")
            if i > 0:  # run 0 is the warm-up
                times.append(dt)
        return times


def mixed_starts(problem, dtype: str, size: int):
    """Starts and step sizes of `size` runs of the paper's architecture, mixed k and seeds."""
    cfgs = [RunConfig(k=1 + i % 5, seed=i, dtype=dtype) for i in range(size)]
    thetas = np.stack([flatten(initial_weights(c, problem)) for c in cfgs]).astype(dtype)
    return thetas, [c.lr for c in cfgs]


def builds_equal_single_runs(problem, dtype: str) -> bool:
    """Every batched build this CPU runs (instruction set x lanes) gives, for 19 runs (a full
    block of 16 and a padded one), each run's bytes of the single-run kernel."""
    thetas, lrs = mixed_starts(problem, dtype, 19)
    pairs = list(zip(thetas, lrs, strict=True))
    ones = [gd_run(t, problem.Phi, problem.widths, lr, 2000, 50)[0] for t, lr in pairs]
    for isa, lanes in itertools.product(batch_isas(), BATCH_LANES):
        build = {"lanes": lanes, "isa": isa}
        out = gd_run_batch(thetas, problem.Phi, problem.widths, lrs, 2000, 50, **build)
        if any(a.tobytes() != b.tobytes() for a, (b, _, _) in zip(ones, out, strict=True)):
            print(f"FAIL: batched build {isa}, {lanes} lanes, {dtype}", file=sys.stderr)
            return False
    return True


def batched_rows(problem, steps: int, repeat: int, sizes=(8, 64, 256)) -> list[tuple] | None:
    """Rows for the batched kernel (us per step per run): B = each of `sizes` on the default
    build, and B = 64 on each instruction set's build; None if a run's bytes differ from the
    single-run kernel's."""
    rows = []
    for dtype in ("float64", "float32"):
        if not builds_equal_single_runs(problem, dtype):
            return None
        runs = [(size, None) for size in sizes] + [(64, isa) for isa in batch_isas()]
        for size, isa in runs:
            thetas, lrs = mixed_starts(problem, dtype, size)
            timing = timed(
                lambda t=thetas, lr=lrs, isa=isa: gd_run_batch(
                    t, problem.Phi, problem.widths, lr, steps, 50, isa=isa
                ),
                repeat,
            )
            build = f"{isa} build" if isa else "default build"
            rows.append(row(f"batched {dtype}, B = {size}, {build}", steps, timing, steps * size))
    return rows


def jax_vmap_row(problem, steps: int, repeat: int, size: int = 64):
    """A jit-compiled jax.vmap over `size` runs of the lax.scan of jax_runner (float64): the
    row (us per step per run) and the max |dW| against the kernel after 2,000 steps."""
    import jax

    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp

    thetas, lrs = mixed_starts(problem, "float64", size)
    weights = [unflatten(t, problem.widths) for t in thetas]
    ws0 = tuple(jnp.asarray(np.stack([w[j] for w in weights])) for j in range(len(weights[0])))
    phi, lr = jnp.asarray(problem.Phi), jnp.asarray(lrs)

    def loss(ws):
        W = ws[0]
        for Wj in ws[1:]:
            W = Wj @ W
        return 0.5 * jnp.sum((W - phi) ** 2)

    def run(ws, lr, n):
        def step(ws, _):
            return tuple(w - lr * g for w, g in zip(ws, jax.grad(loss)(ws), strict=True)), None

        return jax.lax.scan(step, ws, None, length=n)[0]

    def call(n):
        fn = jax.jit(jax.vmap(lambda ws, lr: run(ws, lr, n)))
        return lambda: jax.block_until_ready(fn(ws0, lr))

    final = call(2000)()
    one = gd_run(thetas[0], problem.Phi, problem.widths, lrs[0], 2000, 2000)[0][-1]
    diff = float(np.max(np.abs(flatten([np.asarray(w[0]) for w in final]) - one)))
    timed_call = call(steps)
    timed_call()  # compile
    name = f"jax {jax.__version__} vmap float64, B = {size}"
    return row(name, steps, timed(timed_call, repeat), steps * size), diff


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=100_000)
    ap.add_argument("--numpy-steps", type=int, default=3_000)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--no-cli", action="store_true", help="skip the fresh-process timing")
    args = ap.parse_args(argv)

    cfg = RunConfig()
    problem = cfg.problem()
    w0 = initial_weights(cfg, problem)
    theta0, phi, widths, lr = flatten(w0), problem.Phi, problem.widths, cfg.lr
    print(
        f"paper setup: widths {widths}, k = {cfg.k}, lr = {lr}, sigma0 = {cfg.sigma0}, "
        f"{theta0.size} parameters; OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE', '(unset)')}"
    )

    # 1. correctness gate
    snaps, _, _ = gd_run(theta0, phi, widths, lr, AGREE_STEPS, AGREE_STEPS)
    ref = flatten(gd_numpy(w0, phi, lr, AGREE_STEPS))
    diff = float(np.max(np.abs(snaps[-1] - ref)))
    print(
        f"kernel vs NumPy after {AGREE_STEPS} steps: max |dW| = {diff:.2e} (tolerance {AGREE_TOL:g})"
    )
    if not diff <= AGREE_TOL:
        print("FAIL: the kernel and the NumPy reference disagree", file=sys.stderr)
        return 1

    rows = []  # (name, steps timed, best, median and best CPU us/step)

    # 2. compiled kernel, float64 and float32
    theta32 = theta0.astype(np.float32)
    gd_run(theta32, phi, widths, lr, 100, 50)
    for name, th in (("C kernel float64", theta0), ("C kernel float32", theta32)):
        timing = timed(
            lambda th=th: gd_run(th, phi, widths, lr, args.steps, cfg.record_every), args.repeat
        )
        rows.append(row(name, args.steps, timing, args.steps))

    # 2b. the batched kernel
    batched = batched_rows(problem, args.steps, args.repeat)
    if batched is None:
        print(
            "FAIL: the batched kernel's runs differ from the single-run kernel's", file=sys.stderr
        )
        return 1
    rows += batched

    # 3. the NumPy loop, fewer steps
    timing = timed(lambda: gd_numpy(w0, phi, lr, args.numpy_steps), max(3, args.repeat // 2))
    rows.append(row("numpy loop (gd_numpy)", args.numpy_steps, timing, args.numpy_steps))

    # 5. JAX, if available
    jax_note = None
    try:
        import jax  # noqa: F401
    except ImportError:
        jax_note = "JAX is not installed: skipped the JAX comparisons (lax.scan, vmap)"
    if jax_note is None:
        check, version = jax_runner(w0, phi, lr, AGREE_STEPS)
        jdiff = float(np.max(np.abs(flatten(check()) - snaps[-1])))
        run_jax, _ = jax_runner(w0, phi, lr, args.steps)
        run_jax()  # compile
        timing = timed(run_jax, args.repeat)
        rows.append(row(f"jax {version} lax.scan float64", args.steps, timing, args.steps))
        vmap_row, vdiff = jax_vmap_row(problem, args.steps, args.repeat)
        rows.append(vmap_row)
        jax_note = (
            f"JAX vs kernel after {AGREE_STEPS} steps: max |dW| = {jdiff:.2e} "
            f"(lax.scan), {vdiff:.2e} (vmap, first run)"
        )

    base = rows[0][2]
    print("\nus/step: per run for the batched rows; best and median wall, best CPU time")
    print(
        f"{'implementation':42s} {'steps':>6s} {'best us/step':>13s} {'median':>8s} "
        f"{'best CPU':>9s} {'vs kernel f64':>14s}"
    )
    for name, n, b, m, c in rows:
        print(f"{name:42s} {n:6d} {b:13.3f} {m:8.3f} {c:9.3f} {b / base:13.2f}x")
    print(jax_note)

    # 4. fresh process, the way a workflow job runs
    if not args.no_cli:
        times = cli_wall_times(args.steps)
        print(
            f"\nfresh process `python -m dln run --k 1 --steps {args.steps}`: "
            f"median {statistics.median(times):.2f} s of {len(times)} "
            f"({', '.join(f'{t:.2f}' for t in times)} s)"
        )
        kern = rows[0][3] * args.steps * 1e-6
        print(
            f"  of which the GD kernel itself: ~{kern:.2f} s; the rest is imports, trajectory "
            f"quantities and the NetCDF write"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
