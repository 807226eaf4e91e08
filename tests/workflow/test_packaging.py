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
