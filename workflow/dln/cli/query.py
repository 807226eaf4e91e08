"""Look at results from the command line: `dln table`, `dln info`, `dln diff`.

Reads the files of the data model: an experiment's aggregate `results/<experiment>/runs.nc`
(global attribute dln_kind = "aggregate"; the per-run table is its root group) or its per-run
table `runs.csv`, and single run files (dln_kind = "run"). Built on pandas: --where terms become
one DataFrame.query, --by is a groupby; tabulate draws the tables. `add_parsers(subparsers)`
adds the three subcommands to a parser; each handler returns an exit code:

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

SETTINGS = list(_SETTING_COLUMNS)  # settings columns of runs.csv, coordinates of runs.nc
# settings that hold text even where a CSV column is all-empty (read back as float NaN)
TEXT_SETTINGS = {name for name, (kind, _, _) in _SETTING_COLUMNS.items() if kind == "str"}
DEFAULT_METRICS = ["final_level", "stuck_steps", "escape_ratio", "final_rate_fit", "diverged"]
DEFAULT_BY_METRICS = ["stuck_steps", "escape_ratio", "final_rate_fit"]
INFO_METRICS = [
    *("predicted_k", "final_level", "reached_predicted", "stuck_steps", "escape_model_steps"),
    *("escape_ratio", "final_rate_fit", "final_rate_paper", "final_rate_model", "diverged"),
    "diverged_step",
]
PROVENANCE = [
    *("dln_version", "kernel_backend", "code_fingerprint", "git_commit", "python_version"),
    *("platform", "package_versions"),
]
REPLICATE_SETTINGS = ["seed"]  # left out of `dln diff`'s default grouping: medians over seeds
STATS = ("n", "median", "min", "max")
MISSING = "-"
WHERE_RE = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(!=|<=|>=|==|=|<|>)\s*(.*?)\s*$")
BOOL_WORDS = {
    **dict.fromkeys(("true", "yes", "1", "t", "y"), True),
    **dict.fromkeys(("false", "no", "0", "f", "n"), False),
}
MISSING_WORDS = {"", "nan", "-", "none", "na"}


class QueryError(Exception):
    """A user-facing failure: printed as `error: <file>: <reason>`, exit code 2."""

    def __init__(self, where, reason: str):
        super().__init__(f"{where}: {reason}" if where is not None else reason)


class Table:
    """A per-run table with where it came from."""

    def __init__(self, df, source: Path, attrs: dict, experiment: str):
        self.df, self.source, self.attrs, self.experiment = df, source, attrs, experiment


# --------------------------------------------------------------------------- loading


def _open_netcdf(path: Path):
    """Open a NetCDF file (its root group); QueryError if missing, unreadable or not NetCDF."""
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
    value = value.item() if hasattr(value, "item") else value
    return value.decode() if isinstance(value, bytes) else value


def _blank_to_none(df):
    """NetCDF's "" is the CSV's empty cell: one missing value for both."""
    for name in [c for c in df.columns if df[c].dtype == "object"]:
        df[name] = df[name].map(lambda v: None if v == "" else v)
    return df


def _aggregate_frame(ds, path: Path):
    """The per-run table of an aggregate: run, settings, in_* flags, metrics."""
    if "run" not in ds.dims:
        raise QueryError(path, "aggregate without a 'run' dimension")
    names = [n for n in ds.variables if n != "run" and ds[n].dims == ("run",)]
    flags = [n for n in names if n.startswith("in_")]
    order = [n for n in SETTINGS if n in names] + flags
    order += [n for n in names if n not in order]
    df = ds[order].to_dataframe().reset_index()[["run", *order]]
    df["run"] = df["run"].map(lambda v: str(_decode(v)))
    return _blank_to_none(df.astype({n: object for n in order if df[n].dtype.kind in "SUO"}))


def _run_frame(ds, path: Path):
    """A run file as a one-row table (run = the file name, without .nc)."""
    import pandas as pd

    rec = _run_record(ds, path)
    row = {"run": path.stem, **{n: rec["settings"][n] for n in SETTINGS if n in rec["settings"]}}
    return _blank_to_none(pd.DataFrame([{**row, **rec["metrics"]}]))


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


def _global_attrs(path: Path) -> dict:
    """A NetCDF file's global attributes only (no variable is read); {} if unreadable."""
    import netCDF4

    try:
        with netCDF4.Dataset(path) as nc:
            return nc.__dict__
    except OSError:
        return {}


