"""What a transaction did that the worker must act on after it commits."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class Effects:
    """Collected by the orchestrator during one transaction, read after commit."""

    ready: bool = False
    admit: bool = False
    # Admission was busy elsewhere: try again shortly (not at once: that would spin).
    admit_again: bool = False
    timers: bool = False
    runs_touched: set[str] = field(default_factory=set)
    cancelled_runs: set[str] = field(default_factory=set)
    ready_ids: list[str] = field(default_factory=list)
    # Batch mode (the worker's commits): step ends and events are collected and written
    # once per run at `StepFlow.settle`, instead of statement by statement.
    batch: bool = False
    ended: list[Any] = field(default_factory=list)
    # Runs that ended: added to the rollups once, at the end of the transaction, in id order.
    finished: list[str] = field(default_factory=list)
    events: dict[str, list[tuple[str, dict[str, Any]]]] = field(default_factory=dict)

    def merge(self, other: Effects) -> None:
        """Fold another transaction's effects into this one."""
        self.ready |= other.ready
        self.admit |= other.admit
        self.admit_again |= other.admit_again
        self.timers |= other.timers
        self.runs_touched |= other.runs_touched
        self.cancelled_runs |= other.cancelled_runs
        self.ready_ids.extend(other.ready_ids)
