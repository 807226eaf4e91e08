"""The `dln` command (also `python -m dln`).

  dln run --k 3 --seed 0 --lr 5e-4 --steps 100000 --out run.nc   one run -> one analysed file
  dln batch --members results/paper/batches/b07.members --out b07.tsv   a batch of runs
  dln table / info / diff                                         query results (dln.cli.query)
  dln store list|prune                                            run files no experiment uses
  dln verify results/paper                                        run files vs their manifest
  dln exp show                                                    experiments side by side

Imports stay inside the handlers: `dln run` is the simulation job and must start fast.
"""

from __future__ import annotations

import argparse
import signal
import sys
import time

from dln.model.problem import ConfigError

RUN_EXAMPLES = """examples:
  dln run --k 3 --steps 100000 --out k3.nc
  dln run --init gaussian --init-scale 0.2 --seed 1 --out gauss.nc
  dln run --solver gf --k 2 --steps 20000 --out flow.nc        (gradient-flow reference)
"""


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


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: expected a whole number") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text}: must be >= 0")
    return value


def _setting_options(d) -> list[tuple[str, dict]]:
    """(flag, argparse options) of every run setting, defaults from RunConfig's fields `d`."""
    from dln.model.starts import CONSTRUCTIONS
    from dln.solve.run import DTYPES, INITS, SOLVERS

    def default(name):
        return {"default": d[name].default}

    solver_help = "gd: gradient descent; gf: gradient-flow reference at t = lr x step"
    return [
        ("--solver", {"choices": SOLVERS, **default("solver"), "help": solver_help}),
        ("--init", {"choices": INITS, **default("init")}),
        ("--k", {"type": _count, **default("k"), "help": "target critical point 0..d"}),
        ("--construction", {"choices": CONSTRUCTIONS, **default("construction")}),
        ("--sigma0", {"type": float, **default("sigma0"), "help": "start scale sigma(0)"}),
        ("--init-scale", {"type": float, "default": 0.1, "help": "Gaussian start's scale"}),
        ("--seed", {"type": _count, **default("seed"), "help": "seed of the start"}),
        ("--lr", {"type": float, **default("lr"), "help": "GD step size"}),
        ("--steps", {"type": _count, **default("steps"), "help": "GD iterations"}),
        (
            "--record-every",
            {"type": _count, **default("record_every"), "help": "record every this many steps"},
        ),
        (
            "--weights-every",
            {
                "type": _count,
                **default("weights_every"),
                "help": "store the weights every this many steps (multiple of --record-every)",
            },
        ),
        ("--widths", {"type": _int_list, **default("widths"), "help": "d_0,...,d_N"}),
        (
            "--spectrum",
            {"type": _spectrum, **default("spectrum"), "help": "'linear' or s_1,...,s_d"},
        ),
        ("--basis", {"choices": ["random", "identity"], **default("basis")}),
        ("--basis-seed", {"type": _count, **default("basis_seed")}),
        ("--dtype", {"choices": DTYPES, **default("dtype")}),
        (
            "--level-tol",
            {
                "type": float,
                **default("level_tol"),
                "help": "analysis: |loss - L_k| below this counts as being at level k",
            },
        ),
    ]


