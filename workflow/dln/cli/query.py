"""Look at results from the command line: `dln table`, `dln info`, `dln diff`.

Reads the files of the data model: an experiment's aggregate `results/<experiment>/runs.nc`
(global attribute dln_kind = "aggregate") or its per-run table `runs.csv`, and single run files
(dln_kind = "run"). `add_parsers(subparsers)` adds the three subcommands to a parser; each
handler takes the parsed arguments and returns an exit code:

    0  success (for diff: the two inputs are identical)
    1  diff only: the two inputs differ
    2  error: one line on stderr, `error: <file>: <reason>`

pandas and xarray are imported inside the handlers so that importing this module (done by the
`dln` console script for every command, `dln run` included) stays cheap.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import re
import sys
from pathlib import Path

from dln.data.columns import SETTINGS as _SETTING_COLUMNS

# Settings columns of runs.csv / coordinates along `run` (dln.data.columns, the one list)
SETTINGS = list(_SETTING_COLUMNS)
# settings that hold text even where a CSV column is all-empty (read back as float NaN)
TEXT_SETTINGS = {name for name, (kind, _, _) in _SETTING_COLUMNS.items() if kind == "str"}
DEFAULT_METRICS = ["final_level", "stuck_steps", "escape_ratio", "final_rate_fit", "diverged"]
DEFAULT_BY_METRICS = ["stuck_steps", "escape_ratio", "final_rate_fit"]
INFO_METRICS = [
    "predicted_k",
    "final_level",
    "reached_predicted",
    "stuck_steps",
    "escape_model_steps",
    "escape_ratio",
    "final_rate_fit",
    "final_rate_paper",
    "final_rate_model",
    "diverged",
    "diverged_step",
]
PROVENANCE = [
    "dln_version",
    "kernel_backend",
    "code_fingerprint",
    "git_commit",
    "python_version",
    "platform",
    "package_versions",
]
# settings left out of the grouping of `dln diff` by default: medians are taken over them
REPLICATE_SETTINGS = ["seed"]
MISSING = "-"
WHERE_RE = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(!=|<=|>=|==|=|<|>)\s*(.*?)\s*$")
TRUE_WORDS = {"true", "yes", "1", "t", "y"}
FALSE_WORDS = {"false", "no", "0", "f", "n"}
MISSING_WORDS = {"", "nan", "-", "none", "na"}


class QueryError(Exception):
    """A user-facing failure: printed as `error: <file>: <reason>`, exit code 2."""

    def __init__(self, where, reason: str):
        super().__init__(f"{where}: {reason}" if where is not None else reason)


# --------------------------------------------------------------------------- loading


def _open_netcdf(path: Path):
    """Open a NetCDF file; QueryError if missing, unreadable or not NetCDF."""
    import xarray as xr

    if not path.exists():
        raise QueryError(path, "no such file or directory")
    if path.is_dir():
        raise QueryError(path, "is a directory, expected a NetCDF file")
    try:
        return xr.open_dataset(path, engine="netcdf4", decode_timedelta=False)
    except Exception as err:  # netCDF4 reports bad files as OSError, xarray as ValueError
        reason = str(err).splitlines()[0] if str(err) else type(err).__name__
        reason = reason.replace(f": {str(path.resolve())!r}", "").replace(f": {str(path)!r}", "")
        raise QueryError(
            path, f"not a readable NetCDF file (corrupt or another format: {reason})"
        ) from None


def _kind(ds, path: Path) -> str:
    kind = ds.attrs.get("dln_kind")
    if kind not in ("run", "aggregate"):
        found = "no dln_kind attribute" if kind is None else f"dln_kind = {kind!r}"
        raise QueryError(path, f"not a dln run file or aggregate ({found})")
    return kind


def _decode(value):
    """A NetCDF scalar as a plain Python value (bytes decoded, numpy scalars unwrapped)."""
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, bytes):
        value = value.decode()
    return value


def _aggregate_frame(ds, path: Path):
    """The per-run table of an aggregate Dataset: run, settings, in_* flags, metrics."""
    import pandas as pd

    if "run" not in ds.dims:
        raise QueryError(path, "aggregate without a 'run' dimension")
    names = [
        n for n in list(ds.coords) + list(ds.data_vars) if n != "run" and ds[n].dims == ("run",)
    ]
    order = (
        [n for n in SETTINGS if n in names]
        + [n for n in names if n.startswith("in_")]
        + [n for n in names if n not in SETTINGS and not n.startswith("in_")]
    )
    cols = {"run": [str(_decode(v)) for v in ds["run"].values]}
    for name in order:
        values = ds[name].values
        if values.dtype.kind in "SUO":
            values = [_decode(v) for v in values]
            # the spec's NetCDF "" is the CSV's empty cell: one missing value for both
            values = [None if v == "" else v for v in values]
            cols[name] = pd.Series(values, dtype=object)
        else:
            cols[name] = values
    return pd.DataFrame(cols)


def _read_csv(path: Path):
    import pandas as pd

    try:
        df = pd.read_csv(path)
    except Exception as err:
        reason = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise QueryError(path, f"not a readable CSV table ({reason})") from None
    if "run" not in df.columns:
        raise QueryError(path, "not a dln runs table (no 'run' column)")
    return df


def _experiment_dirs(results: Path) -> list[Path]:
    return sorted(
        p
        for p in results.iterdir()
        if p.is_dir() and ((p / "runs.csv").exists() or (p / "runs.nc").exists())
    )


class Table:
    """A per-run table with where it came from."""

    def __init__(self, df, source: Path, attrs: dict, experiment: str):
        self.df, self.source, self.attrs, self.experiment = df, source, attrs, experiment


def load_table(path) -> Table:
    """The runs of PATH: a runs.csv, a runs.nc, an experiment directory (its runs.csv, else
    its runs.nc), or a results directory holding exactly one experiment."""
    path = Path(path)
    if not path.exists():
        raise QueryError(path, "no such file or directory")
    if path.is_dir():
        for name in ("runs.csv", "runs.nc"):
            if (path / name).exists():
                return load_table(path / name)
        exps = _experiment_dirs(path)
        if not exps:
            raise QueryError(path, "no runs.csv or runs.nc here, nor in any subdirectory")
        if len(exps) > 1:
            names = ", ".join(p.name for p in exps)
            raise QueryError(
                path,
                f"holds {len(exps)} experiments ({names}); choose one, e.g. {path / exps[0].name}",
            )
        return load_table(exps[0])
    experiment = path.parent.name or path.stem
    if path.suffix.lower() == ".csv":
        return Table(_read_csv(path), path, {}, experiment)
    with _open_netcdf(path) as ds:
        kind = _kind(ds, path)
        attrs = dict(ds.attrs)
        if kind == "aggregate":
            return Table(
                _aggregate_frame(ds, path), path, attrs, str(attrs.get("experiment", experiment))
            )
        return Table(_run_frame(ds, path), path, attrs, experiment)


def _run_frame(ds, path: Path):
    """A run file as a one-row table (run = the file name, without .nc)."""
    import pandas as pd

    row = {"run": path.stem}
    for name in SETTINGS:
        if name in ds.coords and ds[name].ndim == 0:
            row[name] = _decode(ds[name].values)
    for name in ds.data_vars:
        if ds[name].ndim == 0:
            row[name] = _decode(ds[name].values)
    if row.get("construction") == "":
        row["construction"] = None
    return pd.DataFrame([row])


def _load_any(path: Path):
    """('run', Dataset-derived dict) for a run file, ('aggregate', Table) for anything else."""
    path = Path(path)
    if path.is_file() and path.suffix.lower() != ".csv":
        with _open_netcdf(path) as ds:
            if _kind(ds, path) == "run":
                return "run", _run_record(ds, path)
    return "aggregate", load_table(path)


def _run_record(ds, path: Path) -> dict:
    """Everything `info` and `diff` show of a run file, read eagerly (the file is closed)."""
    settings = {n: _decode(ds[n].values) for n in SETTINGS if n in ds.coords and ds[n].ndim == 0}
    extra = [n for n in ds.coords if ds[n].ndim == 0 and n not in settings]
    settings.update({n: _decode(ds[n].values) for n in extra})
    metrics = {n: _decode(ds[n].values) for n in ds.data_vars if ds[n].ndim == 0}
    visits = []
    if "visit_level" in ds:
        levels = ds["visit_level"].values
        entry, exit_ = (
            ds[n].values if n in ds else [math.nan] * len(levels)
            for n in ("visit_entry_step", "visit_exit_step")
        )
        visits = [
            (float(lv), float(a), float(b))
            for lv, a, b in zip(levels, entry, exit_, strict=False)
            if not _isnan(lv)
        ]
    steps_at_level = None
    if "steps_at_level" in ds and ds["steps_at_level"].dims == ("level",):
        steps_at_level = [
            (int(lv), _decode(v))
            for lv, v in zip(ds["level"].values, ds["steps_at_level"].values, strict=False)
        ]
    return {
        "path": path,
        "attrs": dict(ds.attrs),
        "settings": settings,
        "metrics": metrics,
        "visits": visits,
        "steps_at_level": steps_at_level,
    }


# --------------------------------------------------------------------------- formatting


def _isnan(value) -> bool:
    """True for None, NaN and pandas' NA (a missing value of any column type)."""
    if value is None or type(value).__name__ == "NAType":
        return True
    try:
        return bool(value != value)
    except Exception:
        return False


