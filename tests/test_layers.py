"""The package's folders are its layers, and imports go one way: down.

Every ``import`` of a ``detector`` module, function-local ones included (parsed with ``ast``, never
executed), must name a module of the same layer or of a layer below; and the graph of imports
between modules must have no cycle.
"""

from __future__ import annotations

import ast
from pathlib import Path

PKG = Path(__file__).resolve().parent.parent / "detector"

#: Bottom to top.  The package's own __init__ (the public facade) and __main__ sit above them all.
LAYERS = ("core", "stages", "run", "lab", "app")


def module_name(path: Path) -> str:
    parts = path.relative_to(PKG.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(PKG.rglob("*.py"))}


def imported(path: Path, name: str, known: set[str]) -> set[str]:
    """The ``detector`` modules a file imports anywhere in it (``from X import y`` counts X.y if it is a module)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(up + ([base] if base else []))
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in known else base for a in node.names]
        else:
            continue
        found.update(t for t in targets if t == "detector" or t.startswith("detector."))
    return found - {name}


def layer(name: str) -> int:
    parts = name.split(".")
    if len(parts) < 2 or parts[1] not in LAYERS:
        return len(LAYERS)  # detector, detector.__main__: the facade on top
    return LAYERS.index(parts[1])


def graph() -> dict[str, set[str]]:
    mods = modules()
    known = set(mods)
    return {name: {t for t in imported(path, name, known) if t in known and t != "detector"}
            for name, path in mods.items()}


def test_every_module_is_in_a_layer():
    loose = [m for m in modules() if layer(m) == len(LAYERS) and m not in ("detector", "detector.__main__")]
    assert not loose, f"modules outside the layer folders {LAYERS}: {loose}"


def test_imports_go_down():
    upward = [f"{m} ({LAYERS[layer(m)]}) imports {t} ({LAYERS[layer(t)]})"
              for m, targets in graph().items() if layer(m) < len(LAYERS)
              for t in sorted(targets) if layer(t) > layer(m)]
    assert not upward, "imports that go up a layer:\n" + "\n".join(upward)


def find_cycle(g: dict[str, set[str]]) -> list[str] | None:
    """One import cycle of ``g`` (a list that starts and ends with the same module), or None."""
    state: dict[str, int] = {}  # 1 = on the stack, 2 = done
    stack: list[str] = []

    def visit(m: str) -> list[str] | None:
        state[m] = 1
        stack.append(m)
        for t in sorted(g.get(m, ())):
            if state.get(t) == 1:
                return stack[stack.index(t):] + [t]
            if t not in state and (c := visit(t)):
                return c
        stack.pop()
        state[m] = 2
        return None

    for m in sorted(g):
        if m not in state and (c := visit(m)):
            return c
    return None


def package_edges(g: dict[str, set[str]]) -> dict[str, set[str]]:
    """The graph without a package's imports of its own modules (a package __init__ re-exporting its parts)."""
    return {m: {t for t in ts if not t.startswith(m + ".")} for m, ts in g.items()}


def test_no_import_cycles():
    cycle = find_cycle(package_edges(graph()))
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_the_checks_catch_what_they_should():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None
    assert layer("detector.app.cli") > layer("detector.run.pipeline") > layer("detector.stages.source")
    src = PKG / "run" / "pipeline.py"
    assert "detector.stages.segmenter" in imported(src, "detector.run.pipeline", set(modules()))
