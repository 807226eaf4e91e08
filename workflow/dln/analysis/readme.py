"""The README's result numbers, generated from an experiment's results: the block between
RESULTS_START and RESULTS_END is written by refresh_readme (`make refresh-docs`, through
dln.cli.tracked), never by hand; `make reproduce` only says when it differs, and
tests/workflow/test_docs.py fails when it disagrees with a fresh build of the default config.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pandas as pd

from dln.analysis.claims import significant
from dln.model.problem import spectrum_values

RESULTS_START = "<!-- results:start (make refresh-docs writes this block from results/paper) -->"
RESULTS_END = "<!-- results:end -->"
VERDICTS = ("PASS", "FAIL", "INCONCLUSIVE", "INFO")


def _studies_line(table: pd.DataFrame) -> str:
    flags = [c for c in table.columns if c.startswith("in_")]
    counts = ", ".join(f"{c[3:]} {int(table[c].sum())}" for c in flags)
    return (
        f"**{len(table)} runs** in {len(flags)} studies ({counts}; a run that belongs to "
        "several studies is simulated once)"
    )


def _verdicts_line(claims: pd.DataFrame) -> str:
    counts = claims["verdict"].value_counts()
    parts = [f"{counts.get(v, 0)} {v}" for v in VERDICTS if v in counts or v in ("PASS", "FAIL")]
    parts += [f"{n} {v}" for v, n in counts.items() if v not in VERDICTS]
    return f"**{len(claims)} claim{'s' * (len(claims) != 1)}: {', '.join(parts)}**"


def _stuck_cell(g: pd.DataFrame) -> str:
    """'median (min-max); predicted median' of one saddle and construction."""
    measured = g["stuck_steps"]
    cell = significant(measured.median())
    if len(measured) > 1:
        cell += f" ({significant(measured.min())}-{significant(measured.max())})"
    if "predicted_stuck_steps" in g and g["predicted_stuck_steps"].notna().any():
        cell += f"; {significant(g['predicted_stuck_steps'].median())}"
    return cell


def _stuck_table(table: pd.DataFrame) -> list[str]:
    """Stuck length per saddle k and construction in the main grid (GD, balanced): median and
    range over the seeds, and the escape law's prediction from W(0)."""
    grid = table[table["in_grid"].astype(bool) & (table["solver"] == "gd")]
    escaped = grid[grid["stuck_steps"].notna()]
    if escaped.empty:
        return []
    constructions = sorted(escaped["construction"].unique(), reverse=True)
    lines = [
        "| saddle k | " + " | ".join(constructions) + " |",
        "| --- |" + " --- |" * len(constructions),
    ]
    for k in sorted(escaped["k"].unique()):
        cells = []
        for c in constructions:
            g = escaped[(escaped["k"] == k) & (escaped["construction"] == c)]
            cells.append(_stuck_cell(g) if len(g) else "-")
        lines.append(f"| {int(k)} | " + " | ".join(cells) + " |")
    seeds = escaped["seed"].nunique()
    lr = escaped["lr"].iloc[0]
    return [
        f"Stuck length at saddle k (GD iterations at L_k, main grid, lr = {lr:g}): median "
        f"(range) over {seeds} seeds; after the semicolon, the escape law's prediction from "
        "W(0), lr and dtype alone (median):",
        "",
        *lines,
    ]


def results_block(out_dir) -> str:
    """The README's result block from results/<experiment>/runs.csv and claims.csv."""
    out_dir = Path(out_dir)
    table = pd.read_csv(out_dir / "runs.csv", index_col="run")
    claims = pd.read_csv(out_dir / "claims.csv")
    grid = table[table["in_grid"].astype(bool)] if "in_grid" in table else table
    first = grid.iloc[0] if len(grid) else table.iloc[0]
    spectrum = ", ".join(f"{s:g}" for s in spectrum_values(first))
    intro = (
        f"Experiment `{out_dir.name}` (main grid: widths {first['widths']}, target spectrum "
        f"({spectrum})): {_studies_line(table)}; {_verdicts_line(claims)} "
        "(INFO: beyond the paper, no claim to check)."
    )
    stuck = _stuck_table(table)
    # prose wrapped like the rest of the README; table rows stay one line each
    lines = [textwrap.fill(intro, 96), ""]
    if stuck:
        lines += [textwrap.fill(stuck[0], 96), *stuck[1:]]
    return "\n".join(lines).rstrip("\n")


def refresh_readme(readme_path, out_dir) -> bool:
    """Write results_block(out_dir) between the README's result markers. Returns whether the
    README changed."""
    readme = Path(readme_path).read_text()
    if RESULTS_START not in readme or RESULTS_END not in readme:
        raise ValueError(f"{readme_path}: no {RESULTS_START} ... {RESULTS_END} block")
    head, rest = readme.split(RESULTS_START, 1)
    _, tail = rest.split(RESULTS_END, 1)
    new = f"{head}{RESULTS_START}\n{results_block(out_dir)}\n{RESULTS_END}{tail}"
    if new != readme:
        Path(readme_path).write_text(new)
    return new != readme


def readme_block(readme_path) -> str:
    """The result block as the README holds it now."""
    text = Path(readme_path).read_text()
    return text.split(RESULTS_START + "\n", 1)[1].split("\n" + RESULTS_END, 1)[0]
