"""Cron and time-zone rules of schedules: validation, next fire times, daylight saving time."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flowdeck.domain.schedules import (
    InvalidSchedule,
    cron_problems,
    next_fire,
    schedule_problems,
    timezone_problems,
)

NY = "America/New_York"
NOW = datetime(2025, 1, 6, 12, 0, tzinfo=UTC)  # a Monday


def utc(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


def fires(cron: str, tz: str, start: datetime, until: datetime) -> list[datetime]:
    """Every fire time in (start, until]."""
    out: list[datetime] = []
    t = start
    while (t := next_fire(cron, tz, t)) <= until:
        out.append(t)
    return out


def local(t: datetime, tz: str) -> str:
    return t.astimezone(ZoneInfo(tz)).strftime("%Y-%m-%d %H:%M:%S%z")


# -- ordinary times --------------------------------------------------------------------------


def test_five_fields_in_a_zone_follow_its_offset_through_the_year() -> None:
    assert next_fire("0 9 * * 1-5", NY, NOW) == utc(2025, 1, 6, 14)  # EST: UTC-5
    assert next_fire("0 9 * * 1-5", NY, utc(2025, 7, 5, 12)) == utc(2025, 7, 7, 13)  # EDT, Monday


def test_the_sixth_field_is_seconds() -> None:
    assert next_fire("0 9 * * 1-5 30", "UTC", NOW) == utc(2025, 1, 7, 9, 0, 30)
    assert next_fire("* * * * * */15", "UTC", utc(2025, 1, 1, 0, 0, 1)) == utc(2025, 1, 1, 0, 0, 15)


def test_the_next_fire_is_strictly_after_the_given_instant() -> None:
    assert next_fire("0 12 * * *", "UTC", NOW) == utc(2025, 1, 7, 12)
    assert next_fire("0 12 * * *", "UTC", NOW - timedelta(microseconds=1)) == NOW


def test_aliases_and_names() -> None:
    assert next_fire("@daily", "Europe/Berlin", NOW) == utc(2025, 1, 6, 23)
    assert next_fire("@hourly", "UTC", NOW) == utc(2025, 1, 6, 13)
    assert next_fire("0 8 * JAN MON#2", "UTC", NOW) == utc(2025, 1, 13, 8)
    assert next_fire("0 0 L * *", "UTC", NOW) == utc(2025, 1, 31)


def test_an_instant_in_any_zone_counts_and_a_naive_one_is_refused() -> None:
    berlin = NOW.astimezone(ZoneInfo("Europe/Berlin"))
    assert next_fire("0 12 * * *", "UTC", berlin) == next_fire("0 12 * * *", "UTC", NOW)
    with pytest.raises(ValueError, match="aware"):
        next_fire("0 12 * * *", "UTC", NOW.replace(tzinfo=None))


# -- daylight saving time ----------------------------------------------------------------------


def test_spring_forward_a_time_in_the_gap_fires_once_when_the_gap_ends() -> None:
    # 2025-03-09, America/New_York: 02:00 EST becomes 03:00 EDT; 02:30 does not exist.
    got = fires("30 2 * * *", NY, utc(2025, 3, 7, 12), utc(2025, 3, 11, 12))
    assert [local(t, NY) for t in got] == [
        "2025-03-08 02:30:00-0500",
        "2025-03-09 03:00:00-0400",
        "2025-03-10 02:30:00-0400",
        "2025-03-11 02:30:00-0400",
    ]


def test_spring_forward_several_times_in_the_gap_fire_once_together() -> None:
    got = fires("*/20 * * * *", NY, utc(2025, 3, 9, 6, 30), utc(2025, 3, 9, 7, 45))
    assert [local(t, NY) for t in got] == [
        "2025-03-09 01:40:00-0500",
        "2025-03-09 03:00:00-0400",  # 02:00, 02:20, 02:40 and 03:00 itself: one firing
        "2025-03-09 03:20:00-0400",
        "2025-03-09 03:40:00-0400",
    ]


def test_fall_back_a_repeated_time_fires_once_at_its_first_occurrence() -> None:
    # 2025-11-02, America/New_York: 02:00 EDT becomes 01:00 EST; 01:30 happens twice.
    got = fires("30 1 * * *", NY, utc(2025, 11, 1, 12), utc(2025, 11, 4, 12))
    assert [local(t, NY) for t in got] == [
        "2025-11-02 01:30:00-0400",
        "2025-11-03 01:30:00-0500",
        "2025-11-04 01:30:00-0500",
    ]


def test_fall_back_frequent_schedules_skip_the_repeated_hour() -> None:
    got = fires("*/30 * * * *", NY, utc(2025, 11, 2, 4, 45), utc(2025, 11, 2, 7, 45))
    assert [local(t, NY) for t in got] == [
        "2025-11-02 01:00:00-0400",
        "2025-11-02 01:30:00-0400",
        "2025-11-02 02:00:00-0500",  # 01:00 and 01:30 EST already fired as EDT
        "2025-11-02 02:30:00-0500",
    ]


def test_fall_back_from_inside_the_repeated_hour() -> None:
    second_pass = datetime(2025, 11, 2, 1, 10, fold=1, tzinfo=ZoneInfo(NY))
    assert local(next_fire("* * * * * *", NY, second_pass), NY) == "2025-11-02 02:00:00-0500"
    assert local(next_fire("0 */6 * * *", NY, second_pass), NY) == "2025-11-02 06:00:00-0500"


def test_half_hour_shifts_and_the_southern_hemisphere() -> None:
    # Lord Howe Island moves 30 minutes: 02:00 becomes 02:30 on 2025-10-05.
    lh = "Australia/Lord_Howe"
    got = fires("15 2 * * *", lh, utc(2025, 10, 3, 12), utc(2025, 10, 6, 12))
    assert [local(t, lh) for t in got] == [
        "2025-10-04 02:15:00+1030",
        "2025-10-05 02:30:00+1100",
        "2025-10-06 02:15:00+1100",
    ]
    # Sydney falls back on 2025-04-06: 03:00 AEDT becomes 02:00 AEST.
    got = fires("30 2 * * *", "Australia/Sydney", utc(2025, 4, 3, 12), utc(2025, 4, 7, 0))
    assert [local(t, "Australia/Sydney") for t in got] == [
        "2025-04-04 02:30:00+1100",
        "2025-04-05 02:30:00+1100",
        "2025-04-06 02:30:00+1100",
        "2025-04-07 02:30:00+1000",
    ]


@pytest.mark.parametrize(
    "tz", [NY, "Europe/Berlin", "Australia/Lord_Howe", "America/Santiago", "America/Havana"]
)
@pytest.mark.parametrize("at", ["0 0", "30 0", "30 1", "30 2", "0 3"])
def test_a_daily_schedule_fires_exactly_once_on_every_local_day_of_a_year(tz: str, at: str) -> None:
    zone = ZoneInfo(tz)
    got = fires(f"{at} * * *", tz, utc(2024, 12, 31, 12), utc(2026, 1, 1, 12))
    days = Counter(t.astimezone(zone).date() for t in got)
    expected = {date(2025, 1, 1) + timedelta(days=i) for i in range(365)}
    assert {d for d in days if d.year == 2025} == expected
    assert all(days[d] == 1 for d in expected)


@settings(max_examples=300, deadline=None)
@given(
    cron=st.sampled_from(
        ["*/7 * * * *", "30 1,2 * * *", "0 * * * *", "45 23 * * 6", "*/10 * * * * 30", "@daily"]
    ),
    tz=st.sampled_from([NY, "Europe/London", "Australia/Lord_Howe", "America/Havana", "UTC"]),
    start=st.datetimes(
        min_value=datetime(2024, 1, 1), max_value=datetime(2026, 12, 31), timezones=st.just(UTC)
    ),
)
def test_fire_times_move_forward_and_never_repeat(cron: str, tz: str, start: datetime) -> None:
    first = next_fire(cron, tz, start)
    second = next_fire(cron, tz, first)
    assert start < first < second
    assert first.microsecond == 0 and first.tzinfo is UTC
    assert second - first <= timedelta(days=8)


# -- validation --------------------------------------------------------------------------------


def test_a_bad_field_is_named_by_position() -> None:
    assert cron_problems("0 25 * * *") == [
        "Field 2 (hour) of cron_expression is '25': it accepts 0-23, '*', lists (1,2), "
        "ranges (1-5) and steps (*/15)"
    ]
    problems = cron_problems("61 * 0 13 8 75")
    assert [p.split(" of cron")[0] for p in problems] == [
        "Field 1 (minute)",
        "Field 3 (day of month)",
        "Field 4 (month)",
        "Field 5 (day of week)",
        "Field 6 (second)",
    ]


@pytest.mark.parametrize(
    ("cron", "fragment"),
    [
        ("* * * *", "has 4 fields; it needs 5"),
        ("0 0 1 1 * 0 2030", "has 7 fields"),
        ("", "cron_expression is empty"),
        ("@fortnightly", "not a known alias"),
        ("H * * * *", "Field 1 (minute)"),
        ("R * * * *", "Field 1 (minute)"),
        ("*/0 * * * *", "Field 1 (minute)"),
        ("? * * * *", "Field 1 (minute)"),
        ("1,,2 * * * *", "Field 1 (minute)"),
    ],
)
def test_malformed_expressions(cron: str, fragment: str) -> None:
    problems = cron_problems(cron)
    assert len(problems) == 1 and fragment in problems[0], problems


def test_an_expression_that_never_fires_is_refused() -> None:
    assert schedule_problems("0 0 30 2 *", "UTC", NOW) == [
        "cron_expression '0 0 30 2 *' never fires: no date matches its day of month, month "
        "and day of week together"
    ]
    with pytest.raises(InvalidSchedule):
        next_fire("0 0 31 4 *", "UTC", NOW)


def test_time_zones_must_be_iana_names() -> None:
    assert timezone_problems("Europe/Berlin") == []
    assert timezone_problems("UTC") == []
    assert timezone_problems("america/new_york") == [
        "timezone 'america/new_york' is not an IANA time zone; did you mean 'America/New_York'?"
    ]
    for bad in ("Mars/Olympus", "localtime", "../../etc/passwd", "+02:00", "EST5EDT4"):
        assert timezone_problems(bad) == [
            f"timezone '{bad}' is not an IANA time zone (for example 'Europe/Berlin' or 'UTC')"
        ]
    assert "timezone is empty" in timezone_problems(" ")[0]


def test_every_problem_is_reported_at_once() -> None:
    problems = schedule_problems("0 25 * * *", "Mars/Olympus", NOW)
    assert len(problems) == 2
    with pytest.raises(InvalidSchedule) as caught:
        next_fire("0 25 * * *", "Mars/Olympus", NOW)
    assert caught.value.problems == problems


def test_good_expressions_have_no_problems() -> None:
    for cron in ("0 9 * * 1-5", "*/15 * * * *", "0 9 * * MON-FRI 30", "@weekly", " 0  9 * * * "):
        assert schedule_problems(cron, NY, NOW) == [], cron
