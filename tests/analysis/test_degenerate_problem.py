"""A problem with d = 1 (widths 1,1,1): the analysis runs without warnings (issue 21 item 12)."""

from __future__ import annotations

import math
import warnings

from dln.analysis.result import analyse_run
from dln.solve.run import RunConfig, simulate


def test_widths_1_1_1_analyse_without_a_warning():
    """Was: "divide by zero encountered in log" in the run log (the mode model's gap is
    exactly 0 when every mode is aligned, and fit_rate took its log)."""
    run = simulate(RunConfig(widths=(1, 1, 1), k=1, steps=20000, record_every=50))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        metrics = analyse_run(run).metrics
    assert metrics["final_level"] == 1 and math.isfinite(metrics["final_rate_fit"])
    # the mode model has no decaying mode here (its gap is 0): no rate, said as NaN
    assert math.isnan(metrics["final_rate_model"])
