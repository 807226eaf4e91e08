"""Combine run files into one tidy Dataset (dimension `run`) and a per-run summary table."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pandas as pd
import xarray as xr

from .analysis import summarize_run
from .io import read_run

# Per-step variables carried into the aggregate (weights stay in the run files).
TRAJECTORY_VARS = (
    "loss", "loss_gap", "sigma1", "sigma2", "alpha", "beta", "p", "q", "rho",
    "dist_to_limit", "dist_to_global", "balancedness", "grad_norm",
)
RUN_COORDS = ("method", "init", "k", "seed", "lr", "construction", "dtype", "sigma0", "steps")


def aggregate(paths, run_ids, studies: dict, level_tol: float):
    """(Dataset over runs on the union of recorded steps, summary DataFrame)."""
    pieces, rows = [], []
    first = None
    for path, rid in zip(paths, run_ids):
        ds = read_run(path)
        row = {"run": rid, "studies": ",".join(studies.get(rid, []))}
        row.update({c: ds.attrs[c] for c in RUN_COORDS})
        row.update(summarize_run(ds, level_tol))
        rows.append(row)
        piece = ds[list(TRAJECTORY_VARS)].drop_vars("t")
        piece = piece.expand_dims(run=[rid])
        pieces.append(piece)
        if first is None:
            first = ds
    summary = pd.DataFrame(rows).set_index("run")
    combined = xr.concat(pieces, dim="run", join="outer", combine_attrs="drop_conflicts")
    for c in RUN_COORDS + ("studies", "predicted_k", "final_level", "diverged"):
        combined = combined.assign_coords({c: ("run", summary[c].to_numpy())})
    combined["t"] = combined["lr"] * combined["step"]
    combined["t"].attrs = {"long_name": "time t = lr x step", "units": "1"}
    # the problem (Phi's factors), shared by all runs: the theory needs it downstream
    for name in ("critical_level", "s", "U", "V", "Phi"):
        combined[name] = first[name]
    config_hash = hashlib.sha256(
        json.dumps(sorted(summary["config_json"]), sort_keys=True).encode()
    ).hexdigest()[:16]
    combined.attrs = {
        "config_hash": config_hash,
        "n_runs": len(rows),
        "level_tol": level_tol,
        "widths": first.attrs["widths"],
    }
    summary.attrs["config_hash"] = config_hash
    return combined, summary


def write_summary(summary: pd.DataFrame, path) -> None:
    from pathlib import Path
    import os

    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        summary.drop(columns=["config_json"]).to_csv(tmp, float_format="%.10g")
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
