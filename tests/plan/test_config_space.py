"""Issue 13: a config that passes the check runs to the end.

Property-based: configs are drawn from the project's own schema (workflow/schemas/
config.schema.yaml, narrowed here so that runs stay small) and from explicit values at and
beyond each range's edges, merged into the default config.yaml. For every drawn config EITHER
the workflow's check (`check_workflow_config`, then `plan_runs`, as workflow/rules/common.smk
does) refuses it with a ConfigError of one line naming a config key, OR every planned run is
within the resource limits and (in the slow test) one sampled run, its steps capped, completes
through the real `dln run` path and writes an analysed run file.

Each failing example found on the way is kept below as an explicit case (FOUND_EXAMPLES).

Issue 21 extends the property to the run store (random stores, plans and spellings of
--results: prune removes exactly the files no plan lists; a malformed plan stops it with one
line) and to run files with random damage (every flipped byte, cut or appended tail is refused
by every reader with one line naming the file).
"""

from __future__ import annotations

import copy
import dataclasses
import math
import re

import numpy as np
import pytest
import yaml
from hypothesis import HealthCheck, assume, event, given, settings
from hypothesis import note as _note
from hypothesis import strategies as st
from hypothesis.control import currently_in_test_context
from hypothesis_jsonschema import from_schema

from conftest import REPO
from dln.model.problem import ConfigError
from dln.plan.configcheck import check_workflow_config
from dln.plan.runplan import DEFAULT_MAX_RUN_MEM_MB, DEFAULT_MAX_RUN_MINUTES, STUDIES, plan_runs

SCHEMA_PATH = REPO / "workflow/schemas/config.schema.yaml"
SCHEMA = yaml.safe_load(SCHEMA_PATH.read_text())
BASE = yaml.safe_load((REPO / "config.yaml").read_text())
BASE["experiment"] = "paper"
SECTIONS = tuple(SCHEMA["properties"])  # experiment, problem, start, gd, the studies, ...


def key_pattern(config: dict) -> re.Pattern:
    """A refusal must name the key: a top-level section (or a key written at the top level,
    for an unknown key) followed by '.', '[', '=', ' ' or a quote."""
    names = sorted(set(SECTIONS) | {str(k) for k in config}, key=len, reverse=True)
    return re.compile(r"\b(" + "|".join(map(re.escape, names)) + r")\b[.\[= ']")


MAX_SIM_STEPS = 2000


def shown(node):
    """The config for a message: integers too long for str() (4300 digits) as placeholders."""
    if isinstance(node, dict):
        return {k: shown(v) for k, v in node.items()}
    if isinstance(node, list):
        return [shown(v) for v in node]
    if isinstance(node, int) and node.bit_length() > 4000:
        return f"<int of {node.bit_length()} bits>"
    return node


def note(text: str) -> None:
    """hypothesis.note inside a property test; print (shown on failure) in a plain test."""
    _note(text) if currently_in_test_context() else print(text)


# ---------------------------------------------------------------------------------------------
# Strategies


def narrowed_schema() -> dict:
    """The project's schema with some ranges narrowed so that drawn configs plan and run
    quickly: few, small layers; short runs; short lists; few axes per study. Everything drawn
    from it is still valid against the real schema (only bounds are added)."""
    s = copy.deepcopy(SCHEMA)
    defs = s["$defs"]
    defs["widths"]["maxItems"] = 6
    defs["widths"]["items"]["maximum"] = 6
    defs["steps"]["maximum"] = 20_000
    defs["list_of"]["maxItems"] = 2
    defs["spectrum"]["oneOf"][1]["maxItems"] = 6
    defs["study_grid"]["maxProperties"] = 4
    # a study given as a list of grids: a short list
    defs["study"]["oneOf"][2]["maxItems"] = 2
    # k: small, so that many draws are within 0..d
    defs["study_grid"]["properties"]["k"]["items"]["maximum"] = 6
    s["properties"]["limits"]["properties"]["max_runs"]["maximum"] = 10_000
    return s


