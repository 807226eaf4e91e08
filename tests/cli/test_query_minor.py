"""Minor cases of issue 21 item 12 in `dln table` and `dln info`."""

from __future__ import annotations

import synthetic
from dln.cli import query


def run(capsys, *argv):
    code = query.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_table_by_a_column_given_twice_groups_by_it_once(capsys, tmp_path):
    """Was: pandas' "Grouper for 'k' not 1-dimensional"."""
    exp = synthetic.write_aggregate(tmp_path / "results", "demo")
    code, once, _ = run(capsys, "table", exp, "--by", "k")
    assert code == 0
    code, twice, err = run(capsys, "table", exp, "--by", "k,k")
    assert code == 0, err
    assert twice == once


def test_info_of_an_experiment_directory_shows_the_config_hash(capsys, tmp_path):
    """Was: "config hash: -" (the table came from runs.csv, which has no attributes) though
    runs.nc beside it carries the hash."""
    exp = synthetic.write_aggregate(tmp_path / "results", "demo", config_hash="feedbead")
    code, out, err = run(capsys, "info", exp)
    assert code == 0, err
    assert "config hash: feedbead" in out
    code, out, err = run(capsys, "info", tmp_path / "results")  # one experiment: the same
    assert code == 0 and "config hash: feedbead" in out, err


def test_diff_by_a_column_given_twice_groups_by_it_once(capsys, tmp_path):
    a = synthetic.write_aggregate(tmp_path / "results", "a")
    b = synthetic.write_aggregate(tmp_path / "results", "b")
    code, once, _ = run(capsys, "diff", a, b, "--by", "k")
    code, twice, err = run(capsys, "diff", a, b, "--by", "k,k")
    assert code == 0 and "Traceback" not in err and "Grouper" not in err, err
    assert twice == once
