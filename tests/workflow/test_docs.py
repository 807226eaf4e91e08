"""The documentation holds what the code does: the README's and docs/data-model.md's data
examples run as written on a real (tiny) workflow, the column dictionary in results/README.md is
the one the files carry, the README is short, its make targets and links exist, and every result
number in it is the one a fresh build of the default config gives."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys

import pytest

from conftest import REPO, small_config, snakemake, write_config
from dln.analysis.readme import (
    RESULTS_END,
    RESULTS_START,
    readme_block,
    refresh_readme,
    results_block,
)
from dln.data.columns import METRICS, SETTINGS, markdown_table

README = (REPO / "README.md").read_text()
DOCS = sorted((REPO / "docs").glob("*.md"))
# numbers the README's prose may hold outside the generated block: versions, the year and volume
# of the paper, and the small integers of formulas (k = 0, L_1, k >= 2, ...)
ALLOWED_NUMBERS = {"0", "1", "2", "3.11", "2022", "162"}


def test_results_readme_holds_the_column_dictionary():
    text = (REPO / "results/README.md").read_text()
    block = text.split("<!-- columns:start -->\n", 1)[1].split("\n<!-- columns:end -->", 1)[0]
    assert block == markdown_table()
    for name in (*SETTINGS, *METRICS):
        assert f"| `{name}` |" in block


def _results(tmp_path, verdicts, escaped=True):
    """A results/<experiment> folder with a two-run runs.csv and a claims.csv."""
    out = tmp_path / "results/exp"
    out.mkdir(parents=True)
    stuck = "22650" if escaped else ""
    out.joinpath("runs.csv").write_text(
        "run,solver,k,construction,seed,lr,widths,spectrum,in_grid,in_laws,stuck_steps,"
        "predicted_stuck_steps\n"
        f"a,gd,2,orthogonal,0,0.0005,8-3-5-10-1-4-5,linear,True,False,{stuck},22593\n"
        f"b,gd,2,antisymmetric,0,0.0005,8-3-5-10-1-4-5,linear,True,True,{stuck and 6600},6559\n"
        f'c,gd,2,orthogonal,1,0.0005,"8,3,5,10,1,4,5","5,4,3,2,1",True,False,{stuck and 23412},24006\n'
    )
    out.joinpath("claims.csv").write_text(
        "section,claim,verdict\n" + "".join(f"S,c{i},{v}\n" for i, v in enumerate(verdicts))
    )
    return out


def test_readme_results_block_is_refreshed_from_the_results(tmp_path):
    out = _results(tmp_path, ["PASS", "PASS", "INCONCLUSIVE", "INFO"])
    readme = tmp_path / "README.md"
    readme.write_text(f"intro\n{RESULTS_START}\nstale text\n{RESULTS_END}\nrest\n")
    assert refresh_readme(readme, out)
    text = readme.read_text()
    assert "stale text" not in text and text.endswith(f"{RESULTS_END}\nrest\n")
    block = readme_block(readme)
    assert block == results_block(out)
    flat = " ".join(block.split())  # the prose is wrapped
    assert "**3 runs** in 2 studies (grid 3, laws 1" in flat
    assert "**4 claims: 2 PASS, 0 FAIL, 1 INCONCLUSIVE, 1 INFO**" in flat
    assert "target spectrum (5, 4, 3, 2, 1)" in flat
    # median (range) over the seeds to 3 significant figures; the law's prediction after ";"
    assert "| 2 | 23,000 (22,600-23,400); 23,300 | 6,600; 6,560 |" in block
    assert not refresh_readme(readme, out)  # idempotent


def test_results_block_without_escapes_has_no_table(tmp_path):
    out = _results(tmp_path, ["FAIL"], escaped=False)
    block = results_block(out)
    assert "0 PASS, 1 FAIL" in block and "saddle k" not in block and "|" not in block


def test_readme_is_short_and_has_its_result_block():
    assert len(README.splitlines()) <= 150
    assert README.count(RESULTS_START) == 1 and README.count(RESULTS_END) == 1


def _prose(text: str) -> str:
    """The README without its generated block, code, links' targets and HTML comments."""
    text = re.sub(re.escape(RESULTS_START) + ".*?" + re.escape(RESULTS_END), "", text, flags=re.S)
    text = re.sub(r"```.*?```", "", text, flags=re.S)
    text = re.sub(r"`[^`]*`", "", text)
    text = re.sub(r"\]\([^)]*\)", "]", text)
    return re.sub(r"<!--.*?-->", "", text, flags=re.S)


def _numbers(text: str) -> set[str]:
    return set(re.findall(r"(?<![\w.])\d[\d,.]*\d|(?<![\w.])\d", text))


def test_readme_states_no_result_number_outside_the_generated_block():
    """Run times, counts and ratios typed by hand go stale (issue 20 found three run times)."""
    assert _numbers("takes about 30 s, 170x slower; k = 0, L_1") == {"30", "170", "0"}
    numbers = _numbers(_prose(README))
    assert numbers <= ALLOWED_NUMBERS, sorted(numbers - ALLOWED_NUMBERS)


@pytest.mark.parametrize("doc", [REPO / "README.md", *DOCS], ids=lambda p: p.name)
def test_relative_links_point_to_files(doc):
    links = re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", doc.read_text())
    missing = [
        link
        for link in links
        if not link.startswith(("http://", "https://")) and not (doc.parent / link).exists()
    ]
    assert not missing, missing


