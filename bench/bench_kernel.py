"""Benchmark of the GD kernel on the paper's setup (RunConfig defaults: k = 1, lr = 5e-4).

Run:  .venv/bin/python bench/bench_kernel.py [--steps 100000] [--numpy-steps 3000] [--repeat 5]

What it measures, all in one process unless said otherwise:
  1. correctness gate: `dln.solve.kernel.gd_run` and the plain NumPy loop `dln.solve.kernel.gd_numpy` agree to
     1e-10 (max abs) in the final weights after 2,000 steps -- exits with status 1 if not;
  2. microseconds per GD step of the compiled kernel (float64 and float32; `--steps` steps with the
     default recording every 50 steps, best and median of `--repeat` runs; the C kernel is compiled at install time);
  3. microseconds per step of the NumPy loop, timed on `--numpy-steps` steps (much
     slower: docs/performance.md);
  4. wall time of a fresh `python -m dln run --k 1 --steps 100000 --out <tmp>.nc` process
     (median of 3 after one warm-up run, so that the file cache is warm): this is what one
     workflow job costs, including imports, the trajectory quantities and the NetCDF write;
  2b. the batched kernel (`gd_run_batch`: B runs of the paper's architecture in lockstep, mixed
     k and seeds), microseconds per step per run, after checking that each run's bytes equal
     the single-run kernel's (exits with status 1 if not);
  5. if `jax` is importable: a jit-compiled `jax.lax.scan` of the same update in float64
     (jax_enable_x64), checked against the kernel and timed the same way; otherwise it says so.

Note: the environment may set OPENBLAS_CORETYPE (it selects OpenBLAS's CPU kernels). It affects only
the NumPy/BLAS side (`gd_numpy`, not the C kernel, which calls no BLAS). For a NumPy comparison
on the machine's native kernels one may run the script with that variable unset
(`env -u OPENBLAS_CORETYPE ...`); this script does not change it.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from dln.model.problem import flatten
from dln.solve.kernel import gd_numpy, gd_run, gd_run_batch
from dln.solve.run import RunConfig, initial_weights

AGREE_STEPS = 2_000
AGREE_TOL = 1e-10


def timed(fn, repeat):
    """(best, median) wall seconds of fn() over `repeat` calls."""
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times), statistics.median(times)


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


def batched_rows(problem, steps: int, repeat: int, sizes=(8, 64)) -> list[tuple] | None:
    """Rows for the batched kernel (us per step per run), or None if a run's bytes differ
    from the single-run kernel's."""
    rows = []
    for dtype in ("float64", "float32"):
        for size in sizes:
            cfgs = [RunConfig(k=1 + i % 5, seed=i, dtype=dtype) for i in range(size)]
            thetas = np.stack([flatten(initial_weights(c, problem)) for c in cfgs]).astype(dtype)
            lrs = [c.lr for c in cfgs]
            check = gd_run_batch(thetas[:3], problem.Phi, problem.widths, lrs[:3], 2000, 50)
            for theta, lr, (snaps, _, _) in zip(thetas[:3], lrs[:3], check, strict=True):
                one = gd_run(theta, problem.Phi, problem.widths, lr, 2000, 50)[0]
                if one.tobytes() != snaps.tobytes():
                    return None
            best, med = timed(
                lambda t=thetas, lr=lrs: gd_run_batch(
                    t, problem.Phi, problem.widths, lr, steps, 50
                ),
                max(1, repeat // 2),
            )
            per = steps * size
            rows.append((f"batched {dtype}, B = {size}, per run", steps, best / per * 1e6,
                         med / per * 1e6))  # fmt: skip
    return rows


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

    rows = []  # (name, steps timed, best us/step, median us/step)

    # 2. compiled kernel, float64 and float32
    theta32 = theta0.astype(np.float32)
    gd_run(theta32, phi, widths, lr, 100, 50)
    for name, th in (("C kernel float64", theta0), ("C kernel float32", theta32)):
        best, med = timed(
            lambda th=th: gd_run(th, phi, widths, lr, args.steps, cfg.record_every), args.repeat
        )
        rows.append((name, args.steps, best / args.steps * 1e6, med / args.steps * 1e6))

    # 2b. the batched kernel
    batched = batched_rows(problem, args.steps, args.repeat)
    if batched is None:
        print(
            "FAIL: the batched kernel's runs differ from the single-run kernel's", file=sys.stderr
        )
        return 1
    rows += batched

    # 3. the NumPy loop, fewer steps
    best, med = timed(lambda: gd_numpy(w0, phi, lr, args.numpy_steps), max(3, args.repeat // 2))
    rows.append(
        (
            "numpy loop (gd_numpy)",
            args.numpy_steps,
            best / args.numpy_steps * 1e6,
            med / args.numpy_steps * 1e6,
        )
    )

    # 5. JAX, if available
    jax_note = None
    try:
        import jax  # noqa: F401
    except ImportError:
        jax_note = "JAX is not installed: skipped the jax.lax.scan comparison"
    if jax_note is None:
        check, version = jax_runner(w0, phi, lr, AGREE_STEPS)
        jdiff = float(np.max(np.abs(flatten(check()) - snaps[-1])))
        run_jax, _ = jax_runner(w0, phi, lr, args.steps)
        run_jax()  # compile
        best, med = timed(run_jax, args.repeat)
        rows.append(
            (
                f"jax {version} lax.scan float64",
                args.steps,
                best / args.steps * 1e6,
                med / args.steps * 1e6,
            )
        )
        jax_note = f"JAX vs kernel after {AGREE_STEPS} steps: max |dW| = {jdiff:.2e}"

    base = rows[0][2]
    print()
    print(
        f"{'implementation':34s} {'steps':>8s} {'best us/step':>13s} {'median':>9s} {'vs kernel f64':>14s}"
    )
    for name, n, b, m in rows:
        print(f"{name:34s} {n:8d} {b:13.3f} {m:9.3f} {b / base:13.1f}x")
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
