"""The run store: results/runs/ holds the run files of every experiment, one per complete
set of settings. `dln store list` shows which experiments use which files; `dln store prune`
removes the files no experiment's plan (results/<experiment>/plan.csv) lists."""

from __future__ import annotations

import argparse
import csv
import os
import sys
from pathlib import Path

EXAMPLES = """examples:
  dln store list                  experiments, their runs, and run files no experiment uses
  dln store prune --dry-run       what prune would remove
  dln store prune                 remove run files (and their logs) no experiment uses

prune refuses while a Snakemake workflow holds the workflow directory (.snakemake/locks): a
running workflow writes run files its plan may not list on disk yet.
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


class StoreError(Exception):
    """A store command cannot go on: one line naming the file and why."""


PLAN_ALLOWED = "a CSV table with a 'path' column, as the workflow's plan job writes it"


def _read_plan_paths(plan: Path, reader) -> set[str]:
    if reader.fieldnames is None:
        raise StoreError(f"{plan}: is empty (allowed: {PLAN_ALLOWED})")
    if "path" not in reader.fieldnames:
        raise StoreError(f"{plan}: has no 'path' column (allowed: {PLAN_ALLOWED})")
    paths = set()
    for row in reader:
        if not row.get("path"):
            raise StoreError(
                f"{plan}: line {reader.line_num} has no path (allowed: {PLAN_ALLOWED})"
            )
        paths.add(row["path"])
    return paths


def plan_paths(plan: Path) -> set[str]:
    """The `path` column of one plan.csv; StoreError naming the file when it is not a plan as
    the workflow writes it (prune must never act on a half-read plan)."""
    if not plan.is_file():
        kind = "a directory" if plan.is_dir() else "not a regular file"
        raise StoreError(f"{plan}: is {kind} (allowed: {PLAN_ALLOWED})")
    try:
        with open(plan, newline="", encoding="utf-8") as fh:
            return _read_plan_paths(plan, csv.DictReader(fh))
    except UnicodeDecodeError as err:
        raise StoreError(
            f"{plan}: is not UTF-8 text (bad byte at offset {err.start}; allowed: {PLAN_ALLOWED})"
        ) from None
    except (OSError, csv.Error) as err:
        raise StoreError(f"{plan}: cannot be read ({err}; allowed: {PLAN_ALLOWED})") from None


def experiments(results: Path) -> dict[str, set[str]]:
    """experiment name -> the run files (paths relative to the workflow directory) its plan
    lists; an experiment is a directory of `results` holding a plan.csv."""
    return {plan.parent.name: plan_paths(plan) for plan in sorted(results.glob("*/plan.csv"))}


def _in_store(results: Path, planned: str) -> Path:
    """A plan's path (relative to the workflow directory, whose results directory `results`
    is, however it is spelled) as a resolved path: symlinks and `.` compare equal."""
    path = Path(planned)
    if not path.is_absolute() and path.parts[:1] == ("results",):
        path = results.joinpath(*path.parts[1:])
    return path.resolve()


def unused_run_files(results: Path, used: dict[str, set[str]] | None = None) -> list[Path]:
    used = experiments(results) if used is None else used
    keep = {_in_store(results, p) for paths in used.values() for p in paths}
    return sorted(p for p in (results / "runs").rglob("*.nc") if p.resolve() not in keep)


def workflow_locks(results: Path) -> list[Path]:
    """Snakemake's lock files of the workflow directory that holds `results` (as spelled, and
    resolved): a running workflow writes run files no plan on disk lists yet."""
    homes = {Path(os.path.abspath(results)).parent, results.resolve().parent}
    return sorted(lock for home in homes for lock in (home / ".snakemake/locks").glob("*.lock"))


def _list(results: Path, used: dict[str, set[str]], unused: list[Path]) -> int:
    for name, paths in used.items():
        present = sum(_in_store(results, p).is_file() for p in paths)
        print(f"{name}: {len(paths)} runs planned, {present} run files present")
    print(f"unused run files: {len(unused)}")
    for path in unused[:20]:
        print(f"  {path}")
    if len(unused) > 20:
        print(f"  ... and {len(unused) - 20} more")
    return 0


def _prune(results: Path, used: dict[str, set[str]], unused: list[Path], dry_run: bool) -> int:
    locks = workflow_locks(results)
    if locks:
        raise StoreError(
            f"{results}: a Snakemake workflow holds this directory (lock {locks[0]}); prune "
            f"removes nothing while it runs (its new run files are in no plan yet): wait until "
            f"it ends, or if none runs (a killed workflow leaves its lock) run `snakemake "
            f"--unlock` in {locks[0].parent.parent.parent} first"
        )
    for path in unused:
        log = results / "logs" / path.relative_to(results).with_suffix(".log")
        if dry_run:
            print(f"would remove {path}")
            continue
        path.unlink()
        log.unlink(missing_ok=True)
    verb = "would remove" if dry_run else "removed"
    print(
        f"{verb} {len(unused)} run files no experiment uses "
        f"({', '.join(used) or 'no experiments'} kept theirs)"
    )
    return 0


def cmd_store(args) -> int:
    results = Path(args.results)
    if not (results / "runs").is_dir():
        print(
            f"error: {results / 'runs'}: no run store here (run the workflow first, or "
            f"pass --results)",
            file=sys.stderr,
        )
        return 2
    try:
        used = experiments(results)
        unused = unused_run_files(results, used)
        if args.action == "list":
            return _list(results, used, unused)
        return _prune(results, used, unused, args.dry_run)
    except StoreError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
