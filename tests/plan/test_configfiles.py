"""Config files with a key written twice are refused, in YAML (with anchors, aliases and merge
keys) and in JSON, which Snakemake also accepts (issue 13)."""

from __future__ import annotations

import json
import re
import textwrap

import pytest
import yaml
from snakemake.common.configfile import load_configfile

from conftest import REPO
from dln.model.problem import ConfigError
from dln.plan.configcheck import _StrictLoader, check_config_files


def write(tmp_path, name: str, text: str):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text).lstrip("\n"))
    return path


def refusal(path, key, where: str, lines: tuple[int, int], loader: str) -> str:
    """check_config_files refuses the file with one line that names the file, the key (its repr),
    the mapping it is in, both line numbers in order and the loader that would keep the last
    value. Checked part by part, so that a rewording of the sentence does not fail the test."""
    with pytest.raises(ConfigError) as info:
        check_config_files([path])
    msg = str(info.value)
    assert "\n" not in msg and str(path) in msg, msg
    rest = msg.split(str(path), 1)[1]
    assert repr(key) in rest, msg
    assert re.search(rf"(?<![\w.\[]){re.escape(where)}(?![\w\[])", rest), msg
    assert loader in rest, msg
    numbers = re.findall(r"\d+", rest.replace(repr(key), "").replace(where, ""))
    assert [int(n) for n in numbers[:2]] == list(lines), msg
    return msg


MERGED = """
    defaults: &defaults
      steps: 2000
      lr: 0.001
    extra: &extra
      lr: 0.002
      seed: 3
    gd:
      <<: *defaults
      steps: 3000          # overrides the merged value: allowed
    gd2:
      <<: [*defaults, *extra]
      seed: 4
    runs: [*defaults, *extra]
"""


def test_yaml_merge_keys_and_aliases_pass_and_load_as_snakemake_loads_them(tmp_path):
    """An explicit key may override one that comes from a merge (YAML's merge-key spec); the
    check must not fail on `<<` (it used to, and the whole check was then skipped)."""
    path = write(tmp_path, "config.yaml", MERGED)
    check_config_files([path])
    data = yaml.load(path.read_text(), Loader=_StrictLoader)  # a SafeLoader
    assert data["gd"] == {"steps": 3000, "lr": 0.001}
    assert data["gd2"]["seed"] == 4 and data["gd2"]["steps"] == 2000
    assert data == load_configfile(str(path))


def test_yaml_key_twice_is_refused_with_both_lines_and_the_section(tmp_path):
    path = write(
        tmp_path,
        "config.yaml",
        """
        gd:
          steps: 2000
          lr: 0.001
          steps: 3000
    """,
    )
    refusal(path, "steps", "gd", (2, 4), "YAML")


def test_yaml_key_twice_beside_a_merge_is_still_refused(tmp_path):
    path = write(
        tmp_path,
        "config.yml",
        """
        base: &base
          steps: 2000
        gd:
          <<: *base
          steps: 3000
          lr: 0.001
          steps: 4000
    """,
    )
    refusal(path, "steps", "gd", (5, 7), "YAML")


def test_yaml_key_twice_inside_an_anchored_mapping_is_refused(tmp_path):
    path = write(
        tmp_path,
        "config.yaml",
        """
        base: &base {steps: 2000, steps: 3000}
        gd:
          <<: *base
    """,
    )
    refusal(path, "steps", "base", (1, 1), "YAML")


def test_yaml_key_twice_at_the_top_level_and_in_a_list_item(tmp_path):
    top = write(tmp_path, "top.yaml", "a: 1\nb: 2\na: 3\n")
    refusal(top, "a", "config", (1, 3), "YAML")
    item = write(tmp_path, "item.yaml", "runs:\n  - {k: 1}\n  - {k: 1, k: 2}\n")
    refusal(item, "k", "runs[1]", (3, 3), "YAML")


def test_yaml_null_key_twice_is_refused(tmp_path):
    """`~` and `null` are the same key (None): not mistaken for a key the check skips."""
    path = write(tmp_path, "config.yaml", "gd:\n  ~: 1\n  null: 2\n")
    refusal(path, None, "gd", (2, 3), "YAML")


def test_yaml_keys_that_only_look_alike_pass(tmp_path):
    path = write(
        tmp_path,
        "config.yaml",
        """
        1: int key
        "1": string key
        a.b: dotted
        a: {b: nested}
    """,
    )
    check_config_files([path])


def test_json_key_twice_is_refused_with_both_lines(tmp_path):
    """Snakemake reads JSON config files with json.load, which keeps the last value silently."""
    text = '{\n  "gd": {\n    "steps": 2000,\n    "lr": 0.001,\n    "steps": 3000\n  }\n}\n'
    path = write(tmp_path, "config.json", text)
    assert load_configfile(str(path))["gd"]["steps"] == 3000  # what would happen unchecked
    refusal(path, "steps", "gd", (3, 5), "JSON")


def test_json_keys_are_compared_after_decoding_escapes(tmp_path):
    path = write(tmp_path, "config.json", '{"grid": [{"k": 1}, {"k": 2, "\\u006b": 3}]}')
    refusal(path, "k", "grid[1]", (1, 1), "JSON")


def test_json_text_in_a_yaml_file_is_read_as_json(tmp_path):
    """Snakemake tries JSON first whatever the extension, so the check does the same."""
    path = write(tmp_path, "config.yaml", '{"a": {"x": "{[,:]}", "x": 2}}')
    refusal(path, "x", "a", (1, 1), "JSON")


def test_valid_json_passes(tmp_path):
    cfg = yaml.safe_load((REPO / "config.yaml").read_text())
    path = tmp_path / "config.json"
    path.write_text(json.dumps(cfg, indent=2))
    check_config_files([path])


def test_the_repository_config_passes():
    check_config_files([REPO / "config.yaml"])


@pytest.mark.parametrize("text", ["a: [1, 2\n", "a: 1\n\tb: 2\n", '{"a": 1,}'])
def test_syntax_errors_are_left_to_snakemake(tmp_path, text):
    check_config_files([write(tmp_path, "config.yaml", text)])


def test_missing_and_non_utf8_files_are_left_to_snakemake(tmp_path):
    (tmp_path / "latin1.yaml").write_bytes(b"a: \xe9\na: 2\n")
    check_config_files([tmp_path / "missing.yaml", tmp_path / "latin1.yaml", tmp_path])
