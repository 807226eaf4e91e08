"""No function in the package is longer than a reader can take in without scrolling."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "workflow" / "dln"
MAX_LINES = 60


def long_functions(source: str, name: str, limit: int = MAX_LINES) -> list[str]:
    """`file:function (n lines)` for every function or method longer than `limit` lines."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            length = node.end_lineno - node.lineno + 1
            if length > limit:
                found.append(f"{name}:{node.name} ({length} lines)")
    return found


def test_no_function_over_the_limit():
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        found += long_functions(path.read_text(), str(path.relative_to(PACKAGE)))
    assert not found, f"functions over {MAX_LINES} lines: {found}"


def test_the_count_sees_a_long_function():
    body = "\n".join(f"    x{i} = {i}" for i in range(MAX_LINES))
    source = f"def short():\n    return 1\n\n\ndef long():\n{body}\n"
    assert long_functions(source, "m.py") == [f"m.py:long ({MAX_LINES + 1} lines)"]
