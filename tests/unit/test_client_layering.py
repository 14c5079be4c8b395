"""The client stands alone: it talks HTTP and never reaches into the server's layers."""

from __future__ import annotations

from tests.unit.test_layering import SRC, _imports

SERVER_SIDE = (
    "flowdeck.engine",
    "flowdeck.services",
    "flowdeck.store",
    "flowdeck.api",
    "flowdeck.cli",
    "flowdeck.mcp",
    "fastapi",
    "starlette",
    "sqlalchemy",
    "mcp",
)


def test_the_client_imports_nothing_of_the_server() -> None:
    bad = [
        f"{path.relative_to(SRC)} imports {name}"
        for path in sorted((SRC / "client").rglob("*.py"))
        for name in _imports(path)
        if any(name == p or name.startswith(p + ".") for p in SERVER_SIDE)
    ]
    assert bad == []
