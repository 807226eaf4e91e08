"""The two reports of a small workflow run, opened in headless Chromium and read like a reader
reads them. Snakemake's report: the landing page shows the config hash and lists the figures of
the registry, the menu lists the reproduction summary first, and clicking through the figure
subcategories shows the figures in order, each image displayed. The one-page index.html: the
summary and the first figure shown without any interaction, every figure in registry order with
its caption, every image loaded, the data files with the column dictionary. Both must work
offline: they may load nothing but their own file and data:/blob: URLs.

Chromium is Debian's `chromium` package, installed by tests/browser/install.sh (root and apt;
skipped without them, except on CI where that is an error), driven by Playwright without its own
browser download. Screenshots are saved beside the reports (report.png, index.png).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest
import yaml
from playwright.sync_api import expect, sync_playwright

from conftest import REPO, small_config, snakemake, write_config
from dln.data.columns import dictionary_rows
from dln.plan.registry import (
    BEYOND_PAPER_SUBCATEGORY,
    DATA_CATEGORY,
    FIGURES_CATEGORY,
    PAPER_SUBCATEGORY,
    SUMMARY_CATEGORY,
    figure_report_args,
)

INSTALL_SH = REPO / "tests/browser/install.sh"
CHROMIUM = Path("/usr/bin/chromium")
# the report, relative to the workflow's directory; the screenshot goes beside it
REPORT = Path("results/paper/report.html")
FIGURES = {  # subcategory -> figure files in the order a reader should see them
    PAPER_SUBCATEGORY: [
        "fig1_loss_by_k",
        "fig2_rate_stages",
        "fig3_alignments",
        "fig4_stuck_vs_lr",
        "fig5_gd_vs_flow",
    ],
    # the small config switches precision, depth, gaussian and laws off: their figures
    # (7, 8, 9, 11) are not built, and the others keep their registry numbers
    BEYOND_PAPER_SUBCATEGORY: ["fig6_escape_model", "fig10_rates"],
}
NUMBERS = {
    name: f"{i + 1:02d}"
    for i, name in enumerate(yaml.safe_load((REPO / "workflow/figures.yaml").read_text()))
}
REGISTRY = yaml.safe_load((REPO / "workflow/figures.yaml").read_text())
TIMEOUT_MS = 30_000


def browser_unavailable_reason() -> str | None:
    if CHROMIUM.exists():
        return None
    if os.geteuid() != 0:
        return "needs root (tests/browser/install.sh installs Debian's chromium with apt)"
    if shutil.which("apt-get") is None:
        return "needs apt-get (tests/browser/install.sh installs Debian's chromium with apt)"
    return None


@pytest.fixture(scope="module")
def chromium() -> Path:
    """Debian's Chromium, installed if missing (skipped without root or apt; fails on CI)."""
    reason = browser_unavailable_reason()
    if reason:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"browser tests cannot run on CI: {reason}")
        pytest.skip(reason)
    proc = subprocess.run([str(INSTALL_SH)], capture_output=True, text=True, timeout=1500)
    if proc.returncode != 0:
        pytest.fail(f"tests/browser/install.sh failed:\n{proc.stdout}\n{proc.stderr}")
    return Path(proc.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> Path:
    """The report of one complete run of the small workflow."""
    work = tmp_path_factory.mktemp("report")
    write_config(work, small_config())
    snakemake(work, "--cores", "2")
    snakemake(work, "--report", str(REPORT))
    return work / REPORT


def _click(page, text: str):
    """Click the sidebar link (menu, category or breadcrumb) that reads exactly `text`."""
    page.locator("nav a").filter(has_text=re.compile(rf"^\s*{re.escape(text)}\s*$")).click()


def _home(page):
    page.locator("nav ol li a").first.click()  # the breadcrumbs' home icon


def _rows(page) -> list[list[str]]:
    """The label cells of the results table in the sidebar, row by row."""
    rows = page.locator("nav table tbody tr")
    expect(rows.first).to_be_visible()
    return [[td.strip() for td in row.locator("td").all_inner_texts()[:-1]] for row in rows.all()]


def _shown_image(page, data_uri: str) -> dict:
    """Wait until the content pane shows the image with this data URI; its size in the page."""
    handle = page.wait_for_function(
        """(src) => {
            const img = [...document.querySelectorAll("#app img")].find((i) => i.src === src);
            if (!img || !img.complete) return null;
            const box = img.getBoundingClientRect();
            return {naturalWidth: img.naturalWidth, naturalHeight: img.naturalHeight,
                    width: box.width, height: box.height};
        }""",
        arg=data_uri,
        timeout=TIMEOUT_MS,
    )
    return handle.json_value()


def test_figure_entries_sort_in_figure_order():
    """The report sorts names as strings: the numbered names must sort as the numbers do."""
    args = [
        figure_report_args(f"fig{n}", n, f"title {n}", beyond_paper=n > 5) for n in range(1, 12)
    ]
    assert sorted(args, key=lambda a: a["labels"]["Figure"]) == args
    assert [a["subcategory"] for a in args] == [PAPER_SUBCATEGORY] * 5 + [
        BEYOND_PAPER_SUBCATEGORY
    ] * 6
    assert sorted([PAPER_SUBCATEGORY, BEYOND_PAPER_SUBCATEGORY]) == [
        PAPER_SUBCATEGORY,
        BEYOND_PAPER_SUBCATEGORY,
    ]
    cats = [SUMMARY_CATEGORY, FIGURES_CATEGORY, DATA_CATEGORY]
    assert sorted(cats) == cats
    assert args[9] == {
        "category": FIGURES_CATEGORY,
        "subcategory": BEYOND_PAPER_SUBCATEGORY,
        "labels": {"Figure": "10", "Title": "title 10"},
    }


@pytest.mark.parametrize(
    "number, title", [(0, "t"), (100, "t"), (True, "t"), (1, " "), (1, "rate s^{1-2/N}")]
)
def test_figure_entries_reject_bad_labels(number, title):
    with pytest.raises(ValueError):
        figure_report_args("fig", number, title, beyond_paper=False)


@pytest.mark.workflow
@pytest.mark.browser
def test_report_reads_well_offline_in_chromium(chromium, report):
    t0 = time.monotonic()
    own_url = report.resolve().as_uri()
    requests, errors = [], []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(chromium), args=["--no-sandbox"])
        try:
            context = browser.new_context(viewport={"width": 1600, "height": 1000})
            context.on("request", lambda req: requests.append(req.url))
            # never reach the network, whatever the page asks for (the requests are still seen)
            context.route("http*://**", lambda route: route.abort())
            page = context.new_page()
            page.set_default_timeout(TIMEOUT_MS)
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.goto(own_url)
            results = page.evaluate("results")  # the report's own index: path -> entry

            # landing page: the config hash first, then the menu with the summary first
            config_hash = page.locator("strong", has_text="Config hash").locator("xpath=..")
            expect(config_hash).to_be_visible()
            assert config_hash.locator("tt, code").first.inner_text().strip()
            # the landing text names every figure built, by its registry number and title
            landing = page.locator("#app").inner_text()
            names = [n for names in FIGURES.values() for n in names]
            for name in names:
                number = list(REGISTRY).index(name) + 1
                assert f"{number} ({REGISTRY[name]['title']})" in landing, (name, landing)
            menu = page.locator("nav ul > li > a > span").all_inner_texts()
            cats = [SUMMARY_CATEGORY, FIGURES_CATEGORY, DATA_CATEGORY]
            assert [m for m in menu if m in cats] == cats, menu

            # 1. the reproduction summary: its table shown in the content pane
            _click(page, SUMMARY_CATEGORY)
            assert _rows(page) == [["results/paper/summary.html"]]
            page.locator("nav table tbody tr a[type=button]").first.click()
            summary = page.frame_locator("iframe").locator("table")
            expect(summary).to_be_visible()
            assert summary.locator("tr").count() > 1
            expect(page.frame_locator("iframe").get_by_text("Config hash")).to_be_visible()

            # 2. the figures: two subcategories in order, each figure shown in turn
            _home(page)
            _click(page, FIGURES_CATEGORY)
            subcats = page.locator("nav ul > li > a > span").all_inner_texts()
            assert subcats == list(FIGURES), subcats
            for subcat, names in FIGURES.items():
                _click(page, subcat)
                rows = _rows(page)
                expected_numbers = [NUMBERS[name] for name in names]
                assert [row[0] for row in rows] == expected_numbers, rows
                # a title and the file's name each
                assert all(len(row) == 3 and row[1] for row in rows), rows
                assert [row[2] for row in rows] == names, rows
                for i, name in enumerate(names):
                    path = f"results/paper/figures/{name}.png"
                    assert results[path]["labels"]["Figure"] == expected_numbers[i]
                    page.locator("nav table tbody tr").nth(i).locator(
                        "a[type=button]"
                    ).first.click()
                    shown = _shown_image(page, results[path]["data_uri"])
                    assert shown["naturalWidth"] > 0 and shown["naturalHeight"] > 0, (name, shown)
                    assert shown["width"] > 0 and shown["height"] > 0, (name, shown)
                if subcat == PAPER_SUBCATEGORY:
                    # what the screenshot shows: figure 1 beside the paper's figures
                    page.locator("nav table tbody tr").first.locator("a[type=button]").first.click()
                    _shown_image(
                        page, results["results/paper/figures/fig1_loss_by_k.png"]["data_uri"]
                    )
                    page.screenshot(path=report.with_name("report.png"), full_page=True)
                _click(page, FIGURES_CATEGORY)  # back up one level (breadcrumb)

            # 3. the data: the per-run table
            _home(page)
            _click(page, DATA_CATEGORY)
            assert _rows(page) == [["results/paper/runs.csv"]]
        finally:
            browser.close()

    assert not errors, errors
    foreign = _foreign(requests, own_url)
    assert not foreign, foreign
    assert report.with_name("report.png").stat().st_size > 10_000
    print(
        f"browser checks {time.monotonic() - t0:.1f} s; screenshot {report.with_name('report.png')}"
    )