def test_readme_make_targets_exist():
    """Every `make <target> [VAR=value]` the README shows is a target make accepts."""
    commands = re.findall(r"(?m)(?:^|`)make ([a-z][\w.-]*(?: [A-Z]+=[\w.-]+)*)", README)
    assert {"reproduce", "test"} <= {c.split()[0] for c in commands}, commands
    for command in set(commands):
        proc = subprocess.run(
            ["make", "-n", *command.split()], cwd=REPO, capture_output=True, text=True
        )
        assert proc.returncode == 0, (command, proc.stderr)


def test_make_reproduce_runs_and_reports_the_chosen_experiment(tmp_path):
    overlay = tmp_path / "sweep.yaml"
    overlay.write_text("experiment: sweep  # a comment\nlr_sweep: null\n")
    dry = subprocess.run(
        ["make", "-n", "reproduce", f"CONFIG={overlay}"], cwd=REPO, capture_output=True, text=True
    ).stdout
    assert f"--configfile {overlay}" in dry and "--report results/sweep/report.html" in dry
    dry = subprocess.run(
        ["make", "-n", "reproduce", "EXPERIMENT=other"], cwd=REPO, capture_output=True, text=True
    ).stdout
    assert "--config experiment=other" in dry and "results/other/report.html" in dry
    dry = subprocess.run(["make", "-n", "reproduce"], cwd=REPO, capture_output=True, text=True)
    assert "results/paper/report.html" in dry.stdout and "README" not in dry.stdout


def test_readme_mentions_no_stale_paths():
    for stale in (
        "results/aggregate",
        "summary.csv",
        "results/figures/",
        "--method",
        "make .venv",
        "summary:start",
    ):
        assert stale not in README, stale


def _examples() -> list[tuple[str, str]]:
    """(file, code) of every Python example that reads an experiment's results."""
    found = []
    for doc in [REPO / "README.md", *DOCS]:
        for block in re.findall(r"```python\n(.*?)```", doc.read_text(), flags=re.S):
            if "results/paper" in block:
                found.append((doc.name, block))
    return found


@pytest.mark.workflow
def test_data_examples_run_as_written(tmp_path):
    """The README's and docs' pandas/xarray/seaborn examples, verbatim, on a tiny workflow."""
    cfg = small_config()
    cfg["gd"].update(steps=1000, record_every=50, weights_every=500)
    cfg["grid"] = {"k": [1, 3], "seed": [0, 1], "construction": ["orthogonal"]}
    cfg["lr_sweep"] = cfg["flow"] = None
    write_config(tmp_path, cfg)
    snakemake(tmp_path, "--cores", "2", "results/paper/runs.nc")
    examples = _examples()
    assert "README.md" in {name for name, _ in examples}
    for name, example in examples:
        script = "import matplotlib\nmatplotlib.use('Agg')\n" + example
        proc = subprocess.run(
            [sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True
        )
        assert proc.returncode == 0, (name, proc.stderr)
        assert "Warning" not in proc.stderr, (name, proc.stderr)


@pytest.mark.workflow
def test_readme_overlay_example_plans(tmp_path):
    """The README's first-sweep overlay, as written, passes the config checks and plans its
    experiment (a dry run over the repository's config.yaml)."""
    block = re.search(r"```yaml\n(# sweep.yaml\n.*?)```", README, flags=re.S).group(1)
    shutil.copy(REPO / "config.yaml", tmp_path / "config.yaml")
    (tmp_path / "sweep.yaml").write_text(block)
    proc = snakemake(tmp_path, "-n", "--configfile", str(tmp_path / "sweep.yaml"))
    assert "results/sweep/index.html" in proc.stdout + proc.stderr


@pytest.mark.workflow
@pytest.mark.slow
def test_readme_numbers_are_those_of_a_fresh_default_build(tmp_path):
    """The README's result block against the default config.yaml built from scratch: a code or
    config change that moves a result fails here until `make refresh-docs`."""
    shutil.copy(REPO / "config.yaml", tmp_path / "config.yaml")
    out = "results/paper"
    snakemake(tmp_path, "--cores", "2", f"{out}/runs.csv", f"{out}/claims.csv", timeout=1800)
    assert readme_block(REPO / "README.md") == results_block(tmp_path / out)
    # the README's pandas example, run as written, prints the main grid's medians: the block's
    # (rounded there to three significant figures)
    example = next(code for name, code in _examples() if name == "README.md")
    script = "import matplotlib\nmatplotlib.use('Agg')\n" + example
    proc = subprocess.run(
        [sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr
    printed, k = [], None  # pandas prints k once per group: carry it to the group's next line
    for line in proc.stdout.splitlines():
        row = re.match(r"^(\d)?\s+(orthogonal|antisymmetric)\s+(\S+)$", line)
        if row:
            k = row.group(1) or k
            printed.append((k, row.group(2), row.group(3)))
    assert len(printed) == 12, proc.stdout  # k = 0..5, both constructions (<NA>: no escape)
    block = readme_block(REPO / "README.md")
    for k, construction, median in printed:
        row = re.search(rf"^\| {k} \| (.*) \| (.*) \|$", block, re.M)
        if row is None:  # no escape at this k (k = 0, 1): the block has no row
            assert median == "<NA>", (k, construction, median)
            continue
        cell = row.group(1 if construction == "orthogonal" else 2)
        assert cell.startswith(f"{float(f'{float(median):.3g}'):,.0f}"), (k, construction, cell)
