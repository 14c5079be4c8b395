"""Run and step state machines as data, and the trigger-rule decision.

The transition tables are the only source of which status may follow which: the store derives
the `WHERE status IN (…)` of every status change from them (`run_sources`, `step_sources`).
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum
from typing import Literal, TypeVar


class RunStatus(StrEnum):
    """Where a run is (SPEC §4)."""

    QUEUED = "queued"
    RUNNING = "running"
    WAITING = "waiting"
    PAUSED = "paused"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"


class StepStatus(StrEnum):
    """Where one attempt of one step is (SPEC §4)."""

    PENDING = "pending"
    READY = "ready"
    RUNNING = "running"
    WAITING = "waiting"
    COMPLETED = "completed"
    FAILED = "failed"
    SKIPPED = "skipped"
    CANCELLED = "cancelled"


R, S = RunStatus, StepStatus

RUN_TERMINAL: frozenset[RunStatus] = frozenset({R.COMPLETED, R.FAILED, R.CANCELLED})
RUN_ACTIVE: frozenset[RunStatus] = frozenset({R.QUEUED, R.RUNNING, R.WAITING, R.PAUSED})
STEP_TERMINAL: frozenset[StepStatus] = frozenset({S.COMPLETED, S.FAILED, S.SKIPPED, S.CANCELLED})
STEP_ACTIVE: frozenset[StepStatus] = frozenset({S.PENDING, S.READY, S.RUNNING, S.WAITING})

# A paused run waits for resume whether it had started or not: pausing a queued run keeps it
# out of admission (queued → paused) and resume queues it again (paused → queued).
RUN_TRANSITIONS: dict[RunStatus, frozenset[RunStatus]] = {
    R.QUEUED: frozenset({R.RUNNING, R.PAUSED, R.CANCELLED}),
    R.RUNNING: frozenset({R.WAITING, R.PAUSED, R.COMPLETED, R.FAILED, R.CANCELLED}),
    R.WAITING: frozenset({R.QUEUED, R.RUNNING, R.PAUSED, R.COMPLETED, R.FAILED, R.CANCELLED}),
    R.PAUSED: frozenset({R.QUEUED, R.CANCELLED}),
    R.FAILED: frozenset({R.QUEUED}),
    R.CANCELLED: frozenset({R.QUEUED}),
    R.COMPLETED: frozenset(),
}

STEP_TRANSITIONS: dict[StepStatus, frozenset[StepStatus]] = {
    S.PENDING: frozenset({S.READY, S.SKIPPED, S.CANCELLED}),
    S.READY: frozenset({S.RUNNING, S.SKIPPED, S.CANCELLED}),
    # running → ready: a draining worker hands a step back.
    S.RUNNING: frozenset({S.COMPLETED, S.FAILED, S.WAITING, S.SKIPPED, S.CANCELLED, S.READY}),
    # waiting → ready: a timer is due.
    S.WAITING: frozenset({S.READY, S.COMPLETED, S.FAILED, S.CANCELLED}),
    S.COMPLETED: frozenset(),
    S.FAILED: frozenset(),
    S.SKIPPED: frozenset(),
    S.CANCELLED: frozenset(),
}


StatusT = TypeVar("StatusT", RunStatus, StepStatus)


class TransitionError(ValueError):
    """A status change the transition table does not allow (a bug, never bad input)."""


def _sources(
    table: dict[StatusT, frozenset[StatusT]], to: StatusT, only_from: Iterable[StatusT] | None
) -> tuple[StatusT, ...]:
    allowed = tuple(s for s, targets in table.items() if to in targets)
    if only_from is None:
        return allowed
    wanted = tuple(dict.fromkeys(only_from))
    wrong = [s for s in wanted if s not in allowed]
    if wrong:
        raise TransitionError(f"{', '.join(wrong)} → {to} is not an allowed transition")
    return wanted


def run_sources(
    to: RunStatus, only_from: Iterable[RunStatus] | None = None
) -> tuple[RunStatus, ...]:
    """The run statuses from which `to` may be reached (narrowed to `only_from`, which must
    itself be allowed)."""
    return _sources(RUN_TRANSITIONS, to, only_from)


def step_sources(
    to: StepStatus,
    only_from: Iterable[StepStatus] | None = None,
    *,
    through: StepStatus | None = None,
) -> tuple[StepStatus, ...]:
    """The step statuses from which `to` may be reached, narrowed to `only_from`.

    `through`: the step passes `through` on its way within one statement (a step executed
    inside the transaction that made it ready goes ready → running → completed at once).
    """
    if through is None:
        return _sources(STEP_TRANSITIONS, to, only_from)
    _sources(STEP_TRANSITIONS, to, (through,))
    return _sources(STEP_TRANSITIONS, through, only_from)


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