def fmt(value) -> str:
    """A cell: NaN/None/"" as "-", integral floats as integers, other floats to 4 significant
    digits, bools as true/false."""
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        value = value.item()
    if (
        value is None
        or type(value).__name__ == "NAType"
        or (isinstance(value, str) and value == "")
    ):
        return MISSING
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if math.isnan(value):
            return MISSING
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        if value == int(value) and abs(value) < 1e12:
            return str(int(value))
        return f"{value:.4g}"
    return str(value)


def _format_frame(df):
    return df.astype(object).map(fmt) if len(df) else df.astype(object)


def render(df, fmt_name: str, header: dict | None = None) -> str:
    """A DataFrame as text (aligned), markdown (pipe table) or csv (raw values).

    header: column -> (top, sub) for a two-line header in the text format (e.g. a metric's
    name over n, median, min, max); other columns keep their name on the top line."""
    if fmt_name == "csv":
        return df.to_csv(index=False).rstrip("\n")
    shown = _format_frame(df)
    if "run" in shown.columns and len(shown):  # run ids read best left-aligned
        width = shown["run"].str.len().max()
        shown["run"] = shown["run"].str.ljust(width)
    if header and fmt_name == "text":
        import pandas as pd

        shown.columns = pd.MultiIndex.from_tuples([header.get(c, (c, "")) for c in shown.columns])
    if fmt_name == "markdown":
        try:
            import tabulate  # noqa: F401  (pandas' to_markdown needs it)
        except ImportError:
            raise QueryError(
                None, "--format markdown needs the 'tabulate' package (pip install tabulate)"
            ) from None
        return shown.to_markdown(index=False, disable_numparse=True)
    if not len(shown):
        return "  ".join(str(c) for c in shown.columns) + "\n(no rows)"
    return shown.to_string(index=False)


