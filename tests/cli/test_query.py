"""`dln table`, `dln info`, `dln diff` (dln.cli.query) on small synthetic files that follow the spec.

The files are built by tests/synthetic.py (no simulation); the handlers run in-process through
dln.cli.query.main and their stdout/stderr are checked for specific values.
"""

from __future__ import annotations

import copy
import io
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import xarray as xr

import synthetic
from dln.cli import query

K3_ORTHO_SEED0 = "gd-orthogonal-float64/k3/lr0.0005-seed0-aaaa0002"
K3_ORTHO_SEED1 = "gd-orthogonal-float64/k3/lr0.0005-seed1-aaaa0003"
GAUSSIAN = "gd-gaussian-float64/lr0.0005-seed0-aaaa0006"


@pytest.fixture
def results(tmp_path):
    """tmp/results/demo/{runs.nc,runs.csv} with the six default rows."""
    synthetic.write_aggregate(tmp_path / "results", "demo")
    return tmp_path / "results"


@pytest.fixture
def run_file(tmp_path):
    return synthetic.write_run(tmp_path / "runs" / "k3-seed0.nc")


def run(capsys, *argv):
    """(exit code, stdout, stderr) of `dln ARGV`."""
    code = query.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def csv_rows(out: str) -> pd.DataFrame:
    return pd.read_csv(io.StringIO(out))


def tokens_of(out: str, first: str) -> list[str]:
    """The whitespace-split tokens of the one line whose first token is `first`."""
    lines = [line.split() for line in out.splitlines() if line.split()[:1] == [first]]
    assert len(lines) == 1, f"{first!r} starts {len(lines)} lines:\n{out}"
    return lines[0]


def line_of(out: str, needle: str) -> str:
    lines = [line for line in out.splitlines() if needle in line]
    assert len(lines) == 1, f"{needle!r} on {len(lines)} lines:\n{out}"
    return lines[0]


# ----------------------------------------------------------------------------- table


def test_table_default_columns_are_run_varying_settings_and_default_metrics(capsys, results):
    code, out, err = run(capsys, "table", results)
    assert code == 0 and err == ""
    header = out.splitlines()[0].split()
    assert header == [
        "run",
        "init",
        "k",
        "construction",
        "sigma0",
        "init_scale",
        "seed",
        "lr",
        "final_level",
        "stuck_steps",
        "escape_ratio",
        "final_rate_fit",
        "diverged",
    ]
    assert line_of(out, K3_ORTHO_SEED0).split()[1:] == [
        "balanced",
        "3",
        "orthogonal",
        "0.001",
        "-",
        "0",
        "0.0005",
        "3",
        "12000",
        "1.044",
        "0.012",
        "false",
    ]
    # the Gaussian start: no k, no construction, no sigma0, metrics missing -> "-"
    assert line_of(out, GAUSSIAN).split()[1:] == [
        "gaussian",
        "-",
        "-",
        "-",
        "0.001",
        "0",
        "0.0005",
        "-",
        "-",
        "-",
        "-",
        "true",
    ]
    assert "(6 runs, " in out and "runs.csv" in out
    assert max(len(line) for line in out.splitlines()) <= 180


def test_table_reads_runs_nc_csv_and_experiment_dir_alike(capsys, results):
    outs = []
    for path in (
        results,
        results / "demo",
        results / "demo" / "runs.csv",
        results / "demo" / "runs.nc",
    ):
        code, out, _ = run(capsys, "table", path, "--format", "csv")
        assert code == 0
        outs.append(out)
    assert outs[0] == outs[1] == outs[2]
    from_nc, from_csv = csv_rows(outs[3]), csv_rows(outs[2])
    pd.testing.assert_frame_equal(from_nc, from_csv)


def test_table_reads_runs_nc_when_no_csv(capsys, results):
    (results / "demo" / "runs.csv").unlink()
    code, out, _ = run(capsys, "table", results, "--where", "init=gaussian")
    assert code == 0
    assert GAUSSIAN in out and "runs.nc" in out and "(1 of 6 runs" in out


