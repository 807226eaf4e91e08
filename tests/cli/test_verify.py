"""`dln verify` and the trajectory digests (issue 18 §1): a few runs of the default config,
re-simulated here, have the digests of the committed manifest (results/paper/manifest.csv), on
every machine that runs the suite; a run that differs is named with how much it differs."""

from __future__ import annotations

import csv
import json

import netCDF4
import numpy as np
import pytest

from conftest import REPO
from dln.cli.main import main
from dln.cli.verify import compare
from dln.data.manifest import COLUMNS, file_entry, read_manifest, write_manifest
from dln.data.pipeline import run_to_file
from dln.solve.run import RunConfig, trajectory_digest

MANIFEST = REPO / "results/paper/manifest.csv"


def _default_run(**settings) -> str:
    """The committed manifest's run with these settings (the default config's other values)."""
    want = RunConfig(**settings).key()
    (row,) = [r for r in read_manifest(MANIFEST).values() if r["run_key"] == want]
    return row["run"]


def test_default_runs_reproduce_the_committed_digests(capsys):
    """Three runs of the default experiment (10^5 steps each): a float64 orthogonal start, which
    escapes through round-off, a float32 antisymmetric one and a Gaussian one."""
    runs = [
        _default_run(k=3, seed=1),
        _default_run(k=2, construction="antisymmetric", dtype="float32"),
        _default_run(init="gaussian", init_scale=0.2),
    ]
    args = ["verify", "--rerun", "--manifest", str(MANIFEST)]
    code = main([*args, *(x for r in runs for x in ("--run", r))])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "3 runs re-simulated" in out and "3 identical, 0 differ" in out


def test_manifest_lists_every_run_with_its_digest():
    rows = list(csv.DictReader(MANIFEST.open()))
    assert rows and tuple(rows[0]) == COLUMNS
    for row in rows:
        assert len(row["trajectory_sha256"]) == 64 and row["path"].endswith(row["run"] + ".nc")
        assert RunConfig(**json.loads(row["settings"])).key() == row["run_key"]


@pytest.fixture(scope="module")
def experiment(tmp_path_factory):
    """A tiny experiment directory: plan.csv, two run files, manifest.csv."""
    root = tmp_path_factory.mktemp("work")
    rows = []
    for seed in (0, 1):
        cfg = RunConfig(k=3, seed=seed, steps=1500, record_every=50, weights_every=500)
        rid = f"gd-orthogonal-float64/N6-k3/lr0.0005-seed{seed}-{cfg.key()}"
        path = f"results/runs/{rid}.nc"
        run_to_file(cfg, root / path)
        rows.append(f"{rid},{path}")
    exp = root / "results/exp"
    exp.mkdir()
    (exp / "plan.csv").write_text("run,path\n" + "\n".join(rows) + "\n")
    return root, exp


def test_digest_is_recorded_and_matches_the_arrays(experiment):
    root, exp = experiment
    path = next((root / "results/runs").rglob("*.nc"))
    with netCDF4.Dataset(path) as ds:
        loss = ds["loss"][...].data
        weights = [ds[f"W{j}"][...].data for j in range(1, 7)]
        stored = ds.trajectory_sha256
        assert json.loads(ds.row_json)["trajectory_sha256"] == stored
        assert str(ds["trajectory_sha256"][...]) == stored
        assert ds.environment_lock_sha256 not in ("", "unknown")
    assert trajectory_digest(loss, weights) == stored
    assert trajectory_digest(loss, weights[:-1]) != stored
    assert trajectory_digest(loss.astype(np.float32), weights) != stored  # dtype is hashed


def test_verify_experiment_directory(experiment, capsys, monkeypatch):
    root, exp = experiment
    monkeypatch.chdir(root)
    assert write_manifest(exp / "plan.csv", exp / "manifest.csv") == 2
    assert main(["verify", str(exp)]) == 0
    assert "2 runs checked" in capsys.readouterr().out
    files = sorted(str(p) for p in (root / "results/runs").rglob("*.nc"))
    assert main(["verify", *files, "--manifest", str(exp / "manifest.csv")]) == 0


def test_verify_names_a_run_that_differs_and_by_how_much(experiment, capsys, monkeypatch):
    root, exp = experiment
    monkeypatch.chdir(root)
    write_manifest(exp / "plan.csv", exp / "manifest.csv")
    text = (exp / "manifest.csv").read_text()
    (row,) = [r for r in read_manifest(exp / "manifest.csv").values() if "seed0" in r["run"]]
    bad = text.replace(row["trajectory_sha256"], "0" * 64).replace(
        f",{row['final_loss']},", f",{float(row['final_loss']) + 0.5!r},"
    )
    (exp / "other.csv").write_text(bad)
    assert main(["verify", str(exp), "--manifest", str(exp / "other.csv")]) == 1
    out = capsys.readouterr().out
    assert f"DIFFERS {row['run']}: digest" in out and "final_loss" in out and "(diff -0.5)" in out
    assert "1 differ" in out


def test_compare_gives_the_first_step_whose_loss_differs(experiment):
    root, _ = experiment
    a, b = sorted((root / "results/runs").rglob("*.nc"))
    ref = file_entry(a, "x-" + a.stem.rsplit("-", 1)[-1])
    entry = file_entry(b, "x-" + b.stem.rsplit("-", 1)[-1])
    line = compare(entry, ref, a, b)
    assert "loss first differs at step 0" in line
    assert compare(ref, ref, a, a) is None


def test_verify_refuses_a_tampered_or_unknown_file(experiment, capsys, tmp_path, monkeypatch):
    root, exp = experiment
    monkeypatch.chdir(root)
    write_manifest(exp / "plan.csv", tmp_path / "m.csv")
    src = next((root / "results/runs").rglob("*seed1*.nc"))
    edited = tmp_path / "edited.nc"
    edited.write_bytes(src.read_bytes())
    with netCDF4.Dataset(edited, "a") as ds:
        ds["loss"][-1] = -7.0
    assert main(["verify", str(edited), "--manifest", str(tmp_path / "m.csv")]) == 1
    out = capsys.readouterr().out  # (the edit changed bytes under the content checksum)
    assert "DIFFERS" in out and "edited.nc: content does not match its checksum" in out
    other = tmp_path / "other.nc"
    run_to_file(RunConfig(k=1, steps=100, record_every=50, weights_every=50), other)
    assert main(["verify", str(other), "--manifest", str(tmp_path / "m.csv")]) == 1
    assert "is not in the manifest" in capsys.readouterr().out
    assert main(["verify", str(other), "--manifest", str(tmp_path / "none.csv")]) == 2
