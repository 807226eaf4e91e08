"""The paper's claims, each checked against the measured runs: results/summary.md (and .html).

Every line is computed from the per-run summary table (dln.analysis.stages); a claim whose runs are
not in the config is left out, not passed. Verdicts: PASS / FAIL against the tolerances of
config.analysis; INFO for observations the paper makes no claim about.
"""

from __future__ import annotations

import html
from dataclasses import dataclass

import numpy as np
import pandas as pd

from dln.model.problem import spectrum_values


@dataclass
class Claim:
    section: str
    text: str
    verdict: str  # PASS, FAIL or INFO


def _n(x) -> str:
    return f"{x:,.0f}"


def _ok(flag: bool) -> str:
    return "PASS" if flag else "FAIL"


def _levels(table: pd.DataFrame) -> dict:
    return {int(c[len("steps_at_L") :]): c for c in table.columns if c.startswith("steps_at_L")}


def _critical_levels(row) -> np.ndarray:
    """L_0..L_d of a run's problem (from its spectrum setting)."""
    s = spectrum_values(row)
    L0 = 0.5 * float(np.sum(s**2))
    return np.concatenate([[L0], L0 - 0.5 * s**2])


def claims(table: pd.DataFrame, tol: dict) -> list[Claim]:
    """All checkable claims for the runs in `table` (the experiment's runs.csv)."""
    out: list[Claim] = []
    t = table
    in_study = lambda name: t.get(f"in_{name}", pd.Series(False, index=t.index)).astype(bool)  # noqa: E731
    gd = t[(t["solver"] == "gd") & (t["init"] == "balanced")]
    main = gd[in_study("grid").loc[gd.index] & (gd["dtype"] == "float64")]
    default_depth = int(main["depth"].mode().iloc[0]) if len(main) else None
    main = main[main["depth"] == default_depth]
    levels = _critical_levels(main.iloc[0]) if len(main) else _critical_levels(t.iloc[0])

    # 1. Where GD goes from each k: the predicted saddle first, then the global minimum.
    for (construction, k), g in main.groupby(["construction", "k"]):
        k, n = int(k), len(g)
        pred_ok = int((g["predicted_k"] == k).sum())
        lk = levels[k]
        if k == 0:
            stayed = int(((g["first_level"] == 0) & (g["final_level"] == 0)).sum())
            out.append(
                Claim(
                    "Limits",
                    f"k = 0, {construction} ({n} seeds): predicted k = 0 from W(0) "
                    f"in {pred_ok}/{n}; stays at L_0 = {lk:g} to the end of the "
                    f"{_n(g['steps'].max())}-step budget in {stayed}/{n}",
                    _ok(pred_ok == n and stayed == n),
                )
            )
        elif k == 1:
            reached = int(((g["first_level"] == 1) & (g["final_level"] == 1)).sum())
            out.append(
                Claim(
                    "Limits",
                    f"k = 1, {construction} ({n} seeds): predicted k = 1 in "
                    f"{pred_ok}/{n}; converges to the global minimum L_1 = {lk:g} in "
                    f"{reached}/{n}",
                    _ok(pred_ok == n and reached == n),
                )
            )
        else:
            # the text names L_k of the target k: count the runs that really plateaued there
            plateau = int((g["reached_predicted"].astype(bool) & (g["predicted_k"] == k)).sum())
            escaped = g[g["stuck_steps"].notna()]
            glob_ = int(g["reached_global"].sum())
            text = (
                f"k = {k}, {construction} ({n} seeds): predicted k = {k} in {pred_ok}/{n}; "
                f"plateau at L_{k} = {lk:g} in {plateau}/{n}"
            )
            if len(escaped):
                text += (
                    f" for {_n(escaped['stuck_steps'].median())} steps (median; escape model "
                    f"{_n(escaped['escape_model_steps'].median())})"
                )
            text += f", then global minimum L_1 in {glob_}/{n}"
            out.append(Claim("Limits", text, _ok(pred_ok == n and plateau == n and glob_ == n)))

    # 2. Gradient flow reaches exactly the predicted critical point.
    gf = t[t["solver"] == "gf"]
    if len(gf):
        ok = int(gf["reached_predicted"].sum())
        ks = ", ".join(str(int(k)) for k in sorted(gf["k"].dropna().unique()))
        out.append(
            Claim(
                "Limits",
                f"gradient flow (k = {ks}) reaches the predicted level L_k first "
                f"in {ok}/{len(gf)} runs",
                _ok(ok == len(gf)),
            )
        )

    # 3. Rates by stage.
    conv = gd[np.isfinite(gd["final_rate_fit"]) & np.isfinite(gd["final_rate_model"])]
    if len(conv):
        rel = (conv["final_rate_fit"] / conv["final_rate_model"] - 1).abs()
        good = int((rel <= tol["rate_rel_tol"]).sum())
        out.append(
            Claim(
                "Rates",
                f"final linear rate matches the final-stage theory (slowest excited "
                f"mode, 2 (s_l - s_j) s_l^(1-2/N)) within {tol['rate_rel_tol']:.0%} in "
                f"{good}/{len(conv)} converged runs (worst {rel.max():.2%})",
                _ok(good == len(conv)),
            )
        )
    k1 = main[(main["k"] == 1) & np.isfinite(main["final_rate_fit"])]
    if len(k1):
        fit, theory = k1["final_rate_fit"].median(), k1["final_rate_paper"].iloc[0]
        rel = abs(fit / theory - 1)
        out.append(
            Claim(
                "Rates",
                f"k = 1: fitted final rate {fit:.4f} vs 2 (s_1 - s_2) s_1^(1-2/N) = "
                f"{theory:.4f} ({rel:.2%})",
                _ok(rel <= tol["rate_rel_tol"]),
            )
        )
    for kind, label in (
        ("growth", "growth from a small start: sigma^-(1-2/N) falls linearly"),
        ("origin", "origin plateau (k = 0): sigma^-(1-2/N) rises linearly"),
    ):
        g = gd[np.isfinite(gd[f"{kind}_slope_fit"])]
        if len(g):
            rel = (g[f"{kind}_slope_fit"] / g[f"{kind}_slope_theory"] - 1).abs()
            good = int((rel <= tol["growth_rel_tol"]).sum())
            text = (
                f"{label} at slope -(N-2)<rho - sigma> within {tol['growth_rel_tol']:.0%} in "
                f"{good}/{len(g)} runs (worst {rel.max():.2%})"
            )
            if kind == "origin":
                text += (
                    f"; local exponent of sigma(t) {g['origin_exponent_fit'].median():.2f}, "
                    f"tending to -N/(N-2) = {g['origin_exponent_theory'].iloc[0]:.2f}"
                )
            out.append(Claim("Rates", text, _ok(good == len(g))))

    # 4. Escape-time model, eps read off each trajectory.
    # The band version counts, like the measurement, the growth of p_1 from eps until the loss
    # leaves the tolerance band (p_exit) instead of until p_1 ~ 1; the notes' formula is shown too.
    esc = gd[gd["stuck_steps"].notna() & np.isfinite(gd["escape_ratio"])]
    if len(esc):
        f = tol["escape_factor"]
        r = esc["escape_ratio"]
        notes = esc["stuck_steps"] / esc["notes_estimate_steps"]
        good = int(((r <= f) & (r >= 1 / f)).sum())
        out.append(
            Claim(
                "Escapes",
                f"stuck length within a factor {f:g} of the escape model "
                f"ln(p_exit/eps) / ((s_1 - s_k) s_k^(1-2/N) lr), eps = |p_1| at the plateau "
                f"start, in {good}/{len(esc)} escaped runs (median measured/model "
                f"{r.median():.2f}, range {r.min():.2f}-{r.max():.2f}; against the notes' "
                f"estimate ln(1/eps): median {notes.median():.2f})",
                _ok(good == len(esc)),
            )
        )

    # 5. Learning-rate study: stuck time in t = lr x steps does not depend on lr.
    sweep = gd[in_study("lr_sweep").loc[gd.index] & gd["stuck_steps"].notna()]
    if len(sweep) and sweep["lr"].nunique() > 1:
        per = (
            sweep.assign(t_stuck=sweep["stuck_steps"] * sweep["lr"])
            .groupby(["k", "lr"])["t_stuck"]
            .median()
            .unstack()
        )
        spread = float((per.max(axis=1) / per.min(axis=1)).max())
        lrs = ", ".join(f"{x:g}" for x in sorted(sweep["lr"].unique()))
        out.append(
            Claim(
                "Escapes",
                f"learning-rate sweep (lr = {lrs}): stuck time in t = lr x steps "
                f"varies by at most x{spread:.2f} across lr for each k (iterations scale as "
                f"1/lr)",
                _ok(spread <= tol["escape_factor"]),
            )
        )

    # 6. Precision: float32's larger round-off seeds the escape sooner.
    prec = gd[in_study("precision").loc[gd.index] & (gd["construction"] == "orthogonal")]
    if prec["dtype"].nunique() == 2:
        pair = prec.pivot_table(index=["k", "seed", "lr"], columns="dtype", values="stuck_steps")
        pair = pair[(pair > 0).all(axis=1)]
        if len(pair):
            ratio = pair["float32"] / pair["float64"]
            eps = prec[prec["stuck_steps"].notna()].groupby("dtype")["eps_at_plateau"].median()
            model = np.log(1 / eps["float32"]) / np.log(1 / eps["float64"])
            shorter = int((ratio < 1).sum())
            out.append(
                Claim(
                    "Precision",
                    f"float32 leaves the saddle sooner than float64 in "
                    f"{shorter}/{len(pair)} pairs: stuck ratio float32/float64 median "
                    f"{ratio.median():.2f} (model ln(1/eps32)/ln(1/eps64) = {model:.2f}, "
                    f"eps at plateau {eps['float32']:.1e} vs {eps['float64']:.1e})",
                    _ok(shorter == len(pair)),
                )
            )

    # 7. Beyond the paper: depth and unbalanced starts (no claim in the paper: INFO).
    deep = gd[in_study("depth").loc[gd.index] & gd["stuck_steps"].notna()]
    if deep["depth"].nunique() > 1:
        med = deep.groupby(["k", "depth"])["stuck_steps"].median().unstack()
        for k, row in med.iterrows():
            parts = ", ".join(f"N = {n}: {_n(v)}" for n, v in row.dropna().items())
            out.append(
                Claim(
                    "Beyond the paper",
                    f"depth: median stuck steps at saddle {int(k)}: {parts}",
                    "INFO",
                )
            )
    gauss = t[t["init"] == "gaussian"]
    if len(gauss):
        ends = gauss.apply(
            lambda r: (
                "diverged"
                if r["diverged"]
                else (f"L_{int(r['final_level'])}" if pd.notna(r["final_level"]) else "no level")
            ),
            axis=1,
        ).value_counts()
        parts = ", ".join(f"{v} at {k}" for k, v in ends.items())
        out.append(
            Claim(
                "Beyond the paper",
                f"unbalanced Gaussian starts (outside the theorem), "
                f"{len(gauss)} runs: {parts}; predicted k reported as 'not balanced' in "
                f"{int((~gauss['balanced'].astype(bool)).sum())}/{len(gauss)}",
                "INFO",
            )
        )
    out.extend(laws_claims(t, tol))
    return out


