"""One run from settings to file: solve -> quantities and analysis -> write. Each step is a
function of its own (dln.solve.run.simulate, dln.analysis.result.analyse_run,
dln.data.runfile.write_run_file), so each is testable alone and a batch job can reuse them."""

from __future__ import annotations

from pathlib import Path

from dln.analysis.result import AnalysedRun, analyse_run
from dln.data.io import read_run
from dln.data.runfile import write_run_file
from dln.solve.run import RunConfig, simulate


def run_to_file(cfg: RunConfig, path) -> AnalysedRun:
    """Simulate `cfg`, analyse the trajectory and write the run file to `path` (atomically)."""
    run = analyse_run(simulate(cfg))
    write_run_file(run, path)
    return run


def simulate_dataset(cfg, path=None):
    """Run one configuration, analyse it, write its run file and return the file as a Dataset
    (the interactive path: the same file the workflow's job writes). Without `path` the file
    goes to a temporary directory that is removed afterwards."""
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        target = Path(tmp) / "run.nc" if path is None else path
        run_to_file(cfg, target)
        return read_run(target)
