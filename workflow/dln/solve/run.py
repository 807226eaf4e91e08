"""One run = one set of settings -> one trajectory, analysed, in one NetCDF run file.

This module is on the simulation job's path: it imports NumPy and the kernel only (no xarray,
pandas or SciPy; SciPy only for gradient-flow runs), so a fresh `dln run` process starts fast.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dln.model.problem import PAPER_WIDTHS, ConfigError, Problem, flatten, make_problem
from dln.model.starts import CONSTRUCTIONS, balanced_start, gaussian_start
from dln.model.theory import predict_k

SOLVERS = ("gd", "gf")
INITS = ("balanced", "gaussian")
DTYPES = ("float64", "float32")
# Source files that decide the numbers in a run file (trajectory and its analysis); their hash
# is the simulations' code version, passed by the workflow so that an edit reruns the runs.
NUMERICS_SOURCES = (
    "model/plainfloat.py",
    "model/problem.py",
    "model/starts.py",
    "model/theory.py",
    "solve/kernel.py",
    "solve/_kernel.c",
    "solve/flow.py",
    "analysis/trajectory.py",
    "analysis/stages.py",
    "solve/run.py",
    "analysis/result.py",
    "data/runfile.py",
)


@dataclass(frozen=True)
class RunConfig:
    """Every setting a run's result depends on (defaults: the paper's experiment).

    Settings that do not apply to a run are None: k, construction and sigma0 of a Gaussian
    start, init_scale of a balanced one. Each field can be an axis of the workflow's studies.
    """

    widths: tuple = PAPER_WIDTHS
    spectrum: object = "linear"  # 'linear' (s_i = d + 1 - i) or a tuple of values
    basis: str = "random"
    basis_seed: int = 0
    init: str = "balanced"
    k: int | None = 1
    construction: str | None = "orthogonal"
    sigma0: float | None = 0.01
    init_scale: float | None = None
    seed: int = 0
    lr: float = 5e-4
    steps: int = 100_000
    record_every: int = 50
    weights_every: int = 5_000
    dtype: str = "float64"
    solver: str = "gd"
    level_tol: float = 1e-3  # analysis: |loss - L_k| below this counts as "at level k"

    def __post_init__(self):
        set_ = object.__setattr__
        set_(self, "widths", tuple(int(w) for w in self.widths))
        if not isinstance(self.spectrum, str):
            set_(self, "spectrum", tuple(float(s) for s in self.spectrum))
        for name in ("basis_seed", "seed", "steps", "record_every", "weights_every"):
            set_(self, name, int(getattr(self, name)))
        for name in ("lr", "level_tol"):
            set_(self, name, float(getattr(self, name)))
        if self.init == "gaussian":
            set_(self, "k", None)
            set_(self, "construction", None)
            set_(self, "sigma0", None)
            set_(self, "init_scale", float(0.1 if self.init_scale is None else self.init_scale))
        else:
            set_(self, "k", int(self.k))
            set_(self, "sigma0", float(self.sigma0))
            set_(self, "init_scale", None)
        self.validate()

    def validate(self):
        """Cheap assertions: the workflow's config check has refused bad values before this."""
        choices = {"init": INITS, "dtype": DTYPES, "solver": SOLVERS}
        if self.init == "balanced":
            choices["construction"] = CONSTRUCTIONS
        for name, allowed in choices.items():
            if getattr(self, name) not in allowed:
                raise ConfigError(f"{name}={getattr(self, name)!r}: allowed are {list(allowed)}")
        scale = "sigma0" if self.init == "balanced" else "init_scale"
        for name in ("lr", scale, "level_tol"):
            x = getattr(self, name)
            if not (math.isfinite(x) and x > 0):
                raise ConfigError(f"{name}={x}: must be a finite number > 0")
        for name in ("steps", "record_every", "weights_every"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name}={getattr(self, name)}: must be an integer >= 1")
        for name in ("seed", "basis_seed"):
            if not 0 <= getattr(self, name) < 2**63:
                raise ConfigError(f"{name}={getattr(self, name)}: allowed are 0 .. 2^63 - 1")
        if self.record_every > self.steps:
            raise ConfigError(
                f"record_every={self.record_every}: must not exceed steps={self.steps}"
            )
        if self.weights_every % self.record_every:
            raise ConfigError(
                f"weights_every={self.weights_every}: must be a multiple of "
                f"record_every={self.record_every}"
            )
        if self.solver == "gf" and self.dtype != "float64":
            raise ConfigError(f"dtype={self.dtype}: the gradient flow is a float64 reference")
        if not 1e-12 <= self.lr <= 1e3:
            raise ConfigError(
                f"lr={self.lr}: allowed are 1e-12 .. 1e3 (smaller steps never move "
                f"the weights in floating point)"
            )
        problem = self.problem()  # checks widths, spectrum and basis
        if self.init == "balanced" and not 0 <= self.k <= problem.d:
            raise ConfigError(f"k={self.k}: allowed are 0..{problem.d} (d = min(d_0, d_N))")
        self._check_start(problem)

    def _check_start(self, problem) -> None:
        """The start must be representable in the run's precision: refuse, before any job, a
        start that underflows to zero or whose loss overflows (the job would have no record)."""
        dtype = np.dtype(self.dtype)
        tiny = float(np.finfo(dtype).tiny)
        if self.init == "balanced":
            layer_scale = self.sigma0 ** (1.0 / self.depth)
            if min(self.sigma0, layer_scale) < 1e3 * tiny:
                raise ConfigError(
                    f"sigma0={self.sigma0}: underflows {self.dtype} (W = sigma0 u v^T and each "
                    f"layer's scale sigma0^(1/N) = {layer_scale:.3g} must stay above "
                    f"{1e3 * tiny:.3g}); allowed: a larger sigma0 or float64"
                )
        scale = (
            f"sigma0={self.sigma0}" if self.init == "balanced" else f"init_scale={self.init_scale}"
        )
        with np.errstate(over="ignore", under="ignore"):
            weights = [w.astype(dtype) for w in initial_weights(self, problem)]
        if not any(np.any(w) for w in weights):  # what simulate() refuses: no job can start
            raise ConfigError(
                f"{scale}: the start's weights underflow to exactly zero in "
                f"{self.dtype}; allowed: a larger start scale or float64"
            )
        with np.errstate(over="ignore", invalid="ignore"):
            from dln.model.problem import product

            gap = product(weights) - problem.Phi.astype(dtype)
            loss = 0.5 * np.sum(gap * gap, dtype=dtype)
        if not np.isfinite(loss):
            big = float(np.max(np.abs(problem.s)))
            if big > 1e15:  # name the real cause: the target's scale, not the start's
                raise ConfigError(
                    f"spectrum={list(problem.s)}: the starting loss "
                    f"1/2 ||W - Phi||^2 overflows {self.dtype} (largest s_i = "
                    f"{big:g}); allowed: values whose squares fit {self.dtype}"
                )
            raise ConfigError(
                f"{scale}: the starting loss 1/2 ||W - Phi||^2 overflows "
                f"{self.dtype}; allowed: a smaller start scale"
            )

    def problem(self) -> Problem:
        return make_problem(self.widths, self.spectrum, self.basis, self.basis_seed)

    @property
    def n_params(self) -> int:
        return n_params(self.widths)

    @property
    def n_records(self) -> int:
        return n_records(self.steps, self.record_every)

    def resources(self) -> tuple[int, int]:
        """(memory in MB, wall time in minutes) the job needs, estimated before it runs.

        Memory: the recorded flat weights in float64 and the per-record quantities (the
        product W, alignments, levels) with a factor 4 for temporaries, plus the process's
        own ~150 MB. Time: ~1.5 ns per multiply-add of GD (4 P per step, measured 0.4 us/step
        at P = 150) and ~40 us per record of analysis, doubled for a busy machine."""
        return estimate_resources(
            self.widths, self.steps, self.record_every, self.solver, self.lr, self.spectrum
        )

    @property
    def depth(self) -> int:
        return len(self.widths) - 1

    @property
    def d(self) -> int:
        """Rank of the target Phi (d_N x d_0): its number of singular values, so the levels
        are L_0..L_d."""
        return min(self.widths[0], self.widths[-1])

    def as_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["widths"] = list(self.widths)
        d["spectrum"] = self.spectrum if isinstance(self.spectrum, str) else list(self.spectrum)
        return d

    def settings_json(self) -> str:
        """Canonical JSON of the settings: what the run key hashes (with numerics_identity())
        and the run file stores."""
        return json.dumps(self.as_dict(), sort_keys=True)

    @functools.cached_property
    def _key(self) -> str:
        text = self.settings_json() + numerics_identity()
        return hashlib.sha256(text.encode()).hexdigest()[:10]

    def key(self) -> str:
        """Short hash of the complete settings and of the numerics that run them: part of the
        run file's name in the store."""
        return self._key

    def run_id(self) -> str:
        """Readable store path of the run (below results/runs/, without .nc) ending in its key,
        e.g. gd-orthogonal-float64/N6-k3/lr0.0005-seed0-<key>."""
        start = self.construction if self.init == "balanced" else "gaussian"
        target = f"k{self.k}" if self.init == "balanced" else f"scale{_fmt(self.init_scale)}"
        return (
            f"{self.solver}-{start}-{self.dtype}/N{self.depth}-{target}/"
            f"lr{_fmt(self.lr)}-seed{self.seed}-{self.key()}"
        )

    def cli_args(self) -> list[str]:
        """Arguments of `dln run` that reproduce this run exactly (every setting explicit)."""
        args = ["--solver", self.solver, "--init", self.init]
        if self.init == "balanced":
            args += [
                "--k",
                str(self.k),
                "--construction",
                self.construction,
                "--sigma0",
                repr(self.sigma0),
            ]
        else:
            args += ["--init-scale", repr(self.init_scale)]
        spectrum = (
            self.spectrum if isinstance(self.spectrum, str) else ",".join(map(repr, self.spectrum))
        )
        return args + [
            "--seed",
            str(self.seed),
            "--lr",
            repr(self.lr),
            "--steps",
            str(self.steps),
            "--record-every",
            str(self.record_every),
            "--weights-every",
            str(self.weights_every),
            "--dtype",
            self.dtype,
            "--widths",
            ",".join(map(str, self.widths)),
            "--spectrum",
            spectrum,
            "--basis",
            self.basis,
            "--basis-seed",
            str(self.basis_seed),
            "--level-tol",
            repr(self.level_tol),
        ]


