"""Aggregation: gathers what each run measured (never recomputes), streams run by run so its
memory does not grow with the number of runs, and marks missing values as NaN."""

from __future__ import annotations

import os
import subprocess
import sys
import tracemalloc

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from dln.analysis.result import analyse_run
from dln.data.aggregate import aggregate, step_union
from dln.data.io import RunFileError, open_runs, read_run
from dln.data.runfile import write_run_file
from dln.solve.run import RunConfig, simulate


@pytest.fixture(scope="module")
def one_run(tmp_path_factory):
    """One real analysed run file (k = 2, orthogonal, 3,000 steps)."""
    cfg = RunConfig(k=2, steps=3000, record_every=50, weights_every=1000)
    path = tmp_path_factory.mktemp("one") / "run.nc"
    write_run_file(analyse_run(simulate(cfg)), path)
    return cfg, path


def _copies(work, template, key: str, n: int):
    """n hard links of one run file under distinct ids, and the plan listing them."""
    lines = ["run,path,steps,record_every,d,in_grid"]
    for i in range(n):
        rid = f"copies/r{i}-{key}"
        path = work / "results/runs" / f"{rid}.nc"
        path.parent.mkdir(parents=True, exist_ok=True)
        os.link(template, path)
        lines.append(f"{rid},{path},3000,50,5,true")
    (work / "plan.csv").write_text("\n".join(lines) + "\n")
    return work / "plan.csv"


def _peak_bytes(plan, work) -> int:
    tracemalloc.start()
    try:
        aggregate(plan, work / "runs.nc", work / "runs.csv", "x", "x")
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.slow
def test_memory_does_not_grow_with_the_number_of_runs(one_run, tmp_path):
    """Python memory while aggregating 30 and 300 runs: the output is written run by run,
    table included, so the peak stays flat (what grows is on disk)."""
    cfg, template = one_run
    peaks = {}
    for n in (30, 300):
        work = tmp_path / f"n{n}"
        peaks[n] = _peak_bytes(_copies(work, template, cfg.key(), n), work)
        assert len(pd.read_csv(work / "runs.csv")) == n
    # a table row held in memory costs ~6 KB (60 values in a dict); what remains per run is
    # netCDF4's transient bookkeeping along the growing `run` dimension (~1 KB)
    per_run = (peaks[300] - peaks[30]) / 270
    assert per_run < 2500, peaks


def test_aggregate_gathers_the_runs_own_metrics(one_run, tmp_path, monkeypatch):
    """The table holds exactly what each run file says (nothing recomputed); missing values
    are NaN; settings and study flags are coordinates along `run`."""
    cfg, template = one_run
    plan = _copies(tmp_path, template, cfg.key(), 3)
    import dln.analysis.stages

    def never(*args, **kwargs):
        raise AssertionError("aggregation must not analyse runs again")

    monkeypatch.setattr(dln.analysis.stages, "analyse", never)
    assert aggregate(plan, tmp_path / "runs.nc", tmp_path / "runs.csv", "x", "h") == 3
    run = read_run(template)
    table = pd.read_csv(tmp_path / "runs.csv", index_col="run")
    for name in ("final_loss", "plateau_start", "eps_at_plateau", "escape_model_steps"):
        assert np.allclose(table[name], float(run[name]), equal_nan=True), name
    assert table["stuck_steps"].isna().all()  # 3,000 steps: no escape, missing (not -1)
    with xr.open_dataset(tmp_path / "runs.nc") as ds:
        assert ds["k"].dims == ("run",) and ds["in_grid"].dtype == bool
        assert ds.attrs["config_hash"] == "h" and "step" not in ds.dims
        assert ds.attrs["trajectory_groups"] == "trajectories/grid"
    with xr.open_dataset(tmp_path / "runs.nc", group="trajectories/grid") as grid:
        assert grid.sizes["step"] == 61 and grid["k"].dims == ("run",)
        np.testing.assert_array_equal(grid["loss"].isel(run=1).values, run["loss"].values)


def test_a_foreign_run_file_is_named(one_run, tmp_path):
    """A file that is not the planned run (another key) stops the aggregation, naming it."""
    cfg, template = one_run
    plan = _copies(tmp_path, template, "0000000000", 1)
    with pytest.raises(RunFileError, match=r"r0-0000000000\.nc: holds run .*not the planned"):
        aggregate(plan, tmp_path / "runs.nc", tmp_path / "runs.csv", "x", "x")
    assert not (tmp_path / "runs.nc").exists() and not (tmp_path / "runs.csv").exists()