LAWS_SECTION = "Laws away from the paper's point"


def _describe_run(row, gap_k: int | None = None) -> str:
    """A laws run in words: the settings its sub-grids vary."""
    k = int(row["k"]) if pd.notna(row["k"]) else None
    s = spectrum_values(row)
    gk = gap_k if gap_k is not None else (k if k and k >= 2 else 2)
    parts = [
        f"k = {k}",
        f"gap s_1 - s_{gk} = {s[0] - s[gk - 1]:g}",
        f"sigma0 = {row['sigma0']:g}",
        f"N = {int(row['depth'])}",
        str(row["construction"]),
        str(row["dtype"]),
        f"seed {int(row['seed'])}",
    ]
    return ", ".join(parts)


def _law_lines(
    runs: pd.DataFrame, ratio: str, label: str, model_text: str, factor: float, gap_k=None
) -> list[Claim]:
    """Claims of one law over the laws study's runs with a finite ratio measured/model: counts
    within 10% and within `factor` (PASS/FAIL: all within the factor), then where it fails."""
    r = runs[ratio]
    n = len(runs)
    in10 = int(((r - 1).abs() <= 0.1).sum())
    inf = int(((r <= factor) & (r >= 1 / factor)).sum())
    worst = runs.loc[(np.log(r)).abs().idxmax()]
    out = [
        Claim(
            LAWS_SECTION,
            f"{label}: measured within 10% of {model_text} in {in10}/{n} runs of "
            f"the laws study, within a factor {factor:g} in {inf}/{n} (median measured/model "
            f"{r.median():.2f}, range {r.min():.2f}-{r.max():.2f})",
            _ok(inf == n),
        )
    ]
    off = runs[(r - 1).abs() > 0.1]
    if len(off):
        keys = ["k", "depth", "construction", "dtype", "seed"]
        groups = "; ".join(
            f"k = {int(k)}, N = {int(n)}, {c}, {d}, seed {int(sd)}: {len(g)} run"
            + (
                f"s ({g[ratio].min():.2f}-{g[ratio].max():.2f})"
                if len(g) > 1
                else f" ({g[ratio].iloc[0]:.2f})"
            )
            for (k, n, c, d, sd), g in off.groupby(keys)
        )
        where = f"outside 10%: {groups}"
    else:
        where = "no run outside 10%"
    out.append(
        Claim(
            LAWS_SECTION,
            f"{label}: worst run measured/model {worst[ratio]:.2f} at "
            f"{_describe_run(worst, gap_k)}; {where}",
            "INFO",
        )
    )
    return out


