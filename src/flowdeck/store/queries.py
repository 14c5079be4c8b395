"""Base of the query mixins that make up a transaction."""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import Any, Protocol

from sqlalchemy.engine import CursorResult, Dialect
from sqlalchemy.sql.base import Executable


class Connection(Protocol):
    """What queries need of a connection: execute a statement, know the dialect."""

    @property
    def dialect(self) -> Dialect:
        """The connection's dialect."""
        ...

    async def execute(self, statement: Executable, parameters: Any = None) -> CursorResult[Any]:
        """Execute one statement; the result is buffered."""
        ...


class Queries:
    """Holds the transaction's connection and dialect name."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.dialect = conn.dialect.name


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
