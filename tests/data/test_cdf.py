"""The CDF-5 encoder and parser (dln.data.cdf), against netCDF-C's own (through netCDF4-python):
what netCDF-C reads from our bytes is what it wrote itself from the same content, and what we
parse from netCDF-C's bytes is that content."""

from __future__ import annotations

import netCDF4
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dln.data import cdf

DIMS = {"step": 3, "n0": 2, "string5": 5}
CONTENT = [
    ("step", ("step",), np.array([0, 10, 20], "i8"), {"long_name": "GD iteration"}),
    ("loss", ("step",), np.array([1.5, 0.25, -0.0], "f8"), {"units": "1"}),
    ("W", ("step", "n0"), np.arange(6, dtype="f4").reshape(3, 2), {}),
    ("k", (), np.int64(-9223372036854775806), {"missing_value": np.int64(-9223372036854775806)}),
    ("flag", (), np.int8(1), {"dtype": "bool"}),
    ("rate", (), np.float64(np.nan), {"long_name": "ä non-ASCII name", "scale": np.float32(2)}),
    ("small", ("n0",), np.array([7, 300], "u2"), {"valid_range": np.array([0, 999], "i4")}),
    ("label", ("string5",), cdf.as_char_array("gd+ü"), {"_Encoding": "utf-8"}),
]
GLOBAL = {"Conventions": "CF-1.11", "title": "x" * 37, "count": np.int64(3)}


def _write_with_netcdf_c(path) -> None:
    with netCDF4.Dataset(path, "w", format="NETCDF3_64BIT_DATA") as nc:
        for name, size in DIMS.items():
            nc.createDimension(name, size)
        nc.setncatts(GLOBAL)
        for name, dims, values, attrs in CONTENT:
            var = nc.createVariable(name, np.asarray(values).dtype, dims)
            var.setncatts(attrs)
            var.set_auto_maskandscale(False)
            var.set_auto_chartostring(False)
            var[...] = values


def _as_netcdf_c_reads_it(path) -> dict:
    with netCDF4.Dataset(path) as nc:
        nc.set_auto_maskandscale(False)
        nc.set_auto_chartostring(False)
        dims = {k: len(v) for k, v in nc.dimensions.items()}
        out = {"": (nc.file_format, dims, {k: repr(nc.getncattr(k)) for k in nc.ncattrs()})}
        for name, var in nc.variables.items():
            attrs = {k: repr(var.getncattr(k)) for k in var.ncattrs()}
            values = var[...]
            out[name] = (var.dimensions, str(var.dtype), attrs, values.tobytes())
        return out


def test_netcdf_c_reads_our_bytes_as_the_file_it_writes_itself(tmp_path):
    ours, theirs = tmp_path / "ours.nc", tmp_path / "theirs.nc"
    ours.write_bytes(cdf.encode(DIMS, CONTENT, GLOBAL) + b"trailing bytes are ignored")
    _write_with_netcdf_c(theirs)
    assert _as_netcdf_c_reads_it(ours) == _as_netcdf_c_reads_it(theirs)
    assert _as_netcdf_c_reads_it(ours)[""][0] == "NETCDF3_64BIT_DATA"


def test_the_parser_reads_netcdf_c_bytes_as_the_content_written(tmp_path):
    path = tmp_path / "theirs.nc"
    _write_with_netcdf_c(path)
    ds = cdf.Dataset(path.read_bytes())
    assert ds.dimensions == DIMS
    assert list(ds.variables) == [name for name, *_ in CONTENT]
    assert ds.attrs.keys() == GLOBAL.keys() and ds.attrs["count"] == 3
    assert ds.attrs["title"] == GLOBAL["title"]
    for name, dims, values, attrs in CONTENT:
        var = ds[name]
        assert var.dims == dims
        assert set(var.attrs) == set(attrs), name
        for key, value in attrs.items():
            np.testing.assert_array_equal(var.attrs[key], value)
        if name == "label":
            assert var[()] == "gd+ü"
        else:
            got = var[()]
            assert got.dtype == np.asarray(values).dtype.newbyteorder("=")
            np.testing.assert_array_equal(got, values)


def test_our_bytes_parse_back_to_the_same_values():
    data = cdf.encode(DIMS, CONTENT, GLOBAL)
    ds = cdf.Dataset(data)
    assert dict(cdf.global_attributes(data)) == dict(ds.attrs)  # without the variables
    for name, _, values, _ in CONTENT[:-1]:
        np.testing.assert_array_equal(ds[name][()], values)
    assert cdf.as_char_array("").tobytes() == b"\0"  # an empty text still has a dimension


@pytest.mark.parametrize("cut", [3, 20, 60, 200])
def test_a_header_cut_short_or_not_cdf5_is_a_format_error(cut):
    data = cdf.encode(DIMS, CONTENT, GLOBAL)
    with pytest.raises(cdf.FormatError):
        cdf.Dataset(data[:cut])
    with pytest.raises(cdf.FormatError, match="not a CDF-5 file"):
        cdf.Dataset(b"CDF\x02" + data[4:])


def test_data_cut_short_is_a_format_error():
    data = cdf.encode(DIMS, CONTENT, GLOBAL)
    with pytest.raises(cdf.FormatError, match="variable label: its data runs past the end"):
        cdf.Dataset(data[:-8])  # the header is whole; the last variable's bytes are not


def test_values_it_cannot_store_are_refused_by_name():
    with pytest.raises(TypeError, match="variable z: type complex128"):
        cdf.encode({"n": 1}, [("z", ("n",), np.array([1j]), {})], {})
    with pytest.raises(ValueError, match="variable z: shape"):
        cdf.encode({"n": 2}, [("z", ("n",), np.zeros(3), {})], {})
    with pytest.raises(ValueError, match="dimension n: length 0"):
        cdf.encode({"n": 0}, [], {})


@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_any_damaged_header_parses_or_is_a_format_error(data):
    """Bytes changed in the header (past the checksum, e.g. a file sealed after it broke):
    the parser reads them (every variable and attribute) or refuses them as a FormatError,
    never another exception."""
    good = cdf.encode(DIMS, CONTENT, GLOBAL)
    header_end = cdf.Dataset(good)["step"].offset
    damaged = bytearray(good)
    for _ in range(data.draw(st.integers(1, 4))):
        at = data.draw(st.integers(4, header_end - 1))
        damaged[at] = data.draw(st.integers(0, 255))
    try:
        ds = cdf.Dataset(bytes(damaged))
        for var in ds.variables.values():
            var[()]
            dict(var.attrs)
        dict(ds.attrs)
    except cdf.FormatError:
        pass
