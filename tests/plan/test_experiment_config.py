"""An experiment is its config (issue 19): a scalar axis is a one-element list, the workflow
writes results/<experiment>/config.yaml, and another config under the same name is refused at
parse time with one line naming the keys that differ (--config overwrite=true replaces it)."""

from __future__ import annotations

import copy
import subprocess
import sys

import pytest
import yaml

from conftest import OUT, small_config, snakemake, write_config
from dln.model.problem import ConfigError
from dln.plan.configcheck import (
    check_experiment,
    config_copy_text,
    config_differences,
    normalize_axes,
)
from dln.plan.runplan import STUDIES, plan_runs


def test_scalar_axes_become_one_element_lists():
    cfg = small_config()
    cfg["grid"] = {"k": 1, "lr": 1.0e-3, "seed": [0, 1], "widths": [8, 1, 4, 5]}
    cfg["laws"] = [{"spectrum": "linear", "k": 2}, {"spectrum": [[6, 4, 3, 2, 1], "linear"]}]
    normalize_axes(cfg, STUDIES)
    assert cfg["grid"] == {"k": [1], "lr": [1.0e-3], "seed": [0, 1], "widths": [[8, 1, 4, 5]]}
    assert cfg["laws"][0] == {"spectrum": ["linear"], "k": [2]}
    assert cfg["laws"][1] == {"spectrum": [[6, 4, 3, 2, 1], "linear"]}
    cfg["laws"] = None
    cfg["gd"].update(steps=1000, weights_every=500)
    assert [r.config.lr for r in plan_runs(cfg).values() if "grid" in r.studies] == [1e-3] * 2


def test_differences_name_dotted_keys_and_ignore_limits_and_strict():
    a = small_config()
    b = copy.deepcopy(a)
    b["grid"]["seed"] = [0, 1]
    b["gd"]["steps"] = 7000
    b["limits"]["max_runs"] = 3
    b["analysis"]["strict"] = True
    b["precision"] = {"k": [2]}
    assert config_differences(a, b) == ["gd.steps", "grid.seed", "precision", "precision.k"]
    assert config_differences(a, copy.deepcopy(a)) == []


def test_check_experiment_refuses_another_config_in_one_line(tmp_path):
    cfg = small_config()
    copy_path = tmp_path / "config.yaml"
    check_experiment(cfg, copy_path, overwrite=False)  # no copy yet: a new experiment
    copy_path.write_text(config_copy_text(cfg, "dln 0.2.0, numerics abc"))
    check_experiment(copy.deepcopy(cfg), copy_path, overwrite=False)  # the same config
    other = copy.deepcopy(cfg)
    other["grid"]["lr"] = [1.0e-3]
    with pytest.raises(ConfigError) as info:
        check_experiment(other, copy_path, overwrite=False)
    msg = str(info.value)
    assert "\n" not in msg and "grid.lr differ" in msg and str(copy_path) in msg
    assert "overwrite=true" in msg and "new experiment" in msg
    check_experiment(other, copy_path, overwrite=True)


def test_the_copy_is_the_config_with_the_code_version():
    cfg = small_config()
    text = config_copy_text(cfg, "dln 0.2.0, numerics abc")
    assert (
        text.splitlines()[0]
        == "# resolved config of experiment paper; code dln 0.2.0, numerics abc"
    )
    assert yaml.safe_load(text) == cfg


@pytest.mark.workflow
def test_workflow_writes_the_copy_and_refuses_another_config(tmp_path):
    cfg = small_config()
    cfg["gd"].update(steps=1000, weights_every=500)
    cfg["grid"] = {"k": 1, "seed": [0], "lr": 5.0e-4}  # scalars: one-element axes
    cfg["lr_sweep"] = cfg["flow"] = None
    write_config(tmp_path, cfg)
    snakemake(tmp_path, "--cores", "1", f"{OUT}/config.yaml")
    copy_text = (tmp_path / OUT / "config.yaml").read_text()
    assert copy_text.startswith("# resolved config of experiment paper; code dln ")
    assert yaml.safe_load(copy_text)["grid"] == {"k": [1], "seed": [0], "lr": [5.0e-4]}
    cfg["grid"]["seed"] = [0, 1]
    cfg["gd"]["steps"] = 2000
    write_config(tmp_path, cfg)
    proc = snakemake(tmp_path, "-n", check=False)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0
    lines = [line for line in out.splitlines() if "config error" in line]
    assert len(lines) == 1 and "gd.steps, grid.seed differ" in lines[0], out
    snakemake(tmp_path, "--cores", "1", f"{OUT}/config.yaml", "--config", "overwrite=true")
    assert yaml.safe_load((tmp_path / OUT / "config.yaml").read_text())["gd"]["steps"] == 2000
    snakemake(tmp_path, "-n")  # the copy now matches: no refusal
    # `dln exp show` reads the copy the workflow wrote
    show = subprocess.run(
        [sys.executable, "-m", "dln", "exp", "show", "--format", "csv"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert show.returncode == 0, show.stderr
    assert show.stdout.splitlines()[:2] == ["experiment,runs,claims", "paper,-,-"]


def test_batches_say_how_to_run_not_what_the_experiment_is():
    """`--config batches=200` (docs/slurm.md: spread a grid over more nodes) on an existing
    experiment is not another experiment: it regroups the same runs."""
    a = small_config()
    b = copy.deepcopy(a)
    b["batches"] = 200
    assert config_differences(a, b) == []
