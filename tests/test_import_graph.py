"""The library's rooms keep to their jobs (docs/ARCHITECTURE.md): no import cycles among module-level imports,
only the rooms that train import the trainer, and no room grows past about 400 lines except the generator."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "vireid_lib"

# The rooms whose job includes training a network; everything else (evaluation, the browser, search,
# export, provenance, selection, model cards) must work without importing the trainer.
TRAINS = {"vireid_lib.training", "vireid_lib.check", "vireid_lib.demo", "vireid_lib.reproduce",
          "vireid_lib.ablation.run", "vireid_lib.ablation"}
LONGEST = 430                                     # "about 400"
EXEMPT = {"vireid_lib.data.synthetic"}           # the generator: one long, sectioned room by design


def _modules() -> dict[str, Path]:
    out = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        out[name] = path
    return out


def _imports(path: Path, modules: dict[str, Path], top_only: bool) -> set[str]:
    """The vireid_lib modules ``path`` imports (module-level statements only with ``top_only``)."""
    tree = ast.parse(path.read_text())
    nodes = tree.body if top_only else list(ast.walk(tree))
    found = set()
    for node in nodes:
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            base = node.module
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                found.add(sub if sub in modules else base)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
    return {m for m in found if m in modules}


def _graph(top_only: bool) -> dict[str, set[str]]:
    modules = _modules()
    return {name: _imports(path, modules, top_only) - {name} for name, path in modules.items()}


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_the_cycle_finder_finds_a_cycle():
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None


def test_no_import_cycles_among_module_level_imports():
    assert _cycle(_graph(top_only=True)) is None


def test_only_rooms_that_train_import_the_trainer():
    importers = {name for name, deps in _graph(top_only=False).items() if "vireid_lib.training" in deps}
    assert importers <= TRAINS, f"these rooms import the trainer without training: {sorted(importers - TRAINS)}"


def test_no_room_is_wider_than_about_400_lines():
    wide = {name: len(path.read_text().splitlines()) for name, path in _modules().items()
            if name not in EXEMPT and len(path.read_text().splitlines()) > LONGEST}
    assert not wide, f"split these rooms (docs/ARCHITECTURE.md): {wide}"