def _foreign(requests: list[str], own_url: str) -> list[str]:
    """Requests for anything but the page itself and data:/blob: URLs."""
    return [
        url
        for url in requests
        if url.split("#")[0] != own_url and not url.startswith(("data:", "blob:"))
    ]


def _images(page) -> list[dict]:
    """Every image of the page once loaded: its id'd figure, load state and natural size."""
    page.wait_for_function("[...document.images].every((i) => i.complete)", timeout=TIMEOUT_MS)
    return page.evaluate(
        """() => [...document.images].map((i) => ({
            figure: i.closest("figure") ? i.closest("figure").id : null,
            src: i.src.slice(0, 22), width: i.naturalWidth, height: i.naturalHeight}))"""
    )


def _check_index_page(page, built: list[str]):
    """The page as a reader sees it, without clicking anything; `built`: the figures the
    workflow drew, in registry order."""
    summary = page.locator("#summary")
    expect(summary).to_be_visible()
    assert summary.locator("tr").count() > 2
    # verdicts coloured: a PASS cell in green (VERDICT_COLOURS), and the counts above the table
    expect(page.locator("#verdict-counts")).to_contain_text("PASS")
    colour = summary.locator("td.verdict", has_text="PASS").first.evaluate(
        "(td) => getComputedStyle(td).color"
    )
    assert colour == "rgb(26, 127, 55)", colour
    figures = page.locator("figure")
    expect(figures.first.locator("img")).to_be_visible()
    ids = figures.evaluate_all("(fs) => fs.map((f) => f.id)")
    assert ids == built, ids
    for i, name in enumerate(ids):
        # each caption inline, under its figure, numbered and titled as in the registry
        caption = figures.nth(i).locator("figcaption")
        expect(caption).to_be_visible()
        number = list(REGISTRY).index(name) + 1
        assert f"Figure {number}. {REGISTRY[name]['title']}" in caption.inner_text()
    images = _images(page)
    assert len(images) == len(ids) and [im["figure"] for im in images] == ids, images
    bad = [im for im in images if im["width"] == 0 or im["height"] == 0]
    assert not bad, bad
    assert all(im["src"] == "data:image/png;base64," for im in images), images
    assert page.locator("script").count() == 0  # a static page: nothing runs
    files = page.locator("#files a").all_inner_texts()
    assert {"runs.csv", "runs.nc", "claims.csv"} <= set(files), files
    columns = page.locator("#columns tr td:first-child code").all_inner_texts()
    assert columns == [name for name, _, _ in dictionary_rows()]


