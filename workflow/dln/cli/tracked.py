"""`make reproduce` leaves tracked files as they are: it says which would change instead.

The workflow writes a few files that the repository also tracks (the default experiment's README
figures and its manifest of trajectory digests), and README.md's result block is generated from
results/paper/runs.csv and claims.csv (dln.analysis.readme). `save` keeps the tracked versions before the workflow runs; `check`
after it compares each fresh output with its tracked version: an equal one stays, a different one
is kept next to it as <name>.new<suffix> while the tracked bytes are put back, one line each
(the manifest's line says which runs differ); README.md is never written. Exit 1 when anything
differs. `refresh` (make refresh-docs) takes the new versions on purpose.

  python -m dln.cli.tracked save|check|refresh EXPERIMENT
"""

from __future__ import annotations

import filecmp
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

# below results/<experiment>/: the outputs the repository may track
OUTPUTS = ("figures/fig1_loss_by_k.png", "figures/fig11_laws.png", "manifest.csv")
SAVED = Path(".snakemake/tracked")
README = Path("README.md")


def tracked_outputs(experiment: str) -> list[Path]:
    """The workflow outputs of `experiment` that git tracks (that exist, outside a checkout)."""
    paths = [Path("results") / experiment / name for name in OUTPUTS]
    try:
        listed = subprocess.run(
            ["git", "ls-files", "--", *map(str, paths)],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split()
    except (OSError, subprocess.CalledProcessError):
        return [p for p in paths if p.is_file()]
    return [p for p in paths if str(p) in listed]


def new_path(path: Path) -> Path:
    return path.with_name(f"{path.stem}.new{path.suffix}")


def save(experiment: str) -> None:
    shutil.rmtree(SAVED, ignore_errors=True)
    for path in tracked_outputs(experiment):
        if path.is_file():
            (SAVED / path).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, SAVED / path)


def _manifest_changes(fresh: Path, tracked: Path) -> str:
    """Which runs of a fresh manifest differ from the tracked one (dln.cli.verify's lines)."""
    from dln.cli.verify import compare
    from dln.data.manifest import read_manifest

    new, old = read_manifest(fresh), read_manifest(tracked)
    lines = [compare(new[r], old[r]) for r in sorted(set(new) & set(old))]
    lines = [line for line in lines if line]
    added, gone = len(set(new) - set(old)), len(set(old) - set(new))
    detail = "".join(f"\n    {line}" for line in lines[:20])
    return f" ({len(lines)} runs differ, {added} new, {gone} gone){detail}"


def check(experiment: str) -> int:
    differ = []
    for path in tracked_outputs(experiment):
        saved = SAVED / path
        if not saved.is_file() or not path.is_file() or filecmp.cmp(saved, path, shallow=False):
            continue
        note = _manifest_changes(path, saved) if path.suffix == ".csv" else ""
        shutil.move(path, new_path(path))
        shutil.copy2(saved, path)
        differ.append(
            f"{path}: the fresh output differs from the tracked one, kept as {new_path(path)}{note}"
        )
    out = Path("results") / experiment
    if experiment == "paper" and _has_results(out) and README.is_file():
        from dln.analysis.readme import refresh_readme

        with tempfile.TemporaryDirectory() as tmp:
            copy = Path(tmp) / "README.md"
            shutil.copy2(README, copy)
            if refresh_readme(copy, out):
                differ.append(f"{README}: its result block differs from {out}")
    for line in differ:
        print(f"CHANGED {line}")
    if differ:
        print("tracked files left unchanged; `make refresh-docs` takes the new versions")
    return 1 if differ else 0


def _has_results(out: Path) -> bool:
    """The files the README's result block is made from exist."""
    return (out / "runs.csv").is_file() and (out / "claims.csv").is_file()


def refresh(experiment: str) -> int:
    from dln.analysis.readme import refresh_readme

    for path in tracked_outputs(experiment):
        if new_path(path).is_file():
            shutil.move(new_path(path), path)
            print(f"updated {path}")
    out = Path("results") / experiment
    if _has_results(out) and refresh_readme(README, out):
        print(f"updated {README} from {out}")
    return 0


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 2 or argv[0] not in ("save", "check", "refresh"):
        print(__doc__.rsplit("\n\n", 1)[-1].strip(), file=sys.stderr)
        return 2
    action, experiment = argv
    if action == "save":
        save(experiment)
        return 0
    return check(experiment) if action == "check" else refresh(experiment)


if __name__ == "__main__":
    sys.exit(main())
