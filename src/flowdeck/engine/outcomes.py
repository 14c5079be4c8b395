"""Committing what one attempt of a step produced: a completion, a failure (and its retry), a
skip, a suspension, or nested work (loop iterations, a child run: `nesting.py`)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import replace
from datetime import timedelta
from typing import Any

from flowdeck.domain.clock import isoformat
from flowdeck.domain.definition import RetryPolicy
from flowdeck.domain.ids import new_id
from flowdeck.domain.records import Run, StepRun
from flowdeck.domain.states import StepStatus
from flowdeck.engine import nesting
from flowdeck.engine.compiled import CompiledWorkflow
from flowdeck.engine.runstate import maybe_waiting
from flowdeck.engine.steps.base import (
    Completed,
    SpawnChildren,
    StartChildRun,
    StepFailed,
    Suspended,
)
from flowdeck.engine.txn import Txn
from flowdeck.engine.work import ApplyOutcome, IterationEnded, Outcome, Skipped, StepEnded

S = StepStatus
MAX_LEASE_RETRIES = 5
LEASE_LOST = "The worker running this step stopped responding (lease expired)"
log = logging.getLogger("flowdeck.engine")


def log_ids(run: Run, step: StepRun) -> dict[str, Any]:
    """What every log line about a step carries."""
    return {"run_id": run.id, "step_id": step.step_id, "attempt": step.attempt}


def retry_policy(cw: CompiledWorkflow, step: StepRun) -> RetryPolicy:
    """The retry policy of a step (a loop iteration uses its loop's)."""
    owner = cw.steps.get(step.parent_step_id or step.step_id)
    return (owner.retry if owner and owner.retry else None) or RetryPolicy()


def iteration_state(step: StepRun) -> dict[str, Any] | None:
    """What a loop iteration keeps across attempts: its item."""
    if step.parent_step_id is None or not step.state:
        return None
    return {"item": step.state.get("item")}


async def _completion(
    t: Txn, run: Run, cw: CompiledWorkflow, step: StepRun, outcome: Completed
) -> tuple[Any, float]:
    """The output to store (redacted) and the cost to charge for a completed attempt."""
    redactor = await t.redactor(run.workspace_id)
    # A step's declared `cost` (credits) is charged each time it completes, on top of what it
    # measured itself (an agent's tokens); loop iterations charge only theirs.
    declared = cw.steps.get(step.step_id) if step.parent_step_id is None else None
    cost = outcome.cost + ((declared.cost or 0.0) if declared else 0.0)
    return redactor.redact(outcome.output), cost


async def ended(
    t: Txn,
    run: Run,
    cw: CompiledWorkflow,
    step: StepRun,
    status: StepStatus,
    output: Any = None,
    cost: float = 0.0,
    *,
    error: str | None = None,
    was_waiting: bool = False,
) -> None:
    """A step reached an end: queue what follows (its run's settlement, or its loop's)."""
    t.step_ended(step.step_type, status, step.started_at)
    if step.parent_step_id is not None:
        if cost:
            await t.tx.add_to_run_counters(run.id, cost=cost)
        t.push(IterationEnded(run, step, status, error))
        return
    t.push(StepEnded(run, cw, step.step_id, status, output, cost, error, was_waiting))


async def completed(
    t: Txn,
    run: Run,
    cw: CompiledWorkflow,
    step: StepRun,
    output: Any,
    cost: float,
    *,
    was_waiting: bool = False,
) -> None:
    """A completion is stored: log it and queue what it causes."""
    await t.event(run, "step_completed", step_id=step.step_id, attempt=step.attempt, output=output)
    if step.parent_step_id is None:
        t.outputs[(run.id, step.step_id)] = output
    await ended(t, run, cw, step, S.COMPLETED, output, cost, was_waiting=was_waiting)


async def apply(t: Txn, item: ApplyOutcome) -> None:
    """Commit what one attempt produced; a step no longer in `only_from` (or no longer the
    worker's) is left alone: it was cancelled, or another attempt took over."""
    run, step, outcome = item.run, item.step, item.outcome
    cw = await t.compiled(run)
    only_from, worker_id = item.only_from, item.worker_id
    was_waiting = S.WAITING in item.only_from
    if isinstance(outcome, Completed):
        output, cost = await _completion(t, run, cw, step, outcome)
        if await t.tx.move_step(
            step.id,
            S.COMPLETED,
            t.now(),
            only_from=only_from,
            worker_id=worker_id,
            output=output,
            cost=cost,
        ):
            await completed(t, run, cw, step, output, cost, was_waiting=was_waiting)
    elif isinstance(outcome, StepFailed):
        await _failed(t, item, cw, outcome)
    elif isinstance(outcome, Skipped):
        reason = {"reason": outcome.reason}
        if await t.tx.move_step(
            step.id, S.SKIPPED, t.now(), only_from=only_from, worker_id=worker_id, output=reason
        ):
            await t.event(run, "step_skipped", step_id=step.step_id, reason=outcome.reason)
            await ended(t, run, cw, step, S.SKIPPED)
    elif isinstance(outcome, Suspended):
        await _suspended(t, item, outcome)
    elif isinstance(outcome, SpawnChildren):
        if not outcome.items:
            await apply(t, replace(item, outcome=Completed([])))
        else:
            await nesting.spawn_children(t, item, outcome)
    elif isinstance(outcome, StartChildRun):
        await nesting.start_child(t, item, outcome)


async def _suspended(t: Txn, item: ApplyOutcome, outcome: Suspended) -> None:
    run, step = item.run, item.step
    state = {**(iteration_state(step) or {}), **outcome.state}
    if not await t.tx.move_step(
        step.id,
        S.WAITING,
        t.now(),
        only_from=item.only_from,
        worker_id=item.worker_id,
        state=state,
        wake_at=outcome.wake_at,
        lease_owner=None,
        lease_expires_at=None,
    ):
        return
    await t.event(
        run,
        "step_waiting",
        step_id=step.step_id,
        reason=outcome.reason,
        wake_at=isoformat(outcome.wake_at),
        **outcome.details,
    )
    t.fx.timers = True
    await maybe_waiting(t, run.id)


async def _failed(t: Txn, item: ApplyOutcome, cw: CompiledWorkflow, failure: StepFailed) -> None:
    run, step = item.run, item.step
    redactor = await t.redactor(run.workspace_id)
    error = str(redactor.redact(failure.message))
    output = redactor.redact(failure.output)
    policy = retry_policy(cw, step)
    again = failure.retryable and step.attempt < policy.max_attempts
    if not await t.tx.move_step(
        step.id,
        S.FAILED,
        t.now(),
        only_from=item.only_from,
        worker_id=item.worker_id,
        error=error,
        output=output,
        is_current=not again,
    ):
        return
    if again:
        await retry(t, run, step, error, policy.delay_before(step.attempt + 1))
        return
    await t.event(run, "step_failed", step_id=step.step_id, attempt=step.attempt, error=error)
    await ended(t, run, cw, step, S.FAILED, error=error, was_waiting=S.WAITING in item.only_from)


async def retry(t: Txn, run: Run, step: StepRun, error: str, delay: float) -> None:
    """Insert the next attempt of `step`, ready in `delay` seconds, and say so."""
    now = t.now()
    await t.tx.insert_step_runs(
        [
            replace(
                step,
                id=new_id("sr"),
                attempt=step.attempt + 1,
                status=S.READY,
                is_current=True,
                output=None,
                error=None,
                state=iteration_state(step),
                cost=0.0,
                available_at=now + timedelta(seconds=delay),
                wake_at=None,
                lease_owner=None,
                lease_expires_at=None,
                created_at=now,
                started_at=None,
                completed_at=None,
            )
        ]
    )
    t.fx.timers = True
    t.ready_later()
    log.warning("step retrying in %gs: %s", delay, error, extra=log_ids(run, step))
    await t.event(
        run,
        "step_retrying",
        step_id=step.step_id,
        attempt=step.attempt,
        next_attempt=step.attempt + 1,
        error=error,
        retry_in_seconds=delay,
    )


async def expire_lease(t: Txn, run: Run, step: StepRun) -> None:
    """A lease lapsed: record the lost attempt and queue another (at-least-once)."""
    log.warning("lease of %s expired; re-queueing", step.lease_owner, extra=log_ids(run, step))
    policy = retry_policy(await t.compiled(run), step)
    if step.attempt >= policy.max_attempts + MAX_LEASE_RETRIES:
        await apply(t, ApplyOutcome(run, step, StepFailed(LEASE_LOST, retryable=False)))
        return
    if await t.tx.move_step(step.id, S.FAILED, t.now(), error=LEASE_LOST, is_current=False):
        await retry(t, run, step, LEASE_LOST, 0.0)


async def apply_results(
    t: Txn,
    results: Sequence[tuple[Run, StepRun, Outcome]],
    worker_id: str,
    *,
    claimed_here: bool = False,
) -> None:
    """`apply` for a worker's batch of running steps: the attempts still its own are locked in
    one statement (unless `claimed_here`: this transaction holds them already) and the
    completed ones written in one more."""
    ids = [step.id for _, step, _ in results]
    ours = set(ids) if claimed_here else await t.tx.own_running_steps(ids, worker_id)
    done: list[tuple[Run, CompiledWorkflow, StepRun, Any, float]] = []
    for run, step, outcome in results:
        if step.id not in ours:
            continue  # cancelled, or its lease lapsed and another attempt took over
        if isinstance(outcome, Completed):
            cw = await t.compiled(run)
            output, cost = await _completion(t, run, cw, step, outcome)
            done.append((run, cw, step, output, cost))
        else:
            await apply(t, ApplyOutcome(run, step, outcome, worker_id=worker_id))
    await t.tx.complete_steps(
        [(step.id, output, cost) for _, _, step, output, cost in done], t.now()
    )
    for run, cw, step, output, cost in done:
        await completed(t, run, cw, step, output, cost)