def _experiment_dir(path: Path) -> Path:
    """The one experiment (a directory holding runs.csv or runs.nc) of a results directory."""
    exps = sorted(
        p for p in path.iterdir() if p.is_dir() and any((p / n).exists() for n in _TABLES)
    )
    if not exps:
        raise QueryError(path, "no runs.csv or runs.nc here, nor in any subdirectory")
    if len(exps) > 1:
        names = ", ".join(p.name for p in exps)
        raise QueryError(
            path, f"holds {len(exps)} experiments ({names}); choose one, e.g. {path / exps[0].name}"
        )
    return exps[0]


_TABLES = ("runs.csv", "runs.nc")


def load_table(path) -> Table:
    """The runs of PATH: a runs.csv, a runs.nc, an experiment directory (its runs.csv, else
    its runs.nc), or a results directory holding exactly one experiment."""
    path = Path(path)
    if not path.exists():
        raise QueryError(path, "no such file or directory")
    if path.is_dir():
        found = [path / n for n in _TABLES if (path / n).exists()]
        table = load_table(found[0] if found else _experiment_dir(path))
        if found and not table.attrs and (path / "runs.nc").is_file():
            table.attrs = _global_attrs(path / "runs.nc")  # config hash, n_runs
        return table
    experiment = path.parent.name or path.stem
    if path.suffix.lower() == ".csv":
        return Table(_read_csv(path), path, {}, experiment)
    with _open_netcdf(path) as ds:
        attrs = dict(ds.attrs)
        if _kind(ds, path) == "aggregate":
            name = str(attrs.get("experiment", experiment))
            return Table(_aggregate_frame(ds, path), path, attrs, name)
        return Table(_run_frame(ds, path), path, attrs, experiment)


def _load_any(path: Path):
    """('run', record dict) for a run file, ('aggregate', Table) for anything else."""
    path = Path(path)
    if path.is_file() and path.suffix.lower() != ".csv":
        with _open_netcdf(path) as ds:
            if _kind(ds, path) == "run":
                _verify_run(path)
                return "run", _run_record(ds, path)
    return "aggregate", load_table(path)


def _verify_run(path: Path) -> None:
    """The checks every stage makes (dln.data.io.open_run_file): checksum, and the run key
    when the name ends in one."""
    from dln.data.io import RunFileError, open_run_file, planned_key

    try:
        open_run_file(path, planned_key(path)).close()
    except RunFileError as err:
        raise QueryError(None, str(err)) from None


def _run_record(ds, path: Path) -> dict:
    """Everything `info` and `diff` show of a run file, read eagerly (the file is closed)."""
    scalars = [n for n in ds.coords if ds[n].ndim == 0]
    settings = {n: _decode(ds[n].values) for n in [s for s in SETTINGS if s in scalars]}
    settings.update({n: _decode(ds[n].values) for n in scalars if n not in settings})
    metrics = {n: _decode(ds[n].values) for n in ds.data_vars if ds[n].ndim == 0}
    visits = []
    if "visit_level" in ds:
        cols = [
            ds[n].values if n in ds else [math.nan] * ds.sizes["visit"]
            for n in ("visit_level", "visit_entry_step", "visit_exit_step")
        ]
        visits = [tuple(map(float, v)) for v in zip(*cols, strict=True) if not _isnan(v[0])]
    steps_at_level = None
    if "steps_at_level" in ds and ds["steps_at_level"].dims == ("level",):
        pairs = zip(ds["level"].values, ds["steps_at_level"].values, strict=False)
        steps_at_level = [(int(lv), _decode(v)) for lv, v in pairs]
    return dict(
        path=path,
        attrs=dict(ds.attrs),
        settings=settings,
        metrics=metrics,
        visits=visits,
        steps_at_level=steps_at_level,
    )


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
    if _isnan(value) or (isinstance(value, str) and value == ""):
        return MISSING
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        if value == int(value) and abs(value) < 1e12:
            return str(int(value))
        return f"{value:.4g}"
    return str(value)


