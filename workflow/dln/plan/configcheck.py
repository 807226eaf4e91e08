"""Config validation with one clear message per error: the key, the bad value, what is allowed.

The JSON schema (workflow/schemas/config.schema.yaml) is the single source of truth for the
config's shape; this module turns jsonschema's errors into readable messages, then adds the
checks a schema cannot express (cross-field relations, ranges that depend on the problem size).
"""

from __future__ import annotations

import json
import math
import re
import sys
from pathlib import Path

import jsonschema
import yaml

from dln.model.problem import ConfigError


def _where(path) -> str:
    out = ""
    for p in path:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out or "config"


def _non_finite(node, path=()):
    """Yield (path, value) of NaN/inf numbers: YAML's .nan/.inf parse as floats."""
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _non_finite(v, path + (k,))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _non_finite(v, path + (i,))
    elif isinstance(node, float) and not math.isfinite(node):
        yield path, node


def _describe(schema_part: dict) -> str:
    if "enum" in schema_part:
        return "one of " + ", ".join(map(repr, schema_part["enum"]))
    if "const" in schema_part:
        return repr(schema_part["const"])
    return str(schema_part.get("type", "a valid value"))


def _message(err: jsonschema.ValidationError) -> str:
    where = _where(err.absolute_path)
    v, kind = err.instance, err.validator
    if kind == "additionalProperties":
        allowed = sorted(err.schema.get("properties", {}))
        extra = sorted(set(v) - set(allowed), key=str)  # YAML keys may be numbers or null
        return f"unknown key {extra[0]!r} in {where} (allowed keys: {', '.join(allowed)})"
    if kind == "required":
        return f"{where} is missing the key {err.message.split()[0]} (required: {', '.join(err.validator_value)})"
    if kind == "enum":
        return (
            f"{where} = {v!r} is not allowed (allowed: {', '.join(map(repr, err.validator_value))})"
        )
    if kind == "type":
        hint = ""
        if isinstance(v, str) and err.validator_value in ("number", "integer"):
            try:
                float(v)
                # two ways a number arrives as text: YAML's 1e-3 (no dot), or a nested value
                # given with --config, which Snakemake passes on as text
                hint = (
                    "; YAML reads 1e-3 as text: write 1.0e-3; a nested --config value "
                    "arrives as text: put it in a --configfile overlay"
                )
            except ValueError:
                pass
        return f"{where} = {v!r} has the wrong type (expected {err.validator_value}{hint})"
    if kind == "minItems":
        n = err.validator_value
        return f"{where} = {v!r} has too few values (allowed: a list of at least {n} value{'s' * (n > 1)})"
    if kind == "uniqueItems":
        return f"{where} = {v!r} contains duplicate values (each value may appear once)"
    if kind in ("minimum", "exclusiveMinimum", "maximum", "exclusiveMaximum"):
        op = {"minimum": ">=", "exclusiveMinimum": ">", "maximum": "<=", "exclusiveMaximum": "<"}[
            kind
        ]
        return f"{where} = {v!r} is out of range (allowed: {op} {err.validator_value})"
    if kind == "not" and where == "experiment":
        return (
            f"experiment = {v!r} is reserved: results/{v}/ belongs to the run store "
            f"(allowed: a name other than {', '.join(RESERVED_EXPERIMENT_NAMES)})"
        )
    if kind == "oneOf" and any(o.get("$ref") == "#/$defs/study_grid" for o in err.validator_value):
        return (
            f"{where} = {v!r} is not allowed (allowed: a grid, i.e. a mapping of run settings "
            f"to lists of values; a list of such grids (their union); or null to switch the "
            f"study off)"
        )
    if kind == "oneOf":
        options = " or ".join(_describe(s) for s in err.validator_value)
        return f"{where} = {v!r} is not allowed (allowed: {options} of positive numbers)"
    return f"{where} = {v!r}: {err.message}"


# directories of results/ the run store owns (also refused by the schema's `not`)
RESERVED_EXPERIMENT_NAMES = ("runs", "logs")


