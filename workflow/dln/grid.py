"""From the workflow's config to the set of runs: one run = one grid point = one NetCDF file.

The Snakefile calls `plan_runs(config)`; every run gets a readable id that is also its file path
below results/runs/, and a RunConfig holding every value its result depends on.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

from .problem import ConfigError, check_widths, make_spectrum
from .run import DTYPES, RunConfig
from .starts import CONSTRUCTIONS

# Studies: each is a grid whose axes override the base settings. 'grid' is the paper's main
# experiment; the others feed one figure each.
STUDIES = ("grid", "lr_sweep", "flow", "precision", "depth", "gaussian")
AXES = ("k", "seed", "lr", "construction", "dtype", "widths", "init_scale")


@dataclass(frozen=True)
class PlannedRun:
    run_id: str
    studies: tuple  # the studies (config sections) that asked for this run
    config: RunConfig

    def cli_args(self) -> str:
        """Arguments of `python -m dln run` that reproduce this run (everything explicit)."""
        c = self.config
        spectrum = c.spectrum if isinstance(c.spectrum, str) else ",".join(map(repr, c.spectrum))
        return (
            f"--method {c.method} --init {c.init} --k {c.k} --seed {c.seed} --lr {c.lr!r} "
            f"--steps {c.steps} --record-every {c.record_every} "
            f"--weights-every {c.weights_every} --dtype {c.dtype} "
            f"--construction {c.construction} --sigma0 {c.sigma0!r} "
            f"--init-scale {c.init_scale!r} --widths {','.join(map(str, c.widths))} "
            f"--spectrum {spectrum} --basis {c.basis} --basis-seed {c.basis_seed}"
        )


def _fmt(x) -> str:
    """Short text for a number in a path that keeps 12 significant digits: 0.0005 -> 0.0005."""
    return f"{x:.12g}" if isinstance(x, float) else str(x)


def run_id(c: RunConfig, default_widths: tuple) -> str:
    """Readable path of a run below results/runs/ (without .nc), e.g.
    gd/orthogonal-float64/k3/lr0.0005_seed0; other architectures get a w8-1-4-5/ level,
    Gaussian starts name their scale instead of a construction and k."""
    start = c.construction if c.init == "balanced" else f"gaussian{_fmt(c.init_scale)}"
    arch = "" if tuple(c.widths) == tuple(default_widths) else "w" + "-".join(map(str, c.widths)) + "/"
    target = f"k{c.k}/" if c.init == "balanced" else ""
    return f"{c.method}/{start}-{c.dtype}/{arch}{target}lr{_fmt(c.lr)}_seed{c.seed}"


def _axis_values(study: str, name: str, values) -> list:
    if not isinstance(values, list) or not values:
        raise ConfigError(f"{study}.{name}={values!r}: must be a non-empty list")
    seen = set()
    for v in values:
        key = repr(v)
        if key in seen:
            raise ConfigError(f"{study}.{name}: duplicate value {v!r} in {values}")
        seen.add(key)
    return values


def base_settings(config: dict) -> dict:
    problem, start, gd = config["problem"], config["start"], config["gd"]
    return dict(
        widths=tuple(problem["widths"]),
        spectrum=problem["spectrum"],
        basis=problem["basis"],
        basis_seed=problem["basis_seed"],
        sigma0=start["sigma0"],
        construction=start["construction"],
        steps=gd["steps"],
        record_every=gd["record_every"],
        weights_every=gd["weights_every"],
        dtype=gd["dtype"],
    )


def check_config(config: dict) -> None:
    """Checks that need more than the JSON schema: cross-field relations and ranges that depend
    on the problem's size. Raises ConfigError naming the key and the allowed values."""
    try:
        widths = check_widths(config["problem"]["widths"])
        d = min(widths[0], widths[-1])
        make_spectrum(config["problem"]["spectrum"], d)
    except ConfigError as err:
        raise ConfigError(f"problem.{err}") from None
    gd = config["gd"]
    if gd["record_every"] > gd["steps"]:
        raise ConfigError(
            f"gd.record_every={gd['record_every']}: must not exceed gd.steps={gd['steps']}"
        )
    if gd["weights_every"] % gd["record_every"]:
        raise ConfigError(
            f"gd.weights_every={gd['weights_every']}: must be a multiple of "
            f"gd.record_every={gd['record_every']}"
        )
    for study in STUDIES:
        for name, values in (config.get(study) or {}).items():
            _axis_values(study, name, values)
            for v in values:
                if name == "k" and not 0 <= v <= d:
                    raise ConfigError(f"{study}.k={v}: allowed are 0..{d} (d = min(d_0, d_N))")
                if name == "lr" and not (isinstance(v, (int, float)) and math.isfinite(v) and v > 0):
                    raise ConfigError(f"{study}.lr={v}: must be a finite number > 0")
                if name == "construction" and v not in CONSTRUCTIONS:
                    raise ConfigError(f"{study}.construction={v!r}: allowed are {list(CONSTRUCTIONS)}")
                if name == "dtype" and v not in DTYPES:
                    raise ConfigError(f"{study}.dtype={v!r}: allowed are {list(DTYPES)}")
                if name == "widths":
                    try:
                        check_widths(v)
                    except ConfigError as err:
                        raise ConfigError(f"{study}.{err}") from None
                    if v[0] != widths[0] or v[-1] != widths[-1]:
                        raise ConfigError(
                            f"{study}.widths={v}: must start with d_0 = {widths[0]} and end with "
                            f"d_N = {widths[-1]}, like problem.widths, so that Phi is the same"
                        )


def plan_runs(config: dict) -> dict[str, PlannedRun]:
    """All runs of all studies, keyed by run id. A grid point shared by studies is one run."""
    check_config(config)
    base = base_settings(config)
    configs: dict[str, RunConfig] = {}
    studies: dict[str, list[str]] = {}
    for study in STUDIES:
        axes = config.get(study)
        if not axes:
            continue
        names = [a for a in AXES if a in axes]
        for values in itertools.product(*(axes[a] for a in names)):
            settings = dict(base, **dict(zip(names, values)))
            if study == "flow":
                # the flow is a float64 reference on the main grid's time axis t = lr x step
                settings.update(method="gf", dtype="float64")
                settings.setdefault("lr", config["grid"]["lr"][0])
            if study == "gaussian":
                settings.update(init="gaussian", k=0)  # k plays no part in a Gaussian start
            if "widths" in settings:
                settings["widths"] = tuple(settings["widths"])
            cfg = RunConfig(**settings)
            rid = run_id(cfg, base["widths"])
            if configs.setdefault(rid, cfg) != cfg:
                raise ConfigError(
                    f"{study}: two different runs would share the file {rid}.nc "
                    f"(values closer than 12 significant digits?)"
                )
            studies.setdefault(rid, []).append(study)
    cap = config["limits"]["max_runs"]
    if len(configs) > cap and not config["limits"]["allow_large_grid"]:
        raise ConfigError(
            f"the grid has {len(configs)} runs (one file each), more than "
            f"limits.max_runs={cap}; raise limits.max_runs or set limits.allow_large_grid: true "
            f"to run it anyway"
        )
    return {
        rid: PlannedRun(rid, tuple(studies[rid]), configs[rid]) for rid in sorted(configs)
    }
