"""Run files in the netCDF classic format CDF-5 ("64-bit data", NETCDF3_64BIT_DATA): encode a
whole file in memory, and read one back from its bytes.

Why not the netCDF-4 (HDF5) format the run files had before: a run file holds ~90 small
variables (settings and metrics as scalars, records, weights), and HDF5 costs ~80 us per
dataset to create and write: ~9.5 ms of a 2,000-step run's ~11 ms in a batch. netCDF-C
writing CDF-5 through netCDF4-python is slower still (it leaves and re-enters define mode at
every variable and attribute, rewriting the header each time). A CDF-5 file is one header and
the variables' big-endian bytes, so it is built here in one pass (~1 ms) and written with one
write. Every netCDF reader opens it: xarray (engine netcdf4), netCDF-C's ncdump, netCDF4-python.
CDF-5, not CDF-1/2, because the settings and metrics hold int64 values (seeds, MISSING_INT).

The format: NetCDF Classic and 64-bit Offset File Formats (NASA ESDS-RFC-011), with CDF-5's
64-bit counts, sizes and offsets (netCDF-C docs, "file_format_specifications"). Only what run
files use is supported: fixed-size dimensions (no record dimension), and text as NC_CHAR:
a string variable is a char array on an extra `string<n>` dimension with `_Encoding = utf-8`,
as xarray itself writes strings to netCDF-3 and decodes them.

A reader of run files (dln.data.io.open_run_file) parses the bytes it has already checked
against their content checksum (dln.data.checksum), so nothing else reads them: Dataset below
offers the h5py-like subset the readers use (attrs, ds[name][()]).
"""

from __future__ import annotations

import math
import struct
from collections.abc import Mapping

import numpy as np

MAGIC = b"CDF\x05"
_DIMENSION, _VARIABLE, _ATTRIBUTE = 10, 11, 12

# nc_type codes of CDF-5 and their big-endian NumPy types
_TYPES = {
    1: np.dtype(">i1"),  # NC_BYTE
    2: np.dtype("S1"),  # NC_CHAR
    3: np.dtype(">i2"),  # NC_SHORT
    4: np.dtype(">i4"),  # NC_INT
    5: np.dtype(">f4"),  # NC_FLOAT
    6: np.dtype(">f8"),  # NC_DOUBLE
    7: np.dtype(">u1"),  # NC_UBYTE
    8: np.dtype(">u2"),  # NC_USHORT
    9: np.dtype(">u4"),  # NC_UINT
    10: np.dtype(">i8"),  # NC_INT64
    11: np.dtype(">u8"),  # NC_UINT64
}
_CODES = {(t.kind, t.itemsize): code for code, t in _TYPES.items()}


class FormatError(ValueError):
    """Bytes that are not a CDF-5 file this module can read."""


def _pad4(n: int) -> int:
    return -n % 4


def _name(text: str) -> bytes:
    raw = text.encode("utf-8")
    return struct.pack(">q", len(raw)) + raw + b"\0" * _pad4(len(raw))


def _typed(value) -> tuple[int, bytes, int]:
    """(nc_type, big-endian bytes, number of elements) of an attribute value."""
    if isinstance(value, str):
        raw = value.encode("utf-8")
        return 2, raw, len(raw)
    values = np.atleast_1d(np.asarray(value))
    if values.dtype == bool:
        values = values.astype("i1")
    code = _CODES.get((values.dtype.kind, values.dtype.itemsize))
    if code is None or code == 2:
        raise TypeError(f"attribute value {value!r}: type {values.dtype} has no CDF-5 type")
    return code, values.astype(_TYPES[code]).tobytes(), values.size


def _list_head(tag: int, n: int) -> bytes:
    """A list's tag and length; an empty list is ABSENT (a zero tag and a zero length)."""
    return struct.pack(">iq", tag if n else 0, n)


def _attributes(attrs: dict) -> bytes:
    parts = [_list_head(_ATTRIBUTE, len(attrs))]
    for key, value in attrs.items():
        code, raw, n = _typed(value)
        parts += [_name(key), struct.pack(">iq", code, n), raw, b"\0" * _pad4(len(raw))]
    return b"".join(parts)


def as_char_array(text: str) -> np.ndarray:
    """A string as the NC_CHAR array that stores it (at least one byte: a netCDF dimension of
    length 0 would be the record dimension; trailing NULs read back as nothing)."""
    raw = text.encode("utf-8") or b"\0"
    return np.frombuffer(raw, "S1")


