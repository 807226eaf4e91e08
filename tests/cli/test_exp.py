"""`dln exp show`: experiments x the config keys that differ x headline metrics."""

from __future__ import annotations

import copy
import io

import pandas as pd

import synthetic
from conftest import small_config
from dln.cli.main import main
from dln.plan.configcheck import config_copy_text


def experiment(results, name: str, cfg: dict, rows=None, verdicts=None):
    exp = synthetic.write_aggregate(results, name, rows)
    cfg = {**copy.deepcopy(cfg), "experiment": name}
    (exp / "config.yaml").write_text(config_copy_text(cfg, "dln 0.2.0, numerics abc"))
    if verdicts:
        pd.DataFrame({"section": "s", "claim": "c", "verdict": verdicts}).to_csv(
            exp / "claims.csv", index=False
        )
    return exp


def show(capsys, *argv):
    code = main(["exp", "show", *map(str, argv)])
    out, err = capsys.readouterr()
    return code, out, err


def test_exp_show_lists_differing_settings_and_headline_metrics(capsys, tmp_path):
    results = tmp_path / "results"
    base = small_config()
    longer = copy.deepcopy(base)
    longer["gd"]["steps"] = 12000
    rows = synthetic.default_rows()
    rows[2]["stuck_steps"] = 20000.0  # k = 3 orthogonal grid runs: 12,000 and 20,000
    experiment(results, "paper", base, verdicts=["PASS", "PASS", "FAIL", "INFO"])
    experiment(results, "long", longer, rows, verdicts=["PASS", "INCONCLUSIVE"])
    code, out, err = show(capsys, "--results", results, "--format", "csv")
    assert code == 0 and err == ""
    df = pd.read_csv(io.StringIO(out), index_col="experiment")
    assert list(df.index) == ["long", "paper"]
    # the one config key that differs (the experiment names aside), with each value
    assert [c for c in df.columns if "." in c] == ["gd.steps"]
    assert df.loc["long", "gd.steps"] == 12000 and df.loc["paper", "gd.steps"] == 6000
    assert df.loc["paper", "claims"] == "2 PASS, 1 FAIL"
    assert df.loc["long", "claims"] == "1 PASS, 0 FAIL, 1 INCONCLUSIVE"
    # grid runs only (the lr-sweep run's 6,000 is not in the median), per k and construction
    assert df.loc["paper", "stuck k=3 orthogonal"] == 13000
    assert df.loc["long", "stuck k=3 orthogonal"] == 16000
    assert df.loc["paper", "stuck k=3 random"] == 20000
    assert df.loc["paper", "runs"] == 6
    code, out, _ = show(capsys, "--results", results)
    assert out.splitlines()[0].split()[:3] == ["experiment", "runs", "gd.steps"]


def test_exp_show_without_experiments_is_one_error_line(capsys, tmp_path):
    code, out, err = show(capsys, "--results", tmp_path)
    assert code == 2 and out == "" and len(err.splitlines()) == 1
    assert err.startswith(f"error: {tmp_path}: no experiments here")
