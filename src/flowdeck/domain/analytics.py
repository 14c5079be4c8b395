"""Analytics records and the calendar arithmetic of their periods (UTC)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Literal

Granularity = Literal["daily", "weekly", "monthly"]
GRANULARITIES: tuple[Granularity, ...] = ("daily", "weekly", "monthly")


@dataclass(frozen=True)
class PeriodCounts:
    """Runs of one period (`period` is its first day, YYYY-MM-DD) by status, their cost, and
    how many completed with a duration (`timed`)."""

    period: str
    total: int
    completed: int
    failed: int
    cancelled: int
    cost: float
    timed: int


@dataclass(frozen=True)
class StepAggregate:
    """One (step, step type) group of step runs: a loop's iterations have the body's type."""

    step_id: str
    step_type: str
    runs: int
    attempts: int
    completed: int
    failed: int
    skipped: int
    avg_duration_seconds: float | None
    cost: float
    step_runs: int


@dataclass(frozen=True)
class ScheduleLink:
    """A schedule of a workflow, as the Related tab lists it."""

    id: str
    cron_expression: str
    timezone: str
    enabled: bool
    next_run_at: datetime | None


@dataclass(frozen=True)
class WorkflowLink:
    """A workflow related to another one (a copy, or the source it was copied from)."""

    id: str
    workspace_id: str
    workspace_slug: str
    slug: str
    name: str
    visibility: str
    source_kind: str | None
    created_at: datetime
    deleted: bool


def window_start(now: datetime, days: int) -> datetime:
    """Midnight UTC starting the last `days` calendar days, today included."""
    first = now.astimezone(UTC).date() - timedelta(days=days - 1)
    return datetime.combine(first, time(), tzinfo=UTC)


def period_start(day: date, granularity: Granularity) -> date:
    """The first day of the period holding `day` (weeks start on Monday, as ISO's do)."""
    if granularity == "weekly":
        return day - timedelta(days=day.weekday())
    if granularity == "monthly":
        return day.replace(day=1)
    return day


def periods(since: datetime, now: datetime, granularity: Granularity) -> list[str]:
    """Every period from the one holding `since` to the one holding `now`, as YYYY-MM-DD."""
    current = period_start(since.astimezone(UTC).date(), granularity)
    last = period_start(now.astimezone(UTC).date(), granularity)
    out = []
    while current <= last:
        out.append(current.isoformat())
        if granularity == "daily":
            current += timedelta(days=1)
        elif granularity == "weekly":
            current += timedelta(days=7)
        else:
            current = (current.replace(day=28) + timedelta(days=4)).replace(day=1)
    return out


def percentile_rank(fraction: float, count: int) -> tuple[int, float]:
    """Where percentile `fraction` of `count` sorted values lies: the 0-based index of the
    lower neighbour and the weight of the upper one (PostgreSQL's percentile_cont)."""
    position = fraction * (count - 1)
    lower = math.floor(position)
    return lower, position - lower


def interpolate(lower: float, upper: float | None, weight: float) -> float:
    """The value `weight` of the way from `lower` to `upper` (`lower` when there is none)."""
    if upper is None or weight == 0:
        return lower
    return lower + (upper - lower) * weight
