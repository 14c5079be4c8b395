"""Dependencies point inward: domain ← engine ← services ← api/cli/mcp; store is SQL's only home."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src" / "flowdeck"

# package -> prefixes its modules must never import
FORBIDDEN: dict[str, tuple[str, ...]] = {
    "domain": (
        "flowdeck.engine",
        "flowdeck.services",
        "flowdeck.store",
        "flowdeck.api",
        "flowdeck.cli",
        "flowdeck.mcp",
        "flowdeck.ui",
        "fastapi",
        "starlette",
        "sqlalchemy",
        "alembic",
    ),
    "engine": (
        "flowdeck.services",
        "flowdeck.store",
        "flowdeck.api",
        "flowdeck.cli",
        "flowdeck.mcp",
        "flowdeck.ui",
        "fastapi",
        "starlette",
        "sqlalchemy",
    ),
    "services": (
        "flowdeck.store",
        "flowdeck.api",
        "flowdeck.cli",
        "flowdeck.mcp",
        "flowdeck.ui",
        "fastapi",
        "starlette",
        "sqlalchemy",
    ),
    # The API's response models: shared by the server and the client, so only domain below.
    "models": (
        "flowdeck.engine",
        "flowdeck.services",
        "flowdeck.store",
        "flowdeck.api",
        "flowdeck.cli",
        "flowdeck.mcp",
        "fastapi",
        "starlette",
        "sqlalchemy",
    ),
    "store": (
        "flowdeck.engine",
        "flowdeck.services",
        "flowdeck.api",
        "flowdeck.cli",
        "flowdeck.ui",
        "fastapi",
    ),
    # Pages are as thin as routers: services only, never the store or SQL.
    "ui": ("flowdeck.store", "flowdeck.cli", "flowdeck.mcp", "sqlalchemy"),
}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def _violations(package: str) -> list[str]:
    bad = []
    for path in sorted((SRC / package).rglob("*.py")):
        for name in _imports(path):
            for prefix in FORBIDDEN[package]:
                if name == prefix or name.startswith(prefix + "."):
                    bad.append(f"{path.relative_to(SRC)} imports {name}")
    return bad


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_package_respects_layering(package: str) -> None:
    if not (SRC / package).exists():
        pytest.skip(f"{package} not present")
    assert _violations(package) == []


def test_checker_sees_a_violation(tmp_path: Path) -> None:
    probe = tmp_path / "probe.py"
    probe.write_text("import sqlalchemy\nfrom fastapi import FastAPI\n")
    assert {"sqlalchemy", "fastapi"} <= _imports(probe)


def _module_name(path: Path) -> str:
    parts = path.relative_to(SRC.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _flowdeck_imports(path: Path, modules: set[str]) -> set[str]:
    """Flowdeck modules `path` imports, at any depth (functions and TYPE_CHECKING blocks too)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            # `from flowdeck.engine import worker` imports the module flowdeck.engine.worker.
            names = [f"{node.module}.{alias.name}" for alias in node.names] + [node.module]
        for name in names:
            if name in modules and not name.endswith("__init__"):
                found.add(name)
    return found


def import_graph() -> dict[str, set[str]]:
    """Module → the Flowdeck modules it imports (packages' empty __init__ files left out)."""
    paths = {_module_name(p): p for p in SRC.rglob("*.py") if "migrations" not in p.parts}
    modules = set(paths)
    graph = {name: _flowdeck_imports(path, modules) - {name} for name, path in paths.items()}
    packages = {name for name, path in paths.items() if path.name == "__init__.py"}
    return {name: deps - packages for name, deps in graph.items() if name not in packages}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle (as a path that returns to its start), or None."""
    state: dict[str, int] = {}
    for root in sorted(graph):
        if root in state:
            continue
        stack: list[tuple[str, list[str]]] = [(root, sorted(graph.get(root, ())))]
        path = [root]
        state[root] = 1
        while stack:
            node, pending = stack[-1]
            if not pending:
                stack.pop()
                path.pop()
                state[node] = 2
                continue
            nxt = pending.pop()
            if state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            if nxt not in state:
                state[nxt] = 1
                path.append(nxt)
                stack.append((nxt, sorted(graph.get(nxt, ()))))
    return None


def test_the_import_graph_has_no_cycle() -> None:
    assert find_cycle(import_graph()) is None


def test_the_cycle_finder_finds_one() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None