def test_where_selects_two_of_six_and_csv_parses(capsys, results):
    code, out, _ = run(
        capsys,
        "table",
        results,
        "--where",
        "k=3",
        "construction=orthogonal",
        "lr=0.0005",
        "--format",
        "csv",
    )
    assert code == 0
    df = csv_rows(out)
    assert len(df) == 2
    assert set(df["run"]) == {K3_ORTHO_SEED0, K3_ORTHO_SEED1}
    assert list(df["stuck_steps"]) == [12000.0, 14000.0]
    # only seed varies among the two rows: it is the one setting shown
    assert list(df.columns) == ["run", "seed", *query.DEFAULT_METRICS]


@pytest.mark.parametrize(
    "terms, expected",
    [
        (["k=3.0"], {2, 3, 4, 5}),
        (["k!=3"], {1, 6}),  # a missing k is not 3
        (["k=nan"], {6}),
        (["k<3"], {1}),
        (["stuck_steps>=12000"], {2, 3, 4}),
        (["stuck_steps>12000", "stuck_steps<=20000"], {3, 4}),
        (["lr<0.001"], {1, 2, 3, 4, 6}),
        (["in_grid=true"], {1, 2, 3, 4}),
        (["in_lr_sweep=True"], {5}),
        (["diverged=false", "construction!=orthogonal"], {4}),
        (["construction="], {6}),
        (["init=gaussian"], {6}),
        (["spectrum=linear", "seed==1"], {3}),
    ],
)
def test_where_operators(capsys, results, terms, expected):
    code, out, _ = run(capsys, "table", results, "--format", "csv", "--where", *terms)
    assert code == 0
    got = {int(run_id[-1]) for run_id in csv_rows(out)["run"]} if out.strip().count("\n") else set()
    assert got == expected


def test_where_on_runs_nc_treats_empty_construction_as_missing(capsys, results):
    code, out, _ = run(
        capsys,
        "table",
        results / "demo" / "runs.nc",
        "--format",
        "csv",
        "--where",
        "construction=nan",
    )
    assert code == 0 and list(csv_rows(out)["run"]) == [GAUSSIAN]


def test_load_table_nc_empty_construction_is_missing(results):
    df = query.load_table(results / "demo" / "runs.nc").df
    assert df["construction"].isna().tolist() == [False] * 5 + [True]
    assert df["k"].isna().tolist() == [False] * 5 + [True]


def test_where_on_all_empty_text_column(capsys, tmp_path):
    """A CSV whose construction column is all empty (only Gaussian starts) reads back as
    float NaN; construction=orthogonal still is a text comparison, matching nothing."""
    rows = [synthetic.default_rows()[5]]
    exp = synthetic.write_aggregate(tmp_path / "results", "gauss", rows)
    code, out, _ = run(capsys, "table", exp, "--where", "construction=orthogonal")
    assert code == 0 and "(0 of 1 runs" in out
    code, out, _ = run(
        capsys, "table", exp, "--where", "construction!=orthogonal", "--format", "csv"
    )
    assert list(csv_rows(out)["run"]) == [GAUSSIAN]


def test_cols_and_sort(capsys, results):
    code, out, _ = run(
        capsys,
        "table",
        results,
        "--cols",
        "k,stuck_steps",
        "--sort",
        "stuck_steps",
        "--desc",
        "--format",
        "csv",
    )
    assert code == 0
    df = csv_rows(out)
    assert list(df.columns) == ["run", "k", "stuck_steps"]
    assert list(df["stuck_steps"].iloc[:5]) == [20000, 14000, 12000, 6000, 5000]
    assert np.isnan(df["stuck_steps"].iloc[5])  # missing values sort last