NARROW = narrowed_schema()


def inline_refs(node, defs: dict):
    """The schema with every local $ref replaced by its definition (the schema has no
    recursion): hypothesis-jsonschema cannot resolve a $ref inside a merged sub-schema."""
    if isinstance(node, dict):
        if "$ref" in node:
            target = inline_refs(defs[node["$ref"].removeprefix("#/$defs/")], defs)
            rest = {k: inline_refs(v, defs) for k, v in node.items() if k != "$ref"}
            return {**target, **rest}
        return {k: inline_refs(v, defs) for k, v in node.items() if k != "$defs"}
    if isinstance(node, list):
        return [inline_refs(v, defs) for v in node]
    return node


def section_strategy(name: str):
    """Values of one top-level section drawn from the narrowed schema."""
    return from_schema(inline_refs(NARROW["properties"][name], NARROW["$defs"]))


SECTION_STRATEGIES = {name: section_strategy(name) for name in SECTIONS}

# Values at and beyond the edges of each range (and of relations the schema cannot express).
BIG = [2**63 - 1, 2**63, 2**64, 10**12, 10**12 + 1]
EDGE_VALUES = {
    "problem.widths": [
        [],
        [5],
        [5, 1],
        [8, 2, 5],
        [8, 1, 0, 5],
        [0, 1, 5],
        [8.0, 1, 5],
        [8, 1.5, 5],
        [8, 1, 100000],
        [1, 1, 1],
        [1, 1, 5],
        [100000, 1, 2],
        [3, 1, 3, 1, 3],
        [8, 1, 100001],
    ],
    "problem.spectrum": [
        [],
        [1, 2, 3, 4, 5],
        [5, 5, 3, 2, 1],
        [5, 4, 3, 2],
        [5, 4, 3, 2, 0],
        [5, 4, 3, 2, -1],
        [1e300, 4, 3, 2, 1],
        [1e200, 4, 3, 2, 1],
        [5, 4, 3, 2, 1e-320],
        [1e-300, 1e-301, 1e-302, 1e-303, 1e-304],
        "quadratic",
        "linear",
        [5, 4, 3, 2, 1],
        [5.5, 4, 3, 2, 1],
    ],
    "problem.basis": ["identity", "orthogonal"],
    "problem.basis_seed": [-1, 0, 1.0, 0.5, True, *BIG],
    "start.sigma0": [
        0,
        -1,
        1e-320,
        5e-324,
        1e-300,
        1e-40,
        1e-20,
        1.0,
        1e3,
        1e154,
        1e300,
        10,
        10**400,
        math.nan,
        math.inf,
        -math.inf,
    ],
    "start.construction": ["antisymmetric", "random"],
    "gd.steps": [0, -1, 1, 2, 1.0, 50, True, *BIG],
    "gd.record_every": [0, 1, 2, 1.0, 49, 100001, *BIG],
    "gd.weights_every": [0, 1, 49, 50, 75, 100000, 100001, *BIG],
    "gd.dtype": ["float32", "float16"],
    "grid.k": [[], [0, 0], [-1], [0], [5], [6], [1.0], [2**63]],
    "grid.seed": [[], [0, 0], [-1], [2**63 - 1], [2**63], [2**64], [0.0]],
    "grid.lr": [
        [0],
        [-1e-3],
        [1e-13],
        [1e-12],
        [1e3],
        [1.001e3],
        [1e300],
        [1e-320],
        [0.5],
        [2**64],
        [10**400],
    ],
    "grid.construction": [["orthogonal", "orthogonal"], ["random"]],
    "grid.dtype": [["float32"], ["float64", "float32"]],
    "grid.sigma0": [[1e-320], [1e-40], [1e-30], [1e300], [1e-300]],
    "grid.init_scale": [[0.1], [1e-320], [1e-50], [1e300], [1e50]],
    "grid.init": [["gaussian"], ["balanced", "gaussian"]],
    "grid.solver": [["gf"], ["gd", "gf"]],
    "grid.steps": [[1], [2], [10**12], [10**9]],
    "grid.record_every": [[1], [10**12], [3]],
    "grid.weights_every": [[1], [7]],
    "grid.widths": [[[8, 1, 5]], [[8, 2, 5]], [[5, 1, 8]], [[8, 1, 5], [8, 1, 5]], [[2, 1, 2]]],
    "grid.spectrum": [
        [[1, 2, 3, 4, 5]],
        ["linear"],
        [[5, 4, 3, 2, 1]],
        [[1e300, 1, 0.5, 0.2, 0.1]],
    ],
    "grid.level_tol": [[1e-320], [1e300], [0], [math.nan]],
    "grid.basis_seed": [[2**63], [2**63 - 1]],
    "grid": [None, {}],
    "flow": [None, {}, {"k": [2], "seed": [0], "dtype": ["float32"]}],
    "precision.sigma0": [[1e-40], [1e-30], [1e-300]],
    "precision.dtype": [["float32"]],
    "depth.widths": [[[8, 1, 5], [8, 1, 5, 5]], [[8, 2, 5]], [[1, 1, 1]]],
    "gaussian.init_scale": [[1e-320], [1e300], [1e50], [1e-45]],
    "analysis.level_tol": [0, 1e-320, 1e300],
    "analysis.rate_rel_tol": [0, 1, 1.0, 0.5],
    "analysis.escape_factor": [1, 1.0, 1e300],
    "analysis.strict": [1, "yes", True],
    "figures.dpi": [29, 30, 1200, 1201, 150.0],
    "figures.main_seed": [-1, 1, 2**64],
    "figures.fig4_stuck_vs_lr.seed_jitter": [-0.1, 0.5, 0.51],
    "limits.max_runs": [0, 1, 76, 77, 2**63],
    "limits.allow_large_grid": [True, 1],
    "limits.max_run_mem_mb": [0, 199, 200, 150, 2**63],
    "limits.max_run_minutes": [0, 1, 2**63],
    "experiment": ["", "runs", "logs", "a" * 65, "../up", "x", "a.b-c_d"],
    "extra_key": [1],
    # YAML keys that are not strings (1:, ~:) next to string ones
    "limits": [{"max_runs": 500, "allow_large_grid": False, 1: 2, None: 3, "x": 4}],
}