def laws_claims(table: pd.DataFrame, tol: dict) -> list[Claim]:
    """The laws study (a list of grids, each varying one axis): the escape-time law at a saddle
    and the polynomial stage's exit from a small start, measured against their models in every
    run of the study. PASS/FAIL: every run within analysis.escape_factor of the model."""
    t = table
    if "in_laws" not in t.columns:
        return []
    laws = t[t["in_laws"].astype(bool) & (t["solver"] == "gd") & (t["init"] == "balanced")]
    f = tol["escape_factor"]
    out: list[Claim] = []
    saddle = laws[laws["predicted_k"] >= 2]
    if len(saddle):
        esc = saddle[saddle["stuck_steps"].notna() & np.isfinite(saddle["escape_ratio"])]
        # a run that should have escaped within its budget (plateau start + model) but did not
        due = saddle[
            saddle["stuck_steps"].isna()
            & np.isfinite(saddle["escape_model_steps"])
            & (saddle["plateau_start"] + saddle["escape_model_steps"] < saddle["steps"])
        ]
        if len(esc):
            lines = _law_lines(
                esc,
                "escape_ratio",
                "escape-time law at saddle k",
                "the escape model ln(p_exit/eps) / ((s_1 - s_k) s_k^(1-2/N) lr)",
                f,
            )
            if len(due):
                lines[0].verdict = "FAIL"
                lines[0].text += (
                    f"; {len(due)} run{'s' * (len(due) > 1)} stayed at the saddle "
                    f"although the model escapes within the budget"
                )
            gaps = esc.apply(
                lambda r: spectrum_values(r)[0] - spectrum_values(r)[int(r["predicted_k"]) - 1],
                axis=1,
            )
            if gaps.nunique() > 1:
                by = esc.groupby(gaps)["escape_ratio"].median()
                lines[1].text += "; median by gap s_1 - s_k: " + ", ".join(
                    f"{g:g}: {v:.2f}" for g, v in by.items()
                )
            if esc["depth"].nunique() > 1:
                by = esc.groupby("depth")["escape_ratio"].median()
                lines[1].text += "; by depth: " + ", ".join(
                    f"N = {int(n)}: {v:.2f}" for n, v in by.items()
                )
            out += lines
        else:
            out.append(
                Claim(
                    LAWS_SECTION,
                    f"escape-time law at saddle k: none of the {len(saddle)} "
                    f"laws runs at a saddle escaped within its budget",
                    "INFO",
                )
            )
    grow = laws[np.isfinite(laws["origin_exit_ratio"])]
    # a run whose model exit time lies within its budget (t = lr x steps) but that never got there
    late = laws[
        np.isfinite(laws["origin_exit_time_model"])
        & ~np.isfinite(laws["origin_exit_time"])
        & (laws["origin_exit_time_model"] < laws["lr"] * laws["steps"])
    ]
    if len(grow):
        lines = _law_lines(
            grow,
            "origin_exit_ratio",
            "polynomial stage (time to sigma1 = rho(0)/2 from a small start)",
            "the reduced dynamics at fixed rho = rho(0)",
            f,
            gap_k=2,
        )
        if len(late):
            lines[0].verdict = "FAIL"
            lines[0].text += (
                f"; {len(late)} run{'s' * (len(late) > 1)} never reached rho(0)/2 "
                f"although the model does within the budget"
            )
        for seed, g in grow.groupby("seed"):  # sigma0 per seed: the start's own rho(0) matters
            if g["sigma0"].nunique() > 1:
                by = g.groupby("sigma0")["origin_exit_ratio"].median()
                lines[1].text += f"; by sigma0, seed {int(seed)}: " + ", ".join(
                    f"{s:g}: {v:.2f}" for s, v in by.items()
                )
        if grow["depth"].nunique() > 1:
            by = grow.groupby("depth")["origin_exit_ratio"].median()
            lines[1].text += "; median by depth: " + ", ".join(
                f"N = {int(n)}: {v:.2f}" for n, v in by.items()
            )
        out += lines
    elif len(late):
        out.append(
            Claim(
                LAWS_SECTION,
                f"polynomial stage: none of the {len(late)} laws runs whose "
                f"model exit time lies within the budget reached rho(0)/2",
                "FAIL",
            )
        )
    unreached = laws[
        np.isfinite(laws["origin_exit_time_model"]) & ~np.isfinite(laws["origin_exit_time"])
    ]
    if len(unreached) > len(late):
        n = len(unreached) - len(late)
        out.append(
            Claim(
                LAWS_SECTION,
                f"polynomial stage: {n} laws run{'s' * (n > 1)} did not reach "
                f"rho(0)/2 within a budget shorter than the model's exit time "
                f"(not counted above)",
                "INFO",
            )
        )
    return out


