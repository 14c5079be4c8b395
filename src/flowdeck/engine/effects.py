"""What a committed run transaction did that someone must act on: wake-ups, SSE, cancels."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True)
class RunEnd:
    """A run that reached an end in this transaction (for metrics and traces)."""

    run_id: str
    workflow_id: str
    status: str
    started_at: datetime | None
    completed_at: datetime


@dataclass(frozen=True)
class StepEnd:
    """A step run that reached an end in this transaction (for metrics)."""

    step_type: str
    status: str
    seconds: float | None


@dataclass
class Effects:
    """Collected during one run transaction, published after it commits."""

    ready: bool = False
    admit: bool = False
    # Admission was busy elsewhere: try again shortly (not at once: that would spin).
    admit_again: bool = False
    timers: bool = False
    runs_touched: set[str] = field(default_factory=set)
    cancelled_runs: set[str] = field(default_factory=set)
    # Counted and traced once the transaction commits (a rolled-back one ended nothing).
    ended_runs: list[RunEnd] = field(default_factory=list)
    ended_steps: list[StepEnd] = field(default_factory=list)