def set_path(config: dict, path: str, value) -> None:
    """config[a][b][c] = value for path 'a.b.c' (missing or null sections become {})."""
    *parents, last = path.split(".")
    node = config
    for p in parents:
        if not isinstance(node.get(p), dict):
            node[p] = {}
        node = node[p]
    node[last] = copy.deepcopy(value)


@st.composite
def configs(draw, max_sections=4, max_edges=3):
    """config.yaml with some sections replaced by schema draws and some keys set to edge
    values; often with figures.main_seed made consistent, so that more configs get past the
    first check and reach planning and running."""
    config = copy.deepcopy(BASE)
    replaced = draw(st.lists(st.sampled_from(SECTIONS), max_size=max_sections, unique=True))
    for name in replaced:
        config[name] = draw(SECTION_STRATEGIES[name])
    edges = draw(st.lists(st.sampled_from(sorted(EDGE_VALUES)), max_size=max_edges, unique=True))
    for path in edges:
        set_path(config, path, draw(st.sampled_from(EDGE_VALUES[path])))
    grid = config.get("grid")
    if draw(st.booleans()) and isinstance(grid, dict) and isinstance(config.get("figures"), dict):
        seeds = grid.get("seed", [0])
        if isinstance(seeds, list) and seeds:
            config["figures"]["main_seed"] = seeds[0]
    note(f"replaced sections: {replaced}; edge keys: {edges}")
    return config


# ---------------------------------------------------------------------------------------------
# The rule


