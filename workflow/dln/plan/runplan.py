"""The run plan: from the workflow's config to the set of runs, built once, as data.

Each study (a config section) is a grid whose axes override the base settings (sections
problem, start, gd, analysis.level_tol); any RunConfig field can be an axis. A run shared by
several studies is planned once and flagged as a member of each. The Snakefile calls
`plan_runs(config)` once; jobs get their run's settings as `dln run` arguments.
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import math
from dataclasses import dataclass

from dln.model.problem import ConfigError
from dln.solve.run import RunConfig, estimate_mem_seconds, estimate_resources

# 'grid' is the paper's main experiment; the others feed one figure each.
STUDIES = ("grid", "lr_sweep", "flow", "precision", "depth", "gaussian", "laws")
AXES = tuple(f.name for f in dataclasses.fields(RunConfig))
# where a setting's base value comes from (for error messages and the README)
BASE_KEYS = {
    "widths": "problem.widths",
    "spectrum": "problem.spectrum",
    "basis": "problem.basis",
    "basis_seed": "problem.basis_seed",
    "sigma0": "start.sigma0",
    "construction": "start.construction",
    "steps": "gd.steps",
    "record_every": "gd.record_every",
    "weights_every": "gd.weights_every",
    "dtype": "gd.dtype",
    "level_tol": "analysis.level_tol",
}
DEFAULT_MAX_RUN_MEM_MB = 8000  # limits.max_run_mem_mb when a config does not set it
DEFAULT_MAX_RUN_MINUTES = 600  # limits.max_run_minutes
MAX_COUNTED_POINTS = 10_000  # grids with more points stop planning once limits.max_runs is passed
# simulation jobs of a plan (config key `batches`): a run's batch is its key modulo this, so it
# never depends on the other runs and adding a seed touches only the batches of the new runs.
# Each batch is a process (~0.4 s to start): 8 keep a laptop's cores busy without the start-ups
# weighing on the paper's 99 runs; a cluster raises it (config `batches`, docs/slurm.md)
DEFAULT_BATCHES = 8
# settings a study fixes: the flow is a float64 reference; Gaussian starts are not balanced
STUDY_FIXED = {"flow": {"solver": "gf", "dtype": "float64"}, "gaussian": {"init": "gaussian"}}


@dataclass(frozen=True)
class PlannedRun:
    config: RunConfig
    studies: tuple  # the studies (config sections) that asked for this run

    @property
    def run_id(self) -> str:
        return self.config.run_id()

    @property
    def path(self) -> str:
        return f"results/runs/{self.run_id}.nc"

    def batch(self, n_batches: int) -> str:
        """Name of the simulation job that computes this run: stable, from its key alone."""
        return batch_name(self.config.key(), n_batches)


def batch_name(key: str, n_batches: int) -> str:
    width = len(str(n_batches - 1))
    return f"b{int(key, 16) % n_batches:0{width}d}"


def plan_batches(runs: dict[str, PlannedRun], n_batches: int) -> dict[str, list[str]]:
    """Batch name -> its run ids (sorted), only the batches that hold runs."""
    out: dict[str, list[str]] = {}
    for rid, run in runs.items():
        out.setdefault(run.batch(n_batches), []).append(rid)
    return {name: out[name] for name in sorted(out)}


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
        level_tol=config["analysis"]["level_tol"],
    )


def _key_of(message: str, study: str, axes: dict, settings: dict) -> str:
    """The config key (and its value) a RunConfig error is about: the study's axis or the
    base section the setting came from."""
    field = message.split("=", 1)[0].strip()
    value = settings.get(field)
    value = list(value) if isinstance(value, tuple) else value
    key = f"{study}.{field}" if field in axes else BASE_KEYS.get(field, f"{study}.{field}")
    return f"{key}={value!r}"


def study_grids(config: dict, study: str) -> list[dict]:
    """The grids of one study: a study is one grid (a mapping of axes) or a list of grids
    (their union, so a study can vary one thing at a time); null or empty: none."""
    axes = config.get(study)
    if not axes:  # null (or {}) switches a study off, e.g. in an overlay config
        return []
    return [g for g in (axes if isinstance(axes, list) else [axes]) if g]


def first_grid(config: dict, study: str) -> dict:
    """The first grid of a study ({} if none): where a single default value is read from."""
    grids = study_grids(config, study)
    return grids[0] if grids else {}


def study_runs(config: dict, study: str):
    """RunConfig of every grid point of one study (of every grid of a list of grids; a run
    shared by two grids is yielded once)."""
    grids = study_grids(config, study)
    seen = set()
    for i, axes in enumerate(grids):
        label = study if len(grids) == 1 else f"{study}[{i}]"
        for cfg in _grid_runs(config, study, label, axes):
            rid = cfg.run_id()
            if rid not in seen:
                seen.add(rid)
                yield cfg


def _grid_runs(config: dict, study: str, label: str, axes: dict):
    """RunConfig of every point of one grid of a study (label: its config key in messages)."""
    base = base_settings(config)
    names = [a for a in AXES if a in axes]
    for values in itertools.product(*(axes[a] for a in names)):
        chosen = dict(zip(names, values, strict=True))
        fixed = STUDY_FIXED.get(study, {})
        for name, value in fixed.items():  # an axis the study fixes: only its fixed value
            if name in chosen and chosen[name] != value:
                raise ConfigError(
                    f"{label}.{name}={axes[name]!r}: the {study} study fixes "
                    f"{name} = {value!r} (allowed: leave the axis out)"
                )
        settings = {**base, **chosen, **fixed}
        if study == "flow":  # on the main grid's time axis t = lr x step
            settings.setdefault("lr", (first_grid(config, "grid").get("lr") or [5e-4])[0])
        _check_size(settings, config["limits"], label, axes)
        try:
            cfg = RunConfig(**settings)
        except MemoryError:  # limits above what this machine has: the problem does not fit
            raise ConfigError(
                f"{_key_of('widths=', label, axes, settings)}: the problem's "
                f"matrices do not fit in this machine's memory"
            ) from None
        except ConfigError as err:
            msg = str(err)
            raise ConfigError(
                f"{_key_of(msg, label, axes, settings)}: {msg.split(':', 1)[-1].strip()}"
            ) from None
        yield cfg


def _check_size(settings: dict, limits: dict, study: str, axes: dict) -> None:
    """Refuse a run above the memory limit before RunConfig validates it: validating builds
    the problem's d_N x d_0 matrices, tens of GB for the widths the schema allows (10^5)."""
    cap = limits.get("max_run_mem_mb", DEFAULT_MAX_RUN_MEM_MB)
    mem, _ = estimate_resources(
        settings["widths"],
        settings["steps"],
        settings["record_every"],
        settings.get("solver", "gd"),
    )
    if mem > cap:
        raise ConfigError(
            f"limits.max_run_mem_mb={cap}: a {study} run with "
            f"{_key_of('widths=', study, axes, settings)}, steps={settings['steps']:,}, "
            f"record_every={settings['record_every']:,} needs about {mem:,} MB; record less "
            f"often (gd.record_every), use fewer steps or narrower layers, or raise the limit"
        )