def test_csv_output_keeps_full_precision_and_empty_missing(capsys, results):
    code, out, _ = run(
        capsys, "table", results, "--cols", "escape_ratio,construction", "--format", "csv"
    )
    df = csv_rows(out)
    assert df.loc[df["run"] == K3_ORTHO_SEED0, "escape_ratio"].item() == 1.0435
    assert out.splitlines()[-1] == f"{GAUSSIAN},,"


def test_by_groups_counts_and_stats(capsys, results):
    code, out, _ = run(capsys, "table", results, "--by", "k,construction", "--format", "csv")
    assert code == 0
    df = csv_rows(out)
    assert len(df) == 4
    k3 = df[(df["k"] == 3) & (df["construction"] == "orthogonal")].iloc[0]
    assert k3["runs"] == 3 and k3["stuck_steps_n"] == 3
    assert (k3["stuck_steps_median"], k3["stuck_steps_min"], k3["stuck_steps_max"]) == (
        12000,
        6000,
        14000,
    )
    assert k3["escape_ratio_max"] == 1.25
    gauss = df[df["k"].isna()].iloc[0]
    assert gauss["runs"] == 1 and gauss["stuck_steps_n"] == 0
    assert np.isnan(gauss["stuck_steps_median"])


def test_by_text_has_two_line_header_and_dash_for_missing(capsys, results):
    code, out, _ = run(capsys, "table", results, "--by", "k")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split() == ["k", "runs", "stuck_steps", "escape_ratio", "final_rate_fit"]
    assert lines[1].split() == ["n", "median", "min", "max"] * 3
    assert lines[3].split() == [
        "3",
        "4",
        "4",
        "13000",
        "6000",
        "20000",
        "4",
        "1.175",
        "1.044",
        "2.5",
        "4",
        "0.017",
        "0.012",
        "0.024",
    ]
    assert lines[4].split() == [
        "-",
        "1",
        "0",
        "-",
        "-",
        "-",
        "0",
        "-",
        "-",
        "-",
        "0",
        "-",
        "-",
        "-",
    ]


def test_by_with_cols_and_bool_metric(capsys, results):
    code, out, _ = run(
        capsys, "table", results, "--by", "init", "--cols", "diverged", "--format", "csv"
    )
    df = csv_rows(out).set_index("init")
    assert df.loc["gaussian", "diverged_median"] == 1 and df.loc["balanced", "diverged_max"] == 0
    assert df.loc["balanced", "runs"] == 5


def test_markdown_is_a_pipe_table(capsys, results):
    code, out, _ = run(capsys, "table", results, "--cols", "k", "--format", "markdown")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].replace(" ", "") == "|run|k|"
    assert set(lines[1].replace("|", "").replace(":", "")) == {"-"}
    assert lines[-1].replace(" ", "") == f"|{GAUSSIAN}|-|"
    assert len(lines) == 8


def test_table_of_a_run_file_is_one_row(capsys, run_file):
    code, out, _ = run(capsys, "table", run_file, "--format", "csv", "--cols", "k,stuck_steps")
    assert code == 0
    assert out.splitlines() == ["run,k,stuck_steps", "k3-seed0,3.0,12000.0"]


# ----------------------------------------------------------------------------- info


def test_info_run_file(capsys, run_file):
    code, out, err = run(capsys, "info", run_file)
    assert code == 0 and err == ""
    assert line_of(out, "construction").split() == ["construction", "orthogonal"]
    assert line_of(out, "init_scale").split() == ["init_scale", "-"]
    assert line_of(out, "stuck_steps").split() == ["stuck_steps", "12000"]
    assert line_of(out, "escape_model_steps").split() == ["escape_model_steps", "11500"]
    assert line_of(out, "final_rate_paper").split() == ["final_rate_paper", "0.0125"]
    assert line_of(out, "git_commit").split() == ["git_commit", "3fffe1c"]
    assert "numpy 2.4.6, xarray 2026.9.0" in out
    assert "levels visited (n_visits: 2):" in out
    assert "level 5: steps 0 .. 3000" in out and "level 3: steps 3050 .. end" in out
    lines = out.splitlines()
    i = lines.index("reproduce with:")
    assert lines[i + 1].strip() == "dln run --k 3 --seed 0 --lr 0.0005 --steps 100000 --out out.nc"


