"""The `dln run` arguments that reproduce a run exactly: what the workflow's jobs and each run
file's `command` attribute hold."""

from __future__ import annotations


def run_arguments(cfg) -> list[str]:
    """Arguments of `dln run` that reproduce this run exactly (every setting explicit)."""
    args = ["--solver", cfg.solver, "--init", cfg.init]
    if cfg.init == "balanced":
        args += [
            "--k",
            str(cfg.k),
            "--construction",
            cfg.construction,
            "--sigma0",
            repr(cfg.sigma0),
        ]
    else:
        args += ["--init-scale", repr(cfg.init_scale)]
    spectrum = cfg.spectrum if isinstance(cfg.spectrum, str) else ",".join(map(repr, cfg.spectrum))
    return args + [
        "--seed",
        str(cfg.seed),
        "--lr",
        repr(cfg.lr),
        "--steps",
        str(cfg.steps),
        "--record-every",
        str(cfg.record_every),
        "--weights-every",
        str(cfg.weights_every),
        "--dtype",
        cfg.dtype,
        "--widths",
        ",".join(map(str, cfg.widths)),
        "--spectrum",
        spectrum,
        "--basis",
        cfg.basis,
        "--basis-seed",
        str(cfg.basis_seed),
        "--level-tol",
        repr(cfg.level_tol),
    ]
