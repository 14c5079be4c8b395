"""Everything that differs between SQLite and PostgreSQL lives here."""

from __future__ import annotations

import functools
import json
import sqlite3
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from flowdeck.filemodes import create_private_database


def _normalise(url: str) -> URL:
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend not in ("sqlite", "postgresql"):
        raise ValueError(f"Unsupported database {backend!r}: use sqlite:/// or postgresql://")
    return parsed


def async_url(url: str) -> URL:
    """The URL with the async driver Flowdeck uses for PostgreSQL."""
    return _normalise(url).set(drivername="postgresql+psycopg")


def sync_url(url: str) -> URL:
    """The URL with a synchronous driver (migrations)."""
    parsed = _normalise(url)
    if parsed.get_backend_name() == "sqlite":
        return parsed.set(drivername="sqlite+pysqlite")
    return parsed.set(drivername="postgresql+psycopg")


def is_sqlite(url: str | URL) -> bool:
    """True for a SQLite URL."""
    parsed = make_url(url) if isinstance(url, str) else url
    return parsed.get_backend_name() == "sqlite"


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # Take transaction control from the driver so BEGIN IMMEDIATE is ours to issue.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


def _sqlite_begin(conn: sa.Connection) -> None:
    # Writers take the lock at BEGIN so two writers queue on busy_timeout instead of
    # failing on a read-to-write upgrade; readers stay deferred and never block in WAL.
    mode = "DEFERRED" if conn.get_execution_options().get("readonly") else "IMMEDIATE"
    conn.exec_driver_sql(f"BEGIN {mode}")


def _private_sqlite_file(url: URL) -> None:
    # SQLite would create the file 0644 (less the umask); made first, it is 0600, and SQLite
    # gives its WAL and SHM files the database's own mode.
    database = url.database
    if database and database != ":memory:" and not database.startswith("file:"):
        create_private_database(Path(database))


def install_sqlite_hooks(engine: sa.Engine, *, begin: bool = True) -> None:
    """Make a SQLite engine use WAL, foreign keys and (with `begin`) explicit BEGIN modes."""
    sa.event.listen(engine, "connect", _sqlite_pragmas)
    if begin:
        sa.event.listen(engine, "begin", _sqlite_begin)


def create_engine(url: str, *, pool_size: int = 10) -> AsyncEngine:
    """An async engine for a PostgreSQL `url`."""
    target = async_url(url)
    # No pre-ping: it costs a round trip per transaction; a dead connection surfaces as an
    # invalidated-connection error instead, which callers see as `DatabaseBusy` and retry.
    return create_async_engine(
        target, pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=False
    )


def create_sqlite_engine(url: str) -> sa.Engine:
    """The engine Flowdeck drives SQLite with: a writing and a reading connection, used on the
    loop, whose transactions the store begins and ends on the driver itself."""
    target = sync_url(url)
    _private_sqlite_file(target)
    engine = sa.create_engine(target, pool_size=2, max_overflow=0, pool_timeout=60)
    install_sqlite_hooks(engine, begin=False)
    return engine


def create_sync_engine(url: str) -> sa.Engine:
    """A synchronous engine, used for migrations."""
    target = sync_url(url)
    sqlite = is_sqlite(target)
    if sqlite:
        _private_sqlite_file(target)
    engine = sa.create_engine(target, poolclass=sa.pool.NullPool)
    if sqlite:
        install_sqlite_hooks(engine)
    return engine


def _driver_errors() -> tuple[type[Exception], ...]:
    """The drivers' own error classes: the hot statements run on them directly (raw.py)."""
    errors: list[type[Exception]] = [DBAPIError, sqlite3.Error]
    try:
        import psycopg
    except ImportError:  # PostgreSQL support not installed
        return tuple(errors)
    return (*errors, psycopg.Error)


DATABASE_ERRORS = _driver_errors()


def database_error(exc: Exception, *, in_doubt: bool) -> Exception | None:
    """What a database error means to Flowdeck, or None for one it does not know (a bug):
    a unique violation is a Conflict, text it cannot store is invalid input, and a lost
    connection, a deadlock or a locked database is DatabaseBusy (`in_doubt` when it broke
    while committing a write)."""
    from flowdeck.errors import Conflict, DatabaseBusy, InvalidInput

    if not isinstance(exc, DATABASE_ERRORS):
        return None
    if is_unique_violation(exc):
        return Conflict("The object conflicts with one that already exists")
    if is_unstorable_text(exc):
        return InvalidInput(
            "A value cannot be stored", errors=["Text may not contain NUL characters (\\u0000)"]
        )
    if is_transient(exc):
        detail = (
            "The database connection broke while committing; the change may or may not have "
            "been saved"
            if in_doubt
            else "The database is busy or was unreachable; try again"
        )
        return DatabaseBusy(detail, in_doubt=in_doubt)
    return None


def is_unique_violation(exc: BaseException) -> bool:
    """True when a DBAPI error is a unique-constraint violation on either dialect."""
    orig = getattr(exc, "orig", exc)
    sqlstate = getattr(orig, "sqlstate", None)
    if sqlstate == "23505":
        return True
    return "UNIQUE constraint failed" in str(orig)