def encode(dimensions: dict[str, int], variables: list, attrs: dict) -> bytes:
    """The bytes of a CDF-5 file: `dimensions` name -> length (> 0), `variables` a list of
    (name, dimension names, values, attributes) in file order (values of a NumPy type with a
    CDF-5 type; bool as int8; text as an S1 array from as_char_array), `attrs` the global
    attributes (str, or numbers)."""
    dim_ids = {name: i for i, name in enumerate(dimensions)}
    for name, size in dimensions.items():
        if size <= 0:
            raise ValueError(f"dimension {name}: length {size}, must be > 0")
    header = [MAGIC, struct.pack(">q", 0), _list_head(_DIMENSION, len(dimensions))]
    for name, size in dimensions.items():
        header += [_name(name), struct.pack(">q", size)]
    header.append(_attributes(attrs))

    entries, blocks = [], []
    for name, dims, values, var_attrs in variables:
        values = np.asarray(values)
        if values.dtype == bool:
            values = values.astype("i1")
        code = _CODES.get((values.dtype.kind, values.dtype.itemsize))
        if code is None:
            raise TypeError(f"variable {name}: type {values.dtype} has no CDF-5 type")
        shape = tuple(dimensions[d] for d in dims)
        if values.shape != shape:
            raise ValueError(f"variable {name}: shape {values.shape}, its dimensions {shape}")
        raw = values.astype(_TYPES[code], copy=False).tobytes()
        entry = [_name(name), struct.pack(">q", len(dims))]
        entry += [struct.pack(">q", dim_ids[d]) for d in dims]
        entry += [_attributes(var_attrs), struct.pack(">iq", code, len(raw) + _pad4(len(raw)))]
        entries.append(b"".join(entry))
        blocks.append(raw + b"\0" * _pad4(len(raw)))
    head = _list_head(_VARIABLE, len(variables))
    # each variable entry ends in its 8-byte begin offset, known once the header's size is
    header_size = sum(map(len, header)) + len(head) + sum(len(e) + 8 for e in entries)
    offsets, at = [], header_size
    for block in blocks:
        offsets.append(at)
        at += len(block)
    var_list = b"".join(e + struct.pack(">q", o) for e, o in zip(entries, offsets, strict=True))
    return b"".join([*header, head, var_list, *blocks])


_INT32, _INT64, _TAG = struct.Struct(">i"), struct.Struct(">q"), struct.Struct(">iq")


class _Reader:
    """Sequential parsing of a header (unpack_from at an offset: no slices of the bytes)."""

    def __init__(self, data: bytes):
        self.data, self.at, self.size = data, 0, len(data)

    def _need(self, n: int) -> int:
        at = self.at
        if n < 0 or at + n > self.size:
            raise FormatError("header runs past the end of the file")
        self.at = at + n
        return at

    def int32(self) -> int:
        return _INT32.unpack_from(self.data, self._need(4))[0]

    def int64(self) -> int:
        return _INT64.unpack_from(self.data, self._need(8))[0]

    def name(self) -> str:
        n = self.int64()
        if n < 0:
            raise FormatError(f"a name of length {n}")
        at = self._need(n + _pad4(n))
        try:
            return self.data[at : at + n].decode("utf-8")
        except UnicodeDecodeError as err:
            raise FormatError(f"a name that is not UTF-8 ({err.reason})") from None

    def tagged_count(self, tag: int) -> int:
        found, n = _TAG.unpack_from(self.data, self._need(12))
        if found not in (0, tag) or (found == 0 and n != 0):
            raise FormatError(f"expected list tag {tag}, found {found}")
        return n

    def attributes(self) -> Attributes:
        """The attribute list here, located now and decoded when read (a reader of run files
        reads a few of their ~250 attributes)."""
        found = {}
        for _ in range(self.tagged_count(_ATTRIBUTE)):
            key = self.name()
            code, n = _TAG.unpack_from(self.data, self._need(12))
            if code not in _TYPES:
                raise FormatError(f"attribute {key}: unknown type {code}")
            size = n * _TYPES[code].itemsize
            found[key] = (code, n, self._need(size + _pad4(size)))
        return Attributes(self.data, found)