def plan_runs(config: dict) -> dict[str, PlannedRun]:
    """All runs of all studies, keyed by run id, in id order."""
    studies: dict[str, list[str]] = {}
    configs: dict[str, RunConfig] = {}
    cap = config["limits"]["max_runs"]
    # grid points of all studies (shared runs counted in each): an upper bound of the runs.
    # Each run is validated (~0.3 ms), so a grid far above the cap is refused once the cap is
    # passed instead of after building millions of runs; small grids are counted exactly.
    points = sum(
        math.prod(len(v) for a, v in grid.items() if a in AXES)
        for s in STUDIES
        for grid in study_grids(config, s)
    )
    for study in STUDIES:
        for cfg in study_runs(config, study):
            rid = cfg.run_id()
            if (
                rid not in configs
                and len(configs) >= cap
                and points > MAX_COUNTED_POINTS
                and not config["limits"]["allow_large_grid"]
            ):
                raise ConfigError(
                    f"limits.max_runs={cap}: the config plans more than {cap} runs ({points:,} "
                    f"grid points; one file each); raise limits.max_runs or set "
                    f"limits.allow_large_grid: true to run it anyway"
                )
            configs.setdefault(rid, cfg)
            if study not in studies.setdefault(rid, []):
                studies[rid].append(study)
    check_resources(configs, config["limits"])
    if len(configs) > cap and not config["limits"]["allow_large_grid"]:
        raise ConfigError(
            f"limits.max_runs={cap}: the config plans {len(configs)} runs (one file each); "
            f"raise limits.max_runs or set limits.allow_large_grid: true to run it anyway"
        )
    return {rid: PlannedRun(configs[rid], tuple(studies[rid])) for rid in sorted(configs)}


def check_resources(configs: dict[str, RunConfig], limits: dict) -> None:
    """Refuse, before any job, a run whose estimated memory or time exceeds the limits."""
    mem_cap = limits.get("max_run_mem_mb", DEFAULT_MAX_RUN_MEM_MB)
    time_cap = limits.get("max_run_minutes", DEFAULT_MAX_RUN_MINUTES)
    for rid, cfg in configs.items():
        mem, minutes = cfg.resources()
        what = (
            f"{cfg.n_records:,} records (steps={cfg.steps:,} / record_every="
            f"{cfg.record_every:,}) x {cfg.n_params:,} parameters"
        )
        if mem > mem_cap:
            raise ConfigError(
                f"limits.max_run_mem_mb={mem_cap}: run {rid} needs about {mem:,} MB for {what}; "
                f"record less often (gd.record_every), use fewer steps or narrower layers, or "
                f"raise the limit if the machine or the cluster's nodes have the memory"
            )
        if minutes > time_cap:
            raise ConfigError(
                f"limits.max_run_minutes={time_cap}: run {rid} needs about {minutes:,} min for "
                f"{cfg.steps:,} steps x {cfg.n_params:,} parameters; use fewer steps or raise "
                f"the limit"
            )


