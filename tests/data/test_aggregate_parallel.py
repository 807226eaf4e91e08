"""Aggregation with worker processes reading the run files: the same output as one process,
and a bad run file still stops it with its one-line message."""

from __future__ import annotations

import pandas as pd
import pytest
import xarray as xr

from dln.analysis.result import analyse_run
from dln.data.aggregate import aggregate
from dln.data.io import RunFileError
from dln.data.runfile import write_run_file
from dln.solve.run import RunConfig, simulate


@pytest.fixture(scope="module")
def plan(tmp_path_factory):
    """Five different runs (k, seed, precision) and their plan."""
    work = tmp_path_factory.mktemp("runs")
    lines = ["run,path,steps,record_every,d,in_grid"]
    for k, seed, dtype in [(1, 0, "float64"), (2, 1, "float64"), (3, 0, "float32"),
                           (4, 2, "float64"), (5, 0, "float32")]:  # fmt: skip
        cfg = RunConfig(k=k, seed=seed, dtype=dtype, steps=600, record_every=50, weights_every=100)
        path = work / "results/runs" / f"{cfg.run_id()}.nc"
        write_run_file(analyse_run(simulate(cfg)), path)
        lines.append(f"{cfg.run_id()},{path},600,50,5,true")
    (work / "plan.csv").write_text("\n".join(lines) + "\n")
    return work / "plan.csv"


def test_workers_give_the_same_dataset_and_table(plan, tmp_path):
    for workers in (1, 2):
        n = aggregate(plan, tmp_path / f"{workers}.nc", tmp_path / f"{workers}.csv", "x", "h",
                      workers=workers)  # fmt: skip
        assert n == 5
    one, two = pd.read_csv(tmp_path / "1.csv"), pd.read_csv(tmp_path / "2.csv")
    pd.testing.assert_frame_equal(one, two)
    with xr.open_dataset(tmp_path / "1.nc") as a, xr.open_dataset(tmp_path / "2.nc") as b:
        xr.testing.assert_identical(a.drop_attrs(), b.drop_attrs())
        assert {k: v for k, v in a.attrs.items() if k != "history"} == {
            k: v for k, v in b.attrs.items() if k != "history"
        }


def test_a_bad_run_file_stops_the_workers_with_its_message(plan, tmp_path):
    rows = plan.read_text().splitlines()
    victim = rows[3].split(",")[1]
    bad = tmp_path / "plan.csv"
    bad.write_text("\n".join([*rows[:3], rows[3].replace(victim, str(tmp_path / "gone.nc")),
                              *rows[4:]]) + "\n")  # fmt: skip
    with pytest.raises(RunFileError, match="gone.nc: run file does not exist"):
        aggregate(bad, tmp_path / "r.nc", tmp_path / "r.csv", "x", "h", workers=2)
    assert not (tmp_path / "r.nc").exists() and not (tmp_path / "r.csv").exists()
