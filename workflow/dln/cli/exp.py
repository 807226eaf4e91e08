"""`dln exp show`: every experiment x the settings that differ between them x headline metrics
(like `dvc exp show`).

An experiment is a directory results/<name>/ holding its config copy (config.yaml, written by
the workflow) and its table (runs.csv); its claim verdicts come from claims.csv when present.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

EXAMPLES = """examples:
  dln exp show                       every experiment under results/
  dln exp show --results other/results --format markdown
"""


def add_parser(sub) -> None:
    exp = sub.add_parser(
        "exp",
        help="experiments side by side: differing settings and headline metrics",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    exp.add_argument("action", choices=["show"])
    exp.add_argument("--results", default="results", help="the results directory")
    exp.add_argument("--format", choices=["text", "markdown", "csv"], default="text")
    exp.set_defaults(func=cmd_exp)


def _experiments(results: Path) -> list[Path]:
    return sorted(
        p
        for p in results.iterdir()
        if p.is_dir() and ((p / "config.yaml").is_file() or (p / "runs.csv").is_file())
    )


def _config(exp: Path) -> dict:
    import yaml

    from dln.plan.configcheck import _flat

    path = exp / "config.yaml"
    return _flat(yaml.safe_load(path.read_text()) or {}) if path.is_file() else {}


def _label(value) -> str:
    """A config value in one cell: lists as compact JSON, a missing key as '-'."""
    if value is _MISSING:
        return "-"
    return (
        json.dumps(value, separators=(",", ":")) if isinstance(value, (list, dict)) else str(value)
    )


_MISSING = object()


def _differing(configs: dict[str, dict]) -> list[str]:
    """The dotted config keys whose values are not the same in every experiment."""
    keys = sorted(set().union(*configs.values())) if configs else []
    return [
        k
        for k in keys
        if k != "experiment" and len({_label(c.get(k, _MISSING)) for c in configs.values()}) > 1
    ]


def _stuck_medians(exp: Path) -> dict:
    """Median stuck length of the main grid's escaped GD runs per k (and construction)."""
    import pandas as pd

    path = exp / "runs.csv"
    if not path.is_file():
        return {}
    df = pd.read_csv(path)
    if "in_grid" not in df or "stuck_steps" not in df:
        return {}
    grid = df[(df["in_grid"] == True) & (df["solver"] == "gd") & df["stuck_steps"].notna()]  # noqa: E712
    out = {}
    for (k, construction), group in grid.groupby(["k", "construction"], dropna=False):
        out[f"stuck k={int(k)} {construction}"] = int(group["stuck_steps"].median())
    return out


def _claims(exp: Path) -> str:
    """'22 PASS, 0 FAIL' from claims.csv, '-' when there is none."""
    import pandas as pd

    path = exp / "claims.csv"
    if not path.is_file():
        return "-"
    counts = pd.read_csv(path)["verdict"].value_counts()
    others = [f"{n} {v}" for v, n in counts.items() if v not in ("PASS", "FAIL", "INFO")]
    return ", ".join([f"{counts.get('PASS', 0)} PASS", f"{counts.get('FAIL', 0)} FAIL", *others])


def exp_table(results: Path):
    """One row per experiment: name, runs, the differing config keys, claims, stuck medians."""
    import pandas as pd

    exps = _experiments(results)
    configs = {p.name: _config(p) for p in exps}
    keys = _differing(configs)
    rows = []
    for exp in exps:
        row = {"experiment": exp.name}
        table = exp / "runs.csv"
        row["runs"] = sum(1 for _ in table.open()) - 1 if table.is_file() else "-"
        row.update({k: _label(configs[exp.name].get(k, _MISSING)) for k in keys})
        row["claims"] = _claims(exp)
        row.update(_stuck_medians(exp))
        rows.append(row)
    return pd.DataFrame(rows).fillna("-")


def cmd_exp(args) -> int:
    from tabulate import tabulate

    results = Path(args.results)
    if not results.is_dir() or not _experiments(results):
        print(
            f"error: {results}: no experiments here (results/<name>/config.yaml)", file=sys.stderr
        )
        return 2
    df = exp_table(results)
    if args.format == "csv":
        print(df.to_csv(index=False).rstrip("\n"))
    else:
        style = "github" if args.format == "markdown" else "simple"
        print(tabulate(df, headers="keys", tablefmt=style, showindex=False, disable_numparse=True))
    return 0
