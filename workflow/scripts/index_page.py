"""Snakemake script: claims, figures and data files -> results/<experiment>/index.html."""

from pathlib import Path

from dln.data.io import job_log, write_text
from dln.figures.page import caption_html, data_html, index_page, read_claims

sm = snakemake  # noqa: F821 (injected by Snakemake)
job_log(sm)

out_dir = Path(sm.output.page).parent
pngs = {Path(p).stem: p for p in sm.input.pngs}
figures = [
    {**fig, "png": pngs[fig["name"]], "caption_html": caption_html(fig["caption"])}
    for fig in sm.params.figures
]
files = list(zip(sm.input.data, sm.params.data_descriptions, strict=True))
page = index_page(
    sm.params.experiment,
    sm.params.config_hash,
    read_claims(sm.input.claims),
    figures,
    data_html(files, out_dir),
)
write_text(page, sm.output.page)
