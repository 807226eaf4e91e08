"""The pip path (pyproject.toml) and the conda path (environment.yml, workflow/envs/dln.yaml)
pin the same versions, and the README's two commands are the ones the Makefile and CI run."""

from __future__ import annotations

import re
import tomllib

import yaml

from conftest import REPO


def _pip_pins() -> dict[str, str]:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    deps = project["dependencies"] + project["optional-dependencies"]["dev"]
    pins = {}
    for dep in deps:
        name, version = dep.split("==")
        pins[name.lower()] = version
    return pins


def _conda_pins(path) -> dict[str, str]:
    env = yaml.safe_load(path.read_text())
    pins = {}
    for dep in env["dependencies"]:
        if isinstance(dep, str) and "=" in dep and not dep.startswith("python"):
            name, version = re.split(r"=+", dep, maxsplit=1)
            pins[name.lower().removesuffix("-base")] = version
    return pins


def test_environment_yml_matches_pip_pins():
    pip, conda = _pip_pins(), _conda_pins(REPO / "environment.yml")
    assert set(pip) == set(conda), set(pip) ^ set(conda)
    assert pip == conda


def test_rule_environment_matches_pip_pins():
    pip, rules = _pip_pins(), _conda_pins(REPO / "workflow/envs/dln.yaml")
    assert rules, "workflow/envs/dln.yaml pins nothing"
    for name, version in rules.items():
        assert pip[name] == version, name


def test_readme_commands_are_what_ci_runs():
    readme = (REPO / "README.md").read_text()
    first_block = readme.split("```bash", 1)[1].split("```", 1)[0]
    assert "make reproduce" in first_block and "make test" in first_block
    assert "make test" in (REPO / ".ci/run").read_text()
    makefile = (REPO / "Makefile").read_text()
    assert re.search(r"^reproduce:", makefile, re.M) and re.search(r"^test:", makefile, re.M)


def _lock() -> dict[str, tuple[str, int]]:
    """name -> (version, number of hashes) of requirements-lock.txt."""
    out, name = {}, None
    for line in (REPO / "requirements-lock.txt").read_text().splitlines():
        m = re.match(r"^([A-Za-z0-9_.\-]+)==(\S+)", line)
        if m:
            name = m.group(1).lower().replace("_", "-")
            out[name] = (m.group(2), 0)
        elif line.strip().startswith("--hash=sha256:") and name:
            version, n = out[name]
            out[name] = (version, n + 1)
    return out


def test_lock_pins_every_direct_dependency_at_its_pin():
    lock, pins = _lock(), _pip_pins()
    for name, version in pins.items():
        assert name.replace("_", "-") in lock, f"{name} missing from requirements-lock.txt"
        assert lock[name.replace("_", "-")][0] == version, (name, lock[name], version)
    assert "dln" not in lock  # the project itself is installed with --no-deps -e .


def test_lock_has_hashes_for_every_package_and_is_for_python_311():
    lock = _lock()
    assert len(lock) > len(_pip_pins())  # transitive packages too
    assert all(n >= 1 for _, n in lock.values()), [k for k, (_, n) in lock.items() if n == 0]
    header = (REPO / "requirements-lock.txt").read_text()[:400]
    assert "Python 3.11" in header and "--generate-hashes" in header
    assert "file://" not in (REPO / "requirements-lock.txt").read_text()  # PyPI only


def test_make_env_installs_the_lock_then_the_project_without_dependencies():
    makefile = (REPO / "Makefile").read_text()
    recipe = makefile.split("$(VENV)/.installed:", 1)[1].split("\n\n", 1)[0]
    assert "$(LOCK)" in recipe.splitlines()[0]  # the venv is rebuilt when the lock changes
    assert "--require-hashes -r $(LOCK)" in recipe and "--no-deps -e ." in recipe
    assert "LOCK := requirements-lock.txt" in makefile
