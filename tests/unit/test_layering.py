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
        "fastapi",
        "starlette",
        "sqlalchemy",
    ),
    "services": (
        "flowdeck.store",
        "flowdeck.api",
        "flowdeck.cli",
        "flowdeck.mcp",
        "fastapi",
        "starlette",
        "sqlalchemy",
    ),
    "store": ("flowdeck.engine", "flowdeck.services", "flowdeck.api", "flowdeck.cli", "fastapi"),
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