def test_step_union_covers_every_planned_record():
    plan = [{"steps": "100", "record_every": "30"}, {"steps": "60", "record_every": "20"}]
    assert step_union(plan).tolist() == [0, 20, 30, 40, 60, 90, 100]


def test_open_runs_says_why_architectures_do_not_combine(tmp_path):
    a = tmp_path / "a.nc"
    b = tmp_path / "b.nc"
    write_run_file(
        analyse_run(simulate(RunConfig(steps=200, record_every=50, weights_every=100))), a
    )
    write_run_file(
        analyse_run(
            simulate(RunConfig(widths=(8, 1, 4, 5), steps=200, record_every=50, weights_every=100))
        ),
        b,
    )
    with pytest.raises(RunFileError, match="different architectures"):
        open_runs([a, b])
    both = open_runs([a, b], weights=False)  # without the weights any runs combine
    assert both.sizes["run"] == 2 and sorted(both["depth"].values.tolist()) == [3, 6]


def test_dln_commands_on_real_files(one_run, tmp_path):
    """`dln info` and `dln table` on files the workflow's code wrote."""
    cfg, template = one_run
    plan = _copies(tmp_path, template, cfg.key(), 2)
    aggregate(plan, tmp_path / "runs.nc", tmp_path / "runs.csv", "x", "x")
    dln = [sys.executable, "-m", "dln"]
    info = subprocess.run([*dln, "info", str(template)], capture_output=True, text=True)
    assert info.returncode == 0, info.stderr
    assert "reproduce with:" in info.stdout and "dln run" in info.stdout
    assert f"run_key             {cfg.key()}" in info.stdout
    agg_info = subprocess.run(
        [*dln, "info", str(tmp_path / "runs.nc")], capture_output=True, text=True
    )
    assert "trajectory groups: trajectories/grid\n" in agg_info.stdout, (
        agg_info.stdout + agg_info.stderr
    )
    table = subprocess.run(
        [*dln, "table", str(tmp_path / "runs.csv"), "--format", "csv"],
        capture_output=True,
        text=True,
    )
    assert table.returncode == 0, table.stderr
    assert len(table.stdout.strip().splitlines()) == 3  # header + 2 runs
    garbage = tmp_path / "garbage.nc"
    garbage.write_bytes(b"not a NetCDF file" * 10)
    bad = subprocess.run([*dln, "info", str(garbage)], capture_output=True, text=True)
    assert (
        bad.returncode == 2 and bad.stderr.startswith("error: ") and "Traceback" not in bad.stderr
    )


def test_study_table_rows_equal_the_aggregate_rows(one_run, tmp_path, monkeypatch):
    """A study's table (tables/<study>.csv) holds the same values as that study's rows of
    runs.csv: both come from the run files' own rows."""
    from dln.data.aggregate import study_table

    cfg, template = one_run
    plan = _copies(tmp_path, template, cfg.key(), 3)
    aggregate(plan, tmp_path / "runs.nc", tmp_path / "runs.csv", "x", "h")
    monkeypatch.chdir(tmp_path)  # run ids are paths below results/runs/
    paths = sorted(str(p.relative_to(tmp_path)) for p in (tmp_path / "results/runs").rglob("*.nc"))
    assert study_table(paths, tmp_path / "grid.csv", "grid", 6) == 3
    full = pd.read_csv(tmp_path / "runs.csv", index_col="run")
    study = pd.read_csv(tmp_path / "grid.csv", index_col="run")
    assert study["in_grid"].all()
    pd.testing.assert_frame_equal(study, full.loc[study.index, study.columns])


def test_study_table_of_a_switched_off_study_is_an_empty_table(tmp_path):
    from dln.data.aggregate import study_table

    assert study_table([], tmp_path / "t.csv", "laws", 1) == 0
    empty = pd.read_csv(tmp_path / "t.csv", index_col="run")
    assert len(empty) == 0 and {"solver", "in_laws", "steps_at_L0"} <= set(empty.columns)