def render(df, fmt_name: str, header: dict | None = None) -> str:
    """A DataFrame as text (aligned), markdown (pipe table) or csv (raw values).

    header: column -> (top, sub) for a two-line header in the text format (e.g. a metric's
    name over n, median, min, max); other columns keep their name on the top line."""
    import pandas as pd
    import tabulate

    if fmt_name == "csv":
        return df.to_csv(index=False).rstrip("\n")
    cells = df.astype(object).map(fmt).values.tolist() if len(df) else []
    if fmt_name == "markdown":
        return tabulate.tabulate(
            cells, headers=list(df.columns), tablefmt="github", disable_numparse=True
        )
    if not cells:
        return "  ".join(str(c) for c in df.columns) + "\n(no rows)"
    top = [(header or {}).get(c, (c, "")) for c in df.columns]
    # a metric's name once, over its first statistic
    tops = [a if i == 0 or a != top[i - 1][0] else "" for i, (a, _) in enumerate(top)]
    heads = [f"{a}\n{b}" if header else str(a) for a, (_, b) in zip(tops, top, strict=True)]
    numeric = [pd.api.types.is_numeric_dtype(df[c]) for c in df.columns]
    tabulate.MIN_PADDING = 0  # columns as wide as their widest cell, two spaces apart
    return tabulate.tabulate(
        cells,
        headers=heads,
        tablefmt="plain",
        disable_numparse=True,
        colalign=["right" if n else "left" for n in numeric],
    )


def _indent(text: str) -> str:
    return "\n".join("  " + line for line in text.splitlines())


def _small_table(rows, columns) -> str:
    import pandas as pd

    return _indent(pd.DataFrame(rows, columns=columns).to_string(index=False))


def _natural_key(text: str):
    try:
        return (0, float(text), "")
    except ValueError:
        return (1 if text != MISSING else 2, 0.0, text)


# --------------------------------------------------------------------------- selecting


def _check_columns(df, names, option: str, source) -> None:
    unknown = [n for n in names if n not in df.columns]
    if unknown:
        import difflib

        columns = list(map(str, df.columns))
        close = difflib.get_close_matches(unknown[0], columns, n=3)
        hint = f"did you mean {' or '.join(close)}?" if close else f"columns: {', '.join(columns)}"
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
    if isinstance(value, bool) or _isnan(value):
        return None if _isnan(value) else value
    return BOOL_WORDS.get(str(value).strip().lower())


def _where_term(term: str, df, source, work) -> str:
    """One --where term as a DataFrame.query comparison on `work`, a frame of the term's
    column in comparable form (bools as True/False/None, numbers as floats, missing as a
    flag); its value goes into work.attrs."""
    m = WHERE_RE.match(term)
    if not m:
        raise QueryError(
            source,
            f"bad --where expression {term!r}: expected COL=VALUE (or !=, <, <=, >, >=), "
            "e.g. k=3 (give PATH before --where)",
        )
    col, op, raw = m.groups()
    op = "==" if op == "=" else op
    _check_columns(df, [col], "--where", source)
    kind, bad, i = _column_kind(df[col]), f"bad --where expression {term!r}", len(work.columns)
    name, value = f"c{i}", f"v{i}"
    if raw.lower() in MISSING_WORDS:
        if op not in ("==", "!="):
            raise QueryError(source, f"{bad}: only = and != compare with a missing value")
        work[name], work.attrs[value] = df[col].isna(), True
    elif kind == "bool":
        work[name], work.attrs[value] = df[col].map(_as_bool), _as_bool(raw)
        if work.attrs[value] is None or op not in ("==", "!="):
            raise QueryError(source, f"{bad}: {col} is true/false, use {col}=true or {col}=false")
    elif kind == "num":
        try:
            work[name], work.attrs[value] = _numeric(df[col]), float(raw)
        except ValueError:
            raise QueryError(
                source, f"{bad}: {col} is numeric and {raw!r} is not a number"
            ) from None
    else:
        if op not in ("==", "!="):
            raise QueryError(source, f"{bad}: {col} holds text, only = and != apply")
        work[name] = df[col].map(lambda v: None if _isnan(v) else str(v))
        work.attrs[value] = raw
    return f"({name} {op} @{value})"


def select_rows(df, terms, source):
    """The rows where every --where term holds: one DataFrame.query."""
    import pandas as pd

    if not terms:
        return df
    work = pd.DataFrame(index=df.index)
    expr = " and ".join([_where_term(t, df, source, work) for t in terms])
    keep = work.query(expr, local_dict=dict(work.attrs), engine="python").index
    return df.loc[keep].reset_index(drop=True)


def _split_cols(text: str | None) -> list[str]:
    """Comma-separated names, each once (`--by k,k` groups by k once)."""
    return list(dict.fromkeys(c.strip() for c in (text or "").split(",") if c.strip()))


