"""The documentation holds what the code does: the README's data-model example runs as
written on a real (tiny) workflow, the column dictionary in results/README.md is the one the
files carry, and the README's summary block is refreshed from a summary.md."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from conftest import REPO, small_config, snakemake, write_config
from dln.analysis.claims import SUMMARY_END, SUMMARY_START, refresh_readme
from dln.data.columns import METRICS, SETTINGS, markdown_table

README = (REPO / "README.md").read_text()


def test_results_readme_holds_the_column_dictionary():
    text = (REPO / "results/README.md").read_text()
    block = text.split("<!-- columns:start -->\n", 1)[1].split("\n<!-- columns:end -->", 1)[0]
    assert block == markdown_table()
    for name in (*SETTINGS, *METRICS):
        assert f"| `{name}` |" in block


def test_readme_summary_block_is_refreshed_from_the_summary(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text(f"intro\n{SUMMARY_START}\nstale text\n{SUMMARY_END}\nrest\n")
    summary = tmp_path / "summary.md"
    summary.write_text(
        "# Reproduction summary\n\n**3 PASS, 1 FAIL** (x)\n\n## Limits\n\n"
        "- k = 2: plateau for 22,650 steps: **PASS**\n"
    )
    assert refresh_readme(readme, summary)
    text = readme.read_text()
    assert "stale text" not in text and "22,650 steps" in text and text.endswith("rest\n")
    assert "#### Limits" in text and "**3 PASS, 1 FAIL**" in text
    assert not refresh_readme(readme, summary)  # idempotent
    assert SUMMARY_START in README and SUMMARY_END in README


def test_readme_mentions_no_stale_paths():
    for stale in ("results/aggregate", "summary.csv", "results/figures/", "--method"):
        assert stale not in README, stale


@pytest.mark.workflow
def test_readme_data_model_example_runs_as_written(tmp_path):
    """The README's xarray/pandas/seaborn example, verbatim, on a tiny workflow's results."""
    cfg = small_config()
    cfg["gd"].update(steps=1000, record_every=50, weights_every=500)
    cfg["grid"] = {"k": [1, 3], "seed": [0, 1], "construction": ["orthogonal"]}
    cfg["lr_sweep"] = cfg["flow"] = None
    write_config(tmp_path, cfg)
    snakemake(tmp_path, "--cores", "2", "results/paper/runs.nc")
    blocks = re.findall(r"```python\n(.*?)```", README, flags=re.S)
    example = next(b for b in blocks if "open_aggregate" in b)
    script = "import matplotlib\nmatplotlib.use('Agg')\n" + example
    proc = subprocess.run(
        [sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr
    assert "Warning" not in proc.stderr, proc.stderr