def _browse_index(chromium: Path, index: Path, built: list[str], screenshot=None):
    """Open the page offline, check it (_check_index_page); the requests made and page errors."""
    own_url = index.resolve().as_uri()
    requests, errors = [], []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(chromium), args=["--no-sandbox"])
        try:
            context = browser.new_context(viewport={"width": 1400, "height": 1000})
            context.on("request", lambda req: requests.append(req.url))
            context.route("http*://**", lambda route: route.abort())
            page = context.new_page()
            page.set_default_timeout(TIMEOUT_MS)
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.goto(own_url)
            _check_index_page(page, built)
            if screenshot:
                page.screenshot(path=screenshot, full_page=True)
        finally:
            browser.close()
    return _foreign(requests, own_url), errors


def _built(index: Path) -> list[str]:
    return [n for n in REGISTRY if (index.parent / f"figures/{n}.png").is_file()]


@pytest.mark.workflow
@pytest.mark.browser
def test_index_page_shows_everything_on_one_page_offline(chromium, report):
    index = report.with_name("index.html")
    built = _built(index)
    assert built and built[0] == "fig1_loss_by_k", built
    foreign, errors = _browse_index(chromium, index, built, index.with_name("index.png"))
    assert not errors, errors
    assert not foreign, foreign
    assert index.with_name("index.png").stat().st_size > 50_000


@pytest.mark.workflow
@pytest.mark.browser
def test_index_page_checks_catch_a_broken_image_and_a_request(chromium, report, tmp_path):
    """The checks above fail on the same page with its first image missing, and report a
    page that asks the network for a style sheet."""
    index = report.with_name("index.html")
    text = index.read_text()
    first = re.search(r"src='data:image/png;base64,[^']*'", text).group(0)
    broken = tmp_path / "index.html"
    broken.write_text(text.replace(first, "src='figures/missing.png'", 1))
    with pytest.raises(AssertionError, match="'width': 0"):
        _browse_index(chromium, broken, _built(index))
    asking = tmp_path / "asking.html"
    style = "<link rel='stylesheet' href='https://example.invalid/style.css'>"
    asking.write_text(text.replace("</head>", f"{style}</head>", 1))
    foreign, _ = _browse_index(chromium, asking, _built(index))
    assert foreign == ["https://example.invalid/style.css"], foreign