def add_run_parser(sub) -> None:
    from dln.solve.run import RunConfig

    run = sub.add_parser(
        "run",
        help="run one configuration and write one analysed NetCDF file",
        epilog=RUN_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    run.add_argument("--out", required=True, help="output NetCDF path (a regular file)")
    run.add_argument(
        "--expect-key",
        metavar="KEY",
        help="refuse to run unless the settings hash to this run key (the workflow "
        "passes the key of its plan, so a job never runs other settings)",
    )
    run.add_argument(
        "--expect-code",
        metavar="FINGERPRINT",
        help="refuse to run unless the numerics' source hash is this",
    )
    for flag, options in _setting_options(RunConfig.__dataclass_fields__):
        run.add_argument(flag, **options)
    run.set_defaults(func=cmd_run)


def run_config(args: argparse.Namespace):
    """The RunConfig of a parsed `run` command, exactly as the job builds it."""
    from dln.solve.run import RunConfig

    skip = ("command", "func", "out", "expect_code", "expect_key")
    return RunConfig(**{k: v for k, v in vars(args).items() if k not in skip})


def _exit_on_signal(signum, frame):
    raise SystemExit(128 + signum)


def cmd_run(args) -> int:
    from dln.analysis.result import analyse_run
    from dln.data.io import write_failure
    from dln.data.runfile import write_run_file
    from dln.solve.run import simulate, source_fingerprint

    if args.expect_code and args.expect_code != source_fingerprint():
        print(
            f"error: --expect-code {args.expect_code} does not match this dln's code "
            f"{source_fingerprint()} (is another dln installed first on sys.path?)",
            file=sys.stderr,
        )
        return 2
    try:
        cfg = run_config(args)
        if args.expect_key and args.expect_key != cfg.key():
            print(
                f"error: --expect-key {args.expect_key}: these settings hash to {cfg.key()} "
                f"({cfg.settings_json()})",
                file=sys.stderr,
            )
            return 2
        start = time.perf_counter()
        traj = simulate(cfg)  # SIGTERM/SIGKILL here end the process at once: nothing written yet
    except ConfigError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    # while writing, SIGTERM raises SystemExit, so the atomic writer removes its temporary file
    signal.signal(signal.SIGTERM, _exit_on_signal)
    try:
        run = analyse_run(traj)
        write_run_file(run, args.out)
        metrics = run.metrics
    except (OSError, RuntimeError, ValueError) as err:  # disk full, not writable, bad target
        notes = getattr(err, "__notes__", None)
        print(f"error: {notes[-1] if notes else write_failure(args.out, err)}", file=sys.stderr)
        return 1
    level = metrics["final_level"]
    print(
        f"{args.out}: predicted k = {traj.predicted_k}, final loss = "
        f"{metrics['final_loss']:.10g}, final level = "
        f"{'none' if level != level else int(level)}, diverged = {metrics['diverged']}, "
        f"{time.perf_counter() - start:.2f} s"
    )
    return 0


def add_batch_parser(sub) -> None:
    batch = sub.add_parser(
        "batch",
        help="compute the runs of one batch the store lacks; write the batch's manifest",
    )
    batch.add_argument(
        "--members", required=True, help="the batch's members file (results/<exp>/batches/)"
    )
    batch.add_argument("--out", required=True, help="manifest: run id, run file, sha256 per run")
    batch.add_argument("--expect-code", metavar="FINGERPRINT", help="as for `dln run`")
    batch.set_defaults(func=cmd_batch)


def cmd_batch(args) -> int:
    from dln.data.io import write_failure, write_text
    from dln.data.pipeline import read_members, run_batch
    from dln.plan.batchstate import manifest_text
    from dln.solve.run import source_fingerprint

    code = source_fingerprint()
    if args.expect_code and args.expect_code != code:
        print(f"error: --expect-code {args.expect_code} does not match {code}", file=sys.stderr)
        return 2
    try:
        members = read_members(args.members)
    except (OSError, ValueError, TypeError, ConfigError) as err:
        print(f"error: {args.members}: not a readable members file ({err})", file=sys.stderr)
        return 2
    start = time.perf_counter()  # (SIGTERM: see dln.data.pipeline.run_batch)
    try:
        rows, computed = run_batch(members, code, log=sys.stdout)
        write_text(manifest_text(rows, code), args.out)
    except (OSError, RuntimeError, ValueError) as err:
        notes = getattr(err, "__notes__", None)
        print(f"error: {notes[-1] if notes else write_failure(args.out, err)}", file=sys.stderr)
        return 1
    print(
        f"{args.out}: {len(members)} runs, {computed} computed, "
        f"{len(members) - computed} already stored, {time.perf_counter() - start:.2f} s"
    )
    return 0


def build_parser(queries: bool = True) -> argparse.ArgumentParser:
    """The `dln` parser; queries=False leaves out the query commands, whose modules import
    more (main does so for `dln run`, the simulation job)."""
    parser = argparse.ArgumentParser(
        prog="dln", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", required=True)
    add_run_parser(sub)
    add_batch_parser(sub)
    if queries:
        from dln.cli import exp, query, verify
        from dln.data import store

        query.add_parsers(sub)
        store.add_parser(sub)
        verify.add_parser(sub)
        exp.add_parser(sub)
    return parser


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    args = build_parser(queries=argv[:1] not in (["run"], ["batch"])).parse_args(argv)
    return args.func(args)