def varying(df, names) -> list[str]:
    """The names among `names` whose values are not all the same in df (NaN counts as a value)."""
    return [n for n in names if n in df.columns and df[n].astype(object).map(fmt).nunique() > 1]


def _sort(df, col: str | None, descending: bool, source):
    if not col:
        return df
    _check_columns(df, [col], "--sort", source)
    return df.sort_values(col, ascending=not descending, na_position="last", kind="stable")


def _numeric(series):
    """A column as floats (bools as 0/1, missing as NaN)."""
    import pandas as pd

    if _column_kind(series) == "bool":
        return series.map(_as_bool).map(lambda v: math.nan if v is None else float(v))
    return pd.to_numeric(series, errors="coerce").astype(float)


def _keys(df, by: list[str]):
    """The grouping columns, missing values as NaN (one group, sorted last)."""
    return [df[b].astype(object).map(lambda v: math.nan if _isnan(v) else v) for b in by]


def group_stats(df, by: list[str], metrics: list[str], source):
    """Per group of `by`: runs (rows), then n (non-missing), median, min, max of each metric."""
    import pandas as pd

    for name in metrics:
        if _column_kind(df[name]) == "str":
            raise QueryError(
                source,
                f"column {name!r} is not numeric; --by summarises numeric columns "
                "(choose them with --cols)",
            )
    numeric = pd.DataFrame({m: _numeric(df[m]) for m in metrics}, index=df.index)
    grouped = numeric.groupby(_keys(df, by), dropna=False, sort=True)
    stats = grouped.agg(["count", "median", "min", "max"])
    stats.columns = [f"{m}_{'n' if s == 'count' else s}" for m, s in stats.columns]
    stats.insert(0, "runs", grouped.size())
    return stats.reset_index(names=by).reset_index(drop=True)


def _studies(df) -> dict[str, int]:
    """Study -> number of rows flagged in it (in_<study> true)."""
    flags = [c for c in df.columns if str(c).startswith("in_")]
    return {f[3:]: int(df[f].map(lambda v: _as_bool(v) is True).sum()) for f in flags}


def _select_study(df, study: str | None, source):
    if study is None:
        return df
    studies = _studies(df)
    if study not in studies:
        raise QueryError(
            source, f"no study {study!r} in --study (studies: {', '.join(studies) or 'none'})"
        )
    return df[df[f"in_{study}"].map(lambda v: _as_bool(v) is True)].reset_index(drop=True)


def mixed_studies_warning(df) -> str | None:
    """A warning when the rows a median is taken over belong to no one study together."""
    studies = _studies(df)
    if not len(df) or not studies or len(df) in studies.values():
        return None
    present = ", ".join(f"{s} ({n})" for s, n in studies.items() if n)
    return (
        f"warning: the medians mix runs of several studies: {present}; select one with "
        "--study NAME (or --where in_NAME=true)"
    )


# --------------------------------------------------------------------------- handlers


def _guard(handler):
    """Run a handler: QueryError (and anything unexpected) become one `error:` line, exit 2."""

    def wrapped(args) -> int:
        try:
            return handler(args)
        except QueryError as err:
            print(f"error: {err}", file=sys.stderr)
        except BrokenPipeError:  # `dln table | head`: stop quietly
            import os

            with contextlib.suppress(OSError, ValueError, AttributeError):
                os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            return 0
        except Exception as err:  # never a traceback on the command line
            where = getattr(args, "path", None) or getattr(args, "a", None) or "dln"
            print(f"error: {where}: {type(err).__name__}: {err}", file=sys.stderr)
        return 2

    wrapped.__name__, wrapped.__doc__ = handler.__name__, handler.__doc__
    return wrapped


def _grouped(df, args, cols, source):
    by = _split_cols(args.by)
    if not by:
        raise QueryError(source, "--by needs one or more column names")
    _check_columns(df, by, "--by", source)
    metrics = cols or [m for m in DEFAULT_BY_METRICS if m in df.columns]
    out = group_stats(df, by, metrics, source)
    key = args.sort
    if key and key not in out.columns and f"{key}_median" in out.columns:
        key = f"{key}_median"
    return _sort(out, key, args.desc, source), metrics