def test_info_run_file_without_visits(capsys, tmp_path):
    ds = synthetic.run_dataset().drop_vars(["visit_level", "visit_entry_step", "visit_exit_step"])
    ds.to_netcdf(tmp_path / "a.nc", engine="netcdf4", format=synthetic.RUN_FILE_FORMAT)
    synthetic.seal(tmp_path / "a.nc")
    code, out, _ = run(capsys, "info", tmp_path / "a.nc")
    levels = out.split("levels visited (n_visits: 2):\n")[1].split("\n\n")[0]
    assert levels.splitlines() == ["  level 3: 12000 steps", "  level 5: 3000 steps"]
    ds.drop_vars("steps_at_level").to_netcdf(
        tmp_path / "b.nc", engine="netcdf4", format=synthetic.RUN_FILE_FORMAT
    )
    synthetic.seal(tmp_path / "b.nc")
    code, out, _ = run(capsys, "info", tmp_path / "b.nc")
    assert code == 0 and "(not recorded in this file)" in out


def test_info_aggregate(capsys, results):
    code, out, _ = run(capsys, "info", results / "demo" / "runs.nc")
    assert code == 0
    assert "experiment: demo" in out and "runs: 6" in out and "config hash: c0ffee12" in out
    vary = out.split("settings that vary:")[1].split("settings held fixed:")[0]
    assert "  k: 1 (1), 3 (4), - (1)" in vary.splitlines()
    assert "  lr: 0.0005 (5), 0.001 (1)" in vary.splitlines()
    assert "solver" not in vary and "dtype" not in vary
    assert "  in_grid: 4 of 6" in out.splitlines()
    assert "  in_gaussian: 1 of 6" in out.splitlines()
    assert "  in_flow: 0 of 6" in out.splitlines()


def test_info_aggregate_counts_new_flags(capsys, tmp_path):
    rows = synthetic.default_rows()
    for i, row in enumerate(rows):
        row["in_extra"] = i < 2
    exp = synthetic.write_aggregate(tmp_path / "results", "flags", rows)
    code, out, _ = run(capsys, "info", exp)
    assert code == 0 and "  in_extra: 2 of 6" in out.splitlines()


# ----------------------------------------------------------------------------- diff


def other_rows():
    """The demo rows with the Gaussian run dropped, seed 2 added, and run 2's stuck_steps
    changed (its id changed too: runs are matched by settings, not by id)."""
    rows = synthetic.default_rows()
    out = [copy.deepcopy(r) for r in rows[:5]]
    out[1]["stuck_steps"] = 13000.0
    out[1]["run"] = "gd-orthogonal-float64/k3/lr0.0005-seed0-bbbb0002"
    extra = copy.deepcopy(rows[2])
    extra.update(seed=2, run="gd-orthogonal-float64/k3/lr0.0005-seed2-bbbb0007")
    return out + [extra]