# --------------------------------------------------------------------------- selecting


def _check_columns(df, names, option: str, source) -> None:
    unknown = [n for n in names if n not in df.columns]
    if unknown:
        import difflib

        close = difflib.get_close_matches(unknown[0], list(map(str, df.columns)), n=3)
        hint = (
            f"did you mean {' or '.join(close)}?"
            if close
            else f"columns: {', '.join(map(str, df.columns))}"
        )
        raise QueryError(source, f"no such column {unknown[0]!r} in {option} ({hint})")


def _column_kind(series) -> str:
    """'bool', 'num' or 'str' for a column (a CSV bool column with gaps is 'bool' too)."""
    import pandas as pd

    if pd.api.types.is_bool_dtype(series):
        return "bool"
    if series.name in TEXT_SETTINGS:
        return "str"
    if pd.api.types.is_numeric_dtype(series):
        return "num"
    present = series.dropna()
    if len(present) and all(isinstance(v, bool) or str(v) in ("True", "False") for v in present):
        return "bool"
    return "str"


def _as_bool(value) -> bool | None:
    if isinstance(value, bool):
        return value
    if _isnan(value):
        return None
    text = str(value).strip().lower()
    return True if text in TRUE_WORDS else False if text in FALSE_WORDS else None


def parse_where(terms, df, source):
    """A boolean mask for the AND of the --where terms."""
    import pandas as pd

    mask = pd.Series(True, index=df.index)
    for term in terms or []:
        m = WHERE_RE.match(term)
        if not m:
            raise QueryError(
                source,
                f"bad --where expression {term!r}: expected COL=VALUE "
                "(or !=, <, <=, >, >=), e.g. k=3 (give PATH before --where)",
            )
        col, op, raw = m.groups()
        op = "=" if op == "==" else op
        _check_columns(df, [col], "--where", source)
        series = df[col]
        kind = _column_kind(series)
        if raw.lower() in MISSING_WORDS:
            if op not in ("=", "!="):
                raise QueryError(
                    source,
                    f"bad --where expression {term!r}: only = and != compare with a missing value",
                )
            hit = series.isna() | (series.astype(object) == "")
            mask &= hit if op == "=" else ~hit
            continue
        if kind == "bool":
            want = _as_bool(raw)
            if want is None or op not in ("=", "!="):
                raise QueryError(
                    source,
                    f"bad --where expression {term!r}: {col} is true/false,"
                    f" use {col}=true or {col}=false",
                )
            values = series.map(_as_bool)
            hit = values.map(lambda v, want=want: v is want)
            mask &= hit if op == "=" else ~hit
        elif kind == "num":
            try:
                want = float(raw)
            except ValueError:
                raise QueryError(
                    source,
                    f"bad --where expression {term!r}: {col} is numeric "
                    f"and {raw!r} is not a number",
                ) from None
            values = series.astype(float)
            hit = {
                "=": values == want,
                "!=": values != want,
                "<": values < want,
                "<=": values <= want,
                ">": values > want,
                ">=": values >= want,
            }[op]
            mask &= hit.fillna(False).astype(bool)
        else:
            if op not in ("=", "!="):
                raise QueryError(
                    source,
                    f"bad --where expression {term!r}: {col} holds text, only = and != apply",
                )
            values = series.astype(object)
            hit = values.map(lambda v, raw=raw: (not _isnan(v)) and str(v) == raw)
            mask &= hit if op == "=" else ~hit
    return mask


