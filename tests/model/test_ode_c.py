"""The compiled flows (dln/model/_ode.c) against the Python reference (dln.model.ode): the reduced
flow's predictions agree to round-off on starts covering k = 1..5, both constructions, both
precisions, small and large sigma0, two architectures; without the extension dln says so and
integrates in Python."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from dln.model import ode
from dln.model.reduced import reduced_path
from dln.solve.run import RunConfig, initial_weights

ARCHITECTURES = ((8, 3, 5, 10, 1, 4, 5), (6, 4, 1, 3, 5))  # the paper's (N = 6), and N = 4
STARTS = [
    dict(widths=w, k=k, construction=c, dtype=dt, sigma0=s0, seed=k)
    for w in ARCHITECTURES
    for k in (1, 2, 3, 4, 5)
    for c in ("orthogonal", "antisymmetric")
    for dt in ("float64", "float32")
    for s0 in (0.1, 1e-3)
]


def _start(settings):
    cfg = RunConfig(**settings)
    problem = cfg.problem()
    # the analysis reads W(0) from the run's first record, in the run's precision
    return cfg, problem, [np.asarray(w, dtype=np.float64) for w in initial_weights(cfg, problem)]


def test_compiled_reduced_flow_matches_the_python_reference_to_round_off():
    assert ode.BACKEND == "c", "the compiled flows are not built: pip install -e ."
    worst, plateaus = 0.0, 0
    for settings in STARTS:
        cfg, problem, w0 = _start(settings)
        ref = reduced_path(problem, w0, cfg.k, cfg.level_tol, backend="python")
        c = reduced_path(problem, w0, cfg.k, cfg.level_tol, backend="c")
        for name in ("exit_time", "plateau_time", "log_gain"):
            a, b = getattr(ref, name), getattr(c, name)
            assert np.isnan(a) == np.isnan(b), (settings, name, a, b)
            if not np.isnan(a):
                worst = max(worst, abs(b - a) / abs(a))
        plateaus += np.isfinite(c.plateau_time)
    assert worst <= 1e-9
    assert plateaus >= 60  # most k >= 2 starts reach their plateau: the events were compared


def test_without_the_extension_dln_warns_and_integrates_in_python():
    code = (
        "import sys, warnings\n"
        "sys.modules['dln.model._ode'] = None  # as if the extension was never built\n"
        "with warnings.catch_warnings(record=True) as caught:\n"
        "    warnings.simplefilter('always')\n"
        "    from dln.model import ode, reduced\n"
        "from dln.solve.run import RunConfig, initial_weights\n"
        "cfg = RunConfig(k=3, seed=1)\n"
        "p = cfg.problem()\n"
        "path = reduced.reduced_path(p, initial_weights(cfg, p), 3, 1e-3)\n"
        "print(ode.BACKEND, [str(w.message)[:38] for w in caught], path.plateau_time)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    backend, rest = out.stdout.split(" ", 1)
    assert backend == "python" and "dln: compiled flows dln.model._ode not" in rest
    cfg = RunConfig(k=3, seed=1)
    problem = cfg.problem()
    ref = reduced_path(problem, initial_weights(cfg, problem), 3, 1e-3, backend="python")
    assert float(rest.rsplit(" ", 1)[1]) == pytest.approx(ref.plateau_time, rel=1e-15)
