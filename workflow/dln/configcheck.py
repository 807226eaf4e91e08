"""Config validation with one clear message per error: the key, the bad value, what is allowed.

The JSON schema (workflow/schemas/config.schema.yaml) is the single source of truth for the
config's shape; this module turns jsonschema's errors into readable messages, then adds the
checks a schema cannot express (cross-field relations, ranges that depend on the problem size).
"""

from __future__ import annotations

import math
from pathlib import Path

import jsonschema
import yaml

from .problem import ConfigError


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
        extra = sorted(set(v) - set(allowed))
        return f"unknown key {extra[0]!r} in {where} (allowed keys: {', '.join(allowed)})"
    if kind == "required":
        return f"{where} is missing the key {err.message.split()[0]} (required: {', '.join(err.validator_value)})"
    if kind == "enum":
        return f"{where} = {v!r} is not allowed (allowed: {', '.join(map(repr, err.validator_value))})"
    if kind == "type":
        hint = ""
        if isinstance(v, str) and err.validator_value in ("number", "integer"):
            try:
                float(v)
                hint = "; YAML reads 1e-3 as text: write 1.0e-3"
            except ValueError:
                pass
        return f"{where} = {v!r} has the wrong type (expected {err.validator_value}{hint})"
    if kind == "minItems":
        n = err.validator_value
        return f"{where} = {v!r} has too few values (allowed: a list of at least {n} value{'s' * (n > 1)})"
    if kind == "uniqueItems":
        return f"{where} = {v!r} contains duplicate values (each value may appear once)"
    if kind in ("minimum", "exclusiveMinimum", "maximum", "exclusiveMaximum"):
        op = {"minimum": ">=", "exclusiveMinimum": ">", "maximum": "<=", "exclusiveMaximum": "<"}[kind]
        return f"{where} = {v!r} is out of range (allowed: {op} {err.validator_value})"
    if kind == "oneOf":
        options = " or ".join(_describe(s) for s in err.validator_value)
        return f"{where} = {v!r} is not allowed (allowed: {options} of positive numbers)"
    return f"{where} = {v!r}: {err.message}"


def check_workflow_config(config: dict, schema_path) -> None:
    """Raise ConfigError with a one-line message for the first problem the schema finds.
    Cross-field checks (k against d, steps against record_every, ...) are the plan's: every
    planned run is a RunConfig, which checks itself (dln.plan)."""
    for path, value in _non_finite(config):
        raise ConfigError(
            f"config error: {_where(path)} = {value} is not a finite number "
            f"(allowed: finite numbers only; YAML's .nan and .inf are refused)"
        )
    schema = yaml.safe_load(Path(schema_path).read_text())
    errors = list(jsonschema.Draft202012Validator(schema).iter_errors(config))
    if errors:
        best = jsonschema.exceptions.best_match(errors)
        raise ConfigError(f"config error: {_message(best)}")
    seed, seeds = config["figures"]["main_seed"], (config["grid"] or {}).get("seed", [0])
    if seed not in seeds:
        raise ConfigError(
            f"config error: figures.main_seed = {seed} is not one of grid.seed = {seeds} "
            f"(the figures draw the runs of this seed)"
        )


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that refuses a key given twice in one mapping (PyYAML keeps the last)."""

    def construct_mapping(self, node, deep=False):
        seen = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise ConfigError(
                    f"key {key!r} appears twice in one section (lines "
                    f"{seen[key] + 1} and {key_node.start_mark.line + 1}); YAML would keep only "
                    f"the last value (allowed: each key once)"
                )
            seen[key] = key_node.start_mark.line
        return super().construct_mapping(node, deep=deep)


def check_config_files(paths) -> None:
    """Refuse YAML config files with a duplicated key: a hand edit that adds `steps:` a second
    time would otherwise silently override the first. Files that are not YAML are skipped."""
    for path in paths:
        path = Path(path)
        if path.suffix not in (".yaml", ".yml") or not path.is_file():
            continue
        try:
            yaml.load(path.read_text(), Loader=_StrictLoader)  # noqa: S506 (a SafeLoader)
        except ConfigError as err:
            raise ConfigError(f"config error: {path}: {err}") from None
        except yaml.YAMLError:
            pass  # Snakemake reports syntax errors itself