def check_experiment_name(name: str, results="results") -> None:
    """results/<name>/ must be free for a directory: a name that is an existing file (the
    committed results/README.md) would otherwise fail in Snakemake with a traceback."""
    target = Path(results) / name
    if target.is_symlink() or (target.exists() and not target.is_dir()):
        kind = "a symbolic link" if target.is_symlink() else "an existing file"
        raise ConfigError(
            f"config error: experiment = {name!r}: {target} is {kind}, not an experiment "
            f"directory (allowed: a name that is not a file in {results}/, nor "
            f"{', '.join(RESERVED_EXPERIMENT_NAMES)})"
        )


# a grid with more points than this is counted before the schema validates each value: the
# schema's per-value checks cost ~30 us, so a 10^6-seed grid spent 29 s before max_runs refused it
HUGE_GRID = 10_000
_NOT_STUDIES = {"experiment", "problem", "start", "gd", "analysis", "figures", "limits", "batches"}


def _grid_points(grid) -> int:
    """The points of one study grid (a mapping of lists): the product of the list lengths."""
    return math.prod(len(v) for v in grid.values() if isinstance(v, list))


def _refuse_huge_grid(config: dict) -> None:
    """Refuse a study grid larger than limits.max_runs (and HUGE_GRID) before the schema check;
    the distinct values of one grid are distinct runs. Shapes the schema would refuse are
    left to it."""
    limits = config.get("limits")
    if not isinstance(limits, dict) or limits.get("allow_large_grid") is True:
        return
    cap = limits.get("max_runs")
    if not isinstance(cap, int) or isinstance(cap, bool):
        return
    for study, value in config.items():
        grids = value if isinstance(value, list) else [value]
        if study in _NOT_STUDIES or not all(isinstance(g, dict) for g in grids):
            continue
        for grid in grids:
            points = _grid_points(grid)
            if points > max(cap, HUGE_GRID):
                raise ConfigError(
                    f"config error: limits.max_runs={cap}: {study} alone plans {points:,} runs "
                    f"(grid points; one file each); raise limits.max_runs or set "
                    f"limits.allow_large_grid: true to run it anyway"
                )


def check_workflow_config(config: dict, schema_path) -> None:
    """Raise ConfigError with a one-line message for the first problem the schema finds.
    Cross-field checks (k against d, steps against record_every, ...) are the plan's: every
    planned run is a RunConfig, which checks itself (dln.plan.runplan)."""
    _refuse_huge_grid(config)  # first: the walks below visit every value too
    for path, value in _non_finite(config):
        raise ConfigError(
            f"config error: {_where(path)} = {value} is not a finite number "
            f"(allowed: finite numbers only; YAML's .nan and .inf are refused)"
        )

    def beyond_float(node, path=()):  # YAML integers have no limit; every number becomes a float
        if isinstance(node, dict):
            for k, v in node.items():
                yield from beyond_float(v, path + (k,))
        elif isinstance(node, list):
            for i, v in enumerate(node):
                yield from beyond_float(v, path + (i,))
        elif isinstance(node, int) and abs(node) > sys.float_info.max:
            yield path, node

    for path, value in beyond_float(config):
        raise ConfigError(
            f"config error: {_where(path)} = {'-' * (value < 0)}<an integer of "
            f"{value.bit_length()} bits> is not a finite number (allowed: numbers below "
            f"{sys.float_info.max:.4g} in magnitude)"
        )
    schema = yaml.safe_load(Path(schema_path).read_text())
    errors = list(jsonschema.Draft202012Validator(schema).iter_errors(config))
    if errors:
        best = jsonschema.exceptions.best_match(errors)
        raise ConfigError(f"config error: {_message(best)}")
    seed, seeds = (
        config["figures"]["main_seed"],
        (config["grid"] or {}).get("seed", [0])
        if not isinstance(config["grid"], list)
        else sorted({s for g in config["grid"] for s in g.get("seed", [0])}),
    )  # a list of grids
    if seed not in seeds:
        raise ConfigError(
            f"config error: figures.main_seed = {seed} is not one of grid.seed = {seeds} "
            f"(the figures draw the runs of this seed)"
        )


_MERGE_TAG = "tag:yaml.org,2002:merge"
_NOT_COMPARED = object()  # a key the duplicate check leaves alone (`~` is a valid key: None)


