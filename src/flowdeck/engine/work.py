"""The work a run transaction has left to do, as items of one queue.

A command (complete a step, cancel a run, …) writes what it must and queues what follows from
it instead of calling the code for it: a finished step's dependents, a finished run's parent, a
loop's next iteration. The transaction works the queue until it is empty (`transaction.py`), so
each part of the engine knows the items and nothing of the other parts.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flowdeck.domain.records import Run, StepRun
from flowdeck.domain.states import StepStatus
from flowdeck.engine.compiled import CompiledWorkflow
from flowdeck.engine.steps.base import StepFailed, StepOutcome


@dataclass(frozen=True)
class Skipped:
    """The step's `when` guard was false."""

    reason: str


Outcome = StepOutcome | StepFailed | Skipped


@dataclass(frozen=True)
class ApplyOutcome:
    """Commit what one attempt of a step produced (if the step is still in `only_from`)."""

    run: Run
    step: StepRun
    outcome: Outcome
    only_from: tuple[StepStatus, ...] = (StepStatus.RUNNING,)
    worker_id: str | None = None


@dataclass(frozen=True)
class StepEnded:
    """A top-level step reached an end; its run's counters and dependents follow from it."""

    run: Run
    cw: CompiledWorkflow
    step_id: str
    status: StepStatus
    output: Any = None
    cost: float = 0.0
    error: str | None = None
    was_waiting: bool = False


@dataclass(frozen=True)
class IterationEnded:
    """A loop iteration reached an end: release the next one, or end the loop."""

    run: Run
    child: StepRun
    status: StepStatus
    error: str | None = None


@dataclass(frozen=True)
class RunDone:
    """Every step of the run ended: complete or fail it."""

    run_id: str


@dataclass(frozen=True)
class ChildRunEnded:
    """A run started by a `workflow` step ended: the step takes its outcome."""

    child: Run
    output: Any
    error: str | None


@dataclass(frozen=True)
class CancelRun:
    """Cancel an active run (a parent's cancel reaching its child runs)."""

    run_id: str
    reason: str


Item = ApplyOutcome | StepEnded | IterationEnded | RunDone | ChildRunEnded | CancelRun
