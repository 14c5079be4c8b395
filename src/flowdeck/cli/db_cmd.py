"""`flowdeck db`: schema upgrades, run retention on demand, backup and restore."""

from __future__ import annotations

import asyncio
import re
from datetime import timedelta
from pathlib import Path
from typing import Annotated

import typer

from flowdeck.cli.common import DatabaseUrl, DataDir, err, load_settings, out
from flowdeck.domain.retention import PurgeCounts
from flowdeck.filemodes import secure_data_dir

db_app = typer.Typer(help="Database maintenance.", no_args_is_help=True)
_AGE = re.compile(r"^\s*(\d+)\s*([smhdw])\s*$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_age(text: str) -> timedelta:
    """`7d`, `12h`, `30m`, `90s`, `2w` as a duration (ValueError otherwise)."""
    found = _AGE.match(text.lower())
    if found is None:
        raise ValueError(f"'{text}' is not an age like 7d, 12h, 30m or 2w")
    return timedelta(**{_UNITS[found.group(2)]: int(found.group(1))})


@db_app.command("upgrade")
def db_upgrade(data_dir: DataDir = None, database_url: DatabaseUrl = None) -> None:
    """Bring the database schema up to date."""
    from flowdeck.store.migrate import upgrade

    settings = load_settings(data_dir=data_dir, database_url=database_url)
    secure_data_dir(settings.data_dir)
    upgrade(settings.resolved_database_url)
    out.print("Database is up to date.")


@db_app.command("purge")
def db_purge(
    runs_older_than: Annotated[
        str,
        typer.Option(
            "--runs-older-than", help="Delete runs that finished longer ago than this (7d, 12h)"
        ),
    ],
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Only count what would be deleted")
    ] = False,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Delete finished runs (completed, failed, cancelled) with their step runs and events;
    analytics keep counting them. Never a running, waiting, paused or queued run."""
    try:
        age = parse_age(runs_older_than)
    except ValueError as exc:
        err.print(f"[red]{exc}[/red]", highlight=False)
        raise typer.Exit(2) from exc
    settings = load_settings(data_dir=data_dir, database_url=database_url)
    counts = asyncio.run(_purge(settings.resolved_database_url, age, dry_run))
    verb = "Would purge" if dry_run else "Purged"
    out.print(
        f"{verb} {counts.runs} runs ({counts.step_runs} step runs, {counts.events} events) "
        f"that finished more than {runs_older_than} ago.",
        highlight=False,
        soft_wrap=True,
    )


async def _purge(url: str, age: timedelta, dry_run: bool) -> PurgeCounts:
    from flowdeck.domain.clock import SystemClock
    from flowdeck.services.retention import RetentionService
    from flowdeck.store.store import Store

    store = Store.from_url(url)
    try:
        return await RetentionService(store, SystemClock(), 0).purge(age, dry_run=dry_run)
    finally:
        await store.close()


@db_app.command("backup")
def db_backup(
    file: Annotated[Path, typer.Argument(help="The bundle to write (a .tar.gz, mode 0600)")],
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Back up the database and the key that reads its secrets into one file, while the server
    keeps running (SQLite: online backup API; PostgreSQL: pg_dump when installed)."""
    from flowdeck.crypto import SecretBox
    from flowdeck.store.backup import BackupError, create_backup

    settings = load_settings(data_dir=data_dir, database_url=database_url)
    if not settings.secret_key and not (settings.data_dir / "secret.key").is_file():
        err.print(f"[red]No secret.key in {settings.data_dir} (is --data-dir right?)[/red]")
        raise typer.Exit(1)
    box = (
        SecretBox.from_passphrase(settings.secret_key)
        if settings.secret_key
        else SecretBox.from_data_dir(settings.data_dir)
    )
    try:
        report = create_backup(settings.resolved_database_url, box.key, settings.data_dir, file)
    except BackupError as exc:
        err.print(f"[red]{exc}[/red]", highlight=False, soft_wrap=True)
        raise typer.Exit(1) from exc
    for line in report.guidance:
        err.print(line, highlight=False, soft_wrap=True)
    out.print(
        f"Backed up {report.database} ({', '.join(report.members)}) to {file}",
        highlight=False,
        soft_wrap=True,
    )


@db_app.command("restore")
def db_restore(
    file: Annotated[Path, typer.Argument(help="A bundle written by flowdeck db backup")],
    data_dir: Annotated[Path, typer.Option("--data-dir", help="An empty data dir to restore into")],
) -> None:
    """Unpack a backup into a new data dir (database, secret.key, admin.key); start the server
    there with `flowdeck serve --data-dir DIR`."""
    from flowdeck.store.backup import BackupError, restore_backup
    from flowdeck.store.migrate import upgrade

    target = data_dir.expanduser()
    try:
        report = restore_backup(file, target)
    except BackupError as exc:
        err.print(f"[red]{exc}[/red]", highlight=False, soft_wrap=True)
        raise typer.Exit(1) from exc
    if report.database == "sqlite":
        upgrade(f"sqlite:///{target / 'flowdeck.db'}")  # a backup of an older version
    for line in report.guidance:
        err.print(line, highlight=False, soft_wrap=True)
    out.print(
        f"Restored {', '.join(sorted(report.members))} into {target}. "
        f"Start it with: flowdeck serve --data-dir {target}",
        highlight=False,
        soft_wrap=True,
    )
