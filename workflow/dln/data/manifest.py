"""Trajectory digests and an experiment's manifest of them (issue 18 §1).

A run's trajectory digest (`trajectory_sha256`, a run-file attribute and a table column;
dln.solve.run.trajectory_digest) is the sha256 of, in this order, the loss (float64, every recorded step) and the layer weights W_1 ..
W_N (the run's dtype, every stored snapshot): for each array the line "<name> <dtype> <shape>\\n"
then its bytes, little-endian, C order. GD trajectories have the same bytes on every machine
(docs/theory.md §5), so equal settings give equal digests anywhere.

results/<experiment>/manifest.csv lists every planned run: run id, run file, key, digest and a
few headline numbers (final_loss, stuck_steps) and the settings (to re-simulate it). The
workflow writes it; the default experiment's is committed, and `dln verify` compares run files
or fresh re-simulations against it.
"""

from __future__ import annotations

import csv
import io
import json
import math

from dln.solve.run import trajectory_digest

COLUMNS = ("run", "path", "run_key", "trajectory_sha256", "final_loss", "stuck_steps", "settings")


def _number(value) -> str:
    """A float as text that reads back exactly ('' for NaN)."""
    value = float(value)
    return "" if math.isnan(value) else repr(value)


def file_entry(path, run_id: str) -> dict:
    """A run file's manifest row: its recorded digest checked against its arrays' bytes."""
    from dln.data.aggregate import _open_run, _text

    with _open_run(path, run_id) as src:
        row = json.loads(_text(src.attrs["row_json"]))
        n_layers = int(row["depth"])
        weights = [src[f"W{j}"][()] for j in range(1, n_layers + 1)]
        digest = trajectory_digest(src["loss"][()], weights)
        stored = _text(src.attrs.get("trajectory_sha256", ""))
        settings = _text(src.attrs["settings_json"])
    if stored != digest:
        from dln.data.io import RunFileError

        raise RunFileError(
            f"{path}: its trajectory bytes hash to {digest[:16]}, its attribute says "
            f"{stored[:16] or 'nothing'}; delete it and rerun Snakemake to recreate it"
        )
    return {
        "run": run_id,
        "path": str(path),
        "run_key": run_id.rsplit("-", 1)[-1],
        "trajectory_sha256": digest,
        "final_loss": _number(row["final_loss"]),
        "stuck_steps": _number(row["stuck_steps"]),
        "settings": settings,
    }


def manifest_text(rows) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(sorted(rows, key=lambda r: r["run"]))
    return buf.getvalue()


def write_manifest(plan_path, out_path) -> int:
    """The manifest of a plan's run files, written atomically; returns the number of runs."""
    from dln.data.aggregate import read_plan
    from dln.data.io import write_text

    rows = [file_entry(row["path"], row["run"]) for row in read_plan(plan_path)]
    write_text(manifest_text(rows), out_path)
    return len(rows)


def read_manifest(path) -> dict[str, dict]:
    """run id -> manifest row."""
    with open(path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    if rows and set(COLUMNS) - set(rows[0]):
        raise ValueError(f"{path}: not a run manifest (columns {sorted(rows[0])})")
    return {row["run"]: row for row in rows}