def _split_cols(text: str | None) -> list[str]:
    return [c.strip() for c in (text or "").split(",") if c.strip()]


def varying(df, names) -> list[str]:
    """The names among `names` whose values are not all the same in df (NaN counts as a value)."""
    out = []
    for name in names:
        if name in df.columns and df[name].astype(object).map(fmt).nunique() > 1:
            out.append(name)
    return out


def _sort(df, col: str | None, descending: bool, source):
    if not col:
        return df
    _check_columns(df, [col], "--sort", source)
    return df.sort_values(col, ascending=not descending, na_position="last", kind="stable")


def _groups(frame, by: list[str]):
    """(key tuple, row index) per group of the columns `by` (missing values form a group)."""
    keys = frame[by].astype(object).map(lambda v: None if _isnan(v) else v)
    grouped = keys.groupby(by if len(by) > 1 else by[0], dropna=False, sort=False)
    for key, index in grouped.groups.items():
        yield (key if isinstance(key, tuple) else (key,)), index


def _numeric(series):
    """A column as floats (bools as 0/1, missing as NaN)."""
    import pandas as pd

    if _column_kind(series) == "bool":
        return series.map(lambda v: math.nan if _as_bool(v) is None else float(_as_bool(v)))
    return pd.to_numeric(series, errors="coerce").astype(float)


def group_stats(df, by: list[str], metrics: list[str], source):
    """Per group of `by`: runs (rows), then n (non-missing), median, min, max of each metric."""
    import pandas as pd

    for name in metrics:
        if _column_kind(df[name]) == "str":
            raise QueryError(
                source,
                f"column {name!r} is not numeric; --by summarises numeric "
                "columns (choose them with --cols)",
            )
    numeric = {m: _numeric(df[m]) for m in metrics}
    rows = []
    for key, index in _groups(df, by):
        row = dict(zip(by, key, strict=True))
        row["runs"] = len(index)
        for m in metrics:
            vals = numeric[m].loc[index].dropna()
            row[f"{m}_n"] = len(vals)
            row[f"{m}_median"] = vals.median() if len(vals) else math.nan
            row[f"{m}_min"] = vals.min() if len(vals) else math.nan
            row[f"{m}_max"] = vals.max() if len(vals) else math.nan
        rows.append(row)
    out = pd.DataFrame(
        rows,
        columns=[
            *by,
            "runs",
            *[f"{m}_{s}" for m in metrics for s in ("n", "median", "min", "max")],
        ],
    )
    sortable = out.copy()
    for b in by:
        sortable[b] = out[b].map(lambda v: (1, "") if _isnan(v) else (0, v))
    order = sorted(range(len(out)), key=lambda i: tuple(sortable.iloc[i][b] for b in by))
    return out.iloc[order].reset_index(drop=True)


# --------------------------------------------------------------------------- handlers


def _fail(err) -> int:
    print(f"error: {err}", file=sys.stderr)
    return 2


def _guard(handler):
    """Run a handler: QueryError (and anything unexpected) become one `error:` line, exit 2."""

    def wrapped(args) -> int:
        try:
            return handler(args)
        except QueryError as err:
            return _fail(err)
        except BrokenPipeError:  # `dln table | head`: stop quietly
            try:
                import os

                os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            except (OSError, ValueError, AttributeError):
                pass
            return 0
        except Exception as err:  # never a traceback on the command line
            where = getattr(args, "path", None) or getattr(args, "a", None) or "dln"
            return _fail(f"{where}: {type(err).__name__}: {err}")

    wrapped.__name__ = handler.__name__
    wrapped.__doc__ = handler.__doc__
    return wrapped


@_guard
def cmd_table(args) -> int:
    """`dln table`: runs x settings x metrics, optionally grouped."""
    table = load_table(args.path)
    df, source = table.df, table.source
    df = df[parse_where(args.where, df, source)].reset_index(drop=True)
    cols = _split_cols(args.cols)
    _check_columns(df, cols, "--cols", source)
    if args.by is not None:
        by = _split_cols(args.by)
        if not by:
            raise QueryError(source, "--by needs one or more column names")
        _check_columns(df, by, "--by", source)
        metrics = cols or [m for m in DEFAULT_BY_METRICS if m in df.columns]
        out = group_stats(df, by, metrics, source)
        key = args.sort
        if key and key not in out.columns and f"{key}_median" in out.columns:
            key = f"{key}_median"
        out = _sort(out, key, args.desc, source)
    else:
        if cols:
            shown = cols if "run" in cols else ["run", *cols]
        else:
            settings = [c for c in SETTINGS if c in df.columns]
            shown = [
                "run",
                *varying(df, settings),
                *[m for m in DEFAULT_METRICS if m in df.columns],
            ]
        out = _sort(df, args.sort, args.desc, source)[shown]
        metrics = []
    header = {f"{m}_{st}": (m, st) for m in metrics for st in ("n", "median", "min", "max")}
    print(render(out, args.format, header))
    if args.format == "text":
        note = f"{len(df)} of {len(table.df)} runs" if args.where else f"{len(df)} runs"
        print(f"({note}, {source})")
    return 0


