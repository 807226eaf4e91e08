"""Sweep every run setting through the whole workflow under the figure quality gate: each
figure that draws the grid shows every run of it (or says which it draws), and the figures of
switched-off studies are not built."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import yaml

from conftest import OUT, REPO, small_config, snakemake, write_config

pytestmark = pytest.mark.workflow

# every setting a study can vary, two values each (the first is the default's); the grid is
# their union, one sub-grid per setting, so each run differs from the reference in one setting
SWEEPS = {
    "sigma0": [0.01, 0.03],
    "spectrum": ["linear", [5.5, 4, 3, 2, 1]],
    "widths": [[8, 3, 5, 10, 1, 4, 5], [8, 1, 4, 5]],
    "dtype": ["float64", "float32"],
    "construction": ["orthogonal", "antisymmetric"],
    "lr": [5.0e-4, 1.0e-3],
    "basis_seed": [0, 1],
    "seed": [0, 1],
    "steps": [4000, 5000],
}
REGISTRY = yaml.safe_load((REPO / "workflow/figures.yaml").read_text())


def expected_marks(table: pd.DataFrame, main_seed: int) -> dict[str, int]:
    """Runs each grid figure must draw, from the table: fig1 every main-seed run, fig3 the
    orthogonal ones (a panel each), fig2 those of them that reach L_1, fig10 every balanced GD
    run with a fitted and a modelled final rate."""
    gd = table[table["solver"] == "gd"]
    main = gd[gd["in_grid"] & (gd["seed"] == main_seed)]
    ortho = main[main["construction"] == "orthogonal"]
    rates = gd[(gd["init"] == "balanced") & np.isfinite(gd["final_rate_fit"])]
    return {
        "fig1_loss_by_k": len(main),
        "fig2_rate_stages": int((ortho["final_level"] == 1).sum()),
        "fig3_alignments": len(ortho),
        "fig10_rates": int(np.isfinite(rates["final_rate_model"]).sum()),
    }


def test_every_swept_setting_is_drawn(tmp_path):
    cfg = small_config()
    cfg["gd"].update(steps=4000, record_every=50, weights_every=1000)
    cfg["grid"] = [{"k": [1], field: values} for field, values in SWEEPS.items()]
    cfg["lr_sweep"] = None  # switched off: its figure must not be built
    cfg["flow"] = None
    write_config(tmp_path, cfg)
    counts = tmp_path / "counts"
    gate = {"DLN_FIGURE_GATE": "1", "DLN_FIGURE_COUNTS": str(counts)}
    snakemake(tmp_path, "--cores", "2", env_extra=gate)

    table = pd.read_csv(tmp_path / f"{OUT}/runs.csv", index_col="run")
    grid = table[table["in_grid"]]
    assert len(grid) == 1 + len(SWEEPS)  # the reference run and one more per setting
    for field in SWEEPS:
        assert grid[field].astype(str).nunique() == 2, field
    expected = expected_marks(table, cfg["figures"]["main_seed"])
    assert expected["fig1_loss_by_k"] == len(SWEEPS)  # all but the other seed's run
    drawn = {name: json.loads((counts / f"{name}.json").read_text())["runs"] for name in expected}
    assert drawn == expected

    built = {p.stem for p in (tmp_path / f"{OUT}/figures").glob("*.png")}
    off = {"lr_sweep", "flow", "precision", "depth", "gaussian", "laws"}
    for name, entry in REGISTRY.items():
        tables = entry.get("tables")
        studies = tables if isinstance(tables, list) else [entry.get("runs", [{}])[0].get("study")]
        switched_off = tables != "all" and set(studies) <= off
        assert (name in built) != switched_off, name
