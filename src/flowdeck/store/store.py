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
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.sql.base import Executable

from flowdeck.errors import DatabaseBusy, DatabaseUnwritable
from flowdeck.store.dialect import (
    DATABASE_ERRORS,
    create_engine,
    create_sqlite_engine,
    database_error,
    is_sqlite,
    write_refusal,
)
from flowdeck.store.local_signals import LocalSignalTransport
from flowdeck.store.raw import Driver, PgDriver, SqliteDriver
from flowdeck.store.tx import Tx
from flowdeck.store.write_gate import WriteGate

if TYPE_CHECKING:
    from flowdeck.store.notify import PgNotifyTransport

log = logging.getLogger("flowdeck.store")
# A SQLite process keeps the write gate for at most this many transactions in a row while
# its own writers queue, then lets the other processes take a turn.
GATE_BURST = 16


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
        self._gate_held = False
        self._burst = 0
        self._writers_waiting = 0
        self._read_lock = asyncio.Lock()
        # SQLite: one connection for writing, one for reading (readonly → connection).
        self._held: dict[bool, sa.Connection] = {}
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
        for conn in self._held.values():
            conn.close()
        self._held.clear()
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
                async with self._sqlite_transaction(readonly=readonly) as conn:
                    yield Tx(_DirectConnection(conn))
                    committing = True
            else:
                assert self._async is not None
                async with self._async.connect() as aconn:
                    if readonly:
                        aconn = await aconn.execution_options(readonly=True)
                    async with aconn.begin():
                        yield Tx(_PgConnection(aconn))
                        committing = True
        except Exception as exc:
            mapped = database_error(exc, in_doubt=committing and not readonly)
            if mapped is None:
                raise
            raise mapped from exc
        if not readonly:
            writes = _WRITES.get()
            if writes is not None:
                writes.committed += 1

    @asynccontextmanager
    async def _sqlite_transaction(self, *, readonly: bool) -> AsyncIterator[sa.Connection]:
        """One SQLite transaction, begun and ended on the driver itself (SQLAlchemy's own
        begin/commit cost ten times the statements). Readers have a connection of their own:
        in WAL mode they never wait for a writer, so a request's reads do not queue behind a
        write that waits for the other process."""
        assert self._sync is not None
        if readonly:
            async with self._read_lock:
                with self._begun(self._connection(readonly=True), "BEGIN") as conn:
                    yield conn
            return
        self._writers_waiting += 1
        try:
            await self._lock.acquire()
        finally:
            self._writers_waiting -= 1
        try:
            await self._take_gate()
            # Writers take the lock at BEGIN, so two writers queue instead of failing on a
            # read-to-write upgrade.
            with self._begun(self._connection(readonly=False), "BEGIN IMMEDIATE") as conn:
                yield conn
        finally:
            self._pass_gate()
            self._lock.release()

    def _connection(self, *, readonly: bool) -> sa.Connection:
        conn = self._held.get(readonly)
        if conn is None:
            assert self._sync is not None
            conn = self._held[readonly] = self._sync.connect().execution_options(
                isolation_level="AUTOCOMMIT"
            )
        return conn

    @staticmethod
    @contextmanager
    def _begun(conn: sa.Connection, begin: str) -> Iterator[sa.Connection]:
        raw = conn.connection.driver_connection
        assert raw is not None
        raw.execute(begin)
        try:
            yield conn
            raw.execute("COMMIT")
        except BaseException:
            if raw.in_transaction:
                raw.execute("ROLLBACK")
            raise

    async def _take_gate(self) -> None:
        """Hold the cross-process write gate (kept across this process's queued writers)."""
        if self._gate is not None and not self._gate_held:
            await self._gate.acquire()
            self._gate_held, self._burst = True, 0

    def _pass_gate(self) -> None:
        """Give the gate to the other processes, unless another writer of this one is next:
        then keep it for a burst (at most `GATE_BURST` transactions), which saves a handoff
        per transaction while the other side still gets its turn soon."""
        if self._gate is None or not self._gate_held:
            return
        self._burst += 1
        if self._writers_waiting == 0 or self._burst >= GATE_BURST:
            self._gate.release()
            self._gate_held = False

    async def probe_write(self) -> None:
        """Commit a write that changes nothing (readiness): `DatabaseUnwritable` says why the
        database refused it; a lost connection stays `DatabaseBusy`, which a retry may cure.

        On SQLite it holds the write lock for one page's commit (tens of microseconds).
        """
        try:
            async with self.write() as tx:
                await tx.probe_write()
        except Exception as exc:
            if not isinstance(exc, (DatabaseBusy, *DATABASE_ERRORS)):
                raise
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
