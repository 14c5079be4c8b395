"""The SQL that differs between SQLite and PostgreSQL for analytics and rollups, and the
selects that rollups, retention and analytics share."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from flowdeck.domain.analytics import Granularity
from flowdeck.domain.retention import PURGED_DURATIONS
from flowdeck.store.tables import runs, step_rollups, step_runs

_R = runs.c
_S = step_runs.c


class Sql:
    """The expressions that differ between SQLite and PostgreSQL, in one place."""

    def __init__(self, dialect: str) -> None:
        self.postgres = dialect == "postgresql"

    def seconds(self, start: sa.ColumnElement[Any], end: sa.ColumnElement[Any]) -> Any:
        """Seconds from `start` to `end` as a float."""
        if self.postgres:
            return sa.extract("epoch", end - start)
        # SQLite stores UTC text; julianday() reads it as fractional days.
        return (sa.func.julianday(end) - sa.func.julianday(start)) * 86400.0

    def sortable_duration(self, start: sa.ColumnElement[Any], end: sa.ColumnElement[Any]) -> Any:
        """An expression that sorts like the duration and `to_seconds` turns into seconds."""
        if self.postgres:
            return end - start  # an interval: sorting it needs no per-row conversion
        return sa.func.julianday(end) - sa.func.julianday(start)

    def to_seconds(self, value: Any) -> float:
        """Seconds from a value of `sortable_duration`."""
        if isinstance(value, timedelta):
            return value.total_seconds()
        return float(value) * (1.0 if self.postgres else 86400.0)

    def day_text(self, column: sa.ColumnElement[Any]) -> Any:
        """The UTC calendar day of a timestamp as 'YYYY-MM-DD' text on both dialects."""
        if self.postgres:
            # Literal constants, so the expression in SELECT and GROUP BY is the same text.
            return sa.func.to_char(
                sa.func.timezone(sa.literal_column("'UTC'"), column),
                sa.literal_column("'YYYY-MM-DD'"),
            )
        return sa.func.substr(column, sa.literal_column("1"), sa.literal_column("10"))

    def day(self, column: sa.ColumnElement[Any]) -> Any:
        """The UTC calendar day of a timestamp (cheap: grouping by it comes first)."""
        if self.postgres:
            return sa.cast(sa.func.timezone("UTC", column), sa.Date)
        # SQLite keeps UTC timestamps as 'YYYY-MM-DD HH:MM:SS.ffffff' text.
        return sa.func.substr(column, 1, 10)

    def period(self, day: Any, granularity: Granularity) -> Any:
        """The first day (YYYY-MM-DD) of the period holding a `day` value."""
        if self.postgres:
            if granularity == "daily":
                return sa.func.to_char(day, "YYYY-MM-DD")
            unit = "week" if granularity == "weekly" else "month"
            start = sa.func.date_trunc(unit, sa.cast(day, sa.DateTime()))
            return sa.func.to_char(start, "YYYY-MM-DD")
        if granularity == "weekly":
            # The next Sunday (or the day itself), then back to that week's Monday.
            return sa.func.date(day, "weekday 0", "-6 days")
        if granularity == "monthly":
            return sa.func.strftime("%Y-%m-01", day)
        return day

    def percentile(self, fraction: float, value: Any) -> Any:
        """percentile_cont aggregate (PostgreSQL only)."""
        return sa.func.percentile_cont(fraction).within_group(value)


def day_text(dialect: str, column: sa.ColumnElement[Any]) -> Any:
    """The UTC calendar day of a timestamp as 'YYYY-MM-DD' text (the rollups' `day`)."""
    return Sql(dialect).day_text(column)


def seconds_between(dialect: str, start: sa.ColumnElement[Any], end: sa.ColumnElement[Any]) -> Any:
    """Seconds from `start` to `end` as a float."""
    return Sql(dialect).seconds(start, end)


def purged_durations(workflow_id: str, since: datetime) -> Any:
    """The durations in seconds of the window's purged completed runs, one row each (`d`)."""
    r = step_rollups.c
    base = (
        sa.select((sa.cast(r.step_id, sa.Float) / 1e6).label("d"), r.runs.label("n"))
        .where(
            r.workflow_id == workflow_id,
            r.step_type == PURGED_DURATIONS,
            r.day >= since.strftime("%Y-%m-%d"),
        )
        .cte("purged_durations", recursive=True)
    )
    expanded = base.union_all(sa.select(base.c.d, base.c.n - 1).where(base.c.n > 1))
    return sa.select(expanded.c.d)


def has_purged_durations(workflow_id: str, since: datetime) -> Any:
    """Whether the window holds purged completed runs."""
    r = step_rollups.c
    return sa.select(
        sa.exists().where(
            r.workflow_id == workflow_id,
            r.step_type == PURGED_DURATIONS,
            r.day >= since.strftime("%Y-%m-%d"),
        )
    )


def count_of(cond: sa.ColumnElement[bool] | None = None) -> Any:
    return sa.func.count() if cond is None else sa.func.count().filter(cond)


def step_rollup_select(dialect: str, where: sa.ColumnElement[bool], sign: int) -> Any:
    """The `step_rollups` rows (times `sign`) of the step runs of the runs matching `where`."""
    sql = Sql(dialect)
    owner = sa.func.coalesce(_S.parent_step_id, _S.step_id)
    top = sa.and_(_S.parent_step_id.is_(None), _S.is_current.is_(True))
    timed = sa.and_(
        top, _S.status == "completed", _S.started_at.is_not(None), _S.completed_at.is_not(None)
    )
    return (
        sa.select(
            _R.workflow_id,
            sql.day_text(_R.created_at),
            owner,
            _S.step_type,
            sign * count_of(top),
            sign * count_of(_S.parent_step_id.is_(None)),
            sign * count_of(sa.and_(top, _S.status == "completed")),
            sign * count_of(sa.and_(top, _S.status == "failed")),
            sign * count_of(sa.and_(top, _S.status == "skipped")),
            sign
            * sa.func.coalesce(
                sa.func.sum(sql.seconds(_S.started_at, _S.completed_at)).filter(timed), 0.0
            ),
            sign * count_of(timed),
            sign * sa.func.coalesce(sa.func.sum(_S.cost), 0.0),
            sign * count_of(),
        )
        .select_from(step_runs.join(runs, _R.id == _S.run_id))
        .where(where)
        .group_by(_R.workflow_id, sql.day_text(_R.created_at), owner, _S.step_type)
    )
