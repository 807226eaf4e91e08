"""Combine run files into one tidy Dataset (dimension `run`) and a per-run summary table."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pandas as pd
import xarray as xr

from .analysis import summarize_run
from .io import RunFileError, atomic_output, read_run

# Per-step variables carried into the aggregate (weights stay in the run files).
TRAJECTORY_VARS = (
    "loss", "loss_gap", "sigma1", "sigma2", "alpha", "beta", "p", "q", "rho",
    "dist_to_limit", "dist_to_global", "balancedness", "grad_norm",
)
RUN_COORDS = ("method", "init", "k", "seed", "lr", "construction", "dtype", "sigma0", "steps")


def config_hash(config_jsons) -> str:
    """Hash of a set of runs' configurations, independent of their order: the aggregate's
    `config_hash` attribute, also computed from the plan for the report (common.smk)."""
    return hashlib.sha256(json.dumps(sorted(config_jsons), sort_keys=True).encode()).hexdigest()[:16]


def planned_config_jsons(runs: dict) -> dict:
    """run id -> the `config_json` its job will write, from each PlannedRun's command line (so
    that YAML ints such as `lr: [1]` come out as the job's floats)."""
    import shlex

    from .cli import build_parser, run_config

    parser = build_parser()
    out = {}
    for rid, run in runs.items():
        args = parser.parse_args(["run", "--out", "-", *shlex.split(run.cli_args())])
        out[rid] = json.dumps(run_config(args).as_dict(), sort_keys=True)
    return out


def _check_config(path, ds, expected: str) -> None:
    """A run file must hold the run the config asks for (e.g. not one copied from elsewhere)."""
    found = ds.attrs.get("config_json", "{}")
    if found != expected:
        a, b = json.loads(found), json.loads(expected)
        diff = ", ".join(f"{k}: {a.get(k)!r} in the file, {b.get(k)!r} planned"
                         for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k))
        raise RunFileError(
            f"{path}: holds a different run than the config asks for ({diff}); delete it and "
            f"rerun Snakemake to recreate it"
        )


def aggregate(paths, run_ids, studies: dict, level_tol: float, expected: dict | None = None):
    """(Dataset over runs on the union of recorded steps, summary DataFrame). With `expected`
    (run id -> planned config_json), a run file holding another configuration is an error."""
    pieces, rows = [], []
    first = None
    for path, rid in zip(paths, run_ids):
        ds = read_run(path)
        if expected is not None:
            _check_config(path, ds, expected[rid])
        row = {"run": rid, "studies": ",".join(studies.get(rid, []))}
        row.update({c: ds.attrs[c] for c in RUN_COORDS})
        row["depth"] = len(np.atleast_1d(ds.attrs["widths"])) - 1
        row["init_scale"] = float(ds.attrs["init_scale"])
        row.update(summarize_run(ds, level_tol))
        if row["diverged"]:
            # the records stop before the first non-finite loss: the run reached no level
            row.update(final_level=-1, reached_global=False)
        rows.append(row)
        piece = ds[list(TRAJECTORY_VARS)].drop_vars("t")
        piece = piece.expand_dims(run=[rid])
        pieces.append(piece)
        if first is None:
            first = ds
    summary = pd.DataFrame(rows).set_index("run")
    combined = xr.concat(pieces, dim="run", join="outer", combine_attrs="drop_conflicts")
    for c in RUN_COORDS + ("depth", "studies", "predicted_k", "final_level", "diverged",
                           "diverged_step"):
        combined = combined.assign_coords({c: ("run", summary[c].to_numpy())})
    combined["t"] = combined["lr"] * combined["step"]
    combined["t"].attrs = {"long_name": "time t = lr x step", "units": "1"}
    # the problem (Phi's factors), shared by all runs: the theory needs it downstream
    for name in ("critical_level", "s", "U", "V", "Phi"):
        combined[name] = first[name]
    combined.attrs = {
        "config_hash": config_hash(summary["config_json"]),
        "n_runs": len(rows),
        "level_tol": level_tol,
        "widths": first.attrs["widths"],
    }
    summary.attrs["config_hash"] = combined.attrs["config_hash"]
    return combined, summary


def write_summary(summary: pd.DataFrame, path) -> None:
    with atomic_output(path) as tmp:
        summary.drop(columns=["config_json"]).to_csv(tmp, float_format="%.10g")
