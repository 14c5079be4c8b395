"""`flowdeck mcp`: the MCP server on stdio, for Claude Desktop and other MCP clients.

With `--server` it talks to a running Flowdeck server's REST API with an API key; without,
it opens the local data dir (or `--database-url`) itself and runs steps in this process.
Standard output carries only MCP messages; everything else goes to standard error.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from flowdeck.config import Settings


def mcp_command(
    server: Annotated[
        str | None,
        typer.Option("--server", envvar="FLOWDECK_SERVER", help="A Flowdeck server's URL"),
    ] = None,
    api_key: Annotated[
        str | None,
        typer.Option("--api-key", envvar="FLOWDECK_API_KEY", help="API key [<data-dir>/admin.key]"),
    ] = None,
    data_dir: Annotated[
        Path | None,
        typer.Option("--data-dir", help="Local data dir, when no --server [~/.flowdeck]"),
    ] = None,
    database_url: Annotated[
        str | None, typer.Option("--database-url", help="Local database, when no --server")
    ] = None,
) -> None:
    """Serve the MCP tools (manage_workflows, get_workflow_run) on stdio."""
    from flowdeck.cli.common import err, load_settings, prepare_database

    settings = load_settings(data_dir=data_dir, database_url=database_url)
    if not server:
        prepare_database(settings)  # migrate; a first start writes <data-dir>/admin.key
    key = api_key
    if key is None:
        path = settings.data_dir / "admin.key"
        try:
            key = path.read_text().strip()
        except OSError as exc:
            err.print(f"[red]No --api-key given and {path} is not readable[/red]")
            raise typer.Exit(2) from exc
    if server:
        asyncio.run(_remote(server, key))
    else:
        asyncio.run(_local(settings, key))


async def _remote(server: str, key: str) -> None:
    from mcp.server.mcpserver import Context

    from flowdeck.mcp.backend import Backend, RemoteBackend
    from flowdeck.mcp.server import build_server

    backend = RemoteBackend(server, key)

    async def backend_for(_ctx: Context) -> Backend:
        return backend

    try:
        await build_server(backend_for).run_stdio_async()
    finally:
        await backend.aclose()


async def _local(settings: Settings, key: str) -> None:
    from mcp.server.mcpserver import Context

    from flowdeck.cli.common import err
    from flowdeck.domain.clock import SystemClock
    from flowdeck.errors import FlowdeckError
    from flowdeck.mcp.backend import Backend, LocalBackend
    from flowdeck.mcp.server import build_server
    from flowdeck.services.container import Services
    from flowdeck.store.store import Store

    store = Store.from_url(settings.resolved_database_url, pool_size=settings.db_pool_size)
    services = Services.build(settings, store, SystemClock())
    try:
        try:
            principal = await services.auth.authenticate(key)
        except FlowdeckError as exc:
            err.print(f"[red]{exc.detail}[/red]")
            raise typer.Exit(2) from exc
        backend = LocalBackend(services, principal)

        async def backend_for(_ctx: Context) -> Backend:
            return backend

        if settings.run_worker:
            await services.runtime.start_worker()
        await build_server(backend_for).run_stdio_async()
    finally:
        await services.runtime.close()
        await store.close()
