"""The engine's hot statements, straight on the driver (sqlite3 or psycopg).

SQLAlchemy Core costs about 100 µs of Python per executed statement here, even for a
statement compiled once; the driver alone runs the same UPDATE in 5–10 µs. A step of a run
takes several statements, so the engine's hot path (claims, completions, dependents, counters,
events) is written as plain SQL run on the transaction's own DBAPI connection. Everything else
stays in Core. The two databases differ here only in how parameters, JSON and timestamps are
passed, which `SqliteDriver` and `PgDriver` hold; the SQL text is shared (`:name` parameters).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any, Protocol

Params = Mapping[str, Any]

_NAMED = re.compile(r"(?<![:\w]):([A-Za-z_]\w*)")
# SQLAlchemy's storage format for DateTime on SQLite: naive UTC, microseconds, fixed width, so
# that text comparison orders like time and rows written either way compare alike.
_SQLITE_TIME = "%Y-%m-%d %H:%M:%S.%f"


@lru_cache(maxsize=512)
def pg_text(sql: str) -> str:
    """`:name` parameters as psycopg's `%(name)s` (and a literal % doubled)."""
    return _NAMED.sub(r"%(\1)s", sql.replace("%", "%%"))


class Driver(Protocol):
    """One transaction's DBAPI connection, with the dialect's conversions."""

    dialect: str

    async def rows(self, sql: str, params: Params) -> list[tuple[Any, ...]]:
        """Execute and fetch every row."""
        ...

    async def run(self, sql: str, params: Params) -> int:
        """Execute; the number of rows it changed."""
        ...

    async def run_many(self, sql: str, params: Sequence[Params]) -> None:
        """Execute once per parameter set."""
        ...

    def json(self, value: Any) -> Any:
        """A JSON value as a parameter."""
        ...

    def time(self, value: datetime | None) -> Any:
        """A UTC timestamp as a parameter."""
        ...

    def from_json(self, value: Any) -> Any:
        """A JSON column's value as read."""
        ...

    def from_time(self, value: Any) -> datetime | None:
        """A timestamp column's value as read (timezone-aware UTC)."""
        ...


def in_list(dialect: str, name: str) -> str:
    """`column <this>` matches any value of the list parameter `name` (one SQL text for any
    length: a JSON array on SQLite, an array on PostgreSQL)."""
    if dialect == "sqlite":
        return f"IN (SELECT value FROM json_each(:{name}))"
    return f"= ANY(:{name})"


def list_param(db: Driver, values: Sequence[Any]) -> Any:
    """The list parameter for `in_list`."""
    plain = [str(v) if isinstance(v, str) else v for v in values]
    return json.dumps(plain) if db.dialect == "sqlite" else plain


class SqliteDriver:
    """sqlite3: named parameters as they are, JSON as text, timestamps as naive UTC text."""

    dialect = "sqlite"

    def __init__(self, conn: Any) -> None:
        self._conn = conn

    async def rows(self, sql: str, params: Params) -> list[tuple[Any, ...]]:
        """Execute and fetch every row."""
        return list(self._conn.execute(sql, params).fetchall())

    async def run(self, sql: str, params: Params) -> int:
        """Execute; the number of rows it changed."""
        return int(self._conn.execute(sql, params).rowcount)

    async def run_many(self, sql: str, params: Sequence[Params]) -> None:
        """Execute once per parameter set."""
        self._conn.executemany(sql, params)

    def json(self, value: Any) -> Any:
        """JSON text (None is the JSON `null`, as SQLAlchemy's JSON type writes it)."""
        return json.dumps(value)

    def time(self, value: datetime | None) -> Any:
        """Naive UTC text in SQLAlchemy's format."""
        if value is None:
            return None
        return value.astimezone(UTC).strftime(_SQLITE_TIME)

    def from_json(self, value: Any) -> Any:
        """Parsed JSON text (a column declared JSON has numeric affinity in SQLite, so a bare
        number comes back already a number)."""
        return json.loads(value) if isinstance(value, str | bytes) else value

    def from_time(self, value: Any) -> datetime | None:
        """Aware UTC from the stored text (with or without an offset)."""
        if value is None:
            return None
        moment = datetime.fromisoformat(value)
        return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


class PgDriver:
    """psycopg (async): `%(name)s` parameters, Jsonb, timestamptz."""

    dialect = "postgresql"

    def __init__(self, conn: Any) -> None:
        self._conn = conn

    async def rows(self, sql: str, params: Params) -> list[tuple[Any, ...]]:
        """Execute and fetch every row."""
        cursor = await self._conn.execute(pg_text(sql), params)
        return list(await cursor.fetchall()) if cursor.description else []

    async def run(self, sql: str, params: Params) -> int:
        """Execute; the number of rows it changed."""
        cursor = await self._conn.execute(pg_text(sql), params)
        return int(cursor.rowcount)

    async def run_many(self, sql: str, params: Sequence[Params]) -> None:
        """Execute once per parameter set (pipelined by psycopg)."""
        async with self._conn.cursor() as cursor:
            await cursor.executemany(pg_text(sql), params)

    def json(self, value: Any) -> Any:
        """A jsonb parameter."""
        from psycopg.types.json import Jsonb

        return Jsonb(value)

    def time(self, value: datetime | None) -> Any:
        """timestamptz takes an aware datetime as it is."""
        return value

    def from_json(self, value: Any) -> Any:
        """psycopg decodes jsonb already."""
        return value

    def from_time(self, value: Any) -> datetime | None:
        """timestamptz arrives aware; in UTC for comparisons and output."""
        return None if value is None else value.astimezone(UTC)
