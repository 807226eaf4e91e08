"""Write one run file: netCDF classic CDF-5 (CF-1.11), encoded in memory (dln.data.cdf) and
written at once, without xarray or a netCDF library.

The file opens with `xr.open_dataset` as a tidy Dataset: the settings are scalar coordinates,
the per-run metrics scalar variables, the recorded quantities variables along `step`, the
layer weights along `snapshot`. Reading lives in dln.data.io (xarray is only needed there).
"""

from __future__ import annotations

import datetime as _dt
import functools
import json
import math
import os
import platform
import shlex
from pathlib import Path

import numpy as np

from dln import __version__
from dln.analysis.result import AnalysedRun
from dln.analysis.stages import MAX_VISITS
from dln.data import cdf
from dln.data.checksum import sealed
from dln.data.columns import (
    METRICS,
    MISSING_INT,
    SETTINGS,
    as_int,
    attrs,
    canonical_spectrum,
    canonical_widths,
)
from dln.data.io import atomic_output
from dln.model.problem import unflatten
from dln.model.theory import critical_levels
from dln.solve.run import RunConfig, source_fingerprint

TITLE = "Deep linear network with a width-1 layer: one gradient-descent run"
REFERENCES = (
    "Kun Chen, Dachao Lin, Zhihua Zhang: On Non-local Convergence Analysis of Deep Linear "
    "Networks, ICML 2022, PMLR 162:3417-3443; arXiv:2201.02761, doi:10.48550/arXiv.2201.02761"
)
CONVENTIONS = "CF-1.11"


def setting_values(cfg: RunConfig) -> dict:
    """The settings as stored: strings for labels, NaN (or '') where a setting does not apply."""
    d = cfg.as_dict()
    out = {}
    for name, (kind, _, _) in SETTINGS.items():
        if name == "widths":
            value = canonical_widths(cfg.widths)
        elif name == "spectrum":
            value = canonical_spectrum(cfg.spectrum, cfg.widths)
        elif name == "depth":
            value = cfg.depth
        else:
            value = d[name]
        if kind == "str":
            out[name] = "" if value is None else str(value)
        elif kind == "float":
            out[name] = math.nan if value is None else float(value)
        else:
            out[name] = as_int(value)
    return out


def _plain(value):
    """A metric as a JSON value (NumPy scalars to Python; NaN stays NaN)."""
    return value.item() if hasattr(value, "item") else value


def command(cfg: RunConfig, path) -> str:
    """The shell command that reproduces this run file exactly."""
    return shlex.join(["dln", "run", *cfg.cli_args(), "--out", str(path)])


def _git_commit() -> str:
    """The checkout's commit, read from .git directly (a git subprocess per job costs more
    than the job's GD); 'unknown' outside a checkout."""
    for parent in Path(__file__).resolve().parents:
        git = parent / ".git"
        if git.is_dir():
            try:
                head = (git / "HEAD").read_text().strip()
                if not head.startswith("ref: "):
                    return head[:7]
                ref = head[5:]
                if (git / ref).is_file():
                    return (git / ref).read_text().strip()[:7]
                for line in (git / "packed-refs").read_text().splitlines():
                    if line.endswith(" " + ref):
                        return line[:7]
            except OSError:
                pass
            return "unknown"
    return "unknown"


@functools.cache
def _lock_digest() -> str:
    """sha256 (16 hex digits) of the checkout's requirements-lock.txt, the environment `make env`
    installs; 'unknown' outside a checkout."""
    import hashlib

    lock = Path(__file__).resolve().parents[3] / "requirements-lock.txt"
    try:
        return hashlib.sha256(lock.read_bytes()).hexdigest()[:16]
    except OSError:
        return "unknown"


def provenance() -> dict:
    import sys

    # versions of the modules this process imported (importlib.metadata costs ~25 ms)
    versions = {
        name: getattr(sys.modules[name], "__version__", "unknown")
        for name in ("numpy", "scipy")
        if name in sys.modules
    }
    return {
        **_process_provenance(),
        "package_versions": json.dumps(versions, sort_keys=True),
        "environment_lock_sha256": _lock_digest(),
    }