def is_unstorable_text(exc: BaseException) -> bool:
    """True when PostgreSQL refused a text value (a NUL character, bytes not in the encoding):
    the API refuses those first, so this is the last line of defence for other callers."""
    orig = getattr(exc, "orig", exc)
    return getattr(orig, "sqlstate", None) in ("22021", "22P05")


# SQLSTATEs a new attempt can cure: serialization failure, deadlock, the server shutting down
# or restarting, too many connections; and class 08, connection exceptions.
_TRANSIENT_SQLSTATES = frozenset({"40001", "40P01", "57P01", "57P02", "57P03", "53300"})


def is_transient(exc: BaseException) -> bool:
    """True when trying the transaction again may succeed (lost connection, serialization
    failure, deadlock, a locked SQLite database)."""
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    orig = getattr(exc, "orig", exc)
    sqlstate = getattr(orig, "sqlstate", None)
    if sqlstate is not None:
        return sqlstate in _TRANSIENT_SQLSTATES or sqlstate.startswith("08")
    if "database is locked" in str(orig) or "database is busy" in str(orig):
        return True
    # Without a SQLSTATE, an operational error is the connection's own: refused, closed, lost.
    return isinstance(exc, OperationalError | sqlite3.OperationalError)


# Why a database refused a write, for the readiness probe: SQLite's primary result codes, and
# PostgreSQL's SQLSTATEs (53100 disk full, class 53 out of resources, 25006 read-only session).
_SQLITE_REFUSALS = {
    "SQLITE_FULL": "the disk is full",
    "SQLITE_READONLY": "it is read-only",
    "SQLITE_IOERR": "the disk failed the write (I/O error)",
    "SQLITE_BUSY": "another process holds the write lock",
    "SQLITE_LOCKED": "another process holds the write lock",
    "SQLITE_CANTOPEN": "its file cannot be opened",
    "SQLITE_PERM": "its file may not be written",
}
_PG_REFUSALS = {"53100": "the disk is full", "25006": "it is read-only"}


def write_refusal(exc: BaseException | None) -> str | None:
    """Why the database refused a write, in a few words; None when the connection itself was
    lost or never made (a retry, or the caller's 'unreachable', fits better)."""
    if exc is None or (isinstance(exc, DBAPIError) and exc.connection_invalidated):
        return None
    orig = getattr(exc, "orig", exc)
    name = getattr(orig, "sqlite_errorname", None)
    if isinstance(name, str):
        primary = "_".join(name.split("_")[:2])  # SQLITE_IOERR_WRITE -> SQLITE_IOERR
        return _SQLITE_REFUSALS.get(primary, f"the write failed ({name})")
    sqlstate = getattr(orig, "sqlstate", None)
    if not sqlstate or sqlstate.startswith("08") or sqlstate.startswith("57P"):
        return None
    if sqlstate in _PG_REFUSALS:
        return _PG_REFUSALS[sqlstate]
    if sqlstate.startswith("53"):
        return "the server is out of resources"
    return f"the write failed (SQLSTATE {sqlstate})"


@functools.cache
def recordset_insert(table: sa.Table) -> sa.TextClause:
    """PostgreSQL: an INSERT of every row of the JSON array in `:rows` (see `recordset_rows`),
    one statement and one parameter however many rows: an executemany costs a Bind/Execute per
    row in the driver, which is most of the time a batch of step runs takes."""
    from sqlalchemy.dialects import postgresql

    pg = postgresql.dialect()  # type: ignore[no-untyped-call]
    names = ", ".join(c.name for c in table.c)
    typed = ", ".join(f"{c.name} {c.type.compile(dialect=pg)}" for c in table.c)
    return sa.text(
        f"INSERT INTO {table.name} ({names}) SELECT {names} "
        f"FROM jsonb_to_recordset(CAST(:rows AS jsonb)) AS x({typed})"
    )


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def recordset_rows(rows: Sequence[dict[str, Any]]) -> str:
    """The `:rows` parameter of `recordset_insert` (timestamps as ISO 8601 with offset)."""
    return json.dumps(rows, default=_json_default, separators=(",", ":"))


def upsert(dialect: str, table: sa.Table) -> Any:
    """INSERT … ON CONFLICT for this dialect (both spell it the same way)."""
    if dialect == "postgresql":
        from sqlalchemy.dialects import postgresql

        return postgresql.insert(table)
    from sqlalchemy.dialects import sqlite

    return sqlite.insert(table)


def try_claim(dialect: str, key: int) -> Any | None:
    """A statement taking a lock named by `key` for the rest of the transaction, answering
    whether it was free: PostgreSQL's `pg_try_advisory_xact_lock`, so a periodic job runs on one
    server at a time. None on SQLite, where a write transaction already excludes the others."""
    if dialect != "postgresql":
        return None
    return sa.select(sa.func.pg_try_advisory_xact_lock(key))