def _info_run(rec: dict) -> list[str]:
    attrs, s, m = rec["attrs"], rec["settings"], rec["metrics"]
    width = max(len(n) for n in [*s, *PROVENANCE, *INFO_METRICS, "run_key"]) + 2
    lines = [
        f"run file: {rec['path']}",
        f"  {'run_key':<{width}}{attrs.get('run_key', MISSING)}",
        "",
        "settings:",
    ]
    lines += [f"  {n:<{width}}{fmt(v)}" for n, v in s.items()]
    lines += ["", "provenance:"]
    for name in PROVENANCE:
        value = attrs.get(name, MISSING)
        if name == "package_versions" and isinstance(value, str):
            with contextlib.suppress(ValueError, AttributeError):
                value = ", ".join(f"{k} {v}" for k, v in json.loads(value).items())
        lines.append(f"  {name:<{width}}{fmt(value)}")
    lines += ["", "metrics:"]
    for name in INFO_METRICS:
        if name in m:
            lines.append(f"  {name:<{width}}{fmt(m[name])}")
    n_visits = f" (n_visits: {fmt(m['n_visits'])})" if "n_visits" in m else ""
    lines += ["", f"levels visited{n_visits}:"]
    if rec["visits"]:
        for level, entry, exit_ in rec["visits"]:
            lines.append(
                f"  level {fmt(level)}: steps {fmt(entry)} .. "
                f"{fmt(exit_) if not _isnan(exit_) else 'end'}"
            )
    elif rec["steps_at_level"]:
        near = [(lv, n) for lv, n in rec["steps_at_level"] if not _isnan(n) and n > 0]
        lines += [f"  level {lv}: {fmt(n)} steps" for lv, n in near] or ["  none"]
    else:
        lines.append("  (not recorded in this file)")
    lines += ["", "reproduce with:", f"  {attrs.get('command', '(no command attribute)')}"]
    return lines


def _info_aggregate(table: Table) -> list[str]:
    df, attrs = table.df, table.attrs
    n_attr = attrs.get("n_runs")
    n_runs = f"{len(df)}" + (
        "" if n_attr is None or int(n_attr) == len(df) else f" (n_runs attribute says {n_attr})"
    )
    lines = [
        f"experiment: {table.experiment}",
        f"source: {table.source}",
        f"runs: {n_runs}",
        f"config hash: {attrs.get('config_hash', MISSING)}",
        "",
        "settings that vary:",
    ]
    settings = [c for c in SETTINGS if c in df.columns]
    vary = varying(df, settings)
    for name in vary:
        counts = df[name].astype(object).map(fmt).value_counts()
        values = sorted(counts.index, key=_natural_key)
        lines.append(f"  {name}: " + ", ".join(f"{v} ({counts[v]})" for v in values))
    if not vary:
        lines.append("  none")
    fixed = [c for c in settings if c not in vary]
    if fixed:
        lines += ["", "settings held fixed:"]
        lines += [f"  {name}: {fmt(df[name].iloc[0]) if len(df) else MISSING}" for name in fixed]
    flags = [c for c in df.columns if str(c).startswith("in_")]
    lines += ["", "studies (runs flagged):"]
    for name in flags:
        count = int(df[name].map(lambda v: _as_bool(v) is True).sum())
        lines.append(f"  {name}: {count} of {len(df)}")
    if not flags:
        lines.append("  (no in_* flags)")
    return lines


def _natural_key(text: str):
    try:
        return (0, float(text), "")
    except ValueError:
        return (1 if text != MISSING else 2, 0.0, text)


@_guard
def cmd_info(args) -> int:
    """`dln info`: one run file or one aggregate."""
    kind, obj = _load_any(Path(args.path))
    print("\n".join(_info_run(obj) if kind == "run" else _info_aggregate(obj)))
    return 0


def _same(a, b, rtol: float) -> bool:
    if _isnan(a) and _isnan(b):
        return True
    if _isnan(a) or _isnan(b):
        return False
    if isinstance(a, (int, float)) and isinstance(b, (int, float)) and not isinstance(a, bool):
        return a == b or abs(a - b) <= rtol * max(abs(a), abs(b))
    return a == b


