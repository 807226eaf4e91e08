"""The package's folders are its layers: a module imports only from its own layer or the layers
below it, and no import chain between modules goes round in a circle (imports inside functions
count too)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "workflow" / "dln"
# bottom to top: each layer may import the ones before it
LAYERS = ["model", "solve", "analysis", "data", "plan", "figures", "cli"]


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def dln_imports(path: Path) -> set[str]:
    """Every dln module `path` imports, anywhere in the file."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module.split(".")[0] == "dln":
                found.add(node.module)
                found.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.split(".")[0] == "dln")
    modules = {module_name(p) for p in PACKAGE.rglob("*.py")}
    return {name for name in found if name in modules}


def layer(module: str) -> int | None:
    parts = module.split(".")
    return LAYERS.index(parts[1]) if len(parts) > 1 and parts[1] in LAYERS else None


GRAPH = {module_name(p): dln_imports(p) for p in sorted(PACKAGE.rglob("*.py"))}


def upward_imports(graph) -> list[str]:
    bad = []
    for module, imported in graph.items():
        for target in imported:
            if None not in (layer(module), layer(target)) and layer(target) > layer(module):
                bad.append(f"{module} imports {target} (layer {LAYERS[layer(target)]} is above)")
    return bad


def cycles(graph) -> list[list[str]]:
    """Strongly connected components of more than one module, or a module importing itself."""
    index, low, stack, on_stack, found, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1 or v in graph.get(v, ()):
                found.append(sorted(component))

    for v in graph:
        if v not in index:
            visit(v)
    return found


def test_every_module_sits_in_a_layer():
    loose = [m for m in GRAPH if layer(m) is None and m not in ("dln", "dln.__main__")]
    assert not loose, f"modules outside the layer folders {LAYERS}: {loose}"


def test_no_module_imports_a_higher_layer():
    assert not upward_imports(GRAPH), "\n".join(upward_imports(GRAPH))


def test_no_circular_imports():
    assert not cycles(GRAPH), cycles(GRAPH)


@pytest.mark.parametrize(
    "graph, finds",
    [
        ({"dln.model.problem": {"dln.cli.main"}, "dln.cli.main": set()}, "upward"),
        ({"dln.data.io": {"dln.data.runfile"}, "dln.data.runfile": {"dln.data.io"}}, "cycle"),
    ],
)
def test_the_checks_find_what_they_look_for(graph, finds):
    """The two checks on graphs built to break them (so neither passes by looking at nothing)."""
    if finds == "upward":
        assert upward_imports(graph) == [
            "dln.model.problem imports dln.cli.main (layer cli is above)"
        ]
    else:
        assert cycles(graph) == [["dln.data.io", "dln.data.runfile"]]