def check_and_plan(config: dict):
    """What workflow/rules/common.smk does: the planned runs, or the ConfigError's message."""
    cfg = copy.deepcopy(config)
    cfg.setdefault("experiment", "paper")
    try:
        check_workflow_config(cfg, SCHEMA_PATH)
        return plan_runs(cfg), None
    except ConfigError as err:
        return None, str(err)


def assert_refusal_names_a_key(message: str, config: dict) -> None:
    assert "\n" not in message, f"multi-line refusal:\n{message}\nconfig: {shown(config)!r}"
    assert key_pattern(config).search(message), (
        f"refusal names no config key: {message!r}\nconfig: {shown(config)!r}"
    )


def assert_within_limits(runs: dict, config: dict) -> None:
    limits = config["limits"]
    mem_cap = limits.get("max_run_mem_mb", DEFAULT_MAX_RUN_MEM_MB)
    time_cap = limits.get("max_run_minutes", DEFAULT_MAX_RUN_MINUTES)
    for rid, run in runs.items():
        mem, minutes = run.config.resources()
        assert mem <= mem_cap and minutes <= time_cap, (rid, mem, minutes, shown(config))


def capped(cfg):
    """The run with at most MAX_SIM_STEPS steps, keeping record_every <= steps and
    weights_every a multiple of record_every."""
    steps = min(cfg.steps, MAX_SIM_STEPS)
    record_every = min(cfg.record_every, steps)
    weights_every = cfg.weights_every if record_every == cfg.record_every else record_every
    if weights_every > 100 * steps:  # keep the edge (weights_every > steps) but small numbers
        weights_every = record_every * (steps // record_every + 1)
    return dataclasses.replace(
        cfg, steps=steps, record_every=record_every, weights_every=weights_every
    )


def run_to_the_end(cfg, tmp_path) -> None:
    from dln.cli.main import main
    from dln.data.io import read_run

    out = tmp_path / f"run-{cfg.key()}.nc"
    out.unlink(missing_ok=True)
    rc = main(["run", *cfg.cli_args(), "--out", str(out)])
    assert rc == 0, f"dln run {' '.join(cfg.cli_args())} exited {rc}"
    ds = read_run(out)
    loss = ds["loss"].values
    assert len(loss) >= 1
    diverged = bool(ds["diverged"].values)
    if not diverged:
        assert np.all(np.isfinite(loss)), loss
        assert math.isfinite(float(ds["final_loss"].values))
    for metric in ("final_loss", "final_level", "diverged", "predicted_k", "stuck_steps"):
        assert metric in ds, metric
    out.unlink()


def check_config(config: dict, simulate: bool, tmp_path=None, pick=0, only_planned=False) -> None:
    """The rule for one config: refused with one line naming a key, or plans within the
    limits and (simulate=True) its pick-th planned run, capped, runs to the end.
    only_planned: a refused config is not an example (hypothesis draws another)."""
    note(f"config: {shown(config)!r}")
    runs, message = check_and_plan(config)
    if message is not None:
        assert_refusal_names_a_key(message, config)
        if only_planned:
            assume(False)
        if currently_in_test_context():
            event(
                "refused by "
                + ("the schema check" if message.startswith("config error") else "the plan")
            )
        return
    if currently_in_test_context():
        event("planned")
    assert_within_limits(runs, config)
    if simulate and runs:  # (every study null plans no run: write_plan handles that)
        run = list(runs.values())[pick % len(runs)]
        cfg = capped(run.config)
        if cfg.resources()[1] > 1:  # within the limits, but longer than a test's run
            note(f"not simulated (estimated {cfg.resources()[1]} min): {cfg.cli_args()}")
            if only_planned:
                assume(False)
            return
        note(f"simulated run: {cfg.cli_args()}")
        run_to_the_end(cfg, tmp_path)


# ---------------------------------------------------------------------------------------------
# Tests


# Configs (changes to config.yaml) that broke the rule before a fix; each says what happened.
FOUND_EXAMPLES = [
    # an axis a study fixes (gaussian: init, flow: solver and dtype): planning raised
    # TypeError "dict() got multiple values for keyword argument 'init'"
    {"gaussian.init": ["balanced"]},
    {"gaussian.init": ["gaussian"]},  # the fixed value itself: plans as without the axis
    {"flow.dtype": ["float32"]},
    {"flow.solver": ["gd", "gf"]},
    # a Gaussian start in float32 whose entries all underflow to 0: planned, then `dln run`
    # exited 2 ("the start's weights underflow to exactly zero in float32")
    {"grid": {"init": ["gaussian"], "dtype": ["float32"], "init_scale": [1e-50], "seed": [0]}},
    {"gd.dtype": "float32", "gaussian.init_scale": [1e-46]},  # the gaussian study, same failure
    # widths the schema allows whose d_N x d_0 problem does not fit: RunConfig's validation
    # built the problem (MemoryError, or minutes of QR on 3-7 GB matrices) before the plan's
    # resource check could refuse the run; now refused by limits.max_run_mem_mb first
    {"problem.widths": [100000, 1, 100000], "grid": {"k": [1], "seed": [0]}},
    {"grid": {"widths": [[30000, 1, 30000]], "k": [1], "seed": [0]}},
    # a grid of 6 x 1000 x 1000 points (max_runs 500): refused only after building and
    # validating 6 million RunConfigs (~30 min); now refused once the 501st distinct run appears
    {
        "grid": {
            "k": [0, 1, 2, 3, 4, 5],
            "seed": list(range(1000)),
            "lr": [1e-4 * i for i in range(1, 1001)],
        }
    },
    # unknown keys of mixed types (YAML `1:` or `~:` next to a misspelt name): the check
    # raised TypeError "'<' not supported between instances of 'NoneType' and 'int'"
    {"gd": {**BASE["gd"], 1: 2, None: 3}},
    {"limits": {**BASE["limits"], "max_run_mem": 100, 7: 1}},
    # YAML integers beyond float range (a 1 followed by 400 zeros) passed the schema, then
    # RunConfig's float() raised OverflowError ("int too large to convert to float")
    {"start.sigma0": 10**400},
    {"grid": {"k": [1], "seed": [0], "lr": [10**400]}},
    {"problem.spectrum": [10**400, 4, 3, 2, 1], "grid": {"k": [1], "seed": [0]}},
    {"analysis.level_tol": 10**400},
    {"gaussian.init_scale": [10**5000]},  # str() of it would raise too (4300-digit limit)
    {"analysis.escape_factor": -(10**400)},  # not used by runs, refused all the same
    {"start.sigma0": 2**1000, "grid": {"k": [1], "seed": [0]}},  # fits a float: refused as before
    # gradient-flow runs whose integration takes hours (a stiff flow: large s_1 or lr x steps)
    # were estimated at 1 min and planned; the job then ran for hours (spectrum 1e10: more
    # than 10^17 gradient calls) or failed with "Required step size is less than spacing
    # between numbers" (spectrum 1e100); now refused by limits.max_run_minutes
    {"grid": {"k": [1], "seed": [0], "solver": ["gf"]}, "problem.spectrum": [1e10, 4, 3, 2, 1]},
    {"grid": {"k": [1], "seed": [0], "solver": ["gf"]}, "problem.spectrum": [1e100, 4, 3, 2, 1]},
    {"grid": {"k": [1], "seed": [0], "solver": ["gf"], "lr": [1000]}},
    {"flow": {"k": [1], "seed": [0]}, "grid": {"k": [1], "seed": [0], "lr": [1000]}},
]


def apply(changes: dict) -> dict:
    """config.yaml with these keys set; the studies the changes do not name are switched off
    (null), so that the example plans few runs and all of them can be simulated."""
    config = copy.deepcopy(BASE)
    named = {path.split(".")[0] for path in changes}
    for study in STUDIES:
        if study not in named:
            config[study] = None
    for path, value in changes.items():
        set_path(config, path, value)
    return config


@pytest.mark.parametrize("changes", FOUND_EXAMPLES)
def test_found_example(changes, tmp_path):
    config = apply(changes)
    runs, _ = check_and_plan(config)
    for pick in range(len(runs or [None])):  # every planned run (one check if refused)
        check_config(config, simulate=True, tmp_path=tmp_path, pick=pick)


def test_default_config_passes_and_plans_within_limits():
    runs, message = check_and_plan(BASE)
    assert message is None, message
    assert_within_limits(runs, BASE)


@settings(
    max_examples=400,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)  # the schema strategies draw big dicts
@given(config=configs())
def test_checked_or_planned_within_limits(config):
    check_config(config, simulate=False)


@pytest.mark.slow
@settings(
    max_examples=60,
    deadline=None,
    derandomize=True,
    database=None,
    # one tmp_path for all examples: each run file is removed after reading it
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(config=configs(max_sections=3, max_edges=2), pick=st.integers(min_value=0, max_value=10**6))
def test_passing_config_runs_to_the_end(config, pick, tmp_path):
    """Only configs that pass the check count as examples: each simulates one run."""
    check_config(config, simulate=True, tmp_path=tmp_path, pick=pick, only_planned=True)


# ---------------------------------------------------------------------------------------------
# Issue 21 item 12: a huge grid is counted before the schema validates each of its values


def test_a_million_seed_grid_is_refused_before_the_schema_check(monkeypatch):
    """Was: 29 s in the schema check (every seed validated) before the max_runs refusal."""
    import jsonschema

    config = copy.deepcopy(BASE)
    config["grid"] = {**config["grid"], "seed": list(range(10**6))}

    def never(*args, **kwargs):
        raise AssertionError("the schema validated a grid that max_runs refuses by its size")

    monkeypatch.setattr(jsonschema.Draft202012Validator, "iter_errors", never)
    with pytest.raises(ConfigError) as info:
        check_workflow_config(config, SCHEMA_PATH)
    message = str(info.value)
    assert message.startswith("config error: limits.max_runs=500") and "\n" not in message
    assert "grid" in message and "limits.allow_large_grid: true" in message


# ---------------------------------------------------------------------------------------------
# Issue 21, "Also": the store commands and run files under random states and damage

STORE_KEYS = [f"{i:010x}" for i in range(1, 9)]


def _run_path(key: str) -> str:
    return f"results/runs/gd-orthogonal-float64/N6-k1/lr0.0005-seed0-{key}.nc"


@st.composite
def store_states(draw):
    """Run files present (a subset of STORE_KEYS), experiments whose plans list subsets (a
    plan may list a file that is missing), and how --results is spelled."""
    present = draw(st.sets(st.sampled_from(STORE_KEYS)))
    plans = draw(
        st.dictionaries(
            st.sampled_from(["a", "b", "c"]), st.sets(st.sampled_from(STORE_KEYS)), max_size=3
        )
    )
    spelling = draw(
        st.sampled_from(["results", "./results", "results/", "link", "absolute", "dot"])
    )
    malformed = draw(st.sampled_from([None, "no-path-column", "not-utf8", "directory", "empty"]))
    return present, plans, spelling, malformed


def _make_store(root, present, plans, malformed):
    from pathlib import Path

    for key in present:
        path = Path(root) / _run_path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"run")
    (Path(root) / "results/runs").mkdir(parents=True, exist_ok=True)
    for name, keys in plans.items():
        plan = Path(root) / f"results/{name}/plan.csv"
        plan.parent.mkdir(parents=True)
        plan.write_text("run,path\n" + "".join(f"r-{k},{_run_path(k)}\n" for k in sorted(keys)))
    if malformed and plans:
        plan = Path(root) / f"results/{sorted(plans)[0]}/plan.csv"
        if malformed == "no-path-column":
            plan.write_text("run,file\nx,y\n")
        elif malformed == "not-utf8":
            plan.write_bytes(b"run,path\n\xff,\xfe\n")
        elif malformed == "directory":
            plan.unlink()
            plan.mkdir()
        else:
            plan.write_text("")
        return plan.relative_to(root)
    return None


def _store_command(root, spelling, action):
    """`dln store <action>` in-process, with --results spelled as drawn: (code, out, err)."""
    import argparse
    import contextlib
    import io
    import os
    from pathlib import Path

    from dln.data.store import cmd_store

    cwd, results = Path(root), {"results": "results", "./results": "./results"}.get(spelling)
    if spelling == "results/":
        results = "results/"
    elif spelling == "link":
        if not (cwd / "r").is_symlink():
            (cwd / "r").symlink_to("results")
        results = "r"
    elif spelling == "absolute":
        results = str(cwd / "results")
    elif spelling == "dot":
        cwd, results = cwd / "results", "."
    out, err, old = io.StringIO(), io.StringIO(), os.getcwd()
    os.chdir(cwd)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = cmd_store(argparse.Namespace(action=action, results=results, dry_run=False))
    finally:
        os.chdir(old)
    return code, out.getvalue(), err.getvalue()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(state=store_states())
def test_prune_removes_exactly_the_files_no_plan_lists(state):
    """Whatever --results is spelled: prune keeps every file some plan lists and removes the
    others, list's count agrees; a malformed plan stops both with one line naming it."""
    import tempfile
    from pathlib import Path

    present, plans, spelling, malformed = state
    with tempfile.TemporaryDirectory() as root:
        bad = _make_store(root, present, plans, malformed)
        planned = set().union(*plans.values()) if plans else set()
        code, out, err = _store_command(root, spelling, "list")
        if bad is not None:
            assert code == 2 and len(err.strip().splitlines()) == 1, err
            assert f"{bad.parent.name}/plan.csv: " in err, err  # (below --results as spelled)
        else:
            assert code == 0 and f"unused run files: {len(present - planned)}" in out, out
        code, out, err = _store_command(root, spelling, "prune")
        kept = {p.stem.rsplit("-", 1)[-1] for p in Path(root, "results/runs").rglob("*.nc")}
        if bad is not None:
            assert code == 2 and kept == present, (err, kept)
        else:
            assert code == 0 and kept == present & planned, (out, kept)


@pytest.fixture(scope="module")
def sealed_run(tmp_path_factory):
    """One small real run file (the workflow's writer) and its bytes."""
    from dln.data.pipeline import run_to_file
    from dln.solve.run import RunConfig

    path = tmp_path_factory.mktemp("flip") / "run-0000000000.nc"
    run_to_file(RunConfig(k=2, steps=400, record_every=20, weights_every=200), path)
    return path, path.read_bytes()


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_every_byte_flip_in_a_run_file_is_refused_naming_it(sealed_run, data):
    """A random byte of a real run file changed (or the file cut short, or bytes appended):
    every reader refuses it with one line naming the file; none reads changed values."""
    from dln.data.aggregate import _open_run
    from dln.data.io import RunFileError, read_run

    path, original = sealed_run
    damage = data.draw(st.sampled_from(["flip", "cut", "append"]))
    if damage == "flip":
        offset = data.draw(st.integers(0, len(original) - 1))
        bits = data.draw(st.integers(1, 255))
        damaged = bytearray(original)
        damaged[offset] ^= bits
        event(f"flip in the {'trailer' if offset >= len(original) - 88 else 'netCDF part'}")
    elif damage == "cut":
        damaged = original[: data.draw(st.integers(0, len(original) - 1))]
    else:
        damaged = original + data.draw(st.binary(min_size=1, max_size=100))
    target = path.with_name("damaged-0000000000.nc")
    target.write_bytes(bytes(damaged))
    for read in (lambda: read_run(target), lambda: _open_run(target, "x-0000000000").close()):
        with pytest.raises(RunFileError) as info:
            read()
        message = str(info.value)
        assert message.startswith(f"{target}: ") and "\n" not in message, message
        assert "delete it and rerun Snakemake" in message or "does not exist" in message