def _change(a, b) -> tuple[str, str]:
    numeric = all(
        isinstance(v, (int, float)) and not isinstance(v, bool) and not _isnan(v) for v in (a, b)
    )
    if not numeric:
        return MISSING, MISSING
    delta = b - a
    rel = f"{delta / abs(a) * 100:+.3g}%" if a != 0 else MISSING
    return (f"+{fmt(float(delta))}" if delta > 0 else fmt(float(delta))), rel


def _diff_runs(a: dict, b: dict, args) -> tuple[list[str], bool]:
    import pandas as pd

    lines = [f"A: {a['path']}", f"B: {b['path']}", ""]
    names = list(dict.fromkeys([*a["settings"], *b["settings"]]))
    rows = [
        (n, fmt(a["settings"].get(n)), fmt(b["settings"].get(n)))
        for n in names
        if not _same(a["settings"].get(n), b["settings"].get(n), 0.0)
    ]
    lines.append("settings that differ:" if rows else "settings: identical")
    if rows:
        lines.append(
            _indent(pd.DataFrame(rows, columns=["setting", "A", "B"]).to_string(index=False))
        )
    prov = [
        (n, fmt(a["attrs"].get(n)), fmt(b["attrs"].get(n)))
        for n in PROVENANCE
        if a["attrs"].get(n) != b["attrs"].get(n)
    ]
    if prov:
        lines += ["", "provenance that differs:"]
        lines.append(
            _indent(pd.DataFrame(prov, columns=["attribute", "A", "B"]).to_string(index=False))
        )
    names = list(dict.fromkeys([*a["metrics"], *b["metrics"]]))
    table, changed = [], 0
    for n in names:
        va, vb = a["metrics"].get(n), b["metrics"].get(n)
        same = _same(va, vb, args.rtol)
        changed += not same
        if same and not args.all:
            continue
        delta, rel = _change(va, vb) if not same else ("", "")
        table.append((n, fmt(va), fmt(vb), delta, rel, "" if same else "*")[: 6 if args.all else 5])
    lines += [
        "",
        f"metrics: {changed} of {len(names)} differ"
        + ("" if args.all else " (--all shows them all)"),
    ]
    if table:
        columns = ["metric", "A", "B", "change", "relative", "differs"][: 6 if args.all else 5]
        lines.append(_indent(pd.DataFrame(table, columns=columns).to_string(index=False)))
    return lines, bool(rows) or changed > 0


def _indent(text: str) -> str:
    return "\n".join("  " + line for line in text.splitlines())


def _settings_key(df, settings):
    """One hashable key per row from its settings (floats exactly, NaN/"" as None)."""

    def norm(v):
        if _isnan(v) or v == "":
            return None
        if isinstance(v, bool):
            return v
        if hasattr(v, "item"):
            v = v.item()
        return float(v) if isinstance(v, (int, float)) else str(v)

    return [
        tuple(norm(v) for v in row)
        for row in df[settings].astype(object).itertuples(index=False, name=None)
    ]