def n_params(widths) -> int:
    return sum(a * b for a, b in zip(widths[1:], widths[:-1], strict=True))


def n_records(steps: int, record_every: int) -> int:
    """Records of a run, with room for the last step (an upper bound)."""
    return steps // record_every + 2


def estimate_resources(
    widths, steps: int, record_every: int, solver: str = "gd", lr: float = 5e-4, spectrum="linear"
) -> tuple[int, int]:
    """RunConfig.resources() from the settings alone, so that the plan can refuse a run that
    is too large before RunConfig builds its problem (d_N x d_0 matrices)."""
    mem_mb, seconds = estimate_mem_seconds(widths, steps, record_every, solver, lr, spectrum)
    return int(math.ceil(mem_mb)), int(math.ceil(seconds / 60))


def estimate_mem_seconds(widths, steps, record_every, solver, lr, spectrum) -> tuple:
    """(MB, seconds) unrounded: a batch job adds up its runs' seconds."""
    params, records = n_params(widths), n_records(steps, record_every)
    per_record = params + widths[0] * widths[-1] + 8 * min(widths[0], widths[-1])
    mem_mb = 150 + 4 * 8 * records * per_record / 1e6
    seconds = 2 * (1 + 6e-9 * steps * params + 40e-6 * records)
    if solver == "gf":
        # the explicit integrator (DOP853): ~100 gradient calls per record, and at least
        # ~2 L t_end calls for its stability, L = N s_1^(2 - 2/N) the flow's stiffness near the
        # target (measured: 1.9 L t_end calls for s_1 = 5..500, t_end = 5..5000)
        depth = len(widths) - 1
        s1 = min(widths[0], widths[-1]) if isinstance(spectrum, str) else max(spectrum)
        log_calls = (
            math.log(2 * depth) + (2 - 2 / depth) * math.log(s1) + math.log(max(lr * steps, 1e-300))
        )
        calls = max(100 * records, math.exp(min(log_calls, 60.0)))  # (e^60: refused anyway)
        seconds += 2 * 2e-6 * calls * max(params / 150, 1)
    return mem_mb, seconds


