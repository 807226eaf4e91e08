"""`dln verify`: run files, or fresh re-simulations, against a manifest of trajectory digests.

  dln verify results/paper                         the experiment's run files vs its manifest.csv
  dln verify run.nc other.nc --manifest M.csv      single run files (matched by run key)
  dln verify --rerun --sample 3 --manifest M.csv   re-simulate 3 of M's runs in a temporary
                                                   directory and compare their digests

One line per run that differs (digest, final loss and stuck steps against the manifest, and the
first step whose loss differs when the manifest's run file is at hand), a count, exit code 0 when
every run matches, 1 otherwise, 2 for unusable arguments. GD and gradient-flow runs alike must
match: neither depends on the CPU's BLAS kernels.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
from pathlib import Path

EXAMPLES = __doc__.split("\n\n")[1]


def add_parser(sub) -> None:
    p = sub.add_parser(
        "verify",
        help="check run files (or re-simulations) against a manifest of trajectory digests",
        epilog="examples:\n" + EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "targets",
        nargs="*",
        help="run files, directories of run files, or an experiment directory (results/<exp>)",
    )
    p.add_argument("--manifest", help="manifest CSV (default: <experiment>/manifest.csv)")
    p.add_argument(
        "--rerun", action="store_true", help="re-simulate the manifest's runs and compare"
    )
    p.add_argument("--sample", type=int, help="with --rerun: only this many runs, spread out")
    p.add_argument("--run", action="append", default=[], help="with --rerun: this run id/key")
    p.set_defaults(func=cmd_verify)


def _experiment_files(directory: Path) -> list[tuple[Path, str]]:
    """(run file, run id) of an experiment's plan; its paths are relative to the workflow dir."""
    from dln.data.aggregate import read_plan

    root = directory.resolve().parent.parent  # results/<exp> -> the workflow directory
    return [(root / row["path"], row["run"]) for row in read_plan(directory / "plan.csv")]


def _targets(targets) -> list[tuple[Path, str | None]]:
    """(run file, run id or None: matched by its key) of every target."""
    out: list[tuple[Path, str | None]] = []
    for target in map(Path, targets):
        if (target / "plan.csv").is_file():
            out += _experiment_files(target)
        elif target.is_dir():
            out += [(p, None) for p in sorted(target.rglob("*.nc"))]
        else:
            out.append((target, None))
    return out


def _run_key(path: Path) -> str:
    from dln.data.io import open_run_file

    with open_run_file(path) as src:
        return src.attrs.get("run_key", "")


def _first_loss_difference(a: Path, b: Path) -> str:
    """Where two run files' losses part, when both can be read."""
    import numpy as np

    from dln.data.io import RunFileError, open_run_file

    try:
        with open_run_file(a) as fa, open_run_file(b) as fb:
            la, lb, steps = fa["loss"][()], fb["loss"][()], fa["step"][()]
    except (RunFileError, KeyError):
        return ""
    n = min(len(la), len(lb))
    differ = np.flatnonzero(la[:n] != lb[:n])
    if len(differ) == 0:
        return f"; losses equal over {n} records (the weights differ)"
    i = differ[0]
    return f"; loss first differs at step {int(steps[i])} ({float(la[i])!r} vs {float(lb[i])!r})"


def _number(text) -> float:
    return math.nan if text in ("", None) else float(text)


def compare(entry: dict, ref: dict, ref_file: Path | None = None, file: Path | None = None):
    """None when the digests agree, else one line saying how the run differs from the manifest."""
    if entry["trajectory_sha256"] == ref["trajectory_sha256"]:
        return None
    parts = [f"digest {entry['trajectory_sha256'][:12]} vs {ref['trajectory_sha256'][:12]}"]
    for name in ("final_loss", "stuck_steps"):
        new, old = _number(entry[name]), _number(ref[name])
        diff = "" if math.isnan(new - old) else f" (diff {new - old:+.3g})"
        parts.append(f"{name} {new:.10g} vs {old:.10g}{diff}")
    line = f"DIFFERS {entry['run']}: " + ", ".join(parts)
    if ref_file is not None and file is not None and ref_file.resolve() != file.resolve():
        line += _first_loss_difference(file, ref_file)
    return line


