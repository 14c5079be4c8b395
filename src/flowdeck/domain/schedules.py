"""Cron schedules in IANA time zones: validation and the next fire time.

A `cron_expression` has 5 fields, `minute hour day-of-month month day-of-week`, or 6 with
`second` as the sixth (croniter's convention: `0 9 * * 1-5 30` is 09:00:30 on weekdays). The
aliases `@yearly`, `@annually`, `@monthly`, `@weekly`, `@daily`, `@midnight` and `@hourly` are
accepted too. Fields are matched against the wall-clock time of the schedule's `timezone`.

Daylight saving time (the rule, also in the README):
- A wall time that does not exist, because the clocks jump forward over it, fires once, at the
  first instant after the jump: a 02:30 daily schedule in America/New_York fires at 03:00 EDT
  on the spring-forward day. Several matching times inside one gap fire once, together.
- A wall time that occurs twice, because the clocks fall back over it, fires once, at its first
  occurrence: a 01:30 daily schedule fires at 01:30 EDT, not again at 01:30 EST.
So a daily schedule fires exactly once every day of the year. A schedule that matches every few
minutes has no firings during the repeated hour of a fall-back (its wall times already fired).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

import croniter as _croniter

_Croniter = _croniter.croniter
_CRON_ERRORS = (_croniter.CroniterError, ValueError, TypeError, KeyError)

ALIASES = ("@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly")

# (name, what it accepts) for positions 1-6; the sixth is croniter's optional seconds field.
FIELDS: tuple[tuple[str, str], ...] = (
    ("minute", "0-59"),
    ("hour", "0-23"),
    ("day of month", "1-31, L or 15W"),
    ("month", "1-12 or JAN-DEC"),
    ("day of week", "0-7 or SUN-SAT, 5#3 or L5"),
    ("second", "0-59"),
)
_SYNTAX = "'*', lists (1,2), ranges (1-5) and steps (*/15)"
# croniter's hashed (H) and random (R) fields need a hash id or change on every parse.
_HASHED = re.compile(r"^[hr](\(\d+-\d+\))?(/\d+)?$", re.IGNORECASE)
_NOT_ZONES = frozenset({"localtime", "posixrules", "posix", "right"})
_MAX_CANDIDATES = 10_000


@dataclass(frozen=True)
class Schedule:
    """A cron trigger of one workflow; `next_run_at` is None while it is disabled."""

    id: str
    workspace_id: str
    workflow_id: str
    cron_expression: str
    timezone: str
    input_data: dict[str, Any]
    enabled: bool
    next_run_at: datetime | None
    created_at: datetime
    updated_at: datetime
    last_run_at: datetime | None = None
    last_run_id: str | None = None


@dataclass(frozen=True)
class DueSchedule:
    """A schedule whose `next_run_at` has passed, and whether its workflow may run now."""

    schedule: Schedule
    workflow_runnable: bool


class InvalidSchedule(ValueError):
    """A cron expression or time zone that cannot be used; `problems` are sentences."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


def normalise_cron(expression: str) -> str:
    """The expression with single spaces between fields."""
    return " ".join(expression.split())


def cron_problems(expression: str) -> list[str]:
    """Every problem with a cron expression, as sentences (empty when it is usable)."""
    return list(_cron_problems(normalise_cron(expression)))


@lru_cache(maxsize=1024)
def _cron_problems(text: str) -> tuple[str, ...]:
    if not text:
        return ("cron_expression is empty; give 5 fields (minute hour day month weekday)",)
    if text.startswith("@"):
        if text.lower() not in ALIASES:
            return (
                f"cron_expression '{text}' is not a known alias; use one of {', '.join(ALIASES)}",
            )
        return ()
    fields = text.split(" ")
    if len(fields) not in (5, 6):
        return (
            f"cron_expression '{text}' has {len(fields)} fields; it needs 5 (minute hour "
            "day-of-month month day-of-week) or 6 (the same, then second)",
        )
    problems: list[str] = []
    for index, value in enumerate(fields):
        name, accepts = FIELDS[index]
        if _HASHED.match(value) or not _field_ok(index, value, len(fields)):
            problems.append(
                f"Field {index + 1} ({name}) of cron_expression is '{value}': it accepts "
                f"{accepts}, {_SYNTAX}"
            )
    if problems:
        return tuple(problems)
    try:
        _Croniter.expand(text)
    except _CRON_ERRORS as exc:
        return (f"cron_expression '{text}' is not valid: {exc}",)
    return ()


