"""The store: an async engine that hands out read and write transactions."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager

from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine

from flowdeck.errors import Conflict, DatabaseBusy
from flowdeck.store.dialect import create_engine, is_sqlite, is_unique_violation
from flowdeck.store.tx import Tx


class Store:
    """Owns the engine; `write()` and `read()` open transactions."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.sqlite = is_sqlite(engine.url)

    @classmethod
    def from_url(cls, url: str, *, pool_size: int = 10) -> Store:
        """A store on a fresh engine for `url`."""
        return cls(create_engine(url, pool_size=pool_size))

    async def close(self) -> None:
        """Dispose of every pooled connection."""
        await self.engine.dispose()

    @asynccontextmanager
    async def _transaction(self, *, readonly: bool) -> AsyncIterator[Tx]:
        try:
            async with self.engine.connect() as conn:
                if readonly:
                    conn = await conn.execution_options(readonly=True)
                async with conn.begin():
                    yield Tx(conn)
        except IntegrityError as exc:
            if is_unique_violation(exc):
                raise Conflict("The object conflicts with one that already exists") from exc
            raise
        except OperationalError as exc:
            if "database is locked" in str(exc) or exc.connection_invalidated:
                raise DatabaseBusy("The database is busy; try again") from exc
            raise
        except DBAPIError as exc:
            if exc.connection_invalidated:
                raise DatabaseBusy("The database connection was lost; try again") from exc
            raise

    def write(self) -> AbstractAsyncContextManager[Tx]:
        """A read-write transaction, committed when the block exits cleanly."""
        return self._transaction(readonly=False)

    def read(self) -> AbstractAsyncContextManager[Tx]:
        """A read-only transaction."""
        return self._transaction(readonly=True)
