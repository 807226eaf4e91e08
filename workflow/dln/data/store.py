"""The run store: results/runs/ holds the run files of every experiment, one per complete
set of settings. `dln store list` shows which experiments use which files; `dln store prune`
removes the files no experiment's plan (results/<experiment>/plan.csv) lists."""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

EXAMPLES = """examples:
  dln store list                  experiments, their runs, and run files no experiment uses
  dln store prune --dry-run       what prune would remove
  dln store prune                 remove run files (and their logs) no experiment uses
"""


def add_parser(sub) -> None:
    store = sub.add_parser(
        "store",
        help="list or prune the run store (results/runs)",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    store.add_argument("action", choices=["list", "prune"])
    store.add_argument("--results", default="results", help="the results directory")
    store.add_argument("--dry-run", action="store_true", help="prune: only say what would go")
    store.set_defaults(func=cmd_store)


def experiments(results: Path) -> dict[str, set[str]]:
    """experiment name -> the run files (paths relative to the workflow directory) its plan
    lists; an experiment is a directory of `results` holding a plan.csv."""
    out = {}
    for plan in sorted(results.glob("*/plan.csv")):
        with open(plan, newline="") as fh:
            out[plan.parent.name] = {row["path"] for row in csv.DictReader(fh)}
    return out


def unused_run_files(results: Path) -> list[Path]:
    used = set().union(*experiments(results).values()) if experiments(results) else set()
    base = results.parent
    return sorted(
        p for p in (results / "runs").rglob("*.nc") if p.relative_to(base).as_posix() not in used
    )


def cmd_store(args) -> int:
    results = Path(args.results)
    if not (results / "runs").is_dir():
        print(
            f"error: {results / 'runs'}: no run store here (run the workflow first, or "
            f"pass --results)",
            file=sys.stderr,
        )
        return 2
    used = experiments(results)
    unused = unused_run_files(results)
    if args.action == "list":
        for name, paths in used.items():
            present = sum((results.parent / p).is_file() for p in paths)
            print(f"{name}: {len(paths)} runs planned, {present} run files present")
        print(f"unused run files: {len(unused)}")
        for path in unused[:20]:
            print(f"  {path}")
        if len(unused) > 20:
            print(f"  ... and {len(unused) - 20} more")
        return 0
    for path in unused:
        log = results / "logs" / path.relative_to(results).with_suffix(".log")
        if args.dry_run:
            print(f"would remove {path}")
            continue
        path.unlink()
        log.unlink(missing_ok=True)
    verb = "would remove" if args.dry_run else "removed"
    print(
        f"{verb} {len(unused)} run files no experiment uses "
        f"({', '.join(used) or 'no experiments'} kept theirs)"
    )
    return 0
