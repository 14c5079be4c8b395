"""The calendar and percentile arithmetic behind workflow analytics."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from flowdeck.domain.analytics import (
    interpolate,
    percentile_rank,
    period_start,
    periods,
    window_start,
)


def test_window_starts_at_midnight_utc_of_the_first_day() -> None:
    now = datetime(2026, 3, 18, 12, 30, tzinfo=UTC)
    assert window_start(now, 1) == datetime(2026, 3, 18, tzinfo=UTC)
    assert window_start(now, 30) == datetime(2026, 2, 17, tzinfo=UTC)
    assert window_start(now, 366) == datetime(2025, 3, 18, tzinfo=UTC)


@pytest.mark.parametrize(
    ("day", "weekly", "monthly"),
    [
        (date(2026, 3, 16), date(2026, 3, 16), date(2026, 3, 1)),  # a Monday
        (date(2026, 3, 15), date(2026, 3, 9), date(2026, 3, 1)),  # a Sunday
        (date(2026, 1, 1), date(2025, 12, 29), date(2026, 1, 1)),  # across a year
    ],
)
def test_period_start(day: date, weekly: date, monthly: date) -> None:
    assert period_start(day, "daily") == day
    assert period_start(day, "weekly") == weekly
    assert period_start(day, "monthly") == monthly


def test_periods_cover_the_window() -> None:
    since = datetime(2025, 11, 30, tzinfo=UTC)
    now = datetime(2026, 2, 2, 8, tzinfo=UTC)
    assert periods(since, now, "monthly") == [
        "2025-11-01",
        "2025-12-01",
        "2026-01-01",
        "2026-02-01",
    ]
    weekly = periods(since, now, "weekly")
    assert weekly[0] == "2025-11-24" and weekly[-1] == "2026-02-02" and len(weekly) == 11
    assert len(periods(since, now, "daily")) == 65


def test_percentile_matches_percentile_cont() -> None:
    values = [10.0, 20.0, 30.0, 40.0]
    for fraction, expected in ((0.0, 10.0), (0.5, 25.0), (0.95, 38.5), (1.0, 40.0)):
        lower, weight = percentile_rank(fraction, len(values))
        upper = values[lower + 1] if lower + 1 < len(values) else None
        assert interpolate(values[lower], upper, weight) == pytest.approx(expected)
    assert percentile_rank(0.95, 1) == (0, 0.0)
