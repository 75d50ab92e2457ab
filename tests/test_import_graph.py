"""The import graph of ``src/otel_genai_session`` has no circle.

The graph is read from the sources' syntax trees, so it holds every import
that can run: module-level ones, those inside functions (lazy ones included)
and the packages' lazy re-exports (their ``_LAZY`` tables). Imports under
``if TYPE_CHECKING:`` never run and are left out.
"""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import otel_genai_session

PACKAGE = "otel_genai_session"
ROOT = Path(otel_genai_session.__file__).parent


def _module_files() -> dict[str, tuple[Path, bool]]:
    modules: dict[str, tuple[Path, bool]] = {}
    for path in ROOT.rglob("*.py"):
        parts = [PACKAGE, *path.relative_to(ROOT).with_suffix("").parts]
        is_package = parts[-1] == "__init__"
        modules[".".join(parts[:-1] if is_package else parts)] = (path, is_package)
    return modules


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(tree: ast.AST) -> list[ast.Import | ast.ImportFrom]:
    found: list[ast.Import | ast.ImportFrom] = []
    pending: list[ast.AST] = [tree]
    while pending:
        node = pending.pop()
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            found.append(node)
        children: list[ast.AST] = list(ast.iter_child_nodes(node))
        if isinstance(node, ast.If) and _is_type_checking(node):
            children = list(node.orelse)
        pending.extend(children)
    return found


def _ours(name: str, modules: dict[str, tuple[Path, bool]]) -> str | None:
    while name and name not in modules:
        name = name.rpartition(".")[0]
    return name or None


def import_graph() -> dict[str, set[str]]:
    """Module -> the modules of this package it imports (at any time)."""
    modules = _module_files()
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, (path, is_package) in modules.items():
        base = name.split(".") if is_package else name.split(".")[:-1]
        for node in _imports(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                targets = [_ours(alias.name, modules) for alias in node.names]
            else:
                if node.level:
                    prefix = base[: len(base) - node.level + 1]
                    source = ".".join([*prefix, *([node.module] if node.module else [])])
                else:
                    source = node.module or ""
                targets = [
                    f"{source}.{alias.name}"
                    if f"{source}.{alias.name}" in modules
                    else _ours(source, modules)
                    for alias in node.names
                ]
            graph[name].update(t for t in targets if t is not None and t != name)
        if is_package:  # the lazy re-exports: name -> submodule, imported on first access
            lazy = getattr(importlib.import_module(name), "_LAZY", {})
            graph[name].update(f"{name}.{submodule}" for submodule in lazy.values())
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph[node]):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def floors(graph: dict[str, set[str]]) -> dict[str, int]:
    """Each module's floor: 0 when it imports none of ours, else one above its highest import."""
    floor: dict[str, int] = {}

    def of(node: str) -> int:
        if node not in floor:
            floor[node] = 1 + max((of(target) for target in graph[node]), default=-1)
        return floor[node]

    for node in graph:
        of(node)
    return floor


def test_the_graph_sees_lazy_and_function_level_imports() -> None:
    graph = import_graph()
    # session_context imports the propagator inside __enter__; the root
    # package re-exports the handler lazily; neither may be missed.
    assert f"{PACKAGE}.propagation" in graph[f"{PACKAGE}.session"]
    assert f"{PACKAGE}.handler" in graph[PACKAGE]
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == [["a", "b", "c"]]


def test_no_import_circle() -> None:
    assert cycles(import_graph()) == []


def test_the_store_is_the_ground_floor() -> None:
    floor = floors(import_graph())
    store = floor[f"{PACKAGE}._store"]
    for above in ("session", "processor", "propagation", "handler", "middleware.asgi", "celery"):
        assert floor[f"{PACKAGE}.{above}"] > store, above
