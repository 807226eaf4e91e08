"""One run = one configuration -> one xarray Dataset (and one NetCDF file)."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import platform
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import xarray as xr

from . import __version__
from .kernel import BACKEND as KERNEL_BACKEND
from .kernel import gd_run
from .problem import PAPER_WIDTHS, ConfigError, Problem, flatten, make_problem, unflatten
from .starts import CONSTRUCTIONS, balanced_start, gaussian_start
from .theory import critical_levels, predict_k
from .trajectory import quantities

METHODS = ("gd", "gf")
INITS = ("balanced", "gaussian")
DTYPES = ("float64", "float32")
# Source files that decide the numbers in a run file; their hash is the simulations' code version.
NUMERICS_SOURCES = ("problem.py", "starts.py", "theory.py", "kernel.py", "_kernel.c", "flow.py",
                    "trajectory.py", "run.py", "io.py")


@dataclass(frozen=True)
class RunConfig:
    """Everything a run's result depends on. Defaults are the paper's experiment."""

    widths: tuple = PAPER_WIDTHS
    spectrum: object = "linear"  # 'linear' (s_i = d + 1 - i) or a list of values
    basis: str = "random"
    basis_seed: int = 0
    init: str = "balanced"
    k: int = 1
    construction: str = "orthogonal"
    sigma0: float = 0.01
    init_scale: float = 0.1
    seed: int = 0
    lr: float = 5e-4
    steps: int = 100_000
    record_every: int = 50
    weights_every: int = 5_000
    dtype: str = "float64"
    method: str = "gd"
    extra: dict = field(default_factory=dict, compare=False)  # free-form labels, stored as attrs

    def __post_init__(self):
        object.__setattr__(self, "widths", tuple(int(w) for w in self.widths))
        if not isinstance(self.spectrum, str):
            object.__setattr__(self, "spectrum", tuple(float(s) for s in self.spectrum))
        self.validate()

    def validate(self):
        choices = {
            "init": INITS,
            "construction": CONSTRUCTIONS,
            "dtype": DTYPES,
            "method": METHODS,
        }
        for name, allowed in choices.items():
            if getattr(self, name) not in allowed:
                raise ConfigError(f"{name}={getattr(self, name)!r}: allowed are {list(allowed)}")
        for name in ("lr", "sigma0", "init_scale"):
            x = getattr(self, name)
            if not (np.isfinite(x) and x > 0):
                raise ConfigError(f"{name}={x}: must be a finite number > 0")
        for name in ("steps", "record_every", "weights_every"):
            if int(getattr(self, name)) < 1:
                raise ConfigError(f"{name}={getattr(self, name)}: must be an integer >= 1")
        if self.record_every > self.steps:
            raise ConfigError(
                f"record_every={self.record_every}: must not exceed steps={self.steps}"
            )
        if self.weights_every % self.record_every:
            raise ConfigError(
                f"weights_every={self.weights_every}: must be a multiple of "
                f"record_every={self.record_every}"
            )
        # widths, spectrum and basis are checked by building the problem (cheap), so that a bad
        # config fails here, when it is made, rather than later inside simulate()
        problem = self.problem()
        if self.init == "balanced" and not 0 <= self.k <= problem.d:
            raise ConfigError(
                f"k={self.k}: allowed are 0..{problem.d} (d = min(d_0, d_N) = {problem.d})"
            )

    def problem(self) -> Problem:
        return make_problem(self.widths, self.spectrum, self.basis, self.basis_seed)

    def as_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["widths"] = list(self.widths)
        d["spectrum"] = self.spectrum if isinstance(self.spectrum, str) else list(self.spectrum)
        return d


def initial_weights(cfg: RunConfig, problem: Problem) -> list[np.ndarray]:
    if cfg.init == "gaussian":
        return gaussian_start(problem, cfg.init_scale, cfg.seed)
    return balanced_start(problem, cfg.k, cfg.sigma0, cfg.construction, cfg.seed)


def source_fingerprint(files=NUMERICS_SOURCES) -> str:
    """sha256 over source files of this package. The workflow passes such hashes as params, so
    Snakemake reruns a step when code it imports changes (it tracks only the rule's own script)."""
    h = hashlib.sha256()
    here = Path(__file__).parent
    for name in files:
        h.update((here / name).read_bytes())
    return h.hexdigest()[:16]


def _git_commit() -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=Path(__file__).parent,
            capture_output=True,
            text=True,
            timeout=5,
        )
        return out.stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def provenance() -> dict:
    import importlib.metadata as md

    versions = {}
    for pkg in ("numpy", "scipy", "xarray", "netCDF4", "pandas"):
        try:
            versions[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            versions[pkg] = "unknown"
    return {
        "dln_version": __version__,
        "kernel_backend": KERNEL_BACKEND,
        "code_fingerprint": source_fingerprint(),
        "git_commit": _git_commit(),
        "python_version": platform.python_version(),
        "platform": platform.platform(),
        "package_versions": json.dumps(versions, sort_keys=True),
    }


def simulate(cfg: RunConfig) -> xr.Dataset:
    """Run one configuration and return its trajectory Dataset (format: README, 'Run files')."""
    problem = cfg.problem()
    dtype = np.dtype(cfg.dtype)
    w0 = [w.astype(dtype) for w in initial_weights(cfg, problem)]
    k_pred = predict_k(problem, w0)  # from the weights actually used, in their precision
    theta0 = flatten(w0)
    if cfg.method == "gd":
        snaps, steps, diverged_at = gd_run(
            theta0, problem.Phi, problem.widths, cfg.lr, cfg.steps, cfg.record_every
        )
    else:
        from .flow import gf_run  # SciPy's import costs ~0.5 s; only the flow needs it

        steps = np.unique(np.r_[np.arange(0, cfg.steps + 1, cfg.record_every), cfg.steps])
        snaps, diverged_at = gf_run(theta0, problem.Phi, problem.widths, cfg.lr * steps), -1
    if len(steps) == 0:  # the loss of the start itself is not finite in this precision
        raise ConfigError(
            f"sigma0={cfg.sigma0} / init_scale={cfg.init_scale}: the starting loss overflows "
            f"{cfg.dtype}; choose a smaller start scale"
        )
    return build_dataset(cfg, problem, snaps, steps, diverged_at, k_pred)


def build_dataset(cfg, problem, snaps, steps, diverged_at, k_pred) -> xr.Dataset:
    data = quantities(problem, snaps, k_pred)
    keep = (steps % cfg.weights_every == 0) | (steps == steps[-1])
    for j, Wj in enumerate(unflatten(snaps[keep], problem.widths), start=1):
        data[f"W{j}"] = (
            ("snapshot", f"n{j}", f"n{j - 1}"),
            Wj,
            {"long_name": f"layer weights W_{j} ({problem.widths[j]} x {problem.widths[j - 1]})"},
        )
    data["Phi"] = (("n" + str(problem.depth), "n0"), problem.Phi, {"long_name": "target Phi = Y X^T"})
    data["U"] = (("n" + str(problem.depth), "mode"), problem.U, {"long_name": "left singular vectors u_i of Phi"})
    data["V"] = (("n0", "mode"), problem.V, {"long_name": "right singular vectors v_i of Phi"})
    data["s"] = (("mode",), problem.s, {"long_name": "singular values s_i of Phi"})
    data["critical_level"] = (("level",), critical_levels(problem), {"long_name": "loss L_k at critical point k (k = 0: origin)"})
    ds = xr.Dataset(
        {name: xr.Variable(*spec) for name, spec in data.items()},
        coords={
            "step": ("step", np.asarray(steps, dtype=np.int64), {"long_name": "GD iteration"}),
            "t": ("step", cfg.lr * np.asarray(steps, dtype=np.float64), {"long_name": "time t = lr x step", "units": "1"}),
            "snapshot": ("snapshot", np.asarray(steps[keep], dtype=np.int64), {"long_name": "GD iteration of the weight snapshot"}),
            "level": ("level", np.arange(problem.d + 1), {"long_name": "critical point index k (0 = origin)"}),
            "mode": ("mode", np.arange(1, problem.d + 1), {"long_name": "singular index i"}),
        },
    )
    attrs = {}
    for key, value in cfg.as_dict().items():
        if key == "extra":
            continue
        attrs[key] = value if not isinstance(value, list) else np.asarray(value)
    attrs.update({f"label_{k}": str(v) for k, v in cfg.extra.items()})
    attrs.update(
        predicted_k=int(k_pred),
        diverged=int(diverged_at >= 0),
        diverged_step=int(diverged_at),
        config_json=json.dumps(cfg.as_dict(), sort_keys=True),
        **provenance(),
    )
    ds.attrs = attrs
    return ds
