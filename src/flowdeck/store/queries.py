"""Base of the query mixins that make up a transaction."""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import Any, Protocol

from sqlalchemy.engine import CursorResult, Dialect
from sqlalchemy.sql.base import Executable

from flowdeck.store.raw import Driver


class Connection(Protocol):
    """What queries need of a connection: execute a statement, know the dialect."""

    @property
    def dialect(self) -> Dialect:
        """The connection's dialect."""
        ...

    async def execute(self, statement: Executable, parameters: Any = None) -> CursorResult[Any]:
        """Execute one statement; the result is buffered."""
        ...

    async def driver(self) -> Driver:
        """The DBAPI connection under the transaction, for the hot statements (`raw.py`)."""
        ...


class Queries:
    """Holds the transaction's connection and dialect name."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.dialect = conn.dialect.name
        self._driver: Driver | None = None

    async def db(self) -> Driver:
        """The driver connection of this transaction (`raw.py`)."""
        if self._driver is None:
            self._driver = await self.conn.driver()
        return self._driver


_STATEMENTS: dict[Hashable, Any] = {}


def prepared(key: Hashable, build: Callable[[], Any]) -> Any:
    """A statement built once per shape, with `bindparam`s for every value.

    Building a Core statement and computing its cache key costs far more than running it
    (hundreds of microseconds against tens); hot queries therefore build each shape once.
    """
    stmt = _STATEMENTS.get(key)
    if stmt is None:
        stmt = _STATEMENTS[key] = build()
    return stmt