def _diff_aggregates(ta: Table, tb: Table, args) -> tuple[list[str], bool]:
    import pandas as pd

    A, B = ta.df, tb.df
    lines = [
        f"A: {ta.experiment} ({ta.source}, {len(A)} runs)",
        f"B: {tb.experiment} ({tb.source}, {len(B)} runs)",
        "",
    ]
    different = False
    settings = [c for c in SETTINGS if c in A.columns and c in B.columns]
    only_cols = [f"{c} (only A)" for c in SETTINGS if c in A.columns and c not in B.columns] + [
        f"{c} (only B)" for c in SETTINGS if c in B.columns and c not in A.columns
    ]
    if only_cols:
        different = True
        lines += ["settings columns present on one side only: " + ", ".join(only_cols), ""]
    rows = []

    def values(df, name):
        return set(df[name].astype(object).map(fmt).replace(MISSING, "(missing)"))

    for name in settings:
        va, vb = values(A, name), values(B, name)
        if va != vb:
            rows.append(
                (
                    name,
                    ", ".join(sorted(va - vb, key=_natural_key)),
                    ", ".join(sorted(vb - va, key=_natural_key)),
                )
            )
    different |= bool(rows)
    lines.append("setting values that differ:" if rows else "setting values: same sets")
    if rows:
        lines.append(
            _indent(
                pd.DataFrame(rows, columns=["setting", "only in A", "only in B"]).to_string(
                    index=False
                )
            )
        )
    # match runs by their settings, not by id (ids may embed hashes that change)
    ka, kb = _settings_key(A, settings), _settings_key(B, settings)
    index_b: dict = {}
    for i, key in enumerate(kb):
        index_b.setdefault(key, []).append(i)
    pairs, only_a = [], []
    for i, key in enumerate(ka):
        if index_b.get(key):
            pairs.append((i, index_b[key].pop(0)))
        else:
            only_a.append(i)
    only_b = sorted(j for rest in index_b.values() for j in rest)
    for label, idx, df in (("A", only_a, A), ("B", only_b, B)):
        lines += ["", f"runs only in {label}: {len(idx)}"]
        lines += [f"  {df['run'].iloc[i]}" for i in idx[:10]]
        if len(idx) > 10:
            lines.append(f"  ... and {len(idx) - 10} more")
    different |= bool(only_a or only_b)

    def metric_cols(df):
        return [
            c
            for c in df.columns
            if c != "run" and c not in SETTINGS and not str(c).startswith("in_")
        ]

    metrics = [c for c in metric_cols(A) if c in B.columns]
    one_side = [f"{c} (only A)" for c in metric_cols(A) if c not in B.columns] + [
        f"{c} (only B)" for c in metric_cols(B) if c not in A.columns
    ]
    if one_side:
        different = True
        lines += ["", "metric columns present on one side only: " + ", ".join(one_side)]
    changes = []
    for i, j in pairs:
        for m in metrics:
            va, vb = _plain(A[m].iloc[i]), _plain(B[m].iloc[j])
            if not _same(va, vb, args.rtol):
                delta, rel = _change(va, vb)
                changes.append((A["run"].iloc[i], m, fmt(va), fmt(vb), delta, rel))
    different |= bool(changes)
    runs_changed = len({c[0] for c in changes})
    lines += [
        "",
        f"runs in both: {len(pairs)}; metrics differ in {runs_changed} of them "
        f"({len(changes)} values)",
    ]
    limit = None if args.all else 30
    if changes:
        shown = changes[:limit]
        lines.append(
            _indent(
                pd.DataFrame(
                    shown, columns=["run", "metric", "A", "B", "change", "relative"]
                ).to_string(index=False)
            )
        )
        if limit is not None and len(changes) > limit:
            lines.append(f"  ... and {len(changes) - limit} more (--all shows them all)")
    # medians of the default metrics, grouped by the settings that vary over A and B together
    both = pd.concat([A.assign(_side="A"), B.assign(_side="B")], ignore_index=True)
    by = (
        _split_cols(args.by)
        if args.by
        else [c for c in varying(both, settings) if c not in REPLICATE_SETTINGS]
    )
    if args.by:
        for name in by:
            if name not in settings:
                raise QueryError(
                    ta.source,
                    f"no such settings column {name!r} in --by (settings: {', '.join(settings)})",
                )
    metrics_shown = [m for m in DEFAULT_METRICS if m in A.columns and m in B.columns]
    if metrics_shown:
        lines += [
            "",
            "median by "
            + (", ".join(by) if by else "(all runs)")
            + " (bool metrics: fraction true):",
        ]
        medians = _grouped_medians(both, by, metrics_shown)
        header = {f"{m} {side}": (m, side) for m in ["runs", *metrics_shown] for side in "AB"}
        lines.append(_indent(render(medians, "text", header)))
    return lines, different


def _plain(value):
    if hasattr(value, "item") and not isinstance(value, str):
        value = value.item()
    return value


def _grouped_medians(both, by, metrics):
    import pandas as pd

    rows = []
    for key, index in _groups(both, by) if by else [((), both.index)]:
        row = dict(zip(by, key, strict=True))
        part = both.loc[index]
        for side in ("A", "B"):
            row[f"runs {side}"] = int((part["_side"] == side).sum())
        for m in metrics:
            for side in ("A", "B"):
                vals = part.loc[part["_side"] == side, m]
                is_bool = _column_kind(both[m]) == "bool"
                vals = _numeric(vals).dropna()
                stat = vals.mean() if is_bool else vals.median()
                row[f"{m} {side}"] = stat if len(vals) else math.nan
        rows.append(row)
    out = pd.DataFrame(rows)
    order = sorted(
        range(len(out)),
        key=lambda i: tuple((1, "") if _isnan(out.iloc[i][b]) else (0, out.iloc[i][b]) for b in by),
    )
    return out.iloc[order].reset_index(drop=True)


@_guard
def cmd_diff(args) -> int:
    """`dln diff A B`: exit 0 identical, 1 different, 2 error."""
    kind_a, a = _load_any(Path(args.a))
    kind_b, b = _load_any(Path(args.b))
    if kind_a != kind_b:
        run_path = args.a if kind_a == "run" else args.b
        raise QueryError(
            run_path,
            "is a run file and the other input is an aggregate; "
            "diff compares two run files or two aggregates",
        )
    lines, different = (_diff_runs if kind_a == "run" else _diff_aggregates)(a, b, args)
    lines += ["", "different" if different else "identical"]
    print("\n".join(lines))
    return 1 if different else 0


# --------------------------------------------------------------------------- parsers