@_guard
def cmd_table(args) -> int:
    """`dln table`: runs x settings x metrics, optionally grouped."""
    table = load_table(args.path)
    source = table.source
    df = _select_study(table.df, getattr(args, "study", None), source)
    df = select_rows(df, args.where, source)
    cols = _split_cols(args.cols)
    _check_columns(df, cols, "--cols", source)
    metrics = []
    if args.by is not None:
        out, metrics = _grouped(df, args, cols, source)
        warning = mixed_studies_warning(df)
    else:
        settings = [c for c in SETTINGS if c in df.columns]
        default = [*varying(df, settings), *[m for m in DEFAULT_METRICS if m in df.columns]]
        shown = ["run", *[c for c in (cols or default) if c != "run"]]
        out, warning = _sort(df, args.sort, args.desc, source)[shown], None
    print(render(out, args.format, {f"{m}_{s}": (m, s) for m in metrics for s in STATS}))
    if args.format == "text":
        selected = args.where or getattr(args, "study", None)
        note = f"{len(df)} of {len(table.df)} runs" if selected else f"{len(df)} runs"
        print(f"({note}, {source})")
    if warning:
        print(warning, file=sys.stderr)
    return 0


def _info_run(rec: dict) -> list[str]:
    attrs, s, m = rec["attrs"], rec["settings"], rec["metrics"]
    width = max(len(n) for n in [*s, *PROVENANCE, *INFO_METRICS, "run_key"]) + 2

    def line(name, value) -> str:
        return f"  {name:<{width}}{value}"

    lines = [f"run file: {rec['path']}", line("run_key", attrs.get("run_key", MISSING))]
    lines += ["", "settings:", *(line(n, fmt(v)) for n, v in s.items()), "", "provenance:"]
    for name in PROVENANCE:
        value = attrs.get(name, MISSING)
        if name == "package_versions" and isinstance(value, str):
            with contextlib.suppress(ValueError, AttributeError):
                value = ", ".join(f"{k} {v}" for k, v in json.loads(value).items())
        lines.append(line(name, fmt(value)))
    lines += ["", "metrics:", *(line(n, fmt(m[n])) for n in INFO_METRICS if n in m)]
    n_visits = f" (n_visits: {fmt(m['n_visits'])})" if "n_visits" in m else ""
    lines += ["", f"levels visited{n_visits}:"]
    if rec["visits"]:
        for level, entry, exit_ in rec["visits"]:
            end = fmt(exit_) if not _isnan(exit_) else "end"
            lines.append(f"  level {fmt(level)}: steps {fmt(entry)} .. {end}")
    elif rec["steps_at_level"]:
        near = [(lv, n) for lv, n in rec["steps_at_level"] if not _isnan(n) and n > 0]
        lines += [f"  level {lv}: {fmt(n)} steps" for lv, n in near] or ["  none"]
    else:
        lines.append("  (not recorded in this file)")
    return [*lines, "", "reproduce with:", f"  {attrs.get('command', '(no command attribute)')}"]


def _info_aggregate(table: Table) -> list[str]:
    df, attrs = table.df, table.attrs
    n_attr = attrs.get("n_runs")
    differs = n_attr is not None and int(n_attr) != len(df)
    lines = [
        f"experiment: {table.experiment}",
        f"source: {table.source}",
        f"runs: {len(df)}" + (f" (n_runs attribute says {n_attr})" if differs else ""),
        f"config hash: {attrs.get('config_hash', MISSING)}",
    ]
    if attrs.get("trajectory_groups"):  # runs.nc: xr.open_dataset(path, group=<one of them>)
        lines.append(f"trajectory groups: {', '.join(str(attrs['trajectory_groups']).split())}")
    lines += ["", "settings that vary:"]
    settings = [c for c in SETTINGS if c in df.columns]
    vary = varying(df, settings)
    for name in vary:
        counts = df[name].astype(object).map(fmt).value_counts()
        values = sorted(counts.index, key=_natural_key)
        lines.append(f"  {name}: " + ", ".join(f"{v} ({counts[v]})" for v in values))
    lines += [] if vary else ["  none"]
    fixed = [c for c in settings if c not in vary]
    if fixed:
        first = df.iloc[0] if len(df) else {}
        lines += ["", "settings held fixed:"]
        lines += [f"  {name}: {fmt(first[name]) if len(df) else MISSING}" for name in fixed]
    studies = _studies(df)
    lines += ["", "studies (runs flagged):"]
    lines += [f"  in_{s}: {n} of {len(df)}" for s, n in studies.items()] or ["  (no in_* flags)"]
    return lines


