# The one-page report results/<experiment>/index.html (dln.figures.page): the summary, every
# figure the `all` target builds with its caption, then the data files and their columns.
from types import SimpleNamespace

INDEX_FIGURES = [
    name for name in FIGURE_NAMES if f"{OUT}/figures/{name}.png" in FIGURES
]
INDEX_STUDY_TABLES = sorted(
    {
        study
        for name in INDEX_FIGURES
        if FIGURE_REGISTRY[name].get("tables", "all") != "all"
        for study in FIGURE_REGISTRY[name]["tables"]
    }
)
# the data section: file -> what it holds, in reading order
INDEX_DATA = {
    TABLE: "the per-run table: settings, study flags in_<study>, metrics (columns below)",
    f"{OUT}/runs.nc": "the same table along run; each study's trajectories in a group of their own (CF NetCDF)",
    f"{OUT}/claims.csv": "the reproduction summary's claims and verdicts",
    f"{OUT}/summary.md": "the reproduction summary as Markdown",
    f"{OUT}/plan.csv": "the planned runs: id, run file in results/runs/, study flags",
    f"{OUT}/manifest.csv": "each run's trajectory digest (sha256), to check a rebuild (dln verify)",
    **{
        f"{OUT}/tables/{study}.csv": f"the rows of runs.csv of study {study}"
        for study in INDEX_STUDY_TABLES
    },
}


# number (registry order, as in the Snakemake report) and title of each figure shown
INDEX_FIGURE_ENTRIES = [
    {
        "name": name,
        "number": FIGURE_NAMES.index(name) + 1,
        "title": FIGURE_REGISTRY[name]["title"],
    }
    for name in INDEX_FIGURES
]


rule index_page:
    input:
        claims=f"{OUT}/claims.csv",
        pngs=[f"{OUT}/figures/{name}.png" for name in INDEX_FIGURES],
        data=list(INDEX_DATA),
    output:
        page=f"{OUT}/index.html",
    log:
        f"{OUT}/logs/index_page.log",
    conda:
        "../envs/dln.yaml"
    resources:
        mem_mb=500,
        runtime=5,
    params:
        experiment=EXPERIMENT,
        config_hash=PLAN_DIGEST,
        # captions rendered only when the page is built (a caption may read config keys that a
        # run stopping earlier does not need), as the figure rule renders its own
        figures=lambda wildcards: [
            {**entry, "caption": figure_caption(SimpleNamespace(figure=entry["name"]))}
            for entry in INDEX_FIGURE_ENTRIES
        ],
        data_descriptions=list(INDEX_DATA.values()),
        code=source_fingerprint(("figures/page.py", "data/columns.py")),
    script:
        "../scripts/index_page.py"
