"""Command line: `python -m dln run --k 3 --seed 0 --lr 5e-4 --steps 100000 --out out.nc`."""

from __future__ import annotations

import argparse
import signal
import sys
import time

from .problem import ConfigError

DEFAULTS = {
    "widths": "8,3,5,10,1,4,5",
    "spectrum": "linear",
}


def _int_list(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(x) for x in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: expected comma-separated integers") from None


def _spectrum(text: str):
    if text == "linear":
        return text
    try:
        return tuple(float(x) for x in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r}: expected 'linear' or comma-separated numbers"
        ) from None


def build_parser() -> argparse.ArgumentParser:
    from .run import DTYPES, INITS, METHODS, RunConfig
    from .starts import CONSTRUCTIONS

    d = RunConfig.__dataclass_fields__
    parser = argparse.ArgumentParser(prog="python -m dln", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run one configuration and write one NetCDF file",
                         formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    run.add_argument("--out", required=True, help="output NetCDF path")
    run.add_argument("--expect-code", metavar="FINGERPRINT",
                     help="refuse to run unless the numerics' source hash is this (the workflow "
                     "passes it so a job never runs other code than the one it was planned with)")
    run.add_argument("--k", type=int, default=d["k"].default, help="target critical point 0..d")
    run.add_argument("--seed", type=int, default=d["seed"].default, help="seed of the start")
    run.add_argument("--lr", type=float, default=d["lr"].default, help="GD step size")
    run.add_argument("--steps", type=int, default=d["steps"].default, help="GD iterations")
    run.add_argument("--record-every", type=int, default=d["record_every"].default,
                     help="record quantities every this many steps")
    run.add_argument("--weights-every", type=int, default=d["weights_every"].default,
                     help="store full weights every this many steps (multiple of --record-every)")
    run.add_argument("--widths", type=_int_list, default=DEFAULTS["widths"], help="d_0,...,d_N")
    run.add_argument("--spectrum", type=_spectrum, default=DEFAULTS["spectrum"],
                     help="'linear' (s_i = d+1-i) or s_1,...,s_d")
    run.add_argument("--basis", choices=["random", "identity"], default=d["basis"].default)
    run.add_argument("--basis-seed", type=int, default=d["basis_seed"].default)
    run.add_argument("--init", choices=INITS, default=d["init"].default)
    run.add_argument("--construction", choices=CONSTRUCTIONS, default=d["construction"].default)
    run.add_argument("--sigma0", type=float, default=d["sigma0"].default,
                     help="start scale sigma(0) of balanced starts")
    run.add_argument("--init-scale", type=float, default=d["init_scale"].default,
                     help="entry scale of Gaussian starts")
    run.add_argument("--dtype", choices=DTYPES, default=d["dtype"].default)
    run.add_argument("--method", choices=METHODS, default=d["method"].default,
                     help="gd: gradient descent; gf: gradient-flow reference at t = lr x step")
    return parser


def run_config(args: argparse.Namespace):
    """The RunConfig of a parsed `run` command, exactly as the job builds it."""
    from .run import RunConfig

    fields = {k: v for k, v in vars(args).items() if k not in ("command", "out", "expect_code")}
    if isinstance(fields["widths"], str):
        fields["widths"] = _int_list(fields["widths"])
    return RunConfig(**fields)


def _exit_on_signal(signum, frame):
    raise SystemExit(128 + signum)


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    from .io import write_failure, write_run
    from .run import simulate

    from .run import source_fingerprint

    if args.expect_code and args.expect_code != source_fingerprint():
        print(f"error: --expect-code {args.expect_code} does not match this dln's code "
              f"{source_fingerprint()} (is another dln installed first on sys.path?)", file=sys.stderr)
        return 2
    try:
        cfg = run_config(args)
        start = time.perf_counter()
        ds = simulate(cfg)  # SIGTERM/SIGKILL here end the process at once: nothing is written yet
    except ConfigError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    # while writing, SIGTERM raises SystemExit, so write_run removes its temporary file
    signal.signal(signal.SIGTERM, _exit_on_signal)
    try:
        write_run(ds, args.out)
    except (OSError, RuntimeError) as err:  # disk full, directory not writable
        notes = getattr(err, "__notes__", None)
        print(f"error: {notes[-1] if notes else write_failure(args.out, err)}", file=sys.stderr)
        return 1
    print(
        f"{args.out}: predicted k = {ds.attrs['predicted_k']}, final loss = "
        f"{float(ds.loss[-1]):.10g}, diverged = {bool(ds.attrs['diverged'])}, "
        f"{time.perf_counter() - start:.2f} s"
    )
    return 0
