"""How a worker paces itself: limits, leases, polls, the drain."""

from __future__ import annotations

from dataclasses import dataclass

from flowdeck.domain.nesting import DEFAULT_MAX_RUN_DEPTH
from flowdeck.engine.signals import Signals

# When another process holds the admission lock, look again after this long.
ADMIT_RETRY_SECONDS = 0.02


@dataclass(frozen=True)
class WorkerSettings:
    """How a worker paces itself."""

    max_running_runs: int = 10
    max_parallel_steps: int = 256
    lease_seconds: float = 15.0
    heartbeat_seconds: float = 3.0
    poll_seconds: float = 1.0
    # With cross-process signals connected, polls only cover a lost notification.
    fallback_poll_seconds: float = 5.0
    cancel_check_seconds: float = 0.25
    shutdown_grace_seconds: float = 10.0
    commit_batch: int = 128
    max_run_depth: int = DEFAULT_MAX_RUN_DEPTH
    # Pure steps (transform, condition, loop items) executed inside one transaction at most.
    max_inline_steps: int = 1000
    # …and for at most this long, so one transaction never holds the database for long.
    max_inline_seconds: float = 0.02
    # Runs admitted by one transaction at most (the next admits more at once).
    admit_batch: int = 64

    def poll_seconds_with(self, signals: Signals | None) -> float:
        """How often a waiter polls for what a lost signal would have told it."""
        if signals is not None and signals.connected:
            return max(self.poll_seconds, self.fallback_poll_seconds)
        return self.poll_seconds
