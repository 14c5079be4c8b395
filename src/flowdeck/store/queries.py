"""Base of the query mixins that make up a transaction."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncConnection


class Queries:
    """Holds the transaction's connection and dialect name."""

    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn
        self.dialect = conn.dialect.name