def _field_ok(index: int, value: str, count: int) -> bool:
    probe = ["*"] * count
    probe[index] = value
    try:
        _Croniter.expand(" ".join(probe))
    except _CRON_ERRORS:
        return False
    return True


@lru_cache(maxsize=1)
def _zone_names() -> dict[str, str]:
    """IANA zone names by their lower-case spelling."""
    return {name.lower(): name for name in available_timezones() if name not in _NOT_ZONES}


@lru_cache(maxsize=1)
def _zones() -> frozenset[str]:
    return frozenset(_zone_names().values())


def timezone_problems(name: str) -> list[str]:
    """Every problem with a time zone name, as sentences (empty when it is an IANA zone)."""
    if not name.strip():
        return ["timezone is empty; give an IANA time zone such as 'Europe/Berlin' or 'UTC'"]
    if name not in _zones():
        known = _zone_names().get(name.strip().lower())
        hint = f"; did you mean '{known}'?" if known else " (for example 'Europe/Berlin' or 'UTC')"
        return [f"timezone '{name}' is not an IANA time zone{hint}"]
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return [f"timezone '{name}' has no time zone data on this server"]
    return []


def schedule_problems(expression: str, timezone: str, now: datetime) -> list[str]:
    """Every problem with a cron expression and time zone, including one that never fires."""
    problems = cron_problems(expression) + timezone_problems(timezone)
    if problems:
        return problems
    try:
        next_fire(expression, timezone, now)
    except InvalidSchedule as exc:
        return exc.problems
    return []


def next_fire(expression: str, timezone: str, after: datetime) -> datetime:
    """The first fire time strictly after `after` (aware), in UTC, by the DST rule above."""
    problems = cron_problems(expression) + timezone_problems(timezone)
    if problems:
        raise InvalidSchedule(problems)
    if after.tzinfo is None:
        raise ValueError("next_fire needs an aware datetime")
    zone = ZoneInfo(timezone)
    after = after.astimezone(UTC)
    # croniter walks wall-clock times; UTC has no DST, so it does plain calendar arithmetic.
    walls = _Croniter(normalise_cron(expression), _wall_start(zone, after))
    for _ in range(_MAX_CANDIDATES):
        try:
            wall: datetime = walls.get_next(datetime)
        except _croniter.CroniterBadDateError:
            break
        fire = _instant(zone, wall.replace(tzinfo=None))
        if fire > after:
            return fire
    raise InvalidSchedule(
        [
            f"cron_expression '{normalise_cron(expression)}' never fires: no date matches its "
            "day of month, month and day of week together"
        ]
    )


def _wall_start(zone: ZoneInfo, after: datetime) -> datetime:
    """Where to start walking wall times: `after`'s wall time, or the end of a repeated hour."""
    local = after.astimezone(zone)
    wall = local.replace(tzinfo=None)
    if local.fold == 1:
        # In the second pass of a fall-back every wall time up to the end of the repeat has
        # fired already (first occurrences); start at the end of the repeat.
        first = wall.replace(tzinfo=zone, fold=0).astimezone(UTC)
        change = _change_instant(zone, first, after)
        before = first.astimezone(zone).utcoffset() or timedelta(0)
        wall = (change + before).replace(tzinfo=None) - timedelta(seconds=1)
    return wall.replace(tzinfo=UTC)


def _instant(zone: ZoneInfo, wall: datetime) -> datetime:
    """The UTC instant a wall time fires at: its first occurrence, or the end of its gap."""
    early = wall.replace(tzinfo=zone, fold=0).astimezone(UTC)
    late = wall.replace(tzinfo=zone, fold=1).astimezone(UTC)
    if early <= late:
        return early  # exists once, or twice (fall-back): the first occurrence
    # fold=0 reads a gap time with the offset before the jump, fold=1 with the one after, so
    # the jump happened in (late, early].
    return _change_instant(zone, late, early)


def _change_instant(zone: ZoneInfo, lo: datetime, hi: datetime) -> datetime:
    """The first whole second in (lo, hi] that has `hi`'s UTC offset (lo's differs)."""
    target = hi.astimezone(zone).utcoffset()
    low, high = int(lo.timestamp()), int(hi.timestamp())
    while high - low > 1:
        mid = (low + high) // 2
        if datetime.fromtimestamp(mid, UTC).astimezone(zone).utcoffset() == target:
            high = mid
        else:
            low = mid
    return datetime.fromtimestamp(high, UTC)