def test_aggregation_imports_no_pandas_xarray_or_matplotlib(one_run, tmp_path):
    """The aggregate and study-table jobs stay lean: dln.data.cdf reads, netCDF4 writes."""
    cfg, template = one_run
    plan = _copies(tmp_path, template, cfg.key(), 2)
    script = (
        "import sys\n"
        "from dln.data.aggregate import aggregate, study_table\n"
        "aggregate('plan.csv', 'runs.nc', 'runs.csv', 'x', 'h')\n"
        "study_table([], 't.csv', 'grid', 1)\n"
        "print(sorted(m for m in ('pandas', 'xarray', 'scipy', 'matplotlib', 'h5py')\n"
        "             if m in sys.modules))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", script], cwd=plan.parent, capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().splitlines()[-1] == "[]"


def test_integers_are_integers_labels_canonical_and_every_number_has_units(one_run, tmp_path):
    """k, predicted_k, levels and step counts are int64 (NaN only where a value is missing);
    widths and spectrum as the CLI takes them; units `1` or `steps` on every number."""
    from dln.data.columns import ARRAYS, METRICS, SETTINGS

    cfg, template = one_run
    plan = _copies(tmp_path, template, cfg.key(), 2)
    aggregate(plan, tmp_path / "runs.nc", tmp_path / "runs.csv", "x", "h")
    with xr.open_dataset(tmp_path / "runs.nc") as ds:
        for name in ("k", "seed", "steps", "predicted_k", "n_visits", "steps_at_level"):
            assert ds[name].dtype == np.int64, name
        # 3,000 steps: no level reached, no escape; these ints are missing, which reads as NaN
        for name in ("first_level", "stuck_steps"):
            assert ds[name].isnull().all() and "missing_value" in ds[name].encoding, name
        assert set(ds["widths"].values) == {"8,3,5,10,1,4,5"}
        assert set(ds["spectrum"].values) == {"5,4,3,2,1"}
        for name, (kind, _, _) in {**SETTINGS, **METRICS}.items():
            if kind in ("int", "float"):
                assert ds[name].attrs.get("units") in ("1", "steps"), name
        for name in ARRAYS:
            assert ds[name].attrs.get("units") in ("1", "steps"), name
    table = pd.read_csv(tmp_path / "runs.csv")
    assert table["k"].dtype == np.int64 and table["n_visits"].dtype == np.int64
    assert set(table["widths"]) == {"8,3,5,10,1,4,5"}


def _simulated(work, rid: str, **settings):
    cfg = RunConfig(**settings)
    path = work / "results/runs" / f"{rid}-{cfg.key()}.nc"
    write_run_file(analyse_run(simulate(cfg)), path)
    return f"{rid}-{cfg.key()},{path},{cfg.steps},{cfg.record_every},{cfg.d}"


def test_each_study_has_its_own_step_grid(tmp_path):
    """Trajectories sit on each study's own step grid (no padding from the others); a study
    whose runs record different grids has one subgroup per grid; a shared run is in both."""
    lines = ["run,path,steps,record_every,d,in_grid,in_laws"]
    common = dict(k=1, weights_every=100, spectrum="linear")
    lines.append(_simulated(tmp_path, "a", steps=400, record_every=50, **common) + ",true,true")
    lines.append(_simulated(tmp_path, "b", steps=300, record_every=10, **common) + ",false,true")
    lines.append(
        _simulated(tmp_path, "c", steps=400, record_every=50, seed=1, spectrum=(5, 4, 3, 2, 1), k=1)
        + ",true,false"
    )
    (tmp_path / "plan.csv").write_text("\n".join(lines) + "\n")
    aggregate(tmp_path / "plan.csv", tmp_path / "runs.nc", tmp_path / "runs.csv", "x", "h")
    path = tmp_path / "runs.nc"
    with xr.open_dataset(path) as ds:
        assert ds.sizes["run"] == 3
        assert ds.attrs["trajectory_groups"].split() == [
            "trajectories/grid",
            "trajectories/laws/steps400_every50",
            "trajectories/laws/steps300_every10",
        ]
        assert set(ds["spectrum"].values) == {"5,4,3,2,1"}  # linear and its values: one label
    with xr.open_dataset(path, group="trajectories/grid") as grid:
        assert grid.sizes["run"] == 2 and grid["step"].values.tolist() == list(range(0, 401, 50))
        assert not grid["loss"].isnull().any()  # no padding
    with xr.open_dataset(path, group="trajectories/laws/steps300_every10") as fine:
        assert fine.sizes == {"run": 1, "step": 31, "mode": 5}
        assert fine["run"].values[0].startswith("b-")


