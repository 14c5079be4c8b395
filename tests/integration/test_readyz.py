"""`GET /readyz` answers 503 while the database cannot be written, and 200 again once it can,
without a restart.

Run as root, permission bits stop nothing, so each database is made unwritable for real:
SQLite's disk fills up (the database lives on a small tmpfs), PostgreSQL's database is switched
to read-only sessions (`default_transaction_read_only`, the sessions reconnecting as after a
failover).
"""

from __future__ import annotations

import contextlib
import errno
import shutil
import subprocess
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from flowdeck.api.app import create_app
from flowdeck.config import Settings
from flowdeck.store.dialect import is_sqlite
from flowdeck.store.store import Store


@contextlib.asynccontextmanager
async def serving(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """The app on `settings.database_url`, with its own store."""
    store = Store.from_url(settings.resolved_database_url, pool_size=2)
    app = create_app(settings, store=store)
    try:
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
                yield client
    finally:
        await store.close()


@contextlib.contextmanager
def small_disk(where: Path) -> Iterator[Path]:
    """A 4 MiB tmpfs mounted at `where` (root only)."""
    where.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=4m,mode=0700", "tmpfs", str(where)],
        capture_output=True,
        text=True,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs to fill up: {mounted.stderr.strip()}")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=True)


def fill(disk: Path) -> Path:
    """Write a file until the disk has no room left; returns it."""
    filler = disk / "filler"
    with filler.open("wb", buffering=0) as fh:
        try:
            while True:
                fh.write(b"\0" * 4096)
        except OSError as exc:
            assert exc.errno == errno.ENOSPC
    return filler


async def test_readyz_fails_while_sqlite_disk_is_full_and_recovers(
    tmp_path: Path, database_template: str, is_postgres: bool
) -> None:
    if is_postgres:
        pytest.skip("the SQLite variant; PostgreSQL has its own below")
    with small_disk(tmp_path / "disk") as disk:
        db = disk / "flowdeck.db"
        shutil.copy(database_template.removeprefix("sqlite:///"), db)
        settings = Settings(data_dir=tmp_path / "data", database_url=f"sqlite:///{db}")
        async with serving(settings) as client:
            assert (await client.get("/readyz")).status_code == 200
            filler = fill(disk)
            failing = await client.get("/readyz")
            assert failing.status_code == 503, failing.text
            assert failing.headers["content-type"] == "application/problem+json"
            assert failing.json()["detail"] == "The database cannot be written: the disk is full"
            assert "retry-after" in failing.headers
            assert (await client.get("/healthz")).status_code == 200  # alive, just not ready
            filler.unlink()
            assert (await client.get("/readyz")).status_code == 200


def _pg(url: str) -> tuple[str, str]:
    """A psycopg URL for the server's `postgres` database, and the test database's name."""
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    admin = parsed.set(drivername="postgresql", database="postgres")
    return admin.render_as_string(hide_password=False), str(parsed.database)


def _set_read_only(url: str, on: bool) -> None:
    """Make new sessions of the test database read-only (or not), and end its sessions so the
    app's pool reconnects, as it would after a failover."""
    import psycopg

    admin, name = _pg(url)
    with psycopg.connect(admin, autocommit=True) as conn:
        change = (
            "SET default_transaction_read_only = on"
            if on
            else "RESET default_transaction_read_only"
        )
        conn.execute(f'ALTER DATABASE "{name}" {change}')
        conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = %s AND pid <> pg_backend_pid()",
            (name,),
        )


async def test_readyz_fails_while_postgres_is_read_only_and_recovers(
    tmp_path: Path, database_url: str
) -> None:
    if is_sqlite(database_url):
        pytest.skip("the PostgreSQL variant; SQLite has its own above")
    settings = Settings(data_dir=tmp_path / "data", database_url=database_url)
    async with serving(settings) as client:
        assert (await client.get("/readyz")).status_code == 200
        _set_read_only(database_url, True)
        try:
            failing = await client.get("/readyz")
            assert failing.status_code == 503, failing.text
            assert failing.json()["detail"] == "The database cannot be written: it is read-only"
        finally:
            _set_read_only(database_url, False)
        assert (await client.get("/readyz")).status_code == 200
