"""The Snakemake workflow end to end on a small config: DAG shape, outputs, rerun behaviour,
lint and formatting. Everything runs the real workflow in a temporary directory."""

from __future__ import annotations

import subprocess

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from conftest import BIN, REPO, planned_jobs, planned_runs, small_config, snakemake, write_config
from dln.io import read_run

pytestmark = pytest.mark.workflow

FIGURES = ["fig1_loss_by_k", "fig2_rate_stages", "fig3_alignments", "fig4_stuck_vs_lr",
           "fig5_gd_vs_flow", "fig6_escape_model", "fig7_precision", "fig8_gaussian", "fig9_depth",
           "fig10_rates"]
DOWNSTREAM = {"aggregate", "reproduction_summary", "strict_check", "all", *FIGURES}


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """One complete run of the small workflow, shared by the tests below (read-only)."""
    work = tmp_path_factory.mktemp("wf")
    cfg = small_config()
    write_config(work, cfg)
    snakemake(work, "--cores", "2")
    snakemake(work, "--report", "results/report.html")
    return work, cfg


def test_dag_has_one_simulation_per_grid_point(workdir):
    jobs = planned_jobs(workdir)
    # grid: k in {1, 2} at lr 5e-4; lr_sweep adds k = 2 at lr 1e-3 (5e-4 is shared); flow: k = 2
    assert jobs["simulate"] == 4
    assert jobs["aggregate"] == 1
    assert all(jobs[f] == 1 for f in FIGURES)
    assert planned_runs(workdir) == {
        "results/runs/gd/orthogonal-float64/k1/lr0.0005_seed0.nc",
        "results/runs/gd/orthogonal-float64/k2/lr0.0005_seed0.nc",
        "results/runs/gd/orthogonal-float64/k2/lr0.001_seed0.nc",
        "results/runs/gf/orthogonal-float64/k2/lr0.0005_seed0.nc",
    }


def test_end_to_end_outputs(built):
    work, cfg = built
    runs = sorted((work / "results/runs").rglob("*.nc"))
    assert len(runs) == 4
    for path in runs:
        ds = read_run(path)
        assert ds.sizes["step"] == cfg["gd"]["steps"] // cfg["gd"]["record_every"] + 1
        assert int(ds.attrs["predicted_k"]) == int(ds.attrs["k"])
        assert np.all(np.isfinite(ds["loss"].values))
    with xr.open_dataset(work / "results/aggregate/runs.nc", engine="netcdf4") as agg:
        assert agg.sizes["run"] == 4
        assert set(agg["method"].values) == {"gd", "gf"}
        assert "config_hash" in agg.attrs
    summary = pd.read_csv(work / "results/aggregate/summary.csv", index_col="run")
    assert len(summary) == 4
    k1 = summary.loc["gd/orthogonal-float64/k1/lr0.0005_seed0"]
    assert k1["final_level"] == 1 and k1["reached_global"]
    # 6000 steps are too few to leave saddle 2: the run must be reported at L_2
    k2 = summary.loc["gd/orthogonal-float64/k2/lr0.0005_seed0"]
    assert k2["final_level"] == 2 and k2["escape_step"] == -1
    for name in FIGURES:
        png = work / f"results/figures/{name}.png"
        pdf = work / f"results/figures/{name}.pdf"
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000
        assert pdf.read_bytes()[:5] == b"%PDF-"
    summary_md = (work / "results/summary.md").read_text()
    assert "k = 1, orthogonal (1 seeds): predicted k = 1 in 1/1" in summary_md
    html = (work / "results/report.html").read_text(errors="replace")
    assert all(name in html for name in FIGURES)


def test_noop_rerun_plans_nothing(built):
    work, _ = built
    assert planned_jobs(work) == {}


def test_adding_a_seed_reruns_only_the_new_simulations(built):
    work, cfg = built
    edited = small_config()
    edited["grid"]["seed"] = [0, 1]
    write_config(work, edited)
    try:
        new = planned_runs(work)
        jobs = planned_jobs(work)
    finally:
        write_config(work, cfg)
    assert new == {
        "results/runs/gd/orthogonal-float64/k1/lr0.0005_seed1.nc",
        "results/runs/gd/orthogonal-float64/k2/lr0.0005_seed1.nc",
    }
    assert jobs["simulate"] == 2 and jobs["aggregate"] == 1
    assert set(jobs) == {"simulate", *DOWNSTREAM}


def test_changing_steps_reruns_every_simulation(built):
    work, cfg = built
    edited = small_config()
    edited["gd"]["steps"] = 7000
    write_config(work, edited)
    try:
        jobs = planned_jobs(work)
    finally:
        write_config(work, cfg)
    assert jobs["simulate"] == 4


def test_editing_one_figure_option_reruns_only_that_figure(built):
    work, cfg = built
    edited = small_config()
    edited["figures"]["fig4_stuck_vs_lr"]["seed_jitter"] = 0.1
    write_config(work, edited)
    try:
        jobs = planned_jobs(work)
    finally:
        write_config(work, cfg)
    assert jobs == {"fig4_stuck_vs_lr": 1, "all": 1}


def test_lint_is_clean():
    proc = subprocess.run([str(BIN / "snakemake"), "--lint"], cwd=REPO, capture_output=True,
                          text=True, env={"PATH": f"{BIN}:/usr/bin:/bin"})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Congratulations, your workflow is in a good condition!" in proc.stdout + proc.stderr


def test_snakefmt_check_passes():
    proc = subprocess.run([str(BIN / "snakefmt"), "--check", "."], cwd=REPO, capture_output=True,
                          text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