def test_diff_aggregates(capsys, results):
    other = synthetic.write_aggregate(results.parent / "results2", "other", other_rows())
    code, out, err = run(capsys, "diff", results / "demo", other / "runs.nc")
    assert code == 1 and err == ""
    settings = out.split("setting values that differ:")[1].split("runs only in A")[0]
    assert tokens_of(settings, "seed") == ["seed", "2"]
    assert tokens_of(settings, "init") == ["init", "gaussian"]
    assert tokens_of(settings, "k") == ["k", "(missing)"]
    assert tokens_of(settings, "init_scale") == ["init_scale", "0.001"]
    assert "runs only in A: 1" in out and "runs only in B: 1" in out
    assert f"  {GAUSSIAN}" in out.splitlines()
    assert "  gd-orthogonal-float64/k3/lr0.0005-seed2-bbbb0007" in out.splitlines()
    assert "bbbb0002" not in out  # matched by settings to aaaa0002
    assert "runs in both: 5; metrics differ in 1 of them (1 values)" in out
    assert tokens_of(out, K3_ORTHO_SEED0) == [
        K3_ORTHO_SEED0,
        "stuck_steps",
        "12000",
        "13000",
        "+1000",
        "+8.33%",
    ]
    # medians grouped by the varying settings (seed excluded): k=3 orthogonal lr 0.0005
    medians = out.split("median by ")[1]
    assert medians.splitlines()[0].startswith("init, k, construction, sigma0, init_scale, lr")
    row = [
        line
        for line in medians.splitlines()
        if line.split()[:6] == ["balanced", "3", "orthogonal", "0.001", "-", "0.0005"]
    ]
    assert row[0].split()[6:12] == ["2", "3", "3", "3", "13000", "14000"]
    assert out.rstrip().endswith("different")


def test_diff_identical_aggregates_csv_against_nc(capsys, results):
    code, out, _ = run(capsys, "diff", results / "demo" / "runs.csv", results / "demo" / "runs.nc")
    assert code == 0
    assert "runs only in A: 0" in out and "runs in both: 6; metrics differ in 0 of them" in out
    assert out.rstrip().endswith("identical")


def test_diff_aggregates_by_option(capsys, results):
    other = synthetic.write_aggregate(results.parent / "results2", "other", other_rows())
    code, out, _ = run(capsys, "diff", results / "demo", other, "--by", "construction")
    medians = out.split("median by construction")[1].splitlines()
    random_row = [line for line in medians if line.split()[:1] == ["random"]]
    assert random_row[0].split()[1:3] == ["1", "1"]
    ortho = [line for line in medians if line.split()[:1] == ["orthogonal"]]
    assert ortho[0].split()[1:3] == ["4", "5"]


def test_diff_aggregates_metric_column_on_one_side(capsys, results):
    df = pd.read_csv(results / "demo" / "runs.csv")
    df.drop(columns=["final_rate_model"]).to_csv(results.parent / "fewer.csv", index=False)
    code, out, _ = run(capsys, "diff", results / "demo", results.parent / "fewer.csv")
    assert code == 1
    assert "metric columns present on one side only: final_rate_model (only A)" in out


def test_diff_aggregates_rtol(capsys, results):
    rows = synthetic.default_rows()
    rows[0]["final_loss"] *= 1 + 1e-12
    other = synthetic.write_aggregate(results.parent / "results2", "other", rows)
    assert run(capsys, "diff", results / "demo", other)[0] == 1
    assert run(capsys, "diff", results / "demo", other, "--rtol", "1e-9")[0] == 0


def test_diff_run_files(capsys, run_file, tmp_path):
    row = synthetic.default_rows()[1]
    row.update(lr=1e-3, stuck_steps=6000.0, escape_ratio=1.1)
    other = synthetic.write_run(tmp_path / "runs" / "other.nc", row, git_commit="abcdef0")
    code, out, err = run(capsys, "diff", run_file, other)
    assert code == 1 and err == ""
    assert tokens_of(out, "lr") == ["lr", "0.0005", "0.001"]
    assert line_of(out, "git_commit").split() == ["git_commit", "3fffe1c", "abcdef0"]
    assert f"metrics: 2 of {len(synthetic.METRICS)} differ" in out  # lr aside, 2 changed
    assert line_of(out, "stuck_steps").split() == ["stuck_steps", "12000", "6000", "-6000", "-50%"]
    assert line_of(out, "escape_ratio").split() == [
        "escape_ratio",
        "1.044",
        "1.1",
        "+0.0565",
        "+5.41%",
    ]
    assert "final_rate_fit" not in out  # equal metrics only with --all
    code, out, _ = run(capsys, "diff", run_file, other, "--all")
    assert line_of(out, "final_rate_fit").split() == ["final_rate_fit", "0.012", "0.012"]