@_guard
def cmd_info(args) -> int:
    """`dln info`: one run file or one aggregate."""
    kind, obj = _load_any(Path(args.path))
    print("\n".join(_info_run(obj) if kind == "run" else _info_aggregate(obj)))
    return 0


# --------------------------------------------------------------------------- diff


def _same(a, b, rtol: float) -> bool:
    if _isnan(a) or _isnan(b):
        return _isnan(a) and _isnan(b)
    if isinstance(a, (int, float)) and isinstance(b, (int, float)) and not isinstance(a, bool):
        return a == b or abs(a - b) <= rtol * max(abs(a), abs(b))
    return a == b


def _change(a, b) -> tuple[str, str]:
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (a, b)):
        return MISSING, MISSING
    if _isnan(a) or _isnan(b):
        return MISSING, MISSING
    delta = b - a
    rel = f"{delta / abs(a) * 100:+.3g}%" if a != 0 else MISSING
    return (f"+{fmt(float(delta))}" if delta > 0 else fmt(float(delta))), rel


def _diff_runs(a: dict, b: dict, args) -> tuple[list[str], bool]:
    lines = [f"A: {a['path']}", f"B: {b['path']}", ""]
    sa, sb = a["settings"], b["settings"]
    names = list(dict.fromkeys([*sa, *sb]))
    rows = [
        (n, fmt(sa.get(n)), fmt(sb.get(n))) for n in names if not _same(sa.get(n), sb.get(n), 0)
    ]
    lines.append("settings that differ:" if rows else "settings: identical")
    lines += [_small_table(rows, ["setting", "A", "B"])] if rows else []
    prov = [
        (n, fmt(a["attrs"].get(n)), fmt(b["attrs"].get(n)))
        for n in PROVENANCE
        if a["attrs"].get(n) != b["attrs"].get(n)
    ]
    if prov:
        lines += ["", "provenance that differs:", _small_table(prov, ["attribute", "A", "B"])]
    names = list(dict.fromkeys([*a["metrics"], *b["metrics"]]))
    table, changed, width = [], 0, 6 if args.all else 5
    for n in names:
        va, vb = a["metrics"].get(n), b["metrics"].get(n)
        same = _same(va, vb, args.rtol)
        changed += not same
        if not same or args.all:
            delta, rel = _change(va, vb) if not same else ("", "")
            table.append((n, fmt(va), fmt(vb), delta, rel, "" if same else "*")[:width])
    hint = "" if args.all else " (--all shows them all)"
    lines += ["", f"metrics: {changed} of {len(names)} differ{hint}"]
    columns = ["metric", "A", "B", "change", "relative", "differs"][:width]
    lines += [_small_table(table, columns)] if table else []
    return lines, bool(rows) or changed > 0


def _settings_key(df, settings) -> list[tuple]:
    """One hashable key per row from its settings (floats exactly, NaN/"" as None)."""

    def norm(v):
        if _isnan(v) or v == "":
            return None
        v = v.item() if hasattr(v, "item") else v
        return v if isinstance(v, bool) else float(v) if isinstance(v, (int, float)) else str(v)

    return [tuple(map(norm, row)) for row in df[settings].astype(object).itertuples(index=False)]


def _value_rows(A, B, settings) -> list[tuple]:
    """(setting, values only in A, values only in B) for every setting whose values differ."""

    def values(df, name):
        return set(df[name].astype(object).map(fmt).replace(MISSING, "(missing)"))

    rows = []
    for name in settings:
        va, vb = values(A, name), values(B, name)
        if va != vb:
            only = [", ".join(sorted(x, key=_natural_key)) for x in (va - vb, vb - va)]
            rows.append((name, *only))
    return rows


def _match_runs(A, B, settings):
    """Runs matched by their settings (ids may embed hashes that change): pairs of row
    numbers, and the rows found only in A and only in B."""
    index_b: dict = {}
    for j, key in enumerate(_settings_key(B, settings)):
        index_b.setdefault(key, []).append(j)
    pairs, only_a = [], []
    for i, key in enumerate(_settings_key(A, settings)):
        (pairs.append((i, index_b[key].pop(0))) if index_b.get(key) else only_a.append(i))
    return pairs, only_a, sorted(j for rest in index_b.values() for j in rest)


def _metric_cols(df) -> list[str]:
    return [c for c in df.columns if c != "run" and c not in SETTINGS and not c.startswith("in_")]