TABLE_EPILOG = """\
PATH is a runs.csv, a runs.nc, an experiment directory results/<name>, or a results
directory holding exactly one experiment (default: results). Missing values show as "-".
--where terms: COL=V, COL!=V, COL<V, COL<=V, COL>V, COL>=V (several: all must hold);
numbers compare numerically (k=3 matches 3.0), text exactly, flags as true/false,
COL=nan selects missing values. Give PATH before --where.

examples:
  dln table results/main --where k=3 construction=orthogonal
  dln table results/main --by k,construction --cols stuck_steps,escape_ratio
  dln table results/main --where in_lr_sweep=true --sort lr --desc --format markdown
"""
INFO_EPILOG = """\
On a run file: settings, provenance, the verdict metrics, the levels visited and the
command that reproduces the run. On an aggregate (runs.nc, runs.csv or an experiment
directory): experiment name, number of runs, config hash, the settings that vary
(with their values and counts) and the study flags with counts.

examples:
  dln info results/runs/gd-orthogonal-float64/k3/lr0.0005-seed0-1a2b3c4d.nc
  dln info results/main/runs.nc
  dln info results/main
"""
DIFF_EPILOG = """\
Two run files: settings that differ, then the metrics side by side with the change.
Two aggregates (runs.nc, runs.csv or experiment directories): setting values present on
one side only, runs only in A / only in B, metrics that differ for runs present in both
(matched by their settings, not by run id), and the medians of the default metrics
grouped by the settings that vary (seed excluded: medians are over seeds).
Exit status: 0 identical, 1 different, 2 error.

examples:
  dln diff results/main results/main-float32
  dln diff results/old/runs.csv results/new/runs.nc --rtol 1e-9
  dln diff A/run.nc B/run.nc --all
"""


def add_parsers(subparsers) -> None:
    """Add `table`, `info` and `diff` to an argparse subparsers object (func=handler)."""
    raw = argparse.RawDescriptionHelpFormatter
    table = subparsers.add_parser(
        "table",
        help="runs x settings x metrics of an experiment",
        description="Show the runs of an experiment: one row per run, the settings that vary "
        "and the main metrics; or grouped statistics with --by.",
        epilog=TABLE_EPILOG,
        formatter_class=raw,
    )
    table.add_argument(
        "path",
        nargs="?",
        default="results",
        metavar="PATH",
        help="runs.csv, runs.nc, experiment directory or results directory (default: results)",
    )
    table.add_argument(
        "--where",
        nargs="+",
        action="extend",
        metavar="TERM",
        help="keep rows where all terms hold, e.g. k=3 lr<=0.001",
    )
    table.add_argument(
        "--by",
        metavar="COLS",
        help="group by these comma-separated columns: runs per group and "
        "n/median/min/max of each --cols metric (NaN ignored)",
    )
    table.add_argument(
        "--cols",
        metavar="COLS",
        help="comma-separated columns to show (with --by: the metrics to "
        "summarise; default " + ",".join(DEFAULT_BY_METRICS) + "); "
        "default: run, the settings that vary, " + ",".join(DEFAULT_METRICS),
    )
    table.add_argument(
        "--format",
        choices=["text", "csv", "markdown"],
        default="text",
        help="output format (default: text)",
    )
    table.add_argument(
        "--sort",
        metavar="COL",
        help="sort by this column, missing values last (with --by, a metric sorts by its median)",
    )
    table.add_argument("--desc", action="store_true", help="sort in descending order")
    table.set_defaults(func=cmd_table)

    info = subparsers.add_parser(
        "info",
        help="summary of a run file or an aggregate",
        description="Describe one run file or one experiment's aggregate.",
        epilog=INFO_EPILOG,
        formatter_class=raw,
    )
    info.add_argument(
        "path", metavar="FILE", help="run file (.nc), runs.nc, runs.csv or experiment directory"
    )
    info.set_defaults(func=cmd_info)

    diff = subparsers.add_parser(
        "diff",
        help="compare two run files or two experiments",
        description="Compare two run files, or two experiments' aggregates.",
        epilog=DIFF_EPILOG,
        formatter_class=raw,
    )
    diff.add_argument("a", metavar="A", help="run file, runs.nc, runs.csv or experiment dir")
    diff.add_argument("b", metavar="B", help="same kind as A")
    diff.add_argument(
        "--rtol",
        type=float,
        default=0.0,
        help="relative tolerance under which two numbers count as equal (default: 0, exact)",
    )
    diff.add_argument(
        "--by",
        metavar="COLS",
        help="aggregates: group the medians by these settings (default: the "
        "settings that vary, except seed)",
    )
    diff.add_argument(
        "--all",
        action="store_true",
        help="show every metric (run files) or every differing value "
        "(aggregates; default: the first 30)",
    )
    diff.set_defaults(func=cmd_diff)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="dln", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    add_parsers(sub)
    return parser


def main(argv=None) -> int:
    """`dln table|info|diff ...` on its own (the console script wires add_parsers itself)."""
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
