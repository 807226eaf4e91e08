"""What the finished batches left: their manifests, read while the workflow parses.

A batch job (`dln batch`) ends by writing its manifest, results/<exp>/batches/<b>.tsv: a first
line naming the numerics' code fingerprint, then one line per run (run id, run file, sha256).
From the manifests alone (one small read per batch, one stat per run) the workflow learns

- which run files changed or vanished since their batch finished (the check before any job);
- which runs are *settled*: listed by a manifest of the current code, their file there and not
  newer than it. A job that reads only settled runs need not wait for their batches, so a batch
  that reruns for a new run (batches are coarse: key modulo `batches`) does not redraw every
  figure that draws some other run of it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

CODE_PREFIX = "# code "


def manifest_text(rows, code: str) -> str:
    """A batch's manifest: the code line, then run id, run file and sha256 per run."""
    return CODE_PREFIX + code + "\n" + "".join(f"{r}\t{p}\t{h}\n" for r, p, h in rows)


def read_manifest(path) -> tuple[str, list[tuple[str, str]]] | None:
    """(code fingerprint, [(run id, run file)]) of a manifest; None if there is none yet. A
    manifest without the code line (an older release's) has code ''."""
    try:
        with open(path) as fh:
            lines = fh.read().splitlines()
    except OSError:
        return None
    code = ""
    if lines and lines[0].startswith(CODE_PREFIX):
        code = lines.pop(0)[len(CODE_PREFIX) :]
    rows = []
    for line in lines:
        fields = line.split("\t")
        if len(fields) >= 2:
            rows.append((fields[0], fields[1]))
    return code, rows


@dataclass
class BatchState:
    """changed: manifest -> run files it lists that are gone or newer than it;
    settled: run ids listed by a manifest of the current code whose file is unchanged."""

    changed: dict[str, list[str]] = field(default_factory=dict)
    settled: set[str] = field(default_factory=set)


def batch_state(manifests, code: str) -> BatchState:
    """Read every manifest (paths; missing ones are batches not yet run) against `code`."""
    state = BatchState()
    for manifest in manifests:
        found = read_manifest(manifest)
        if found is None:
            continue
        listed_code, rows = found
        done = os.stat(manifest).st_mtime
        changed = []
        for rid, path in rows:
            try:
                fresh = os.stat(path).st_mtime <= done
            except OSError:
                fresh = False
            if not fresh:
                changed.append(path)
            elif listed_code == code:
                state.settled.add(rid)
        if changed:
            state.changed[manifest] = changed
    return state
