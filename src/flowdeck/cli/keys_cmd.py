"""`flowdeck keys`: create, list and revoke API keys directly on the database.

For operators: no server and no key are needed, so a lost admin key can be replaced. A new
secret goes to standard output alone (for scripts); everything else goes to standard error.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn, TypeVar

import typer
from rich import box
from rich.table import Table
from rich.text import Text

from flowdeck.domain.records import SCOPES

if TYPE_CHECKING:
    from flowdeck.config import Settings
    from flowdeck.domain.records import ApiKey
    from flowdeck.errors import FlowdeckError
    from flowdeck.services.auth import Principal
    from flowdeck.services.container import Services

T = TypeVar("T")

keys_app = typer.Typer(
    help="Manage API keys on the database directly (no server or key needed).",
    no_args_is_help=True,
)

DataDir = Annotated[
    Path | None, typer.Option("--data-dir", help="Where SQLite and admin.key live [~/.flowdeck]")
]
DatabaseUrl = Annotated[
    str | None,
    typer.Option("--database-url", help="postgresql://… or sqlite:///… [SQLite in data dir]"),
]
WorkspaceSlug = Annotated[str, typer.Option("--workspace", "-w", help="Workspace slug")]
AsJson = Annotated[bool, typer.Option("--json", help="Print the result as JSON")]

USAGE, FAILURE = 2, 1


def _exit(exc: FlowdeckError, code: int, hint: str | None = None) -> NoReturn:
    from flowdeck.cli.common import err

    err.print(f"✗ {exc.detail}", style="red", highlight=False, markup=False)  # detail is data
    for problem in exc.errors:
        err.print(f"  - {problem}", highlight=False, markup=False)
    if hint:
        err.print(hint, highlight=False, markup=False)
    raise typer.Exit(code) from exc


def _settings(data_dir: Path | None, database_url: str | None) -> Settings:
    """Settings with the flags applied, and the database migrated (and bootstrapped if new)."""
    from flowdeck.cli.common import load_settings, prepare_database

    settings = load_settings(data_dir=data_dir, database_url=database_url)
    prepare_database(settings)
    return settings


@asynccontextmanager
async def _services(settings: Settings) -> AsyncIterator[Services]:
    from flowdeck.domain.clock import SystemClock
    from flowdeck.services.container import Services
    from flowdeck.store.store import Store

    store = Store.from_url(settings.resolved_database_url, pool_size=1)
    services = Services.build(settings, store, SystemClock())
    try:
        yield services
    finally:
        await services.runtime.close()
        await store.close()


def _as_workspace(
    settings: Settings, slug: str, action: Callable[[Services, Principal], Awaitable[T]]
) -> T:
    """Run `action` with operator rights over the workspace `slug`; unknown slug → exit 2."""
    from flowdeck.errors import NotFound

    async def run() -> T:
        async with _services(settings) as services:
            try:
                principal = await services.auth.operator(slug)
            except NotFound as exc:
                _exit(exc, USAGE)
            return await action(services, principal)

    return asyncio.run(run())


def _split_scopes(given: list[str] | None) -> list[str]:
    return [s.strip() for item in given or [] for s in item.split(",") if s.strip()]


def _key_json(key: ApiKey) -> dict[str, Any]:
    from flowdeck.services.views import api_key_view

    return {**api_key_view(key), "instance_admin": key.instance_admin}


def _when(value: datetime | None) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%d\n%H:%M") if value else "-"


def _key_table(keys: list[ApiKey], workspace: str) -> Table:
    """Fits 80 columns: ids never wrap, dates take two lines, scopes lose `workflows:`."""
    table = Table(
        title=f"API keys of workspace '{workspace}'",
        caption="scopes are workflows:…; times are UTC",
        box=box.SIMPLE_HEAD,
        show_edge=False,
        padding=(0, 0),
    )
    table.add_column("id", no_wrap=True)
    table.add_column("name", overflow="fold")
    table.add_column("scopes")
    for column in ("created", "last used", "revoked"):
        table.add_column(column, no_wrap=True)
    for k in keys:
        name = Text(k.name)  # a name is data, never rich markup
        if k.instance_admin:
            name.append(" (instance admin)", style="dim")
        table.add_row(
            k.id,
            name,
            "\n".join(s.removeprefix("workflows:") for s in k.scopes),
            _when(k.created_at),
            _when(k.last_used_at),
            _when(k.revoked_at),
        )
    return table


@keys_app.command("create")
def create_key(
    name: Annotated[str, typer.Argument(help="A name saying who or what uses the key")],
    scope: Annotated[
        list[str] | None,
        typer.Option(
            "--scope",
            "-s",
            help=f"Repeat or comma-separate; at least one of {', '.join(SCOPES)}",
        ),
    ] = None,
    workspace: WorkspaceSlug = "default",
    instance_admin: Annotated[
        bool, typer.Option("--instance-admin", help="May also manage workspaces")
    ] = False,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
    as_json: AsJson = False,
) -> None:
    """Create a key and print its secret once (alone on stdout, for scripts)."""
    from flowdeck.cli.common import err
    from flowdeck.errors import FlowdeckError, InvalidInput
    from flowdeck.services.admin import check_key_request

    scopes = _split_scopes(scope)
    try:  # refuse bad arguments before touching the database
        check_key_request(name, scopes)
    except InvalidInput as exc:
        _exit(exc, USAGE)
    settings = _settings(data_dir, database_url)

    async def create(services: Services, principal: Principal) -> tuple[ApiKey, str]:
        try:
            return await services.admin.create_key(
                principal, name, scopes, instance_admin=instance_admin
            )
        except FlowdeckError as exc:
            _exit(exc, FAILURE)

    key, secret = _as_workspace(settings, workspace, create)
    if as_json:
        typer.echo(json.dumps({"workspace": workspace, "key": _key_json(key), "secret": secret}))
        return
    err.print(
        f"Created key {key.id} '{key.name}' in workspace '{workspace}' with "
        f"{', '.join(key.scopes)}{' (instance admin)' if key.instance_admin else ''}. "
        "The secret is shown once:",
        highlight=False,
        markup=False,
    )
    typer.echo(secret)


@keys_app.command("list")
def list_keys(
    workspace: WorkspaceSlug = "default",
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
    as_json: AsJson = False,
) -> None:
    """List a workspace's keys, revoked ones included (never their secrets)."""
    from rich.console import Console

    from flowdeck.cli.common import err

    settings = _settings(data_dir, database_url)

    async def every_key(services: Services, principal: Principal) -> list[ApiKey]:
        keys: list[ApiKey] = []
        cursor: str | None = None
        while True:
            page = await services.admin.list_keys(principal, limit=200, cursor=cursor)
            keys.extend(page.items)
            if page.next_cursor is None:
                return keys
            cursor = page.next_cursor

    keys = _as_workspace(settings, workspace, every_key)
    if as_json:
        typer.echo(json.dumps({"workspace": workspace, "keys": [_key_json(k) for k in keys]}))
        return
    if not keys:
        err.print(f"Workspace '{workspace}' has no keys.", highlight=False, markup=False)
        return
    Console().print(_key_table(keys, workspace))  # made now, so it reads COLUMNS now


@keys_app.command("revoke")
def revoke_key(
    key_id: Annotated[str, typer.Argument(help="The key's id (see `flowdeck keys list`)")],
    workspace: WorkspaceSlug = "default",
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Revoke a key; it stops working at once."""
    from flowdeck.cli.common import err
    from flowdeck.errors import FlowdeckError

    settings = _settings(data_dir, database_url)

    async def revoke(services: Services, principal: Principal) -> None:
        try:
            await services.admin.revoke_key(principal, key_id)
        except FlowdeckError as exc:
            hint = (
                f"`flowdeck keys list --workspace {workspace}` shows the workspace's keys; "
                "a revoked key cannot be revoked again."
            )
            _exit(exc, FAILURE, hint)

    _as_workspace(settings, workspace, revoke)
    err.print(f"Revoked key {key_id} in workspace '{workspace}'.", highlight=False, markup=False)
