"""The run-file writer (dln.data.runfile.write_run_file): it encodes the file in memory as
CDF-5 (dln.data.cdf) and writes it at once; xarray reads it as the same Dataset as the netCDF-4
(HDF5) file that netCDF4-python writes from the same content (the format of earlier releases)."""

from __future__ import annotations

import hashlib

import netCDF4
import numpy as np
import pytest
import xarray as xr

from dln.analysis.result import analyse_run
from dln.data import runfile
from dln.data.io import open_run_file
from dln.solve.run import RunConfig, simulate


def _netcdf4_writer(run, path) -> None:
    """The same dimensions, variables and attributes through netCDF4-python as netCDF-4: text
    as variable-length strings (no string dimensions), numbers as they are."""
    out = runfile._Variables()
    keep = runfile._write_dimensions(out, run)
    runfile._write_results(out, run)
    runfile._write_weights_and_problem(out, run, keep)
    with netCDF4.Dataset(path, "w", format="NETCDF4") as nc:
        for name, size in out.dimensions.items():
            if not name.startswith("string"):
                nc.createDimension(name, size)
        for name, dims, values, attrs in out.variables:
            attrs = dict(attrs)
            if attrs.pop("_Encoding", None):
                var = nc.createVariable(name, str, ())
                var[...] = np.array(values.tobytes().rstrip(b"\0").decode(), dtype=object)
            else:
                var = nc.createVariable(name, np.asarray(values).dtype, dims)
                var[...] = values
            var.setncatts(attrs)
        nc.setncatts(runfile._global_attributes(run, path, "2000-01-01T00:00:00Z"))


def _without_time(attrs: dict) -> dict:
    """Global attributes, the writing time (history's first word) left out."""
    return {**attrs, "history": attrs["history"].split(" ", 1)[1]}


GAUSSIAN = dict(init="gaussian", init_scale=0.2, seed=1, dtype="float32")  # k: missing


@pytest.mark.parametrize(
    "cfg",
    [
        RunConfig(k=2, steps=600, record_every=20, weights_every=300),
        RunConfig(**GAUSSIAN, steps=400, record_every=20, weights_every=200),
    ],
    ids=["orthogonal", "gaussian-float32"],
)
def test_the_writer_returns_the_files_sha256_and_xarray_reads_the_netcdf4_files_dataset(
    tmp_path, monkeypatch, cfg
):
    run = analyse_run(simulate(cfg))
    new, old = tmp_path / "new/run.nc", tmp_path / "old/run.nc"
    new.parent.mkdir()
    old.parent.mkdir()
    monkeypatch.chdir(new.parent)  # both files are "run.nc" in their command
    digest = runfile.write_run_file(run, "run.nc")
    monkeypatch.chdir(old.parent)
    _netcdf4_writer(run, "run.nc")
    assert digest == hashlib.sha256(new.read_bytes()).hexdigest()
    open_run_file(new).close()  # its content checksum holds
    with netCDF4.Dataset(new) as nc:
        assert nc.file_format == "NETCDF3_64BIT_DATA"
    with xr.open_dataset(new) as a, xr.open_dataset(old) as b:
        a, b = a.load(), b.load()
        assert list(a.variables) == list(b.variables)
        assert a.drop_attrs().identical(b.drop_attrs())
        assert _without_time(a.attrs) == _without_time(b.attrs)
        for name in a.variables:
            assert a[name].attrs == b[name].attrs, name
            assert a[name].dtype == b[name].dtype or a[name].dtype == object, name  # text
        assert a["k"].dtype == (float if cfg.init == "gaussian" else np.int64)  # NaN: missing


def test_a_process_records_the_code_it_loaded_in_every_run_file(tmp_path, monkeypatch):
    """Provenance is found once per process (a batch writes many runs): an edit of the checkout
    while a batch runs does not relabel its later runs with code that did not compute them."""
    run = analyse_run(simulate(RunConfig(k=1, steps=200, record_every=20, weights_every=100)))
    runfile.write_run_file(run, tmp_path / "first.nc")
    monkeypatch.setattr(runfile, "source_fingerprint", lambda: "edited-checkout")
    runfile.write_run_file(run, tmp_path / "second.nc")
    with xr.open_dataset(tmp_path / "first.nc") as a, xr.open_dataset(tmp_path / "second.nc") as b:
        assert a.attrs["code_fingerprint"] == b.attrs["code_fingerprint"] != "edited-checkout"
