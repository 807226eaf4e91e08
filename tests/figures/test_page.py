"""The one-page report's parts (dln.figures.page) on small inputs: claims files with and without
the numeric columns, an unknown verdict, captions in reStructuredText."""

from __future__ import annotations

from pathlib import Path

import pytest

from dln.figures.page import VERDICT_COLOURS, caption_html, read_claims, summary_html

OLD = "section,claim,verdict\nLimits,k = 2 plateau,PASS\nRates,k = 1 rate,FAIL\n"
NEW = (
    "section,claim,measured,predicted,tolerance,n_pass,n_total,verdict,extra\n"
    "Limits,k = 2 plateau,6600,6559,2,3,3,PASS,x\n"
    "Escapes,too few runs,,,,0,0,INCONCLUSIVE,x\n"
)


def test_old_claims_files_render_their_three_columns(tmp_path):
    path = tmp_path / "claims.csv"
    path.write_text(OLD)
    text = summary_html(read_claims(path))
    assert "<th>claim</th><th>verdict</th>" in text and "measured" not in text
    assert f"color:{VERDICT_COLOURS['FAIL']}'>FAIL" in text
    assert "1 PASS" in text and "1 FAIL" in text
    assert "<th colspan='2'>Limits</th>" in text and "<th colspan='2'>Rates</th>" in text


def test_new_claims_files_render_the_numbers_and_inconclusive(tmp_path):
    path = tmp_path / "claims.csv"
    path.write_text(NEW)
    text = summary_html(read_claims(path))
    header = "".join(
        f"<th>{c}</th>"
        for c in ("claim", "measured", "predicted", "tolerance", "n_pass", "n_total", "verdict")
    )
    assert header in text and "extra" not in text  # unknown columns are left out
    assert "<td class='num'>6600</td>" in text
    assert f"color:{VERDICT_COLOURS['INCONCLUSIVE']}'>INCONCLUSIVE" in text
    assert "0 FAIL" in text  # a zero FAIL count is shown


def test_claim_text_is_escaped():
    text = summary_html([{"section": "S", "claim": "a < b & <script>", "verdict": "PASS"}])
    assert "a &lt; b &amp; &lt;script&gt;" in text and "<script>" not in text


def test_captions_render_and_bad_markup_stops():
    assert "<strong>Bold.</strong>" in caption_html("**Bold.** Loss against *k*.")
    with pytest.raises(Exception, match="(?i)inline strong"):
        caption_html("**unterminated bold")


@pytest.mark.parametrize(
    "caption", sorted((Path(__file__).parents[2] / "workflow/report").glob("fig*.rst")), ids=str
)
def test_every_figure_caption_is_valid_markup(caption):
    """A caption is reStructuredText: |p_i| would be an undefined substitution, which stops the
    index page's job. The Jinja parts are replaced by a plain value before rendering."""
    import re

    text = re.sub(r"\{\{.*?\}\}", "1", caption.read_text(), flags=re.S)
    text = re.sub(r"\{%.*?%\}", "", text, flags=re.S)
    assert caption_html(text)
