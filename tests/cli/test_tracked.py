"""`make reproduce` never edits tracked files silently (issue 18 §1): a fresh output that differs
from its tracked version is named and kept aside, the tracked bytes stay; `make refresh-docs`
takes the new versions."""

from __future__ import annotations

import subprocess

from dln.analysis.readme import RESULTS_END, RESULTS_START, refresh_readme
from dln.cli import tracked

FIG = "results/paper/figures/fig1_loss_by_k.png"
RUNS = (
    "run,solver,k,construction,seed,lr,widths,spectrum,in_grid,stuck_steps,escape_model_steps\n"
    "a,gd,2,orthogonal,0,0.0005,8-3-5-10-1-4-5,linear,True,22650,22593\n"
)
MANIFEST_HEAD = "run,path,run_key,trajectory_sha256,final_loss,stuck_steps,settings\n"


def _row(digest: str, loss: str, solver: str = "gd") -> str:
    return f'r1,results/runs/r1.nc,k1,{digest},{loss},,"{{""solver"": ""{solver}""}}"\n'


def _checkout(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "results/paper/figures").mkdir(parents=True)
    (tmp_path / FIG).write_bytes(b"\x89PNG old")
    (tmp_path / "results/paper/manifest.csv").write_text(MANIFEST_HEAD + _row("a" * 64, "15.0"))
    (tmp_path / "results/paper/runs.csv").write_text(RUNS)
    (tmp_path / "results/paper/claims.csv").write_text("section,claim,verdict\nS,c,PASS\n")
    (tmp_path / "README.md").write_text(f"x\n{RESULTS_START}\nold\n{RESULTS_END}\n")
    refresh_readme(tmp_path / "README.md", tmp_path / "results/paper")  # as these results give it
    subprocess.run(["git", "init", "-q"], check=True)
    subprocess.run(["git", "add", "README.md", FIG, "results/paper/manifest.csv"], check=True)


def test_unchanged_outputs_pass(tmp_path, monkeypatch, capsys):
    _checkout(tmp_path, monkeypatch)
    tracked.save("paper")
    (tmp_path / FIG).write_bytes(b"\x89PNG old")  # rewritten with the same bytes
    assert tracked.check("paper") == 0
    assert capsys.readouterr().out == ""


def test_changed_outputs_are_named_and_tracked_bytes_kept(tmp_path, monkeypatch, capsys):
    _checkout(tmp_path, monkeypatch)
    readme = (tmp_path / "README.md").read_text()
    tracked.save("paper")
    (tmp_path / FIG).write_bytes(b"\x89PNG new")
    (tmp_path / "results/paper/manifest.csv").write_text(MANIFEST_HEAD + _row("b" * 64, "15.5"))
    (tmp_path / "results/paper/claims.csv").write_text("section,claim,verdict\nS,c,FAIL\n")
    assert tracked.check("paper") == 1
    out = capsys.readouterr().out
    assert f"CHANGED {FIG}: the fresh output differs" in out
    assert "manifest.csv" in out and "1 runs differ" in out and "DIFFERS r1" in out
    assert "CHANGED README.md: its result block differs" in out and "make refresh-docs" in out
    assert (tmp_path / FIG).read_bytes() == b"\x89PNG old"
    assert (tmp_path / "README.md").read_text() == readme
    diff = subprocess.run(["git", "diff", "--stat"], capture_output=True, text=True, check=True)
    assert diff.stdout == ""  # the tracked files equal what git holds
    assert tracked.refresh("paper") == 0
    assert (tmp_path / FIG).read_bytes() == b"\x89PNG new"
    assert "0 PASS, 1 FAIL" in (tmp_path / "README.md").read_text()
    assert not (tmp_path / "results/paper/figures/fig1_loss_by_k.new.png").exists()


def test_gradient_flow_runs_that_differ_are_a_change_like_gd_runs(tmp_path, monkeypatch, capsys):
    """The flow integrates with fixed-step RK4 on the C kernel's gradient (no BLAS): a flow run
    whose bytes differ is a change, not a note."""
    _checkout(tmp_path, monkeypatch)
    manifest = tmp_path / "results/paper/manifest.csv"
    manifest.write_text(MANIFEST_HEAD + _row("a" * 64, "15.0", "gf"))
    tracked.save("paper")
    manifest.write_text(MANIFEST_HEAD + _row("c" * 64, "15.0", "gf"))
    assert tracked.check("paper") == 1
    out = capsys.readouterr().out
    assert "CHANGED results/paper/manifest.csv" in out and "DIFFERS r1" in out, out
    assert manifest.read_text() == MANIFEST_HEAD + _row("a" * 64, "15.0", "gf")