@functools.cache
def _process_provenance() -> dict:
    """What holds for every run this process writes, found once per process (a batch job
    writes many runs; hashing the sources again cost ~1 ms per run, as _lock_digest's): the
    code that computed them is the code this process loaded, even if the checkout changes
    while it runs."""
    from dln.solve.kernel import BACKEND

    return {
        "dln_version": __version__,
        "kernel_backend": BACKEND,
        "code_fingerprint": source_fingerprint(),
        "git_commit": _git_commit(),
        "python_version": platform.python_version(),
        "platform": platform.platform(),
    }


def cf_attrs(title: str, history: str) -> dict:
    return {
        "Conventions": CONVENTIONS,
        "title": title,
        "history": history,
        "source": f"dln {__version__} (https://doi.org/10.48550/arXiv.2201.02761 rebuilt)",
        "references": REFERENCES,
    }


class _Variables:
    """The file's dimensions and variables, in order, as dln.data.cdf.encode takes them."""

    def __init__(self):
        self.dimensions, self.variables = {}, []

    def dimension(self, name: str, size: int) -> None:
        self.dimensions[name] = size

    def scalar(self, name: str, kind: str, value, var_attrs: dict) -> None:
        if kind == "str":  # a char array on its own string<n> dimension, as xarray writes text
            chars = cdf.as_char_array(str(value))
            dim = f"string{len(chars)}"
            self.dimensions.setdefault(dim, len(chars))
            self.variables.append((name, (dim,), chars, {**var_attrs, "_Encoding": "utf-8"}))
            return
        if kind == "bool":
            value = np.int8(bool(value))
            var_attrs = {**var_attrs, "dtype": "bool"}  # xarray decodes int8 + dtype=bool
        elif kind == "int":  # missing (a Gaussian start's k): MISSING_INT, read as NaN
            value = as_int(value)
            if value is None:
                value, var_attrs = (
                    MISSING_INT,
                    {**var_attrs, "missing_value": np.int64(MISSING_INT)},
                )
            value = np.int64(value)
        else:
            value = np.float64(value)
        self.variables.append((name, (), value, var_attrs))

    def array(self, name: str, dims, values, var_attrs: dict) -> None:
        self.variables.append((name, tuple(dims), np.asarray(values), var_attrs))


def write_run_file(run: AnalysedRun, path, sync: bool = True, sweep: bool = True) -> str:
    """Write an analysed run (trajectory, metrics, provenance) to `path`, atomically; returns
    the sha256 of the file as written. It writes what it is handed; the analysis is
    dln.analysis.result.analyse_run. sync=False skips the fsync: the caller then syncs the file
    before it records it anywhere (dln.data.pipeline.run_batch syncs a batch's files at once);
    sweep=False leaves dead writers' temp files to the caller (run_batch sweeps each
    directory once)."""
    now = _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    out = _Variables()
    keep = _write_dimensions(out, run)
    _write_results(out, run)
    _write_weights_and_problem(out, run, keep)
    content = cdf.encode(out.dimensions, out.variables, _global_attributes(run, path, now))
    # the content checksum every reader checks (dln.data.io.open_run_file)
    data, digest = sealed(content)
    with atomic_output(path, sweep=sweep) as tmp, open(tmp, "wb") as fh:
        fh.write(data)
        if sync:
            fh.flush()
            os.fsync(fh.fileno())
    return digest


