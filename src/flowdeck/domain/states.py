"""Run and step state machines as data, and the trigger-rule decision."""

from __future__ import annotations

from typing import Literal

RunStatus = Literal["queued", "running", "waiting", "paused", "completed", "failed", "cancelled"]
StepStatus = Literal[
    "pending", "ready", "running", "waiting", "completed", "failed", "skipped", "cancelled"
]

RUN_TERMINAL: frozenset[str] = frozenset({"completed", "failed", "cancelled"})
RUN_ACTIVE: frozenset[str] = frozenset({"queued", "running", "waiting", "paused"})
STEP_TERMINAL: frozenset[str] = frozenset({"completed", "failed", "skipped", "cancelled"})

# Allowed transitions; the store applies each as `UPDATE … WHERE status IN (<sources>)`.
RUN_TRANSITIONS: dict[str, frozenset[str]] = {
    "queued": frozenset({"running", "cancelled"}),
    "running": frozenset({"waiting", "paused", "completed", "failed", "cancelled"}),
    "waiting": frozenset({"queued", "running", "paused", "completed", "failed", "cancelled"}),
    "paused": frozenset({"queued", "running", "cancelled"}),
    "failed": frozenset({"queued"}),
    "cancelled": frozenset({"queued"}),
    "completed": frozenset(),
}

STEP_TRANSITIONS: dict[str, frozenset[str]] = {
    "pending": frozenset({"ready", "skipped", "cancelled"}),
    "ready": frozenset({"running", "skipped", "cancelled"}),
    "running": frozenset({"completed", "failed", "waiting", "skipped", "cancelled", "ready"}),
    "waiting": frozenset({"ready", "completed", "failed", "cancelled"}),
    "completed": frozenset(),
    "failed": frozenset(),
    "skipped": frozenset(),
    "cancelled": frozenset(),
}


def run_sources(target: str) -> tuple[str, ...]:
    """The run statuses from which `target` may be reached."""
    return tuple(s for s, targets in RUN_TRANSITIONS.items() if target in targets)


def step_sources(target: str) -> tuple[str, ...]:
    """The step statuses from which `target` may be reached."""
    return tuple(s for s, targets in STEP_TRANSITIONS.items() if target in targets)


Decision = Literal["wait", "ready", "skip"]


def decide(
    rule: str, *, deps_remaining: int, n_completed: int, n_failed: int, n_skipped: int
) -> Decision:
    """What a pending step does given how its dependencies ended (Airflow's trigger rules).

    all_success: runs when every dependency completed; skipped as soon as one failed or
    was skipped. none_failed: skipped as soon as one failed; once all are done, runs when at
    least one completed. all_done: runs once every dependency is done, however it ended.
    """
    if rule == "all_done":
        return "ready" if deps_remaining <= 0 else "wait"
    if rule == "none_failed":
        if n_failed:
            return "skip"
        if deps_remaining > 0:
            return "wait"
        return "ready" if n_completed else "skip"
    if n_failed or n_skipped:
        return "skip"
    return "ready" if deps_remaining <= 0 else "wait"