def test_the_main_grid_draws_as_a_line_plot_by_k(one_run, tmp_path):
    """`loss.plot.line(x="step", hue="k")` of the grid group draws one line per run, from step 0."""
    import matplotlib

    matplotlib.use("Agg")
    cfg, template = one_run
    plan = _copies(tmp_path, template, cfg.key(), 2)
    aggregate(plan, tmp_path / "runs.nc", tmp_path / "runs.csv", "x", "h")
    with xr.open_dataset(tmp_path / "runs.nc", group="trajectories/grid") as grid:
        lines = grid.loss.plot.line(x="step", hue="run")
        assert len(lines) == 2 and lines[0].get_xdata()[0] == 0
        assert np.isfinite(lines[0].get_ydata()).all()


def test_open_aggregate_joins_a_study_group_with_its_metrics(one_run, tmp_path):
    from dln.data.io import open_aggregate

    cfg, template = one_run
    plan = _copies(tmp_path, template, cfg.key(), 2)
    aggregate(plan, tmp_path / "runs.nc", tmp_path / "runs.csv", "x", "h")
    grid = open_aggregate(tmp_path / "runs.nc", group="grid")
    assert grid["loss"].dims == ("run", "step") and grid.sizes["step"] == 61
    assert grid["final_loss"].dims == ("run",) and grid["in_grid"].values.all()
    assert grid.sel(k=2, seed=0)["loss"].shape == (2, 61)  # both copies, by two settings
    with pytest.raises(
        RunFileError, match="no trajectory group 'laws' \\(groups: trajectories/grid\\)"
    ):
        open_aggregate(tmp_path / "runs.nc", group="laws")


def test_a_missing_integer_is_nan_in_xarray_and_na_in_pandas(tmp_path):
    """A Gaussian start has no k: its run file and the table hold MISSING_INT with a
    missing_value attribute (xarray: NaN), runs.csv an empty cell (pandas' nullable Int64: NA);
    a group whose runs all have a k keeps it int64."""
    from dln.data.columns import MISSING_INT

    lines = ["run,path,steps,record_every,d,in_grid,in_gaussian"]
    lines.append(_simulated(tmp_path, "a", k=1, steps=200, record_every=50, weights_every=100))
    lines[-1] += ",true,false"
    gauss = dict(init="gaussian", init_scale=0.2, steps=200, record_every=50, weights_every=100)
    lines.append(_simulated(tmp_path, "g", **gauss) + ",false,true")
    (tmp_path / "plan.csv").write_text("\n".join(lines) + "\n")
    aggregate(tmp_path / "plan.csv", tmp_path / "runs.nc", tmp_path / "runs.csv", "x", "h")
    run_file = lines[-1].split(",")[1]
    assert np.isnan(float(read_run(run_file)["k"]))
    with xr.open_dataset(tmp_path / "runs.nc") as ds:
        assert ds["k"].encoding["missing_value"] == MISSING_INT
        assert ds["k"].values[0] == 1 and np.isnan(ds["k"].values[1])
    with xr.open_dataset(tmp_path / "runs.nc", group="trajectories/grid") as grid:
        assert grid["k"].dtype == np.int64
    table = pd.read_csv(tmp_path / "runs.csv", dtype_backend="numpy_nullable")
    assert str(table["k"].dtype) == "Int64" and table["k"].isna().tolist() == [False, True]


def test_a_study_named_like_a_setting_aggregates(one_run, tmp_path):
    """The default config's depth study shares its name with the depth setting: its group sits
    below /trajectories (was: NetCDF "String match to name in use", no runs.nc)."""
    import xarray as xr

    from dln.data.io import open_aggregate

    cfg, template = one_run
    plan = _copies(tmp_path, template, cfg.key(), 2)
    text = plan.read_text().replace("in_grid", "in_depth")
    plan.write_text(text)
    aggregate(plan, tmp_path / "runs.nc", tmp_path / "runs.csv", "x", "h")
    with xr.open_dataset(tmp_path / "runs.nc", group="trajectories/depth") as depth:
        assert depth.sizes["run"] == 2
    assert open_aggregate(tmp_path / "runs.nc", group="depth")["depth"].values.tolist() == [6, 6]