CLAIM_COLUMNS = ("section", "claim", "verdict")


def to_csv(items: list[Claim]) -> str:
    """The claims as a table (section, claim, verdict): summary.md and summary.html render
    the same list, and the strict check reads this table."""
    import csv
    import io

    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(CLAIM_COLUMNS)
    for c in items:
        writer.writerow((c.section, c.text, c.verdict))
    return buf.getvalue()


def failed_claims(path) -> list[dict]:
    """The FAIL rows of a claims.csv."""
    import csv

    with open(path, newline="") as fh:
        return [row for row in csv.DictReader(fh) if row["verdict"] == "FAIL"]


def to_markdown(items: list[Claim], config_hash: str) -> str:
    n_pass = sum(c.verdict == "PASS" for c in items)
    n_fail = sum(c.verdict == "FAIL" for c in items)
    lines = [
        "# Reproduction summary",
        "",
        f"Chen, Lin & Zhang (ICML 2022), rebuilt by this workflow. Config hash `{config_hash}`.",
        f"**{n_pass} PASS, {n_fail} FAIL** (INFO lines go beyond the paper).",
        "",
    ]
    section = None
    for c in items:
        if c.section != section:
            section = c.section
            lines += ["", f"## {section}", ""]
        lines.append(f"- {c.text}: **{c.verdict}**")
    return "\n".join(lines) + "\n"