def _duplicate_key(key, where: str, first: int, second: int, kind: str) -> ConfigError:
    return ConfigError(
        f"key {key!r} appears twice in {where} (lines {first} and {second}); {kind} would keep "
        f"only the last value (allowed: each key once)"
    )


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that refuses a key written twice in one mapping (PyYAML keeps the last).

    The check runs on the composed node tree, before construction: SafeLoader's merge handling
    (`<<: *base`) mixes merged and explicit keys in one list, and an explicit key may override
    a merged one (YAML's merge-key spec), so only explicitly written keys are compared.
    """

    def construct_document(self, node):
        self.refuse_duplicate_keys(node)
        return super().construct_document(node)

    def refuse_duplicate_keys(self, root) -> None:
        """Raise ConfigError for the first mapping (in document order) with a key written twice.
        Aliased nodes are the same objects as their anchors, so each is checked once."""
        todo, visited = [(root, ())], set()
        while todo:
            node, where = todo.pop()
            if id(node) in visited:
                continue
            visited.add(id(node))
            if isinstance(node, yaml.SequenceNode):
                todo.extend(
                    (item, (*where, i)) for i, item in reversed(list(enumerate(node.value)))
                )
            elif isinstance(node, yaml.MappingNode):
                seen, children = {}, []
                for key_node, value_node in node.value:
                    key = self._plain_key(key_node)
                    label = "<<" if key_node.tag == _MERGE_TAG else key
                    children.append(
                        (value_node, (*where, "?" if label is _NOT_COMPARED else label))
                    )
                    if key is _NOT_COMPARED:
                        continue
                    line = key_node.start_mark.line + 1
                    if key in seen:
                        raise _duplicate_key(key, _where(where), seen[key], line, "YAML")
                    seen[key] = line
                todo.extend(reversed(children))

    def _plain_key(self, key_node):
        """The key as the mapping would hold it (so `1` and `"1"` differ), or _NOT_COMPARED for a
        merge key `<<` and a complex or unhashable key."""
        if key_node.tag == _MERGE_TAG or not isinstance(key_node, yaml.ScalarNode):
            return _NOT_COMPARED
        key = self.construct_object(key_node, deep=True)
        try:
            hash(key)
        except TypeError:
            return _NOT_COMPARED
        return key


class _DuplicateJSONKey(ValueError):
    """Raised by the object_pairs_hook; check_config_files adds the lines."""

    def __init__(self, key: str):
        super().__init__(key)
        self.key = key


def _refuse_duplicate_pairs(pairs):
    """json.loads hook: json keeps the last of two equal keys, silently."""
    seen = set()
    for key, _ in pairs:
        if key in seen:
            raise _DuplicateJSONKey(key)
        seen.add(key)
    return dict(pairs)


_JSON_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|[{}\[\]:,]|[^\s{}\[\]:,"]+', re.DOTALL)


def _json_duplicate_lines(text: str):
    """(key, where, first line, second line) of the first key written twice in one object of
    a valid JSON text, in document order; None if there is none. json.loads gives no positions,
    so this walks the tokens (strings, punctuation, bare scalars)."""
    stack = []  # per open container: [its path, {key: line} (None for an array), current key/index]
    expect_key = False
    for token in _JSON_TOKEN.finditer(text):
        tok = token.group()
        if tok in ("{", "["):
            path = (*stack[-1][0], stack[-1][2]) if stack else ()
            stack.append([path, {} if tok == "{" else None, 0 if tok == "[" else None])
            expect_key = tok == "{"
        elif tok in ("}", "]"):
            stack.pop()
            expect_key = False
        elif tok == ",":
            if stack and stack[-1][1] is None:
                stack[-1][2] += 1
            expect_key = bool(stack) and stack[-1][1] is not None
        elif tok == ":":
            expect_key = False
        elif expect_key:
            key, line = json.loads(tok), text.count("\n", 0, token.start()) + 1
            path, keys, _ = stack[-1]
            if key in keys:
                return key, _where(path), keys[key], line
            keys[key] = line
            stack[-1][2] = key
            expect_key = False
    return None


def _check_json(text: str):
    """Parse `text` as JSON refusing duplicate keys; False if it is not JSON at all."""
    try:
        json.loads(text, object_pairs_hook=_refuse_duplicate_pairs)
    except _DuplicateJSONKey as dup:
        found = _json_duplicate_lines(text)
        if found is None:  # (not expected: the hook and the token walk see the same keys)
            raise ConfigError(
                f"key {dup.key!r} appears twice in one object; JSON loading would keep only "
                f"the last value (allowed: each key once)"
            ) from None
        raise _duplicate_key(*found, "JSON loading") from None
    except ValueError:  # JSONDecodeError, and a text that is not JSON
        return False
    return True


def check_config_files(paths) -> None:
    """Refuse config files with a key written twice in one mapping: a hand edit that adds
    `steps:` a second time would otherwise silently override the first.

    Read the way Snakemake reads them (snakemake.common.configfile): JSON if the text parses as
    JSON, whatever the extension, otherwise YAML (anchors, aliases and merge keys allowed).
    Missing, unreadable or syntactically broken files are skipped: Snakemake reports those.
    """
    for path in paths:
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            continue
        try:
            if not _check_json(text):
                yaml.load(text, Loader=_StrictLoader)  # a SafeLoader: no arbitrary objects
        except ConfigError as err:
            raise ConfigError(f"config error: {path}: {err}") from None
        except yaml.YAMLError:
            pass  # Snakemake reports syntax errors itself (the key check ran before construction)


# --------------------------------------------------------------------------- axes, experiments

# axes whose single value is itself a list: a flat list of numbers is one value, not an axis
_LIST_VALUED_AXES = ("widths", "spectrum")
# keys that say how to run or check, not what the experiment is: they may change freely
EXPERIMENT_IGNORES = ("limits", "analysis.strict", "batches")


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _as_axis(name: str, value):
    """A study's axis as a list: a scalar (`lr: 1.0e-3`) is a one-element axis; for widths and
    spectrum a single architecture or spectrum (`widths: [8, 1, 4, 5]`, `spectrum: linear`)
    is one value."""
    if name in _LIST_VALUED_AXES:
        single = value == "linear" or (
            isinstance(value, list) and value and all(map(_is_number, value))
        )
        return [value] if single else value
    return value if isinstance(value, list) else [value]


def normalize_axes(config: dict, studies) -> None:
    """Turn every scalar axis of every study into a one-element list, in place (before the
    schema check, which wants lists)."""
    for study in studies:
        grids = config.get(study)
        for grid in grids if isinstance(grids, list) else [grids]:
            if isinstance(grid, dict):
                for name in list(grid):
                    grid[name] = _as_axis(name, grid[name])


def _flat(node, prefix="") -> dict:
    """{dotted key: value} of a nested mapping (lists are values)."""
    if not isinstance(node, dict):
        return {prefix: node}
    out = {}
    for key, value in node.items():
        out.update(_flat(value, f"{prefix}.{key}" if prefix else str(key)))
    return out


def config_differences(old: dict, new: dict) -> list[str]:
    """The dotted keys whose values differ between two configs (EXPERIMENT_IGNORES aside)."""
    a, b = _flat(old), _flat(new)
    keys = sorted(set(a) | set(b))
    ignored = tuple(EXPERIMENT_IGNORES)
    return [
        k
        for k in keys
        if not any(k == i or k.startswith(i + ".") for i in ignored)
        and a.get(k, _NOT_COMPARED) != b.get(k, _NOT_COMPARED)
    ]


def check_experiment(config: dict, copy_path, overwrite: bool) -> None:
    """Refuse to run an existing experiment with another config: results/<experiment>/
    config.yaml (the copy the workflow wrote) must hold the same config, unless `overwrite`."""
    path = Path(copy_path)
    if overwrite or not path.is_file():
        return
    try:
        old = yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError) as err:
        raise ConfigError(
            f"config error: {path}: unreadable copy of the experiment's config ({err}); "
            f"pass --config overwrite=true to replace it"
        ) from None
    differ = config_differences(old, config)
    if differ:
        shown = ", ".join(differ[:8]) + (f" and {len(differ) - 8} more" if len(differ) > 8 else "")
        raise ConfigError(
            f"config error: experiment {config['experiment']!r} exists ({path}) with another "
            f"config: {shown} differ; name a new experiment (experiment: <name>) or pass "
            f"--config overwrite=true to replace it"
        )


def config_copy_text(config: dict, code_version: str) -> str:
    """results/<experiment>/config.yaml: the resolved config, loadable as a --configfile,
    under a comment line naming the code that ran it."""
    body = yaml.safe_dump(json.loads(json.dumps(dict(config))), sort_keys=False)
    return f"# resolved config of experiment {config['experiment']}; code {code_version}\n{body}"
