"""A run's settings and its identity: every setting its result depends on (RunConfig), their
canonical JSON, the run key that hashes them and the store path. The other concerns have their
own modules: checks (allowed values), resources (memory and time), arguments (`dln run`), start
(W(0))."""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
from dataclasses import dataclass

from dln.model.problem import PAPER_WIDTHS, Problem, make_problem
from dln.solve.arguments import run_arguments
from dln.solve.checks import DTYPES, INITS, SOLVERS, validate
from dln.solve.resources import n_params, n_records, run_resources

__all__ = ["DTYPES", "INITS", "SOLVERS", "RunConfig", "numerics_identity"]


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
        validate(self)

    def problem(self) -> Problem:
        return make_problem(self.widths, self.spectrum, self.basis, self.basis_seed)

    @property
    def n_params(self) -> int:
        return n_params(self.widths)

    @property
    def n_records(self) -> int:
        return n_records(self.steps, self.record_every)

    def resources(self) -> tuple[int, int]:
        """(memory in MB, wall time in minutes): dln.solve.resources.run_resources."""
        return run_resources(self)

    @property
    def depth(self) -> int:
        return len(self.widths) - 1

    @property
    def d(self) -> int:
        """Rank of the target Phi (d_N x d_0): its number of singular values, so the levels
        are L_0..L_d."""
        return min(self.widths[0], self.widths[-1])

    def as_dict(self) -> dict:
        # (not dataclasses.asdict: its deep copies cost 0.2 ms a run, 20 s to plan 10^5 runs;
        # the values are immutable numbers, strings and tuples)
        d = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
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
        """Arguments of `dln run` that reproduce this run: dln.solve.arguments.run_arguments."""
        return run_arguments(self)


def _fmt(x) -> str:
    """Short text for a number in a path: 0.0005 -> 0.0005 (12 significant digits)."""
    return f"{x:.12g}" if isinstance(x, float) else str(x)


def numerics_identity() -> str:
    """What besides the settings decides a run's bytes, as text the run key hashes: "" for the
    C kernel (deterministic, no BLAS: the same bytes on every machine), "\nkernel=numpy" for the
    NumPy fallback, whose BLAS products give other trajectories (issue 21 item 7). A store
    shared by a machine with a C compiler and one without so never mixes the two."""
    from dln.solve.kernel import BACKEND

    return "" if BACKEND == "c" else f"\nkernel={BACKEND}"
