"""The laws study: a study given as a list of grids, the polynomial stage's exit time against the
reduced dynamics, and the summary lines of the two laws (a corrupted value turns PASS to FAIL)."""

from __future__ import annotations

import copy
import math

import numpy as np
import pandas as pd
import pytest
import yaml

from conftest import REPO, small_config
from dln.analysis.claims import LAWS_SECTION, claims, laws_claims
from dln.analysis.result import analyse_run
from dln.model.problem import ConfigError
from dln.model.reduced import reduced_path
from dln.plan.configcheck import check_workflow_config
from dln.plan.runplan import grid_members, plan_rows, plan_runs, study_runs
from dln.solve.run import RunConfig, simulate

SCHEMA = REPO / "workflow/schemas/config.schema.yaml"
TOL = {"rate_rel_tol": 0.02, "escape_factor": 2.0, "growth_rel_tol": 0.05}


def laws_config() -> dict:
    cfg = small_config()
    cfg["laws"] = [
        {"k": [1], "seed": [0, 1]},  # varies the seed
        {"k": [1, 2], "seed": [0]},
    ]  # varies k; k = 1, seed 0 is in both
    return cfg


def test_a_study_given_as_a_list_of_grids_plans_their_union():
    cfg = laws_config()
    check_workflow_config(cfg, SCHEMA)
    laws = list(study_runs(cfg, "laws"))
    assert sorted((c.k, c.seed) for c in laws) == [(1, 0), (1, 1), (2, 0)]  # the shared run once
    runs = plan_runs(cfg)
    rows = {r["run"]: r for r in plan_rows(runs)}
    in_laws = [rid for rid, row in rows.items() if row["in_laws"]]
    assert len(in_laws) == 3
    # k = 1 and 2 at seed 0 are also main-grid runs: one run each, flagged in both studies
    shared = [rid for rid in in_laws if rows[rid]["in_grid"]]
    assert len(shared) == 2 and all(set(runs[rid].studies) >= {"grid", "laws"} for rid in shared)
    assert len(runs) == len({run.config.run_id() for run in runs.values()})
    # each run belongs to the first grid that lists it
    members = grid_members(cfg, "laws")
    assert sorted(members.values()) == [0, 0, 1]


def test_a_single_grid_study_is_planned_as_before():
    cfg = small_config()
    single = plan_runs(cfg)
    cfg["lr_sweep"] = [cfg["lr_sweep"]]  # the same grid as a one-element list
    assert plan_runs(cfg).keys() == single.keys()


@pytest.mark.parametrize(
    "laws, words",
    [
        ([{"k": [1]}, {"kk": [1]}], "unknown key 'kk' in laws[1]"),
        ([{"k": [1]}, 3], "laws[1] = 3 has the wrong type"),
        ("all", "a list of such grids"),
        ([], "too few values"),
    ],
)
def test_a_bad_list_of_grids_gets_one_readable_message(laws, words):
    cfg = copy.deepcopy(small_config())
    cfg["laws"] = laws
    with pytest.raises(ConfigError) as err:
        check_workflow_config(cfg, SCHEMA)
    assert words in str(err.value)
    assert "\n" not in str(err.value)


def test_a_run_error_names_the_grid_of_the_list():
    cfg = small_config()
    cfg["laws"] = [{"k": [1]}, {"k": [9]}]  # d = 5
    with pytest.raises(ConfigError, match=r"laws\[1\]\.k=9"):
        plan_runs(cfg)


def test_default_config_has_a_laws_study_within_its_budget():
    cfg = yaml.safe_load((REPO / "config.yaml").read_text())
    assert isinstance(cfg["laws"], list) and len(cfg["laws"]) >= 4
    laws = list(study_runs(cfg, "laws"))
    assert 0 < len(laws) <= 40


def test_reduced_flow_exit_matches_the_fixed_rho_integral_when_nothing_rotates():
    """A start on (u_1, v_1) keeps rho = s_1: the reduced flow's exit time must equal the
    closed-form integral of d sigma / (N sigma^(2-2/N) (s_1 - sigma)) from sigma0 to s_1/2."""
    from scipy.integrate import quad

    from dln.model.problem import check_widths, make_problem

    for widths in ((8, 1, 4, 5), (8, 3, 5, 10, 1, 4, 5)):
        problem = make_problem(check_widths(widths), "linear", "random", 0)
        N, s1, sigma0 = problem.depth, float(problem.s[0]), 1e-3
        c = sigma0 ** (1 / N)
        dirs = [problem.V[:, 0]] + [np.ones(1) if w == 1 else np.eye(w)[0] for w in widths[1:-1]]
        dirs.append(problem.U[:, 0])
        weights = [c * np.outer(dirs[j + 1], dirs[j]) for j in range(N)]
        exact = quad(lambda x, N=N, s1=s1: 1 / (N * x ** (2 - 2 / N) * (s1 - x)), sigma0, s1 / 2)[0]
        path = reduced_path(problem, weights, 1, 1e-3)
        assert path.exit_time == pytest.approx(exact, rel=1e-6)
        assert math.isnan(path.plateau_time)  # k = 1: no saddle plateau


def test_origin_exit_time_of_a_real_run_matches_the_reduced_dynamics():
    cfg = RunConfig(k=1, sigma0=1e-3, seed=0, steps=14_000, record_every=10, weights_every=7_000)
    assert cfg.depth == 6
    m = analyse_run(simulate(cfg)).metrics
    assert np.isfinite(m["origin_exit_time"]) and np.isfinite(m["origin_exit_time_model"])
    assert m["origin_exit_ratio"] == pytest.approx(
        m["origin_exit_time"] / m["origin_exit_time_model"]
    )
    assert abs(m["origin_exit_ratio"] - 1) <= 0.10, m