def _write_dimensions(out: _Variables, run: AnalysedRun) -> np.ndarray:
    """Dimensions and coordinate variables; returns which records keep their weights."""
    traj, problem = run.traj, run.traj.problem
    cfg = traj.cfg
    keep = traj.kept()
    for dim, size in (
        ("step", len(traj.steps)),
        ("snapshot", int(keep.sum())),
        ("level", problem.d + 1),
        ("mode", problem.d),
        ("visit", MAX_VISITS),
    ):
        out.dimension(dim, size)
    for j, w in enumerate(problem.widths):
        out.dimension(f"n{j}", w)
    out.array("step", ("step",), traj.steps, {"long_name": "GD iteration"})
    out.array(
        "t",
        ("step",),
        cfg.lr * traj.steps.astype(np.float64),
        {"long_name": "time t = lr x step", "units": "1"},
    )
    out.array(
        "snapshot",
        ("snapshot",),
        traj.steps[keep],
        {"long_name": "GD iteration of the weight snapshot"},
    )
    out.array(
        "level",
        ("level",),
        np.arange(problem.d + 1),
        {"long_name": "critical point index k (0 = origin)"},
    )
    out.array(
        "mode",
        ("mode",),
        np.arange(1, problem.d + 1),
        {"long_name": "singular index i"},
    )
    return keep


def _write_results(out: _Variables, run: AnalysedRun) -> None:
    """Settings and metrics as scalars, the per-run arrays, the recorded quantities."""
    settings = setting_values(run.traj.cfg)
    for name, (kind, _, _) in SETTINGS.items():
        out.scalar(name, kind, settings[name], attrs(name))
    for name, (kind, _, _) in METRICS.items():
        out.scalar(name, kind, run.metrics[name], attrs(name))
    for name, values in run.arrays.items():
        dims = ("level",) if name == "steps_at_level" else ("visit",)
        out.array(name, dims, values, attrs(name))
    for name, (dims, values, var_attrs) in run.data.items():
        out.array(name, dims, values, var_attrs)


def _write_weights_and_problem(out: _Variables, run: AnalysedRun, keep: np.ndarray) -> None:
    """The layer weights at the kept records, and the target's Phi, U, V, s and levels."""
    problem = run.traj.problem
    widths, N = problem.widths, problem.depth
    for j, Wj in enumerate(unflatten(run.traj.snaps[keep], widths), start=1):
        out.array(
            f"W{j}",
            ("snapshot", f"n{j}", f"n{j - 1}"),
            Wj,
            {
                "long_name": f"layer weights W_{j} ({widths[j]} x {widths[j - 1]})",
                "units": "1",
            },
        )
    for name, dims, values, long_name in (
        ("Phi", (f"n{N}", "n0"), problem.Phi, "target Phi = Y X^T"),
        ("U", (f"n{N}", "mode"), problem.U, "left singular vectors u_i of Phi"),
        ("V", ("n0", "mode"), problem.V, "right singular vectors v_i of Phi"),
        ("s", ("mode",), problem.s, "singular values s_i of Phi"),
        (
            "critical_level",
            ("level",),
            critical_levels(problem),
            "loss L_k at critical point k (k = 0: origin)",
        ),
    ):
        out.array(name, dims, values, {"long_name": long_name, "units": "1"})


def _global_attributes(run: AnalysedRun, path, now: str) -> dict:
    """CF global attributes, the reproducing command, the table row and provenance."""
    cfg = run.traj.cfg
    settings = setting_values(cfg)
    cmd = command(cfg, path)
    return {
        **cf_attrs(TITLE, f"{now}: {cmd}"),
        "dln_kind": "run",
        # the settings are scalar coordinates of every variable (CF: coordinates attr)
        "coordinates": " ".join(["t", *SETTINGS]),
        "command": cmd,
        "settings_json": cfg.settings_json(),
        # the run's row of the aggregate table (settings as stored, metrics) in one
        # attribute: gathering 10^4 runs reads one attribute, not 50 variables
        "row_json": json.dumps({**settings, **{k: _plain(v) for k, v in run.metrics.items()}}),
        "run_key": cfg.key(),
        # sha256 of loss and W_1..W_N (dln.data.manifest.trajectory_digest)
        "trajectory_sha256": run.metrics["trajectory_sha256"],
        **provenance(),
    }