def plan_digest(runs: dict[str, PlannedRun]) -> str:
    """Hash of the plan (run ids and study membership): the plan file is rewritten when it
    changes, and the aggregate's config_hash."""
    h = hashlib.sha256()
    for rid, run in runs.items():
        h.update(f"{rid} {','.join(run.studies)}\n".encode())
    return h.hexdigest()[:16]


def batch_resources(runs: list[PlannedRun]) -> tuple[int, int]:
    """(memory in MB, wall minutes) of a batch job: its largest run's memory (one run is held
    at a time) and the sum of its runs' times (they run one after another)."""
    mem, seconds = 0.0, 0.0
    for run in runs:
        c = run.config
        m, s = estimate_mem_seconds(c.widths, c.steps, c.record_every, c.solver, c.lr, c.spectrum)
        mem, seconds = max(mem, m), seconds + s
    return int(math.ceil(mem)), int(math.ceil(seconds / 60))


def plan_rows(runs: dict[str, PlannedRun], n_batches: int = DEFAULT_BATCHES) -> list[dict]:
    """The plan as a table: run id, run file, its batch (simulation job), study flags."""
    return [
        {
            "run": rid,
            "path": run.path,
            "batch": run.batch(n_batches),
            "steps": run.config.steps,
            "record_every": run.config.record_every,
            "d": run.config.d,
            **{f"in_{s}": s in run.studies for s in STUDIES},
        }
        for rid, run in runs.items()
    ]


def select(runs: dict[str, PlannedRun], study: str | None = None, **settings) -> list[PlannedRun]:
    """The planned runs of a study whose settings equal the given values (figure inputs)."""
    out = []
    for run in runs.values():
        if study is not None and study not in run.studies:
            continue
        if all(getattr(run.config, k) == v for k, v in settings.items()):
            out.append(run)
    return out


def write_plan(runs: dict[str, PlannedRun], path, n_batches: int = DEFAULT_BATCHES) -> None:
    """The plan table as CSV (atomically): the aggregate reads run files and flags from it."""
    from dln.data.io import write_text

    write_text(plan_text(runs, n_batches), path)


def plan_text(runs: dict[str, PlannedRun], n_batches: int = DEFAULT_BATCHES) -> str:
    import csv
    import io as _io

    rows = plan_rows(runs, n_batches)
    buf = _io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(rows[0]) if rows else ["run"], lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: (str(v).lower() if isinstance(v, bool) else v) for k, v in row.items()})
    return buf.getvalue()


def grid_members(config: dict, study: str) -> dict[str, int]:
    """Run id -> index of the first grid of `study` (a list of grids) that plans it: which
    sub-grid a run belongs to (figures label runs by the axis their grid varies)."""
    out: dict[str, int] = {}
    grids = study_grids(config, study)
    for i, axes in enumerate(grids):
        label = study if len(grids) == 1 else f"{study}[{i}]"
        for cfg in _grid_runs(config, study, label, axes):
            out.setdefault(cfg.run_id(), i)
    return out


def varied_axes(axes: dict, ignore=("seed", "k")) -> list[str]:
    """The axes of one grid with more than one value (seeds and k left out by default)."""
    return [a for a in AXES if a in axes and a not in ignore and len(axes[a]) > 1]


def members_text(runs: list[PlannedRun]) -> str:
    """A batch's members file: run id, run file and complete settings (JSON) per line, what
    its job computes (dln.data.pipeline.read_members)."""
    return "".join(f"{r.run_id}\t{r.path}\t{r.config.settings_json()}\n" for r in runs)


def members_file(out: str, name: str, run_ids: list[str]) -> str:
    """A batch's members file, named by a hash of its runs: a new membership is a new file,
    and going back to an earlier config finds the earlier file (with its old mtime)."""
    digest = hashlib.sha256("\n".join(run_ids).encode()).hexdigest()[:12]
    return f"{out}/batches/{name}-{digest}.members"


def sync_plan_files(runs: dict[str, PlannedRun], out: str, n_batches: int) -> list[str]:
    """Write the plan (out/plan.csv) if its content changed and each batch's members file
    (members_file) if it is not there yet; return what was written.

    The workflow calls this while it parses, so the plan is on disk before any job starts and
    a batch job's input is newer than its manifest exactly when its membership is new: adding a
    seed writes the members files of the batches that gain a run, no other. A stamp (the plan
    digest) makes an unchanged plan cost one small read.
    """
    import os

    from dln.data.io import write_text

    digest = f"{plan_digest(runs)} {n_batches}\n"
    stamp = f"{out}/batches/.plan-digest"
    plan = f"{out}/plan.csv"
    if _read(stamp) == digest and os.path.exists(plan):
        return []
    written = []
    for name, rids in plan_batches(runs, n_batches).items():
        path = members_file(out, name, rids)
        if not os.path.exists(path):
            write_text(members_text([runs[r] for r in rids]), path)
            written.append(path)
    text = plan_text(runs, n_batches)
    if _read(plan) != text:
        write_text(text, plan)
        written.append(plan)
    write_text(digest, stamp)
    return written


def _read(path) -> str | None:
    try:
        with open(path) as fh:
            return fh.read()
    except OSError:
        return None