class Attributes(Mapping):
    """Attributes by name, decoded on access: text as str, numbers as a NumPy scalar (one
    value) or array; text that is not UTF-8 is a FormatError when read."""

    def __init__(self, data: bytes, found: dict):
        self._data, self._found = data, found

    def __getitem__(self, key: str):
        code, n, at = self._found[key]
        if code == 2:
            try:
                return self._data[at : at + n].decode("utf-8")
            except UnicodeDecodeError as err:
                raise FormatError(f"attribute {key}: not UTF-8 text ({err.reason})") from None
        values = np.frombuffer(self._data, _TYPES[code], n, at)
        values = values.astype(_TYPES[code].newbyteorder("="))
        return values[0] if n == 1 else values

    def __iter__(self):
        return iter(self._found)

    def __len__(self) -> int:
        return len(self._found)


class Variable:
    """One variable of a Dataset: dims, shape, attrs, and its values by var[()]."""

    def __init__(self, data, dims, shape, code, begin, attrs):
        self._data, self.dims, self.shape = data, dims, shape
        self._type, self._begin, self.attrs = _TYPES[code], begin, attrs
        self.count = math.prod(shape)

    @property
    def offset(self) -> int:
        """Where the variable's bytes begin in the file."""
        return self._begin

    @property
    def nbytes(self) -> int:
        return self.count * self._type.itemsize

    @property
    def dtype(self) -> np.dtype:
        return self._type.newbyteorder("=") if self._type.kind != "S" else self._type

    def __getitem__(self, index):
        values = np.frombuffer(self._data, self._type, self.count, self._begin)
        if self._type.kind == "S":  # text (run files hold scalar strings only): one str
            try:
                return values.tobytes().rstrip(b"\0").decode("utf-8")
            except UnicodeDecodeError as err:
                raise FormatError(f"a text variable: not UTF-8 ({err.reason})") from None
        return values.reshape(self.shape).astype(self.dtype)[index]  # a native-endian copy


def _dimensions(data: bytes) -> tuple[_Reader, list[tuple[str, int]]]:
    """The header up to the dimensions: a reader placed at the global attributes, and the
    dimensions (name, length) in id order."""
    if data[:4] != MAGIC:
        raise FormatError(f"not a CDF-5 file (starts {data[:4]!r})")
    reader = _Reader(data)
    reader.at = 12  # magic and numrecs (run files have no record dimension)
    dims = []
    for _ in range(reader.tagged_count(_DIMENSION)):
        name, size = reader.name(), reader.int64()
        if size < 0:
            raise FormatError(f"dimension {name}: length {size}")
        dims.append((name, size))
    return reader, dims


def global_attributes(data: bytes) -> Attributes:
    """The global attributes of a CDF-5 file's bytes, without parsing its variables (they
    follow them in the header): what a store check needs of a run file."""
    return _dimensions(bytes(data))[0].attributes()


class Dataset:
    """A CDF-5 file parsed from its bytes: dimensions, global attrs, and variables by name
    (ds[name] -> Variable). Every variable's bytes are checked to lie within `data`, so a
    file cut short is a FormatError here, not wrong values later. Used as a context manager
    like an open file (close is a no-op: the bytes are in memory)."""

    def __init__(self, data: bytes):
        data = bytes(data)
        reader, dims = _dimensions(data)
        self.dimensions = dict(dims)
        names = [name for name, _ in dims]
        self.attrs = reader.attributes()
        self.variables = {}
        for _ in range(reader.tagged_count(_VARIABLE)):
            name = reader.name()
            dim_ids = [reader.int64() for _ in range(reader.int64())]
            if not all(0 <= i < len(names) for i in dim_ids):
                raise FormatError(f"variable {name}: unknown dimension id")
            dims = tuple(names[i] for i in dim_ids)
            var_attrs = reader.attributes()
            code, _vsize, begin = reader.int32(), reader.int64(), reader.int64()
            if code not in _TYPES:
                raise FormatError(f"variable {name}: unknown type {code}")
            shape = tuple(self.dimensions[d] for d in dims)
            var = Variable(data, dims, shape, code, begin, var_attrs)
            if not reader.at <= begin <= begin + var.nbytes <= len(data):
                raise FormatError(f"variable {name}: its data runs past the end of the file")
            self.variables[name] = var

    def __getitem__(self, name: str) -> Variable:
        return self.variables[name]

    def __contains__(self, name: str) -> bool:
        return name in self.variables

    def close(self) -> None:
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()
