"""The one-page report results/<experiment>/index.html: the reproduction summary, every figure
with its caption, then the data files and their column dictionary, in one printable file.

Self-contained: the figures are embedded as data: URIs and the page has no script and no
external style, so opening it makes no request; the data files are plain relative links.
"""

from __future__ import annotations

import base64
import csv
import html
from pathlib import Path

from dln.data.columns import dictionary_rows

VERDICT_COLOURS = {
    "PASS": "#1a7f37",
    "FAIL": "#cf222e",
    "INCONCLUSIVE": "#9a6700",
    "INFO": "#57606a",
}
# claims.csv columns shown, in this order, when the file has them (older files have only
# section, claim, verdict; newer ones add the measured numbers)
CLAIM_COLUMNS = (
    "claim",
    "measured",
    "predicted",
    "tolerance",
    "n_pass",
    "n_total",
    "verdict",
)

STYLE = """
body { font-family: sans-serif; font-size: 14px; max-width: 1100px; margin: 1em auto;
       padding: 0 1em; color: #1f2328; }
h1 { font-size: 22px; } h2 { font-size: 18px; border-bottom: 1px solid #d0d7de; }
table { border-collapse: collapse; margin: 0.5em 0; }
th, td { border: 1px solid #d0d7de; padding: 3px 6px; vertical-align: top; text-align: left; }
th { background: #f6f8fa; }
td.num { text-align: right; white-space: nowrap; }
.verdict { font-weight: bold; white-space: nowrap; }
.counts span { margin-right: 1em; font-weight: bold; }
figure { margin: 1.5em 0; page-break-inside: avoid; break-inside: avoid; }
figure img { max-width: 100%; height: auto; display: block; }
figcaption { font-size: 13px; }
code { font-size: 12px; }
@media print { body { max-width: none; font-size: 11px; } h2 { page-break-after: avoid; } }
"""


def read_claims(path) -> list[dict]:
    """The rows of a claims.csv, each a dict by column name (any set of columns)."""
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def _verdict_cell(verdict: str) -> str:
    colour = VERDICT_COLOURS.get(verdict, "#1f2328")
    return f"<td class='verdict' style='color:{colour}'>{html.escape(verdict)}</td>"


def summary_html(rows: list[dict]) -> str:
    """The claims as a table grouped by section, verdicts coloured, with the verdict counts."""
    present = [c for c in CLAIM_COLUMNS if rows and c in rows[0]]
    counts = {"PASS": 0, "FAIL": 0}  # a zero FAIL count is news too
    for row in rows:
        counts[row.get("verdict", "")] = counts.get(row.get("verdict", ""), 0) + 1
    head = "".join(
        f"<span style='color:{VERDICT_COLOURS.get(v, '#1f2328')}'>{n} {html.escape(v)}</span>"
        for v, n in counts.items()
    )
    lines = [f"<p class='counts' id='verdict-counts'>{head}</p>", "<table id='summary'>"]
    lines.append("<tr>" + "".join(f"<th>{html.escape(c)}</th>" for c in present) + "</tr>")
    section = None
    for row in rows:
        if row.get("section") != section:
            section = row.get("section")
            lines.append(f"<tr><th colspan='{len(present)}'>{html.escape(section or '')}</th></tr>")
        cells = []
        for col in present:
            value = row.get(col) or ""
            if col == "verdict":
                cells.append(_verdict_cell(value))
            else:
                kind = "" if col == "claim" else " class='num'"
                cells.append(f"<td{kind}>{html.escape(value)}</td>")
        lines.append("<tr>" + "".join(cells) + "</tr>")
    lines.append("</table>")
    return "\n".join(lines)


def caption_html(rst: str) -> str:
    """A caption's reStructuredText as an HTML fragment; a markup error stops the build
    (halt_level 2: warnings too) instead of showing docutils' error text in the page."""
    from docutils.core import publish_parts

    settings = {"halt_level": 2, "report_level": 2, "input_encoding": "unicode"}
    return publish_parts(rst, writer="html", settings_overrides=settings)["body"]


def data_uri(png: Path) -> str:
    return "data:image/png;base64," + base64.b64encode(Path(png).read_bytes()).decode("ascii")


def figure_html(figure: dict) -> str:
    """One figure: number, title, the embedded PNG and its caption (keys of `figure`: number,
    name, title, png, caption_html)."""
    label = f"Figure {figure['number']}. {html.escape(figure['title'])}"
    return (
        f"<figure id='{figure['name']}'>"
        f"<img src='{data_uri(figure['png'])}' alt='{label}'>"
        f"<figcaption><p><b>{label}</b> (<code>figures/{figure['name']}.pdf</code>, "
        f"<code>.png</code>)</p>{figure['caption_html']}</figcaption></figure>"
    )


def _size(path: Path) -> str:
    n = path.stat().st_size
    for unit in ("B", "kB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return ""


def data_html(files: list[tuple[Path, str]], out_dir: Path) -> str:
    """The data files (relative links, size, what each holds) and the column dictionary."""
    lines = ["<table id='files'><tr><th>file</th><th>size</th><th>contents</th></tr>"]
    for path, what in files:
        rel = Path(path).relative_to(out_dir).as_posix()
        lines.append(
            f"<tr><td><a href='{html.escape(rel)}'><code>{html.escape(rel)}</code></a></td>"
            f"<td class='num'>{_size(Path(path))}</td><td>{html.escape(what)}</td></tr>"
        )
    lines.append("</table>")
    lines.append("<h3>Columns of runs.csv (and variables of runs.nc)</h3>")
    lines.append("<table id='columns'><tr><th>column</th><th>meaning</th><th>units</th></tr>")
    for name, meaning, units in dictionary_rows():
        lines.append(
            f"<tr><td><code>{html.escape(name)}</code></td><td>{html.escape(meaning)}</td>"
            f"<td>{html.escape(units)}</td></tr>"
        )
    lines.append("</table>")
    return "\n".join(lines)


def _contents(figures: list[dict]) -> str:
    links = ", ".join(
        f"<a href='#{f['name']}'>{f['number']} {html.escape(f['title'])}</a>" for f in figures
    )
    return (
        "<p><b>Contents:</b> 1. <a href='#summary-heading'>Reproduction summary</a>; "
        f"2. Figures: {links}; 3. <a href='#data-heading'>Data</a>.</p>"
    )


def index_page(
    experiment: str,
    config_hash: str,
    claims: list[dict],
    figures: list[dict],
    data: str,
) -> str:
    """The whole page from its parts (claims rows, figure dicts, the data section's HTML)."""
    title = f"Deep linear networks: experiment {html.escape(experiment)}"
    body = [
        f"<h1>{title}</h1>",
        "<p>Chen, Lin &amp; Zhang, <i>On Non-local Convergence Analysis of Deep Linear "
        "Networks</i> (ICML 2022), rebuilt by this workflow. Config hash "
        f"<code>{html.escape(config_hash)}</code>.</p>",
        _contents(figures),
        "<h2 id='summary-heading'>1. Reproduction summary</h2>",
        summary_html(claims),
        "<h2>2. Figures</h2>",
        *(figure_html(f) for f in figures),
        "<h2 id='data-heading'>3. Data</h2>",
        data,
    ]
    return (
        "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
        f"<title>{title}</title><style>{STYLE}</style></head><body>\n"
        + "\n".join(body)
        + "\n</body></html>\n"
    )