def _changes(A, B, pairs, metrics, rtol) -> list[tuple]:
    out = []
    for i, j in pairs:
        for m in metrics:
            va, vb = _decode(A[m].iloc[i]), _decode(B[m].iloc[j])
            if not _same(va, vb, rtol):
                out.append((A["run"].iloc[i], m, fmt(va), fmt(vb), *_change(va, vb)))
    return out


def _grouped_medians(both, by, metrics):
    """Per group of `by`: runs of A and B, then each metric's median in A and in B (bool
    metrics: the fraction true)."""
    import pandas as pd

    values = pd.DataFrame({m: _numeric(both[m]) for m in metrics}, index=both.index)
    everything = [pd.Series("", index=both.index, name="_all")]  # one group: all runs
    keys = [*(_keys(both, by) if by else everything), both["_side"]]
    grouped = values.groupby(keys, dropna=False, sort=True)
    stats = {
        m: grouped[m].mean() if _column_kind(both[m]) == "bool" else grouped[m].median()
        for m in metrics
    }
    wide = pd.DataFrame({"runs": grouped.size(), **stats}).unstack("_side")
    wide = wide.reindex(columns=pd.MultiIndex.from_product([["runs", *metrics], ["A", "B"]]))
    wide.columns = [f"{m} {side}" for m, side in wide.columns]
    wide[["runs A", "runs B"]] = wide[["runs A", "runs B"]].fillna(0).astype(int)
    return wide.reset_index().drop(columns="_all", errors="ignore")


def _median_lines(A, B, args, settings, source) -> list[str]:
    import pandas as pd

    both = pd.concat([A.assign(_side="A"), B.assign(_side="B")], ignore_index=True)
    by = _split_cols(args.by) or [c for c in varying(both, settings) if c not in REPLICATE_SETTINGS]
    for name in by if args.by else []:
        if name not in settings:
            allowed = ", ".join(settings)
            raise QueryError(
                source, f"no such settings column {name!r} in --by (settings: {allowed})"
            )
    metrics = [m for m in DEFAULT_METRICS if m in A.columns and m in B.columns]
    if not metrics:
        return []
    title = f"median by {', '.join(by) if by else '(all runs)'} (bool metrics: fraction true):"
    header = {f"{m} {side}": (m, side) for m in ["runs", *metrics] for side in "AB"}
    return ["", title, _indent(render(_grouped_medians(both, by, metrics), "text", header))]


def _runs_only(label, idx, df) -> list[str]:
    lines = ["", f"runs only in {label}: {len(idx)}", *(f"  {df['run'].iloc[i]}" for i in idx[:10])]
    return lines + ([f"  ... and {len(idx) - 10} more"] if len(idx) > 10 else [])


def _diff_aggregates(ta: Table, tb: Table, args) -> tuple[list[str], bool]:
    A, B = ta.df, tb.df
    lines = [f"A: {ta.experiment} ({ta.source}, {len(A)} runs)"]
    lines += [f"B: {tb.experiment} ({tb.source}, {len(B)} runs)", ""]
    settings = [c for c in SETTINGS if c in A.columns and c in B.columns]
    one_side = [f"{c} (only A)" for c in SETTINGS if c in A.columns and c not in B.columns]
    one_side += [f"{c} (only B)" for c in SETTINGS if c in B.columns and c not in A.columns]
    if one_side:
        lines += ["settings columns present on one side only: " + ", ".join(one_side), ""]
    rows = _value_rows(A, B, settings)
    lines.append("setting values that differ:" if rows else "setting values: same sets")
    lines += [_small_table(rows, ["setting", "only in A", "only in B"])] if rows else []
    pairs, only_a, only_b = _match_runs(A, B, settings)
    lines += _runs_only("A", only_a, A) + _runs_only("B", only_b, B)
    metrics = [c for c in _metric_cols(A) if c in B.columns]
    one_metric = [f"{c} (only A)" for c in _metric_cols(A) if c not in B.columns]
    one_metric += [f"{c} (only B)" for c in _metric_cols(B) if c not in A.columns]
    if one_metric:
        lines += ["", "metric columns present on one side only: " + ", ".join(one_metric)]
    changes = _changes(A, B, pairs, metrics, args.rtol)
    n_runs = len({c[0] for c in changes})
    lines += [
        "",
        f"runs in both: {len(pairs)}; metrics differ in {n_runs} of them ({len(changes)} values)",
    ]
    shown = changes if args.all else changes[:30]
    if shown:
        lines.append(_small_table(shown, ["run", "metric", "A", "B", "change", "relative"]))
    if len(changes) > len(shown):
        lines.append(f"  ... and {len(changes) - 30} more (--all shows them all)")
    lines += _median_lines(A, B, args, settings, ta.source)
    different = bool(one_side or rows or only_a or only_b or one_metric or changes)
    return lines, different


