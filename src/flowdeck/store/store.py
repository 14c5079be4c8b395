"""The store: hands out read and write transactions on SQLite or PostgreSQL.

PostgreSQL goes through SQLAlchemy's asyncio engine (psycopg). SQLite is an in-process library,
so Flowdeck drives it synchronously on the event loop, one transaction at a time: every statement
then costs tens of microseconds instead of a thread hop each (aiosqlite), and writers never
contend inside the process. The lock is per process; other processes queue on busy_timeout.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager, contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import CursorResult, Dialect
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.sql.base import Executable

from flowdeck.errors import Conflict, DatabaseBusy, DatabaseUnwritable, InvalidInput
from flowdeck.store.dialect import (
    create_engine,
    create_sqlite_engine,
    is_sqlite,
    is_transient,
    is_unique_violation,
    is_unstorable_text,
    write_refusal,
)
from flowdeck.store.local_signals import LocalSignalTransport
from flowdeck.store.raw import Driver, PgDriver, SqliteDriver
from flowdeck.store.tx import Tx
from flowdeck.store.write_gate import WriteGate

if TYPE_CHECKING:
    from flowdeck.store.notify import PgNotifyTransport

log = logging.getLogger("flowdeck.store")


class _DirectConnection:
    """An async face over a synchronous connection: no thread hop per statement."""

    def __init__(self, conn: sa.Connection) -> None:
        self._conn = conn

    @property
    def dialect(self) -> Dialect:
        return self._conn.dialect

    async def execute(self, statement: Executable, parameters: Any = None) -> CursorResult[Any]:
        return self._conn.execute(statement, parameters)

    async def driver(self) -> Driver:
        """The sqlite3 connection under this transaction."""
        return SqliteDriver(self._conn.connection.driver_connection)


class _PgConnection:
    """SQLAlchemy's async connection, plus the psycopg connection under it."""

    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn

    @property
    def dialect(self) -> Dialect:
        return self._conn.dialect

    async def execute(self, statement: Executable, parameters: Any = None) -> CursorResult[Any]:
        return await self._conn.execute(statement, parameters)

    async def driver(self) -> Driver:
        """The psycopg connection under this transaction."""
        raw = await self._conn.get_raw_connection()
        return PgDriver(raw.driver_connection)


@dataclass
class WriteLog:
    """How many write transactions committed while it was being tracked."""

    committed: int = 0


_WRITES: ContextVar[WriteLog | None] = ContextVar("flowdeck_writes", default=None)


@contextmanager
def track_writes() -> Iterator[WriteLog]:
    """Count the write transactions that commit inside the block (in this context): a caller
    retrying a block after a transient error may do so only if nothing committed yet."""
    log = WriteLog()
    token = _WRITES.set(log)
    try:
        yield log
    finally:
        _WRITES.reset(token)


class Store:
    """Owns the engine; `write()` and `read()` open transactions."""

    def __init__(self, url: str, *, pool_size: int = 10) -> None:
        self.url = url
        self.sqlite = is_sqlite(url)
        self._sync: sa.Engine | None = None
        self._async: AsyncEngine | None = None
        self._lock = asyncio.Lock()
        self._gate: WriteGate | None = None
        if self.sqlite:
            self._sync = create_sqlite_engine(url)
            path = sa.engine.make_url(url).database
            if path and path != ":memory:":
                self._gate = WriteGate(f"{path}-writer")
        else:
            self._async = create_engine(url, pool_size=pool_size)

    @classmethod
    def from_url(cls, url: str, *, pool_size: int = 10) -> Store:
        """A store for `url`."""
        return cls(url, pool_size=pool_size)

    @property
    def dialect_name(self) -> str:
        """ "sqlite" or "postgresql"."""
        return "sqlite" if self.sqlite else "postgresql"

    async def close(self) -> None:
        """Release every pooled connection."""
        if self._sync is not None:
            self._sync.dispose()
        if self._gate is not None:
            self._gate.close()
        if self._async is not None:
            await self._async.dispose()

    @asynccontextmanager
    async def _transaction(self, *, readonly: bool) -> AsyncIterator[Tx]:
        committing = False
        try:
            if self._sync is not None:
                async with self._lock:
                    if not readonly and self._gate is not None:
                        await self._gate.acquire()
                    try:
                        with self._sync.connect() as conn:
                            if readonly:
                                conn = conn.execution_options(readonly=True)
                            with conn.begin():
                                yield Tx(_DirectConnection(conn))
                                committing = True
                    finally:
                        if not readonly and self._gate is not None:
                            self._gate.release()
            else:
                assert self._async is not None
                async with self._async.connect() as aconn:
                    if readonly:
                        aconn = await aconn.execution_options(readonly=True)
                    async with aconn.begin():
                        yield Tx(_PgConnection(aconn))
                        committing = True
        except IntegrityError as exc:
            if is_unique_violation(exc):
                raise Conflict("The object conflicts with one that already exists") from exc
            raise
        except DBAPIError as exc:
            if is_unstorable_text(exc):
                raise InvalidInput(
                    "A value cannot be stored",
                    errors=["Text may not contain NUL characters (\\u0000)"],
                ) from exc
            if is_transient(exc):
                in_doubt = committing and not readonly
                detail = (
                    "The database connection broke while committing; the change may or may "
                    "not have been saved"
                    if in_doubt
                    else "The database is busy or was unreachable; try again"
                )
                raise DatabaseBusy(detail, in_doubt=in_doubt) from exc
            raise
        if not readonly:
            writes = _WRITES.get()
            if writes is not None:
                writes.committed += 1

    async def probe_write(self) -> None:
        """Commit a write that changes nothing (readiness): `DatabaseUnwritable` says why the
        database refused it; a lost connection stays `DatabaseBusy`, which a retry may cure.

        On SQLite it holds the write lock for one page's commit (tens of microseconds).
        """
        try:
            async with self.write() as tx:
                await tx.probe_write()
        except (DatabaseBusy, DBAPIError) as exc:
            cause = exc.__cause__ if isinstance(exc, DatabaseBusy) else exc
            reason = write_refusal(cause)
            if reason is None:
                raise
            log.warning("The database refused the readiness write: %s", cause)
            raise DatabaseUnwritable(f"The database cannot be written: {reason}") from exc

    def signal_transport(self) -> PgNotifyTransport | LocalSignalTransport:
        """How the processes sharing this database wake each other: LISTEN/NOTIFY on
        PostgreSQL, Unix datagram sockets on SQLite (its processes share a machine)."""
        if self.sqlite:
            return LocalSignalTransport(sa.engine.make_url(self.url).database or "")
        from flowdeck.store.notify import PgNotifyTransport  # psycopg: PostgreSQL installs only

        return PgNotifyTransport(self.url)

    def write(self) -> AbstractAsyncContextManager[Tx]:
        """A read-write transaction, committed when the block exits cleanly."""
        return self._transaction(readonly=False)

    def read(self) -> AbstractAsyncContextManager[Tx]:
        """A read-only transaction."""
        return self._transaction(readonly=True)
