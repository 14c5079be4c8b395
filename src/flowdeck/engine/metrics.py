"""What this process's workers measure, in prometheus_client's process-wide registry.

`GET /metrics` on a server and `flowdeck worker --metrics-port` expose it; labels are
instance-level only (step type, outcome), never a workspace or a run.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from prometheus_client import Counter, Histogram

from flowdeck.domain.records import StepRun
from flowdeck.engine.effects import Effects
from flowdeck.engine.steps.base import (
    Completed,
    SpawnChildren,
    StartChildRun,
    StepFailed,
    Suspended,
)
from flowdeck.engine.work import Outcome, Skipped

STEP_DURATION = Histogram(
    "flowdeck_step_duration_seconds",
    "Time a worker spent executing one step attempt, by step type and outcome.",
    ("type", "outcome"),
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600),
)
STEPS_EXECUTED = Counter(
    "flowdeck_steps_executed",
    "Step attempts executed by this process, by step type and outcome.",
    ("type", "outcome"),
)
CLAIM_LATENCY = Histogram(
    "flowdeck_claim_latency_seconds",
    "Time from a step becoming claimable (its available_at) to a worker claiming it.",
    buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300),
)
LEASES_EXPIRED = Counter(
    "flowdeck_leases_expired",
    "Running steps this process found with a lapsed lease and returned to the queue.",
)

_DURATION_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600, 21600)
RUNS_FINISHED = Counter(
    "flowdeck_runs_finished",
    "Runs this process saw end (committed), by final status.",
    ("status",),
)
RUN_DURATION = Histogram(
    "flowdeck_run_duration_seconds",
    "Time from a run's start to its end, by final status (runs that never started: none).",
    ("status",),
    buckets=_DURATION_BUCKETS,
)
STEPS_FINISHED = Counter(
    "flowdeck_steps_finished",
    "Step runs this process saw end (committed), by step type and final status.",
    ("type", "status"),
)
STEP_RUN_DURATION = Histogram(
    "flowdeck_step_run_duration_seconds",
    "Time from a step run's start to its end (waits included), by step type and final status.",
    ("type", "status"),
    buckets=_DURATION_BUCKETS,
)

_OUTCOMES: tuple[tuple[type, str], ...] = (
    (Completed, "completed"),
    (StepFailed, "failed"),
    (Skipped, "skipped"),
    (Suspended, "waiting"),
    (SpawnChildren, "spawned"),
    (StartChildRun, "child_run"),
)


def outcome_label(outcome: Outcome | None) -> str:
    """The `outcome` label of an attempt; None means it was cancelled."""
    if outcome is None:
        return "cancelled"
    for kind, label in _OUTCOMES:
        if isinstance(outcome, kind):
            return label
    return "other"


_CHILDREN: dict[tuple[str, str], tuple[Any, Any]] = {}


def observe_step(step_type: str, outcome: Outcome | None, seconds: float) -> None:
    """Count one executed attempt and how long it took."""
    key = (step_type, outcome_label(outcome))
    children = _CHILDREN.get(key)
    if children is None:  # `labels()` locks and hashes on every call: look each pair up once
        children = _CHILDREN[key] = (STEP_DURATION.labels(*key), STEPS_EXECUTED.labels(*key))
    children[0].observe(max(0.0, seconds))
    children[1].inc()


def observe_claims(steps: Iterable[StepRun], now: datetime) -> None:
    """How long each claimed step had been claimable (never negative across clock skew)."""
    for step in steps:
        if step.available_at is not None:
            CLAIM_LATENCY.observe(max(0.0, (now - step.available_at).total_seconds()))


_ENDED: dict[tuple[str, str], tuple[Any, Any]] = {}


def observe_ended(fx: Effects) -> None:
    """Count the runs and step runs a committed transaction ended."""
    for run in fx.ended_runs:
        RUNS_FINISHED.labels(run.status).inc()
        if run.started_at is not None:
            seconds = (run.completed_at - run.started_at).total_seconds()
            RUN_DURATION.labels(run.status).observe(max(0.0, seconds))
    for step in fx.ended_steps:
        key = (step.step_type, step.status)
        children = _ENDED.get(key)
        if children is None:  # looked up once per pair, as in `observe_step`
            children = _ENDED[key] = (STEPS_FINISHED.labels(*key), STEP_RUN_DURATION.labels(*key))
        children[0].inc()
        if step.seconds is not None:
            children[1].observe(step.seconds)
