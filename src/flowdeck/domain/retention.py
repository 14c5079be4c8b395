"""Run retention: what a purge deleted, and how rollups mark the runs it took."""

from __future__ import annotations

from dataclasses import dataclass

# The step type of the `step_rollups` rows that keep purged runs' per-day counts (a real step
# type never starts with `$`).
PURGED_RUNS = "$purged_runs"
# And of the rows that keep their durations: step id = a duration in microseconds, runs = how
# many completed runs of that day took exactly that long (duration percentiles stay exact).
PURGED_DURATIONS = "$purged_durations"
ROLLUP_ONLY = (PURGED_RUNS, PURGED_DURATIONS)


@dataclass(frozen=True)
class PurgeCounts:
    """Rows a purge deleted (or, on a dry run, would delete)."""

    runs: int = 0
    step_runs: int = 0
    events: int = 0

    def __add__(self, other: PurgeCounts) -> PurgeCounts:
        return PurgeCounts(
            self.runs + other.runs,
            self.step_runs + other.step_runs,
            self.events + other.events,
        )