def to_html(items: list[Claim], config_hash: str) -> str:
    colour = {"PASS": "#1a7f37", "FAIL": "#cf222e", "INFO": "#57606a"}
    rows = "\n".join(
        f"<tr><td>{html.escape(c.section)}</td><td>{html.escape(c.text)}</td>"
        f"<td style='color:{colour[c.verdict]};font-weight:bold'>{c.verdict}</td></tr>"
        for c in items
    )
    return (
        f"<html><head><meta charset='utf-8'><title>Reproduction summary</title></head><body>"
        f"<h2>Reproduction summary</h2><p>Config hash <code>{config_hash}</code></p>"
        f"<table border='1' cellpadding='4' style='border-collapse:collapse;font-family:sans-serif;"
        f"font-size:13px'><tr><th>section</th><th>claim and measurement</th><th>verdict</th></tr>"
        f"{rows}</table></body></html>\n"
    )


SUMMARY_START, SUMMARY_END = "<!-- summary:start -->", "<!-- summary:end -->"


def refresh_readme(readme_path, summary_path) -> bool:
    """Copy the claim lines of a summary.md between the README's summary markers (so the
    README states only numbers the workflow produced). Returns whether the README changed."""
    from pathlib import Path

    readme, summary = Path(readme_path).read_text(), Path(summary_path).read_text()
    if SUMMARY_START not in readme or SUMMARY_END not in readme:
        raise ValueError(f"{readme_path}: no {SUMMARY_START} ... {SUMMARY_END} block")
    lines = [line for line in summary.splitlines() if line.startswith(("- ", "## ", "**"))]
    body = "\n".join(f"\n#### {line[3:]}\n" if line.startswith("## ") else line for line in lines)
    head, rest = readme.split(SUMMARY_START, 1)
    _, tail = rest.split(SUMMARY_END, 1)
    new = f"{head}{SUMMARY_START}\n{body}\n{SUMMARY_END}{tail}"
    if new != readme:
        Path(readme_path).write_text(new)
    return new != readme