def test_diff_same_run_file_is_identical(capsys, run_file):
    code, out, _ = run(capsys, "diff", run_file, run_file)
    assert code == 0 and "settings: identical" in out
    assert f"metrics: 0 of {len(synthetic.METRICS)} differ" in out


# ----------------------------------------------------------------------------- errors


def check_error(capsys, argv, *needles):
    code, out, err = run(capsys, *argv)
    assert code == 2
    assert out == ""
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("error: ")
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


@pytest.fixture
def bad_files(tmp_path):
    rng = np.random.default_rng(7)
    corrupt = tmp_path / "corrupt.nc"
    corrupt.write_bytes(rng.bytes(4096))
    corrupt_csv = tmp_path / "corrupt.csv"
    corrupt_csv.write_bytes(b"\xff\xfe" + rng.bytes(4096))
    foreign = tmp_path / "foreign.nc"
    xr.Dataset({"a": ("x", [1.0, 2.0])}, attrs={"title": "not ours"}).to_netcdf(
        foreign, engine="netcdf4"
    )
    other_kind = tmp_path / "other_kind.nc"
    xr.Dataset({"a": ("x", [1.0])}, attrs={"dln_kind": "figure"}).to_netcdf(
        other_kind, engine="netcdf4"
    )
    foreign_csv = tmp_path / "table.csv"
    pd.DataFrame({"a": [1, 2]}).to_csv(foreign_csv, index=False)
    return dict(
        corrupt=corrupt,
        corrupt_csv=corrupt_csv,
        foreign=foreign,
        other_kind=other_kind,
        foreign_csv=foreign_csv,
        missing=tmp_path / "nope.nc",
    )


@pytest.mark.parametrize("command", ["table", "info"])
@pytest.mark.parametrize(
    "which, reason",
    [
        ("missing", "no such file"),
        ("corrupt", "not a readable NetCDF file"),
        ("foreign", "not a dln run file or aggregate (no dln_kind attribute)"),
        ("other_kind", "dln_kind = 'figure'"),
    ],
)
def test_bad_input_files(capsys, bad_files, command, which, reason):
    path = bad_files[which]
    check_error(capsys, [command, path], str(path), reason)


@pytest.mark.parametrize(
    "which, reason",
    [
        ("corrupt_csv", "not a readable CSV table"),
        ("foreign_csv", "no 'run' column"),
    ],
)
def test_bad_csv(capsys, bad_files, which, reason):
    check_error(capsys, ["table", bad_files[which]], str(bad_files[which]), reason)


def test_diff_errors(capsys, bad_files, run_file, results):
    check_error(
        capsys,
        ["diff", run_file, bad_files["corrupt"]],
        str(bad_files["corrupt"]),
        "not a readable NetCDF file",
    )
    check_error(capsys, ["diff", bad_files["missing"], run_file], str(bad_files["missing"]))
    check_error(capsys, ["diff", run_file, results], str(run_file), "is a run file")
    check_error(capsys, ["diff", results, results, "--by", "final_loss"], "'final_loss'")


@pytest.mark.parametrize(
    "args, needles",
    [
        (["--where", "kk=3"], ["no such column 'kk' in --where", "did you mean k?"]),
        (["--cols", "k,zzz"], ["no such column 'zzz' in --cols", "columns: run, solver"]),
        (["--by", "constructoin"], ["no such column 'constructoin' in --by"]),
        (["--sort", "nope"], ["no such column 'nope' in --sort"]),
        (["--where", "k=three"], ["bad --where expression 'k=three'", "not a number"]),
        (["--where", "k"], ["bad --where expression 'k'"]),
        (["--where", "construction<z"], ["bad --where expression", "only = and !="]),
        (["--where", "in_grid=maybe"], ["bad --where expression", "true/false"]),
        (["--by", "k", "--cols", "solver"], ["'solver' is not numeric"]),
    ],
)
def test_bad_table_options(capsys, results, args, needles):
    check_error(capsys, ["table", results, *args], "runs.csv", *needles)


