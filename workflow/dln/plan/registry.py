"""Where each result goes in the Snakemake report: the keyword arguments of ``report()``.

How Snakemake 9.27's HTML report orders things (snakemake/report/html_reporter/template/
components): the sidebar lists categories, and inside a category its subcategories, sorted by
name with JavaScript's ``localeCompare`` (menu.js, category.js); "Other" is only the name of a
missing category. Inside a subcategory, entries with ``labels`` are shown as a table with one
column per label, rows sorted by the label values, first column first (abstract_results.js,
``getData``); without labels they are sorted by path. So the order is set by names: the
categories and subcategories carry a number ("1. ...", "2.1 ..."), and a figure's first label
is its zero-padded number ("01" .. "10"; "10" would sort before "6"). Label values must be
strings (the sort calls ``localeCompare`` on them) without braces (Snakemake fills ``{...}``
from the wildcards).
"""

from __future__ import annotations

SUMMARY_CATEGORY = "1. Reproduction summary"
FIGURES_CATEGORY = "2. Figures"
DATA_CATEGORY = "3. Data"
PAPER_SUBCATEGORY = "2.1 The paper's experiments"
BEYOND_PAPER_SUBCATEGORY = "2.2 Beyond the paper"


def _check_label(what: str, value: str) -> str:
    if not value.strip():
        raise ValueError(f"report entry: empty {what}")
    if "{" in value or "}" in value:
        raise ValueError(f"report entry: {what} {value!r} has braces (read as wildcards)")
    return value


def figure_report_args(name: str, number: int, title: str, beyond_paper: bool) -> dict:
    """Keyword arguments for ``report()`` of figure ``number`` (1..99) with a short title.

    The figure goes in the Figures category, under the paper's experiments or beyond the
    paper, in a row "Figure | Title" that sorts by the figure number.
    """
    _check_label("name", name)
    if isinstance(number, bool) or not isinstance(number, int) or not 1 <= number <= 99:
        raise ValueError(f"report entry {name}: figure number must be 1..99, got {number!r}")
    return {
        "category": FIGURES_CATEGORY,
        "subcategory": BEYOND_PAPER_SUBCATEGORY if beyond_paper else PAPER_SUBCATEGORY,
        "labels": {"Figure": f"{number:02d}", "Title": _check_label("title", title)},
    }