def _fmt(x) -> str:
    """Short text for a number in a path: 0.0005 -> 0.0005 (12 significant digits)."""
    return f"{x:.12g}" if isinstance(x, float) else str(x)


def initial_weights(cfg: RunConfig, problem: Problem) -> list[np.ndarray]:
    if cfg.init == "gaussian":
        return gaussian_start(problem, cfg.init_scale, cfg.seed)
    return balanced_start(problem, cfg.k, cfg.sigma0, cfg.construction, cfg.seed)


def numerics_identity() -> str:
    """What besides the settings decides a run's bytes, as text the run key hashes: "" for the
    C kernel (deterministic, no BLAS: the same bytes on every machine), "\nkernel=numpy" for the
    NumPy fallback, whose BLAS products give other trajectories (issue 21 item 7). A store
    shared by a machine with a C compiler and one without so never mixes the two."""
    from dln.solve.kernel import BACKEND

    return "" if BACKEND == "c" else f"\nkernel={BACKEND}"


def trajectory_digest(loss, weights) -> str:
    """sha256 (hex) of the loss and the weight snapshots W_1..W_N: for each array the line
    "<name> <dtype> <shape>\\n", then its bytes (little-endian, C order); docs: dln.data.manifest."""
    h = hashlib.sha256()
    for name, values in (("loss", loss), *((f"W{j}", w) for j, w in enumerate(weights, 1))):
        a = np.asarray(values)
        a = np.ascontiguousarray(a, dtype=a.dtype.newbyteorder("<"))
        h.update(f"{name} {a.dtype.str} {list(a.shape)}\n".encode())
        h.update(a.tobytes())
    return h.hexdigest()