def _check_files(files, manifest: dict) -> tuple[list[str], int]:
    from dln.data.io import RunFileError
    from dln.data.manifest import file_entry

    by_key = {row["run_key"]: row for row in manifest.values()}
    lines, checked = [], 0
    for path, run_id in files:
        try:
            key = run_id.rsplit("-", 1)[-1] if run_id else _run_key(path)
        except RunFileError as err:  # a file outside the store that fails its checks
            checked += 1
            lines.append(f"DIFFERS {path}: {err}")
            continue
        ref = manifest.get(run_id) if run_id else by_key.get(key)
        if ref is None:
            lines.append(f"MISSING {path}: run key {key or '?'} is not in the manifest")
            continue
        checked += 1
        try:
            line = compare(file_entry(path, ref["run"]), ref, Path(ref["path"]), path)
        except (OSError, RunFileError) as err:  # unreadable, another run, failed checksums
            line = f"DIFFERS {ref['run']}: {err}"
        if line:
            lines.append(line)
    return lines, checked


def _rerun_rows(manifest: dict, sample: int | None, wanted: list[str]) -> list[dict]:
    rows = [manifest[r] for r in sorted(manifest)]
    if wanted:
        rows = [r for r in rows if r["run"] in wanted or r["run_key"] in wanted]
    if sample is not None and 0 < sample < len(rows):
        rows = [rows[i * len(rows) // sample] for i in range(sample)]
    return rows


def rerun(rows: list[dict]) -> tuple[list[str], int]:
    """Re-simulate each manifest row in a temporary directory and compare its digest."""
    from dln.data.manifest import file_entry
    from dln.data.pipeline import run_to_file
    from dln.solve.run import RunConfig

    lines = []
    with tempfile.TemporaryDirectory(prefix="dln-verify-") as tmp:
        for i, ref in enumerate(rows):
            cfg = RunConfig(**json.loads(ref["settings"]))
            if cfg.key() != ref["run_key"]:
                lines.append(
                    f"DIFFERS {ref['run']}: its settings hash to {cfg.key()} here "
                    f"(another kernel backend?)"
                )
                continue
            path = Path(tmp) / f"run{i}.nc"
            run_to_file(cfg, path)
            line = compare(file_entry(path, ref["run"]), ref, Path(ref["path"]), path)
            if line:
                lines.append(line)
    return lines, len(rows)


def _manifest_path(args) -> Path | None:
    if args.manifest:
        return Path(args.manifest)
    experiments = [Path(t) for t in args.targets if (Path(t) / "plan.csv").is_file()]
    return experiments[0] / "manifest.csv" if len(experiments) == 1 else None


def cmd_verify(args) -> int:
    from dln.data.io import RunFileError
    from dln.data.manifest import read_manifest

    path = _manifest_path(args)
    if path is None or not path.is_file():
        print(
            f"error: no manifest {'at ' + str(path) if path else '(--manifest)'}", file=sys.stderr
        )
        return 2
    if not args.rerun and not args.targets:
        print("error: name run files or an experiment directory, or use --rerun", file=sys.stderr)
        return 2
    try:
        manifest = read_manifest(path)
        if args.rerun:
            lines, n = rerun(_rerun_rows(manifest, args.sample, args.run))
        else:
            lines, n = _check_files(_targets(args.targets), manifest)
    except (RunFileError, OSError, ValueError, KeyError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    for line in lines:
        print(line)
    missing = sum(line.startswith("MISSING") for line in lines)
    bad = len(lines) - missing
    what = "re-simulated" if args.rerun else "checked"
    print(
        f"{n} runs {what} against {path}: {n - bad} identical, {bad} differ"
        + (f", {missing} not in the manifest" if missing else "")
    )
    return 1 if bad or missing else 0
