"""The import graph of ``src/otel_genai_session``: no circle, and floors.

The floors (CONTRIBUTING.md, "Where to start reading"): the store at the
bottom, the session API on it, the signals (processors, propagation's
propagator... see FLOORS) above, the integrations (middlewares, Celery,
LangChain, the zero-code instrumentor) on top, and the package root, which
re-exports from every floor, over all. A module imports only from its own
floor or below.

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


FLOORS: dict[str, int] = {
    # 0. The store: the ContextVar, SessionContext and its attributes, the one
    # validation rule, the properties' bounds, and what those need (hashing, names, the fast paths).
    "_store": 0,
    "_validation": 0,
    "_properties": 0,
    "_fastpaths": 0,
    "attributes": 0,
    "environment_variables": 0,
    "privacy": 0,
    "version": 0,
    # 1. The session API on the store: session_context and the manual API,
    # the environment fallback, executors, Splunk's GenAI context API over
    # them, and the propagation switch with the
    # propagator it installs (``propagate_baggage=True`` is part of the API:
    # session.py imports propagation on entry, lazily only to keep
    # OpenTelemetry's propagators off ``import otel_genai_session``).
    "session": 1,
    "_env_fallback": 1,
    "_otel_context": 1,
    "propagation": 1,
    "executor": 1,
    "splunk_context": 1,
    # 2. Signals: the processors, sampling, the handler and its types.
    "processor": 2,
    "logs": 2,
    "_log_processor": 2,
    "_conversation": 2,
    "_sdk": 2,
    "_switchable": 2,
    "providers": 2,
    "sampling": 2,
    "_tenant_trust": 2,
    "handler": 2,
    "types": 2,
    # 3. Integrations: the middlewares, Celery, LangChain, the instrumentor.
    "middleware": 3,
    "celery": 3,
    "langchain": 3,
    "instrumentor": 3,
    # 4. The package root (lazy re-exports from every floor) and its helper.
    "": 4,
    "_conflicts": 4,
}
"""Floor of each root module or package (a package's modules share its floor)."""


def floor_of(module: str) -> int:
    """The floor of ``module``, from FLOORS (KeyError: a module with no floor)."""
    top = module.removeprefix(PACKAGE).lstrip(".").partition(".")[0]
    return FLOORS[top]


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


def test_every_module_has_a_floor() -> None:
    for module in import_graph():
        assert floor_of(module) in range(5), module


def test_imports_stay_on_their_floor_or_below() -> None:
    upward = sorted(
        f"{module} (floor {floor_of(module)}) imports {target} (floor {floor_of(target)})"
        for module, targets in import_graph().items()
        for target in targets
        if floor_of(target) > floor_of(module)
    )
    assert upward == []
