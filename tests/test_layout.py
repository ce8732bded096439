"""The package layout: imports point down the study's flow, no cycles, short modules.

The import graph is read from the source (every ``import`` statement, also those inside
functions), so a function-level import cannot hide a cycle.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from src.config import NOTEBOOKS_DIR, ROOT

SRC = ROOT / "src"
#: Order of the study's steps; a module may import its own step and the ones before it.
STEPS = {"data": 1, "models": 2, "analysis": 3, "compress": 4, "fpga": 5}
#: Modules every step may use (they import no step), and the entry points (nothing imports them).
BASE = {"src.config", "src.files", "src.processes", "src.backend", "src.study", "src.style", "src"}
TOP = {"src.cli", "src.__main__", "src.book", "src.bench"}
MAX_MODULE_LINES = 400
MAX_CHAPTER_LINES = 300


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _resolve(module: str, is_package: bool, node: ast.ImportFrom) -> str:
    if node.level == 0:
        return node.module or ""
    base = module.split(".")
    base = base if is_package else base[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def import_graph(src: Path = SRC) -> dict[str, set[str]]:
    """Module -> the ``src`` modules it imports (anywhere in its body)."""
    paths = {_module_name(p): p for p in src.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in paths.items():
        is_package = path.name == "__init__.py"
        targets: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                candidates = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                parent = _resolve(name, is_package, node)
                candidates = [f"{parent}.{alias.name}" for alias in node.names] + [parent]
            else:
                continue
            for candidate in candidates:
                # the longest prefix that is a module of the package
                while candidate and candidate not in paths:
                    candidate = candidate.rpartition(".")[0]
                if candidate and candidate != name and candidate.startswith("src"):
                    targets.add(candidate)
                    break
        graph[name] = targets - {"src"}
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as a list of modules, or None."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for target in sorted(graph.get(node, ())):
            if state.get(target) == 1:
                return stack[stack.index(target):] + [target]
            if target not in state and (cycle := visit(target)):
                return cycle
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def _rank(module: str) -> int:
    if module in BASE:
        return 0
    if module in TOP or module.startswith("src.bench."):
        return len(STEPS) + 1
    return STEPS[module.split(".")[1]]


def test_the_cycle_finder_finds_a_planted_cycle():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert find_cycle(graph) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_the_graph_sees_imports_inside_functions(tmp_path):
    package = tmp_path / "src"
    (package / "sub").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "sub" / "__init__.py").write_text("")
    (package / "sub" / "a.py").write_text("def f():\n    from .b import g\n    return g\n")
    (package / "sub" / "b.py").write_text("from ..sub import a\n")
    graph = {k: v for k, v in _graph_at(tmp_path).items() if v}
    assert graph == {"src.sub.a": {"src.sub.b"}, "src.sub.b": {"src.sub.a"}}


def _graph_at(root: Path) -> dict[str, set[str]]:
    global ROOT
    saved, ROOT = ROOT, root
    try:
        return import_graph(root / "src")
    finally:
        ROOT = saved


def test_src_has_no_import_cycle():
    assert find_cycle(import_graph()) is None


def test_every_import_points_down_the_study():
    graph = import_graph()
    assert all(module in BASE or module in TOP or module.startswith("src.bench")
               or module.split(".")[1] in STEPS for module in graph), sorted(graph)
    upward = sorted(f"{a} -> {b}" for a, targets in graph.items() for b in targets
                    if _rank(b) > _rank(a) or (_rank(a) == 0 and _rank(b) == 0 and a != "src"
                                               and b in TOP))
    assert not upward


@pytest.mark.parametrize("path", sorted(SRC.rglob("*.py")), ids=lambda p: str(p.relative_to(ROOT)))
def test_modules_are_short(path):
    n = len(path.read_text().splitlines())
    assert n <= MAX_MODULE_LINES, f"{n} lines"


@pytest.mark.parametrize("path", sorted(NOTEBOOKS_DIR.glob("*.py")), ids=lambda p: p.name)
def test_chapters_are_thin(path):
    text = path.read_text()
    assert len(text.splitlines()) <= MAX_CHAPTER_LINES, f"{len(text.splitlines())} lines"
    tree = ast.parse(text)
    assert not [n.name for n in tree.body if isinstance(n, ast.FunctionDef | ast.ClassDef)], (
        "a helper defined in a chapter belongs in src")