@_guard
def cmd_diff(args) -> int:
    """`dln diff A B`: exit 0 identical, 1 different, 2 error."""
    kind_a, a = _load_any(Path(args.a))
    kind_b, b = _load_any(Path(args.b))
    if kind_a != kind_b:
        raise QueryError(
            args.a if kind_a == "run" else args.b,
            "is a run file and the other input is an aggregate; "
            "diff compares two run files or two aggregates",
        )
    lines, different = (_diff_runs if kind_a == "run" else _diff_aggregates)(a, b, args)
    print("\n".join([*lines, "", "different" if different else "identical"]))
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
  dln table results/main --study grid --by k,construction --cols stuck_steps,escape_ratio
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


def _option(*names, **kw) -> tuple:
    return names, kw


PATH_HELP = "runs.csv, runs.nc, experiment directory or results directory"
TABLE_OPTIONS = [
    _option("path", nargs="?", default="results", metavar="PATH", help=PATH_HELP),
    _option(
        "--study",
        metavar="NAME",
        help="only the runs of this study (flag in_NAME), e.g. grid; a median over "
        "several studies mixes their settings (dln table warns)",
    ),
    _option(
        "--where",
        nargs="+",
        action="extend",
        metavar="TERM",
        help="keep rows where all terms hold, e.g. k=3 lr<=0.001",
    ),
    _option(
        "--by",
        metavar="COLS",
        help="group by these comma-separated columns: runs per group and "
        "n/median/min/max of each --cols metric (NaN ignored)",
    ),
    _option(
        "--cols",
        metavar="COLS",
        help="comma-separated columns to show (with --by: the metrics to summarise; default "
        f"{','.join(DEFAULT_BY_METRICS)}); default: run, the settings that vary, "
        f"{','.join(DEFAULT_METRICS)}",
    ),
    _option("--format", choices=["text", "csv", "markdown"], default="text"),
    _option(
        "--sort",
        metavar="COL",
        help="sort by this column, missing values last (with --by, a metric sorts by its median)",
    ),
    _option("--desc", action="store_true", help="sort in descending order"),
]
DIFF_OPTIONS = [
    _option("a", metavar="A", help="run file, runs.nc, runs.csv or experiment dir"),
    _option("b", metavar="B", help="same kind as A"),
    _option(
        "--rtol",
        type=float,
        default=0.0,
        help="relative tolerance under which two numbers count as equal (default: 0, exact)",
    ),
    _option(
        "--by",
        metavar="COLS",
        help="aggregates: group the medians by these settings (default: the settings that "
        "vary, except seed)",
    ),
    _option(
        "--all",
        action="store_true",
        help="show every metric (run files) or every differing value (aggregates; default: "
        "the first 30)",
    ),
]
COMMANDS = {  # name: (help, description, epilog, options, handler)
    "table": (
        "runs x settings x metrics of an experiment",
        "Show the runs of an experiment: one row per run, the settings that vary and the "
        "main metrics; or grouped statistics with --by.",
        TABLE_EPILOG,
        TABLE_OPTIONS,
        "cmd_table",
    ),
    "info": (
        "summary of a run file or an aggregate",
        "Describe one run file or one experiment's aggregate.",
        INFO_EPILOG,
        [_option("path", metavar="FILE", help=f"run file (.nc), or {PATH_HELP}")],
        "cmd_info",
    ),
    "diff": (
        "compare two run files or two experiments",
        "Compare two run files, or two experiments' aggregates.",
        DIFF_EPILOG,
        DIFF_OPTIONS,
        "cmd_diff",
    ),
}


def add_parsers(subparsers) -> None:
    """Add `table`, `info` and `diff` to an argparse subparsers object (func=handler)."""
    for name, (help_, description, epilog, options, handler) in COMMANDS.items():
        parser = subparsers.add_parser(
            name,
            help=help_,
            description=description,
            epilog=epilog,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        for names, kw in options:
            parser.add_argument(*names, **kw)
        parser.set_defaults(func=globals()[handler])


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