def test_results_dir_with_two_experiments(capsys, results):
    synthetic.write_aggregate(results, "second")
    line = check_error(
        capsys, ["table", results], str(results), "2 experiments", "demo, second", "choose one"
    )
    assert "Traceback" not in line
    # naming one of them works
    assert run(capsys, "table", results / "second")[0] == 0


def test_empty_results_dir(capsys, tmp_path):
    (tmp_path / "results").mkdir()
    check_error(capsys, ["table", tmp_path / "results"], "no runs.csv or runs.nc")


def test_default_path_is_results(capsys, results, monkeypatch):
    monkeypatch.chdir(results.parent)
    code, out, _ = run(capsys, "table", "--cols", "k")
    assert code == 0 and "(6 runs, results/demo/runs.csv)" in out
    monkeypatch.chdir(results)
    check_error(capsys, ["table"], "results: no such file")


# ----------------------------------------------------------------------------- parsers


@pytest.mark.parametrize(
    "command, example",
    [
        ("table", "dln table results/main --where k=3 construction=orthogonal"),
        ("table", "dln table results/main --by k,construction --cols stuck_steps,escape_ratio"),
        ("info", "dln info results/main/runs.nc"),
        ("diff", "dln diff results/main results/main-float32"),
        ("diff", "0 identical, 1 different, 2 error"),
    ],
)
def test_help_shows_examples(capsys, command, example):
    with pytest.raises(SystemExit) as exit_:
        query.main([command, "--help"])
    out = capsys.readouterr().out
    assert exit_.value.code == 0
    assert out.startswith(f"usage: dln {command}")
    assert "examples:" in out and example in out


def test_add_parsers_sets_handlers():
    import argparse

    parser = argparse.ArgumentParser(prog="dln")
    query.add_parsers(parser.add_subparsers(dest="command"))
    assert parser.parse_args(["table"]).func is query.cmd_table
    assert parser.parse_args(["table"]).path == "results"
    assert parser.parse_args(["info", "x.nc"]).func is query.cmd_info
    assert parser.parse_args(["diff", "a", "b"]).func is query.cmd_diff


def test_import_is_lazy():
    code = (
        "import sys, dln.cli.query; "
        "print(sorted(m for m in ('pandas', 'xarray', 'netCDF4') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# ----------------------------------------------------------------------------- studies (issue 19)


def test_study_selects_its_runs_and_the_median_does_not_mix_studies(capsys, results):
    code, out, err = run(
        capsys, "table", results, "--study", "grid", "--by", "k", "--format", "csv"
    )
    assert code == 0 and err == ""  # one study: no warning
    df = csv_rows(out).set_index("k")
    # the grid's k = 3 runs only: 12,000, 14,000, 20,000 (the lr sweep's 6,000 is left out)
    assert df.loc[3, "runs"] == 3 and df.loc[3, "stuck_steps_median"] == 14000
    code, out, _ = run(capsys, "table", results, "--study", "lr_sweep")
    assert "(1 of 6 runs, " in out


def test_a_median_over_several_studies_warns(capsys, results):
    code, out, err = run(capsys, "table", results, "--by", "k", "--format", "csv")
    assert code == 0 and csv_rows(out).set_index("k").loc[3, "stuck_steps_median"] == 13000
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("warning: the medians mix runs of several")
    assert "grid (4), lr_sweep (1), gaussian (1)" in lines[0] and "--study NAME" in lines[0]


def test_an_unknown_study_is_one_error_line(capsys, results):
    check_error(capsys, ["table", results, "--study", "grdi"], "no study 'grdi'", "grid, lr_sweep")
