"""What the CLI's server verbs share: which server and key (flags, environment, a profile in
~/.flowdeck/config.toml), opening a client, and exit codes per error family."""

from __future__ import annotations

import contextlib
import json
import os
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer

from flowdeck.cli.common import err

if TYPE_CHECKING:
    from flowdeck.client.aio import AsyncClient
    from flowdeck.client.sync import Client
    from flowdeck.errors import FlowdeckError

Server = Annotated[
    str | None, typer.Option("--server", help="Server URL [FLOWDECK_SERVER, a profile, local]")
]
ApiKey = Annotated[
    str | None,
    typer.Option("--api-key", help="API key [FLOWDECK_API_KEY, a profile, local admin.key]"),
]
Profile = Annotated[
    str | None,
    typer.Option("--profile", help="A profile of ~/.flowdeck/config.toml [FLOWDECK_PROFILE]"),
]
AsJson = Annotated[bool, typer.Option("--json", help="Print JSON (the server's shapes)")]

DEFAULT_SERVER = "http://127.0.0.1:8700"
NO_ROUTE = "No such endpoint"  # the server's 404 for a path it does not serve
# Exit codes: one per error family, so scripts can tell them apart.
OK, RUN_FAILED, USAGE, CONNECTION, NOT_FOUND, CONFLICT, INVALID = 0, 1, 2, 3, 4, 5, 6
AUTH, FORBIDDEN, SERVER_ERROR, TIMED_OUT = 7, 8, 9, 124


@dataclass(frozen=True)
class Target:
    """The server to talk to and the key to use."""

    server: str
    api_key: str | None


def config_path() -> Path:
    """The profiles file: FLOWDECK_CONFIG, else ~/.flowdeck/config.toml."""
    given = os.environ.get("FLOWDECK_CONFIG")
    return Path(given).expanduser() if given else Path.home() / ".flowdeck" / "config.toml"


def _usage(message: str) -> NoReturn:
    err.print(f"[red]{message}[/red]", highlight=False)
    raise typer.Exit(USAGE)


def read_profiles() -> tuple[dict[str, dict[str, Any]], str | None]:
    """The profiles in the config file (none when it does not exist) and its `active` one."""
    path = config_path()
    try:
        data = tomllib.loads(path.read_text())
    except FileNotFoundError:
        return {}, None
    except (OSError, tomllib.TOMLDecodeError) as exc:
        _usage(f"Cannot read {path}: {exc}")
    profiles = data.get("profiles") or {}
    if not isinstance(profiles, dict) or not all(isinstance(p, dict) for p in profiles.values()):
        _usage(f"{path}: `profiles` must be tables, like [profiles.prod]")
    active = data.get("active")
    return profiles, active if isinstance(active, str) else None


def _profile(name: str | None) -> dict[str, Any]:
    profiles, active = read_profiles()
    chosen = name or active
    if chosen is None:
        return {}
    if chosen not in profiles:
        known = ", ".join(sorted(profiles)) or "none"
        _usage(f"No profile '{chosen}' in {config_path()} (profiles: {known})")
    return profiles[chosen]


def resolve(server: str | None, api_key: str | None, profile: str | None) -> Target:
    """Flags first; then a profile named by --profile or FLOWDECK_PROFILE; then
    FLOWDECK_SERVER / FLOWDECK_API_KEY; then the file's `active` profile; then the local
    server with the key in the data dir's admin.key."""
    named = profile or os.environ.get("FLOWDECK_PROFILE") or None
    chosen = _profile(named) if named else {}
    fallback = {} if named else _profile(None)
    url = (
        server
        or chosen.get("server")
        or os.environ.get("FLOWDECK_SERVER")
        or fallback.get("server")
        or DEFAULT_SERVER
    )
    key = (
        api_key
        or chosen.get("api_key")
        or os.environ.get("FLOWDECK_API_KEY")
        or fallback.get("api_key")
        or _local_admin_key()
    )
    return Target(str(url).rstrip("/"), str(key) if key else None)


def _local_admin_key() -> str | None:
    data_dir = os.environ.get("FLOWDECK_DATA_DIR")
    path = Path(data_dir).expanduser() if data_dir else Path.home() / ".flowdeck"
    with contextlib.suppress(OSError):
        return (path / "admin.key").read_text().strip() or None
    return None


def open_client(target: Target) -> Client:
    """A client for `target`."""
    from flowdeck.client.sync import Client

    return Client(target.server, target.api_key or "")


def open_async_client(target: Target) -> AsyncClient:
    """An async client for `target`."""
    from flowdeck.client.aio import AsyncClient

    return AsyncClient(target.server, target.api_key or "")


def exit_code(exc: FlowdeckError) -> int:
    """The exit code of an error family."""
    from flowdeck import errors
    from flowdeck.client import errors as client_errors

    families: list[tuple[type[Exception], int]] = [
        (client_errors.WaitTimedOut, TIMED_OUT),
        (client_errors.ConnectionFailed, CONNECTION),
        (errors.NotFound, NOT_FOUND),
        (errors.Conflict, CONFLICT),
        (errors.PreconditionFailed, CONFLICT),
        (errors.InvalidInput, INVALID),
        (errors.BadRequest, INVALID),
        (errors.PayloadTooLarge, INVALID),
        (errors.Unauthorized, AUTH),
        (errors.Forbidden, FORBIDDEN),
    ]
    return next((code for cls, code in families if isinstance(exc, cls)), SERVER_ERROR)


def fail(exc: FlowdeckError, as_json: bool) -> NoReturn:
    """Say what went wrong on stderr (a problem object with --json) and exit by its family."""
    problem = getattr(exc, "problem", None)
    if as_json:
        body = problem.body if problem is not None and problem.body else None
        body = body or {"title": exc.title, "status": exc.status, "detail": exc.detail}
        err.print(json.dumps(body), highlight=False, markup=False, soft_wrap=True)
    else:
        err.print(f"[red]✗ {exc.detail}[/red]", highlight=False)
        for line in exc.errors:
            err.print(f"  - {line}", highlight=False, markup=False)
        if problem is not None and problem.code == "not_found" and exc.detail == NO_ROUTE:
            err.print("  (this server predates this command: upgrade it)", highlight=False)
    raise typer.Exit(exit_code(exc))


@contextlib.contextmanager
def answering(as_json: bool = False) -> Iterator[None]:
    """Turn the client's errors into a message and the family's exit code."""
    from flowdeck.errors import FlowdeckError

    try:
        yield
    except FlowdeckError as exc:
        fail(exc, as_json)
