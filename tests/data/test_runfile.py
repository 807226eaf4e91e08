"""The run-file writer (dln.data.runfile.write_run_file): it defines every variable before it
writes any value (netCDF-C then writes the file's metadata once), and the file readers see is
the one the previous writer, which wrote each variable as it defined it, produced."""

from __future__ import annotations

import hashlib

import netCDF4
import numpy as np
import pytest
import xarray as xr

from dln.analysis.result import analyse_run
from dln.data import runfile
from dln.data.checksum import seal
from dln.data.columns import MISSING_INT, as_int
from dln.data.io import open_run_file
from dln.solve.run import RunConfig, simulate


class _PerVariable(runfile._Variables):
    """The previous writer's way (dln 0.2.0 up to issue 22): create a variable, write its value,
    then set its attributes, one variable after the other (its _put_scalar/_put_array)."""

    def scalar(self, name, kind, value, var_attrs):
        nc = self.nc
        if kind == "str":
            var = nc.createVariable(name, str, ())
            var[...] = np.array(value, dtype=object)
        elif kind == "bool":
            var = nc.createVariable(name, "i1", ())
            var.assignValue(int(bool(value)))
            var_attrs = {**var_attrs, "dtype": "bool"}
        elif kind == "int":
            value = as_int(value)
            var = nc.createVariable(name, "i8", ())
            var.assignValue(MISSING_INT if value is None else value)
            if value is None:
                var_attrs = {**var_attrs, "missing_value": np.int64(MISSING_INT)}
        else:
            var = nc.createVariable(name, "f8", ())
            var.assignValue(float(value))
        var.setncatts(var_attrs)

    def array(self, name, dims, values, var_attrs, compress=True):
        values = np.asarray(values)
        kw = runfile.COMPRESSION if compress else {}
        var = self.nc.createVariable(name, values.dtype, dims, **kw)
        var[...] = values
        var.setncatts(var_attrs)


def _previous_writer(run, path) -> None:
    nc = netCDF4.Dataset(path, "w", format="NETCDF4")
    try:
        out = _PerVariable(nc)
        keep = runfile._write_dimensions(out, run)
        runfile._write_results(out, run)
        runfile._write_weights_and_problem(out, run, keep)
        runfile._write_attributes(nc, run, path, "2000-01-01T00:00:00Z")
    finally:
        nc.close()
    seal(path)


def _without_time(attrs: dict) -> dict:
    """Global attributes, the writing time (history's first word) left out."""
    return {**attrs, "history": attrs["history"].split(" ", 1)[1]}


def _layout(path) -> dict:
    """What netCDF4 reports of each variable: dims, dtype, attribute names in order, filters,
    chunking; and the file's attribute names in order."""
    with netCDF4.Dataset(path) as nc:
        out = {"": list(nc.ncattrs())}
        for name, var in nc.variables.items():
            out[name] = (var.dimensions, str(var.dtype), var.ncattrs(), var.filters(),
                         var.chunking())  # fmt: skip
        return out


GAUSSIAN = dict(init="gaussian", init_scale=0.2, seed=1, dtype="float32")  # k: missing


@pytest.mark.parametrize(
    "cfg",
    [
        RunConfig(k=2, steps=600, record_every=20, weights_every=300),
        RunConfig(**GAUSSIAN, steps=400, record_every=20, weights_every=200),
    ],
    ids=["orthogonal", "gaussian-float32"],
)
def test_the_writer_returns_the_files_sha256_and_writes_the_previous_writers_file(
    tmp_path, monkeypatch, cfg
):
    run = analyse_run(simulate(cfg))
    new, old = tmp_path / "new/run.nc", tmp_path / "old/run.nc"
    new.parent.mkdir()
    old.parent.mkdir()
    monkeypatch.chdir(new.parent)  # both files are "run.nc" in their command
    digest = runfile.write_run_file(run, "run.nc")
    monkeypatch.chdir(old.parent)
    _previous_writer(run, "run.nc")
    assert digest == hashlib.sha256(new.read_bytes()).hexdigest()
    open_run_file(new).close()  # its content checksum holds
    with xr.open_dataset(new) as a, xr.open_dataset(old) as b:
        a, b = a.load(), b.load()
        assert list(a.variables) == list(b.variables)
        assert a.drop_attrs().identical(b.drop_attrs())
        assert _without_time(a.attrs) == _without_time(b.attrs)
        for name in a.variables:
            assert a[name].attrs == b[name].attrs, name
            assert {k: v for k, v in a[name].encoding.items() if k != "source"} == {
                k: v for k, v in b[name].encoding.items() if k != "source"
            }, name
    assert _layout(new) == _layout(old)


def test_a_process_records_the_code_it_loaded_in_every_run_file(tmp_path, monkeypatch):
    """Provenance is found once per process (a batch writes many runs): an edit of the checkout
    while a batch runs does not relabel its later runs with code that did not compute them."""
    run = analyse_run(simulate(RunConfig(k=1, steps=200, record_every=20, weights_every=100)))
    runfile.write_run_file(run, tmp_path / "first.nc")
    monkeypatch.setattr(runfile, "source_fingerprint", lambda: "edited-checkout")
    runfile.write_run_file(run, tmp_path / "second.nc")
    with xr.open_dataset(tmp_path / "first.nc") as a, xr.open_dataset(tmp_path / "second.nc") as b:
        assert a.attrs["code_fingerprint"] == b.attrs["code_fingerprint"] != "edited-checkout"