def test_origin_exit_is_nan_for_a_k0_start():
    m = analyse_run(
        simulate(RunConfig(k=0, steps=2_000, record_every=50, weights_every=1_000))
    ).metrics
    for name in ("origin_exit_time", "origin_exit_time_model", "origin_exit_ratio"):
        assert math.isnan(m[name]), name


def laws_table() -> pd.DataFrame:
    """Six laws runs: four at saddle k = 2 (gaps 0.2..4), two k = 1 starts; all near the laws."""
    base = dict(
        solver="gd",
        init="balanced",
        in_laws=True,
        in_grid=False,
        construction="orthogonal",
        dtype="float64",
        widths="8-3-5-10-1-4-5",
        depth=6,
        sigma0=0.01,
        seed=0,
        steps=50_000,
        lr=2e-3,
        record_every=10,
        diverged=False,
        reached_predicted=True,
        plateau_start=1_000.0,
        predicted_plateau_start=990.0,
        predicted_eps=1e-14,
        final_rate_fit=np.nan,
        final_rate_model=np.nan,
        growth_slope_fit=np.nan,
        origin_slope_fit=np.nan,
        notes_estimate_steps=2_300.0,
        eps_at_plateau=1e-15,
    )
    rows = []
    for s1, ratio in ((4.2, 1.01), (4.5, 0.98), (6, 1.05), (8, 1.08)):
        rows.append(
            dict(
                base,
                k=2,
                predicted_k=2,
                spectrum=f"{s1:g},4,3,2,1",
                stuck_steps=2_000 * ratio,
                predicted_stuck_steps=2_000.0,
                stuck_prediction_ratio=ratio,
                escape_model_steps=2_000.0,
                escape_ratio=ratio,
                origin_exit_time_model=1.0,
                origin_exit_ratio=1.005,
                origin_exit_time=1.005,
            )
        )
    for sigma0, exit_time in ((1e-4, 25.48), (1e-1, 0.26)):
        rows.append(
            dict(
                base,
                k=1,
                predicted_k=1,
                spectrum="linear",
                sigma0=sigma0,
                stuck_steps=np.nan,
                predicted_stuck_steps=np.nan,
                stuck_prediction_ratio=np.nan,
                escape_model_steps=np.nan,
                escape_ratio=np.nan,
                origin_exit_time_model=exit_time / 1.01,
                origin_exit_ratio=1.01,
                origin_exit_time=exit_time,
            )
        )
    return pd.DataFrame(rows, index=[f"r{i}" for i in range(len(rows))])


def verdicts(table) -> list[str]:
    return [c.verdict for c in laws_claims(table, TOL)]


def test_laws_claims_lead_with_the_tolerance_their_verdict_uses():
    items = laws_claims(laws_table(), TOL)
    assert [c.verdict for c in items] == ["PASS", "INFO", "PASS"]
    assert all(c.section == LAWS_SECTION for c in items)
    text = items[0].text
    assert "within 10% of the prediction from W(0), lr and dtype in at least 90% of runs" in text
    assert ": 4/4 runs" in text
    assert (items[0].n_pass, items[0].n_total, items[0].tolerance) == (4, 4, 0.10)
    assert "by gap s_1 - s_k: 0.2: 1.01" in items[1].text
    assert "within one record spacing + 2% of the reduced" in items[2].text
    assert "in 6/6 runs" in items[2].text and items[2].n_pass == 6
    # the section is part of the summary
    assert any(c.section == LAWS_SECTION for c in claims(laws_table(), TOL))


@pytest.mark.parametrize(
    "column, row, value, index",
    [
        ("stuck_prediction_ratio", "r3", 1.15, 0),  # 15% off the escape law: outside its 10%
        ("origin_exit_time", "r5", 0.3, 2),  # later than one record (0.02) + 2% of the flow
    ],
)
def test_a_value_outside_the_stated_tolerance_turns_a_laws_pass_into_a_fail(
    column, row, value, index
):
    table = laws_table()
    assert verdicts(table)[index] == "PASS"
    table.loc[row, column] = value
    assert verdicts(table)[index] == "FAIL"


def test_a_saddle_run_that_should_have_escaped_fails_the_escape_law():
    table = laws_table()
    table.loc["r0", ["stuck_steps", "stuck_prediction_ratio"]] = np.nan  # law escapes in budget
    items = laws_claims(table, TOL)
    assert items[0].verdict == "FAIL" and "stayed at the saddle" in items[0].text


def test_a_budget_shorter_than_the_escape_law_is_inconclusive_not_fail():
    table = laws_table()
    table[["stuck_steps", "stuck_prediction_ratio"]] = np.nan
    table["steps"] = 2_500  # plateau ~1,000 + stuck 2,000 > 2,500
    items = laws_claims(table, TOL)
    assert items[0].verdict == "INCONCLUSIVE", items[0].text
    assert "needs more steps than the budget" in items[0].text


def test_a_start_that_never_exits_within_the_flows_budget_fails_the_polynomial_law():
    table = laws_table()
    table.loc["r4", ["origin_exit_time", "origin_exit_ratio"]] = np.nan  # flow 25 < budget 100
    items = laws_claims(table, TOL)
    assert items[-1].verdict == "FAIL" and "never reached rho(0)/2" in items[-1].text
    # a budget shorter than the flow's exit time is no failure, only noted
    table.loc["r4", "steps"] = 100
    items = laws_claims(table, TOL)
    assert items[-1].verdict == "PASS" and "not counted" in items[-1].text


def test_no_laws_study_no_laws_lines():
    table = laws_table().drop(columns="in_laws")
    assert laws_claims(table, TOL) == []
