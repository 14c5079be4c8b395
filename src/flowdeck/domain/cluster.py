"""The cluster as the database sees it: registered workers and the work queued and running."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True)
class WorkerRecord:
    """One worker process as registered in the database."""

    id: str
    hostname: str
    pid: int
    started_at: datetime
    heartbeat_at: datetime
    inflight: int = 0
    capacity: int = 0
    stopped_at: datetime | None = None


@dataclass(frozen=True)
class ClusterSnapshot:
    """Instance-wide counts read at one moment, for metrics (no tenant data)."""

    runs_by_status: dict[str, int] = field(default_factory=dict)
    # Current step runs of unfinished runs, by status.
    steps_by_status: dict[str, int] = field(default_factory=dict)
    # Ready steps of running runs whose available_at has come: what workers can claim now.
    claimable_steps: int = 0
    oldest_claimable_at: datetime | None = None
