"""What the CLI's commands share: consoles, option types, settings, database preparation."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console

if TYPE_CHECKING:
    from flowdeck.config import Settings

out = Console()
err = Console(stderr=True)

DataDir = Annotated[
    Path | None, typer.Option("--data-dir", help="Where SQLite and admin.key live [~/.flowdeck]")
]
DatabaseUrl = Annotated[
    str | None,
    typer.Option("--database-url", help="postgresql://… or sqlite:///… [SQLite in data dir]"),
]
LogLevel = Annotated[str | None, typer.Option("--log-level", help="Log level [INFO]")]
LogFormat = Annotated[
    str | None, typer.Option("--log-format", help="text or json (one object per line) [text]")
]


def load_settings(**overrides: Any) -> Settings:
    """Settings from the environment, with CLI flags winning."""
    from pydantic import ValidationError

    from flowdeck.config import Settings

    given = {k: v for k, v in overrides.items() if v is not None}
    try:
        return Settings(**given)
    except ValidationError as exc:
        for e in exc.errors():
            err.print(f"[red]setting {'.'.join(map(str, e['loc']))}: {e['msg']}[/red]")
        raise typer.Exit(2) from exc


def parse_inputs(pairs: list[str]) -> dict[str, Any]:
    """`k=v` pairs; a value that parses as JSON keeps its type (`n=5` is 5)."""
    inputs: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ValueError(f"--input takes key=value, got {pair!r}")
        try:
            inputs[key] = json.loads(value)
        except ValueError:
            inputs[key] = value
    return inputs


def _write_admin_key(data_dir: Path, secret: str) -> Path:
    from flowdeck.filemodes import create_private_file, ensure_private_dir

    path = ensure_private_dir(data_dir) / "admin.key"
    create_private_file(path, (secret + "\n").encode(), replace=True)
    return path


async def _bootstrap(settings: Settings) -> str | None:
    from flowdeck.domain.clock import SystemClock
    from flowdeck.services.auth import AuthService
    from flowdeck.store.store import Store

    store = Store.from_url(settings.resolved_database_url, pool_size=1)
    try:
        return await AuthService(store, SystemClock()).bootstrap(settings.bootstrap_api_key)
    finally:
        await store.close()


def prepare_database(settings: Settings) -> None:
    """Run migrations and the first-start bootstrap; print a new admin key once."""
    import asyncio

    from flowdeck.filemodes import secure_data_dir
    from flowdeck.store.migrate import upgrade

    secure_data_dir(settings.data_dir)
    upgrade(settings.resolved_database_url)
    secret = asyncio.run(_bootstrap(settings))
    if secret is not None:
        path = _write_admin_key(settings.data_dir, secret)
        if settings.bootstrap_api_key:
            err.print(f"Admin key from FLOWDECK_BOOTSTRAP_API_KEY registered; saved to {path}")
        else:
            err.print(f"[bold]Admin API key (shown once):[/bold] {secret}")
            err.print(f"Saved to {path} (mode 0600).")
