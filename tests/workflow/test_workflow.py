"""The Snakemake workflow end to end on a small config: DAG shape, outputs, what reruns after an
edit, experiments that coexist, any setting as an axis, lint and formatting. Everything runs
the real workflow in a temporary directory."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import xarray as xr
import yaml

from conftest import (
    BIN,
    OUT,
    REPO,
    planned_jobs,
    planned_runs,
    run_file,
    small_config,
    snakemake,
    write_config,
)
from dln.data.io import open_aggregate, read_run
from dln.plan.runplan import DEFAULT_BATCHES, plan_runs, select

pytestmark = pytest.mark.workflow

REGISTRY = yaml.safe_load((REPO / "workflow/figures.yaml").read_text())
FIGURES = list(REGISTRY)
# figures that draw the grid study's table rows (every seed): the whole table or the grid's


def drawn_figures(cfg: dict) -> list[str]:
    """The figures a config builds: those whose studies (their tables, else their first run
    selector's study) are switched on (common.smk, figure_drawn)."""
    names = []
    for name, entry in REGISTRY.items():
        tables = entry.get("tables")
        studies = tables if isinstance(tables, list) else [entry.get("runs", [{}])[0].get("study")]
        if tables == "all" or any(cfg.get(study) for study in studies):
            names.append(name)
    return names


GRID_TABLE_FIGURES = {
    name
    for name, entry in REGISTRY.items()
    if entry.get("tables") == "all" or "grid" in entry.get("tables", [])
}


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """One complete run of the small workflow, shared by the tests below (read-only)."""
    work = tmp_path_factory.mktemp("wf")
    cfg = small_config()
    write_config(work, cfg)
    # with the quality gate: every figure checked (dln.figures.figcheck), every warning an error
    snakemake(work, "--cores", "2", env_extra={"DLN_FIGURE_GATE": "1"})
    snakemake(work, "--report", f"{OUT}/report.html")
    return work, cfg


def test_dag_has_one_simulation_job_per_batch_of_planned_runs(workdir):
    cfg = small_config()
    jobs = planned_jobs(workdir)
    # grid: k in {1, 2} at lr 5e-4; lr_sweep adds k = 2 at lr 1e-3 (5e-4 is shared); flow: k = 2
    batches = {run.batch(DEFAULT_BATCHES) for run in plan_runs(cfg).values()}
    assert jobs["simulate_batch"] == len(batches) <= 4
    assert jobs["aggregate"] == 1
    # the plan and the batches' members are written while the workflow parses: on disk before
    # any job starts (issue 21)
    plan = pd.read_csv(workdir / f"{OUT}/plan.csv")
    assert len(plan) == 4 and set(plan["batch"]) == batches
    members = (workdir / f"{OUT}/batches").glob("*.members")
    assert {p.stem.split("-")[0] for p in members} == batches
    assert jobs["figure"] == len(drawn_figures(cfg)) == len(FIGURES) - 4  # 4 studies off
    assert planned_runs(workdir) == {
        run_file(cfg, k=1, lr=5e-4),
        run_file(cfg, k=2, lr=5e-4),
        run_file(cfg, k=2, lr=1e-3),
        run_file(cfg, solver="gf", k=2),
    }


def test_end_to_end_outputs(built):
    work, cfg = built
    runs = sorted((work / "results/runs").rglob("*.nc"))
    assert len(runs) == 4
    for path in runs:
        ds = read_run(path)
        assert ds.sizes["step"] == cfg["gd"]["steps"] // cfg["gd"]["record_every"] + 1
        assert int(ds["predicted_k"]) == int(ds["k"])
        assert np.all(np.isfinite(ds["loss"].values))
    table = pd.read_csv(work / f"{OUT}/runs.csv", index_col="run")
    assert len(table) == 4
    k1 = table.loc[run_file(cfg, k=1, lr=5e-4)[len("results/runs/") : -3]]
    assert k1["final_level"] == 1 and k1["reached_global"]
    # 6000 steps are too few to leave saddle 2: the run is reported at L_2, no escape (NaN)
    k2 = table.loc[run_file(cfg, k=2, lr=5e-4)[len("results/runs/") : -3]]
    assert k2["final_level"] == 2 and np.isnan(k2["escape_step"])
    drawn = drawn_figures(cfg)
    for name in drawn:
        png = work / f"{OUT}/figures/{name}.png"
        pdf = work / f"{OUT}/figures/{name}.pdf"
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 5_000
        assert pdf.read_bytes()[:5] == b"%PDF-"
    # a switched-off study's figure is not built (no placeholder)
    for name in set(FIGURES) - set(drawn):
        assert not (work / f"{OUT}/figures/{name}.png").exists(), name
    summary_md = (work / f"{OUT}/summary.md").read_text()
    assert "k = 1, orthogonal (1 seed): predicted k = 1 in 1/1" in summary_md
    html = (work / f"{OUT}/report.html").read_text(errors="replace")
    assert all(name in html for name in drawn)
    assert not any(f"{name}.png" in html for name in set(FIGURES) - set(drawn))


def test_job_logs_hold_no_warning(built):
    work, cfg = built
    logs = list((work / "results").rglob("*.log"))
    assert len(logs) >= 4 + len(drawn_figures(cfg))
    for log in logs:
        text = log.read_text()
        assert "Warning" not in text and "Traceback" not in text, f"{log}:\n{text}"


def test_aggregate_data_model(built):
    """The traps of a first xarray/pandas session: selection by solver, by two settings at
    once, NaN (never -1) for missing values, CF attributes on every variable."""
    work, cfg = built
    path = work / f"{OUT}/runs.nc"
    with xr.open_dataset(path) as ds:
        assert ds.attrs["Conventions"] == "CF-1.11" and ds.attrs["dln_kind"] == "aggregate"
        for key in ("title", "history", "source", "references"):
            assert ds.attrs[key], key
        for name in ds.variables:
            if name not in ds.dims:
                assert ds[name].attrs.get("long_name"), name
        assert set(ds["solver"].values) == {"gd", "gf"}
        for flag in ("in_grid", "in_lr_sweep", "in_flow"):
            assert ds[flag].dtype == bool
        gd = ds.where(ds["solver"] == "gd", drop=True)
        assert gd.sizes["run"] == 3
        assert np.isnan(ds["stuck_steps"].values).all()  # nothing escaped in 6000 steps
    agg = open_aggregate(path)
    # (selecting every level but run_id leaves the dimension named after it: xarray's rule)
    assert agg.sel(solver="gd", k=2, lr=1e-3)["final_loss"].shape[0] == 1
    assert agg.sel(solver="gf")["final_loss"].shape[0] == 1
    assert agg.sel(k=2, lr=5e-4)["final_loss"].shape[0] == 2  # the GD run and the flow
    # trajectories: one group per study, on its own step grid (issue 19)
    sweep = open_aggregate(path, group="lr_sweep")
    assert sweep.sel(solver="gd", k=2, lr=1e-3)["loss"].shape[0] == 1
    assert not np.isnan(sweep["loss"].values).any()


def test_noop_rerun_plans_nothing(built):
    work, _ = built
    assert planned_jobs(work) == {}


def edited(work, cfg, edit):
    """The jobs a dry run plans after `edit(cfg)`; the config is restored afterwards."""
    new = yaml.safe_load(yaml.safe_dump(cfg))
    edit(new)
    write_config(work, new)
    try:  # an edit under the same experiment name needs the explicit flag (issue 19)
        over = ("--config", "overwrite=true")
        return planned_jobs(work, *over), planned_runs(work, *over)
    finally:
        write_config(work, cfg)


def test_adding_a_seed_reruns_only_the_new_runs_and_what_uses_every_seed(built):
    work, cfg = built
    # a seed one of whose runs shares a batch with a run that main-seed figures draw (batches
    # are coarse: key modulo `batches`), so the test holds the case that once redrew them
    drawn = set().union(*(figure_batches(cfg, e) for e in REGISTRY.values()))
    seed = next(s for s in range(1, 100) if new_batches(cfg, s) & drawn)
    jobs, runs = edited(work, cfg, lambda c: c["grid"].update(seed=[0, seed]))
    assert runs == {run_file(with_seeds(cfg, seed), k=k, seed=seed) for k in (1, 2)}
    assert jobs["simulate_batch"] == len(new_batches(cfg, seed))
    assert jobs["aggregate"] == 1
    # neither figures of other studies (their tables' run files are unchanged) nor main-seed
    # figures are redrawn, also those drawing a run of a batch that reruns for a new run (a
    # settled run needs no wait for its batch: dln.plan.batchstate)
    assert jobs["figure"] == len(GRID_TABLE_FIGURES) < len(FIGURES) - 4
    assert "study_table" not in jobs


def test_a_seed_and_a_figure_setting_changed_together_redraw_every_figure(built):
    # a figure whose runs share a batch with a new run is downstream of a batch that reruns,
    # and Snakemake then skips the figure's own checks (its changed dpi): its spec job
    # (rule spec) must bring the change to it
    work, cfg = built
    drawn = set().union(*(figure_batches(cfg, e) for e in REGISTRY.values()))
    seed = next(s for s in range(1, 100) if new_batches(cfg, s) & drawn)

    def edit(c):
        c["grid"].update(seed=[0, seed])
        c["figures"]["dpi"] += 10

    jobs, _ = edited(work, cfg, edit)
    assert jobs["figure"] == len(list((work / OUT / "figures").glob("*.png")))


def with_seeds(cfg, seed):
    new = yaml.safe_load(yaml.safe_dump(cfg))
    new["grid"]["seed"] = [0, seed]
    return new


def new_batches(cfg, seed) -> set[str]:
    """Batches of the runs that adding `seed` to grid.seed plans."""
    runs = plan_runs(with_seeds(cfg, seed)).values()
    return {r.batch(DEFAULT_BATCHES) for r in runs if r.config.seed == seed}


def figure_batches(cfg, entry) -> set[str]:
    """Batches of the runs a figure's registry selectors pick (main_seed as the figures use it)."""
    runs = plan_runs(cfg)
    out = set()
    for selector in entry.get("runs", []):
        selector = dict(selector)
        if selector.get("seed") == "main_seed":
            selector["seed"] = cfg["figures"]["main_seed"]
        out |= {r.batch(DEFAULT_BATCHES) for r in select(runs, **selector)}
    return out


def test_adding_a_run_to_one_study_redraws_only_that_studys_figures(built):
    work, cfg = built
    jobs, runs = edited(work, cfg, lambda c: c["lr_sweep"].update(seed=[0, 1]))
    assert len(runs) == 2  # the lr sweep's two new runs
    assert jobs["study_table"] == 1  # tables/lr_sweep.csv
    lr_sweep_figures = {n for n, e in REGISTRY.items() if "lr_sweep" in e.get("tables", [])}
    assert lr_sweep_figures == {"fig4_stuck_vs_lr"}
    assert jobs["figure"] == len(GRID_TABLE_FIGURES | lr_sweep_figures)


def test_changing_steps_writes_new_runs(built):
    work, cfg = built
    jobs, runs = edited(work, cfg, lambda c: c["gd"].update(steps=7000))
    assert len(runs) == 4 and jobs["simulate_batch"] <= 4


def test_editing_one_figure_option_reruns_only_that_figure(built):
    work, cfg = built
    jobs, _ = edited(work, cfg, lambda c: c["figures"]["fig4_stuck_vs_lr"].update(seed_jitter=0.1))
    assert jobs == {"spec": 1, "figure": 1, "index_page": 1, "experiment_config": 1, "all": 1}


def test_a_new_axis_plans_runs_and_appears_in_the_aggregate(tmp_path):
    """Any run setting can be an axis: a start-scale sweep in the main grid."""
    cfg = small_config()
    cfg["gd"].update(steps=1000, record_every=50, weights_every=500)
    cfg["grid"] = {"k": [1], "sigma0": [0.01, 0.001]}
    cfg["lr_sweep"] = None  # switched off (as an overlay config would)
    cfg["flow"] = None
    write_config(tmp_path, cfg)
    snakemake(tmp_path, "--cores", "2", f"{OUT}/runs.nc")
    table = pd.read_csv(tmp_path / f"{OUT}/runs.csv", index_col="run")
    assert sorted(table["sigma0"]) == [0.001, 0.01]
    with xr.open_dataset(tmp_path / f"{OUT}/runs.nc") as ds:
        assert sorted(ds["sigma0"].values) == [0.001, 0.01]
        assert ds["sigma0"].dims == ("run",)


def test_two_experiments_coexist_and_switching_back_reruns_nothing(tmp_path):
    """Experiment b (longer runs) beside experiment a: each has its own outputs, the run store
    keeps both sets of runs, and going back to a reruns no simulation."""
    a = small_config()
    a["gd"].update(steps=1000, record_every=50, weights_every=500)
    a["lr_sweep"] = a["flow"] = None
    b = yaml.safe_load(yaml.safe_dump(a))
    a["experiment"], b["experiment"] = "a", "b"
    b["gd"]["steps"] = 2000
    write_config(tmp_path, a)
    snakemake(tmp_path, "--cores", "2")
    write_config(tmp_path, b)
    snakemake(tmp_path, "--cores", "2")
    assert (tmp_path / "results/a/runs.nc").is_file() and (tmp_path / "results/b/runs.nc").is_file()
    assert len(list((tmp_path / "results/runs").rglob("*.nc"))) == 4
    write_config(tmp_path, a)
    assert planned_jobs(tmp_path) == {}
    # the store: both experiments use their files; nothing is unused
    out = subprocess.run(
        [str(BIN / "dln"), "store", "list"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "a: 2 runs planned, 2 run files present" in out and "unused run files: 0" in out
    diff = subprocess.run(
        [str(BIN / "dln"), "diff", "results/a", "results/b"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert diff.returncode == 1 and "steps" in diff.stdout, diff.stdout + diff.stderr


def test_simulation_job_imports_no_pandas_xarray_or_scipy(tmp_path):
    """The job path stays lean: `dln run` of a GD run imports neither pandas, xarray nor
    SciPy (checked in the process itself, after the run)."""
    script = (
        "import sys\n"
        "from dln.cli.main import main\n"
        f"rc = main(['run', '--steps', '200', '--record-every', '50', '--weights-every', '100',"
        f" '--out', {str(tmp_path / 'r.nc')!r}])\n"
        "print(sorted(m for m in ('pandas', 'xarray', 'scipy', 'matplotlib') if m in sys.modules))\n"
        "sys.exit(rc)\n"
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().splitlines()[-1] == "[]"


def test_plan_file_lists_runs_and_study_flags(built):
    work, cfg = built
    plan = pd.read_csv(work / f"{OUT}/plan.csv")
    assert len(plan) == 4
    shared = plan[plan["path"] == run_file(cfg, k=2, lr=5e-4)].iloc[0]
    assert shared["in_grid"] and shared["in_lr_sweep"] and not shared["in_flow"]
    assert json.loads(json.dumps(list(plan.columns)))[:2] == ["run", "path"]


def test_lint_is_clean():
    proc = subprocess.run(
        [str(BIN / "snakemake"), "--lint"],
        cwd=REPO,
        capture_output=True,
        text=True,
        env={"PATH": f"{BIN}:/usr/bin:/bin"},
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Congratulations, your workflow is in a good condition!" in proc.stdout + proc.stderr


def test_snakefmt_check_passes():
    proc = subprocess.run(
        [str(BIN / "snakefmt"), "--check", "."], cwd=REPO, capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_short_tiny_and_degenerate_runs_go_through(tmp_path):
    """Runs of 6 records, a diverging run, a Gaussian start, a k = 0 start, every study: the
    whole workflow (analysis, aggregate, every figure under the quality gate, summary)
    completes; what cannot be measured is missing, and the summary says what happened."""
    cfg = small_config()
    cfg["gd"].update(steps=500, record_every=100, weights_every=500)
    cfg["grid"] = {"k": [0, 1, 2], "seed": [0], "lr": [5.0e-4]}
    cfg["lr_sweep"] = {"k": [2], "seed": [0], "lr": [5.0e-4, 0.1]}
    cfg["flow"] = {"k": [2], "seed": [0]}
    cfg["gaussian"] = {"init_scale": [0.2], "seed": [0]}
    cfg["laws"] = [{"k": [1], "sigma0": [0.01, 0.1]}, {"k": [2], "dtype": ["float32"]}]
    write_config(tmp_path, cfg)
    snakemake(tmp_path, "--cores", "2", env_extra={"DLN_FIGURE_GATE": "1"})
    for name in drawn_figures(cfg):
        assert (tmp_path / f"{OUT}/figures/{name}.png").stat().st_size > 5_000, name
    table = pd.read_csv(tmp_path / f"{OUT}/runs.csv", index_col="run")
    assert table["diverged"].sum() == 1 and table["stuck_steps"].isna().all()
    summary = (tmp_path / f"{OUT}/summary.md").read_text()
    assert "k = 2" in summary and "-1" not in summary


# --- batches: the DAG holds batches of runs, a batch computes only what the store lacks -----


def tiny_grid(seeds, k=(1, 2), batches=None) -> dict:
    """A grid study alone, of 200-step runs (a few ms each)."""
    cfg = small_config()
    cfg["gd"].update(steps=200, record_every=50, weights_every=100)
    cfg["grid"] = {"k": list(k), "seed": list(seeds), "lr": [5.0e-4]}
    for study in ("lr_sweep", "flow", "precision", "depth", "gaussian", "laws"):
        cfg[study] = None
    cfg["limits"].update(max_runs=100_000, allow_large_grid=True)
    if batches:
        cfg["batches"] = batches
    return cfg


def test_dag_of_ten_thousand_runs_has_one_job_per_batch(tmp_path):
    cfg = tiny_grid(range(2000), k=(1, 2, 3, 4, 5), batches=40)
    assert len(plan_runs(cfg)) == 10_000
    write_config(tmp_path, cfg)
    jobs = planned_jobs(tmp_path)
    assert jobs["simulate_batch"] == 40 and sum(jobs.values()) < 100


def run_files(work) -> dict:
    """run file -> (inode, mtime_ns): a recomputed file is a new file (atomic rename)."""
    return {
        p.relative_to(work).as_posix(): (p.stat().st_ino, p.stat().st_mtime_ns)
        for p in (work / "results/runs").rglob("*.nc")
    }


def batch_logs(work) -> dict:
    return {p.name: p.read_text() for p in (work / f"{OUT}/logs/batches").glob("*.log")}


def computed_runs(logs: dict, before: dict | None = None) -> list[str]:
    """Runs the batch jobs computed (one log line each), in the logs that changed since
    `before` (a batch that did not rerun keeps its old log)."""
    return [
        line.split()[1]
        for name, text in logs.items()
        if before is None or before.get(name) != text
        for line in text.splitlines()
        if line.startswith("computed ")
    ]


def test_adding_a_seed_computes_only_the_new_runs(tmp_path):
    cfg = tiny_grid(range(6), batches=4)
    write_config(tmp_path, cfg)
    snakemake(tmp_path, "--cores", "2", f"{OUT}/runs.csv")
    before = run_files(tmp_path)
    logs = batch_logs(tmp_path)
    assert len(before) == 12 and len(computed_runs(logs)) == 12
    cfg["grid"]["seed"] = list(range(7))
    write_config(tmp_path, cfg)
    new = {r.path for r in plan_runs(cfg).values() if r.config.seed == 6}
    jobs = planned_jobs(tmp_path)
    assert jobs["simulate_batch"] == len(
        {r.batch(4) for r in plan_runs(cfg).values() if r.config.seed == 6}
    )
    snakemake(tmp_path, "--cores", "2", f"{OUT}/runs.csv")
    after = run_files(tmp_path)
    assert set(after) == set(before) | new
    assert all(after[p] == before[p] for p in before)  # no stored run was written again
    computed = computed_runs(batch_logs(tmp_path), logs)
    assert sorted(f"results/runs/{r}.nc" for r in computed) == sorted(new)
    assert len(pd.read_csv(tmp_path / f"{OUT}/runs.csv")) == 14


KILL_ON_THIRD_RENAME = """
import os, signal, sys
from dln.cli.main import main
real, calls = os.replace, []
def replace(src, dst):  # the third run file: killed after writing, before its rename
    calls.append(dst)
    if len(calls) == 3:
        os.kill(os.getpid(), signal.SIGKILL)
    return real(src, dst)
os.replace = replace
sys.exit(main(sys.argv[1:]))
"""


def test_killed_batch_leaves_complete_run_files_and_its_rerun_computes_only_the_rest(tmp_path):
    cfg = tiny_grid(range(3), batches=1)
    write_config(tmp_path, cfg)
    snakemake(tmp_path, "-n")  # writes the plan and the members file of the one batch
    (members,) = [p.relative_to(tmp_path) for p in (tmp_path / f"{OUT}/batches").glob("*.members")]
    batch = ["batch", "--members", str(members), "--out", f"{OUT}/batches/b0.tsv"]
    proc = subprocess.run(
        [sys.executable, "-c", KILL_ON_THIRD_RENAME, *batch], cwd=tmp_path, capture_output=True
    )
    assert proc.returncode == -9
    done = run_files(tmp_path)
    assert len(done) == 2 and not (tmp_path / f"{OUT}/batches/b0.tsv").exists()
    for path in done:
        assert int(read_run(tmp_path / path)["k"]) in (1, 2)  # complete, readable files
    proc = subprocess.run([str(BIN / "dln"), *batch], cwd=tmp_path, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert "6 runs, 4 computed, 2 already stored" in proc.stdout
    after = run_files(tmp_path)
    assert len(after) == 6 and all(after[p] == done[p] for p in done)
    code, *rows = (tmp_path / f"{OUT}/batches/b0.tsv").read_text().splitlines()
    assert code.startswith("# code ") and len(code.split()) == 3
    assert len(rows) == 6 and all(len(r.split("\t")) == 3 for r in rows)


def test_a_deleted_run_file_is_named_and_its_batch_rerun_computes_only_that_run(tmp_path):
    cfg = tiny_grid(range(3), batches=2)
    write_config(tmp_path, cfg)
    snakemake(tmp_path, "--cores", "2", f"{OUT}/runs.csv")
    before = run_files(tmp_path)
    victim = sorted(before)[0]
    (tmp_path / victim).unlink()
    proc = snakemake(tmp_path, "-n", check=False)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0 and victim in out
    force = out.split("snakemake --forcerun ")[1].splitlines()[0].split()
    assert len(force) == 1 and force[0].startswith(f"{OUT}/batches/b")
    assert planned_runs(tmp_path, "--forcerun", *force) == {victim}
    snakemake(tmp_path, "--cores", "2", "--forcerun", *force)
    after = run_files(tmp_path)
    assert set(after) == set(before)
    assert all(after[p] == before[p] for p in before if p != victim)
