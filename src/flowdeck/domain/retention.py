"""Run retention: what a purge deleted, and how rollups mark the runs it took."""

from __future__ import annotations

from dataclasses import dataclass

# The step type of the `step_rollups` rows that keep purged runs' per-day counts (a real step
# type never starts with `$`).
PURGED_RUNS = "$purged_runs"


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