def source_fingerprint(files=NUMERICS_SOURCES) -> str:
    """sha256 over source files of this package. The workflow passes such hashes as params, so
    Snakemake reruns a step when code it imports changes (it tracks only the rule's own script)."""
    h = hashlib.sha256()
    here = Path(__file__).parents[1]  # the dln package
    for name in files:
        h.update((here / name).read_bytes())
    return h.hexdigest()[:16]


@dataclass
class Trajectory:
    """A simulated run before it is written: flat weights at the recorded steps."""

    cfg: RunConfig
    problem: Problem
    steps: np.ndarray  # recorded GD iterations
    snaps: np.ndarray  # (n_records, n_params) flat weights, in the run's dtype
    diverged_at: int  # first step whose loss was not finite, -1 if none
    predicted_k: int  # Theorem 3.1's k from W(0); -1: not balanced

    def kept(self) -> np.ndarray:
        """Which records keep their weights in the run file: every weights_every steps and the
        last one."""
        return (self.steps % self.cfg.weights_every == 0) | (self.steps == self.steps[-1])


def simulate(cfg: RunConfig) -> Trajectory:
    """Run one configuration (GD in the run's precision, or the float64 gradient flow)."""
    problem = cfg.problem()
    dtype = np.dtype(cfg.dtype)
    # (a start that overflows or underflows this precision was refused by RunConfig.validate)
    w0 = [w.astype(dtype) for w in initial_weights(cfg, problem)]
    k_pred = predict_k(problem, w0)  # from the weights actually used, in their precision
    theta0 = flatten(w0)
    if cfg.solver == "gd":
        from dln.solve.kernel import gd_run

        snaps, steps, diverged_at = gd_run(
            theta0, problem.Phi, problem.widths, cfg.lr, cfg.steps, cfg.record_every
        )
    else:
        from dln.solve.flow import gf_run  # SciPy: only the flow needs it

        steps = np.unique(np.r_[np.arange(0, cfg.steps + 1, cfg.record_every), cfg.steps])
        snaps, diverged_at = gf_run(theta0, problem.Phi, problem.widths, cfg.lr * steps), -1
    if len(steps) == 0:  # the kernel found the start's loss not finite: validate's check missed
        raise ConfigError(f"the starting loss 1/2 ||W - Phi||^2 overflows {cfg.dtype}")
    return Trajectory(
        cfg, problem, np.asarray(steps, dtype=np.int64), snaps, int(diverged_at), int(k_pred)
    )
