"""Applying step outcomes inside a transaction: completions, failures, retries, lost leases.

What the ends cause (dependents, events, the run's end) is `RunSettlement`'s, in settle.py."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any

from flowdeck.domain.definition import RetryPolicy
from flowdeck.domain.ids import new_id
from flowdeck.domain.records import Run, StepRun
from flowdeck.engine import nesting
from flowdeck.engine.compiled import CompiledWorkflow
from flowdeck.engine.effects import Effects
from flowdeck.engine.ports import EngineTx
from flowdeck.engine.settle import RunSettlement, iso_or_none, log_ids
from flowdeck.engine.steps.base import (
    Completed,
    SpawnChildren,
    StartChildRun,
    StepFailed,
    StepOutcome,
    Suspended,
)

MAX_LEASE_RETRIES = 5
log = logging.getLogger("flowdeck.engine")


@dataclass(frozen=True)
class Skipped:
    """The step's `when` guard was false."""

    reason: str


Outcome = StepOutcome | StepFailed | Skipped


class StepFlow(RunSettlement):
    """Turns one step's outcome into committed state and the transitions it causes."""

    # -- outcomes -------------------------------------------------------------------------

    def retry_policy(self, cw: CompiledWorkflow, step: StepRun) -> RetryPolicy:
        """The retry policy of a step (a loop iteration uses its loop's)."""
        owner = cw.steps.get(step.parent_step_id or step.step_id)
        return (owner.retry if owner and owner.retry else None) or RetryPolicy()

    async def _completion(
        self, tx: EngineTx, run: Run, cw: CompiledWorkflow, step: StepRun, outcome: Completed
    ) -> tuple[Any, float]:
        """The output to store (redacted) and the cost to charge for a completed attempt."""
        redactor = await self.secrets.get(tx, run.workspace_id)
        # A step's declared `cost` (credits) is charged each time it completes, on top of what
        # it measured itself (an agent's tokens); loop iterations charge only theirs.
        declared = cw.steps.get(step.step_id) if step.parent_step_id is None else None
        cost = outcome.cost + ((declared.cost or 0.0) if declared else 0.0)
        return redactor.redact(outcome.output), cost

    async def apply_batch(
        self,
        tx: EngineTx,
        fx: Effects,
        results: Sequence[tuple[Run, StepRun, Outcome]],
        *,
        worker_id: str,
    ) -> None:
        """`apply` for a worker's batch of running steps: the attempts still its own are
        locked in one statement and the completed ones written in one more."""
        ours = await tx.own_running_steps([step.id for _, step, _ in results], worker_id)
        done: list[tuple[Run, CompiledWorkflow, StepRun, Any, float]] = []
        for run, step, outcome in results:
            if step.id not in ours:
                continue  # cancelled, or its lease lapsed and another attempt took over
            if isinstance(outcome, Completed):
                cw = await self.compiled(tx, run)
                output, cost = await self._completion(tx, run, cw, step, outcome)
                done.append((run, cw, step, output, cost))
            else:
                await self.apply(tx, fx, run, step, outcome, worker_id=worker_id)
        rows = [(step.id, output, cost) for _, _, step, output, cost in done]
        await tx.complete_steps(rows, self.clock.now())
        for run, cw, step, output, cost in done:
            await self._completed(tx, fx, run, cw, step, output, cost, was_waiting=False)

    async def _completed(
        self,
        tx: EngineTx,
        fx: Effects,
        run: Run,
        cw: CompiledWorkflow,
        step: StepRun,
        output: Any,
        cost: float,
        *,
        was_waiting: bool,
    ) -> None:
        """A completion is stored: log it and work out what it causes."""
        await self.event(
            tx, fx, run, "step_completed", step_id=step.step_id, attempt=step.attempt, output=output
        )
        await self.terminal(
            tx, fx, run, cw, step, "completed", output, cost, was_waiting=was_waiting
        )

    async def apply(
        self,
        tx: EngineTx,
        fx: Effects,
        run: Run,
        step: StepRun,
        outcome: Outcome,
        *,
        worker_id: str | None,
        sources: tuple[str, ...] = ("running",),
    ) -> None:
        """Commit what one attempt produced; a step that is no longer ours is left alone."""
        now = self.clock.now()
        cw = await self.compiled(tx, run)
        if isinstance(outcome, Completed):
            output, cost = await self._completion(tx, run, cw, step, outcome)
            if not await tx.finish_step(
                step.id,
                "completed",
                now,
                sources=sources,
                worker_id=worker_id,
                output=output,
                cost=cost,
            ):
                return
            await self._completed(
                tx, fx, run, cw, step, output, cost, was_waiting="waiting" in sources
            )
        elif isinstance(outcome, StepFailed):
            await self._failed(tx, fx, run, cw, step, outcome, worker_id, sources)
        elif isinstance(outcome, Skipped):
            if not await tx.finish_step(
                step.id,
                "skipped",
                now,
                sources=sources,
                worker_id=worker_id,
                output={"reason": outcome.reason},
            ):
                return
            await self.event(
                tx, fx, run, "step_skipped", step_id=step.step_id, reason=outcome.reason
            )
            await self.terminal(tx, fx, run, cw, step, "skipped", None)
        elif isinstance(outcome, Suspended):
            if not await tx.finish_step(
                step.id,
                "waiting",
                now,
                sources=sources,
                worker_id=worker_id,
                state={**(_child_state(step) or {}), **outcome.state},
                wake_at=outcome.wake_at,
                lease_owner=None,
                lease_expires_at=None,
            ):
                return
            await self.event(
                tx,
                fx,
                run,
                "step_waiting",
                step_id=step.step_id,
                reason=outcome.reason,
                wake_at=iso_or_none(outcome.wake_at),
                **outcome.details,
            )
            fx.timers = True
            await self.maybe_waiting(tx, fx, run.id)
        elif isinstance(outcome, SpawnChildren):
            await nesting.spawn_children(self, tx, fx, run, cw, step, outcome, worker_id, sources)
        elif isinstance(outcome, StartChildRun):
            await nesting.start_child(self, tx, fx, run, cw, step, outcome, worker_id, sources)

    async def _failed(
        self,
        tx: EngineTx,
        fx: Effects,
        run: Run,
        cw: CompiledWorkflow,
        step: StepRun,
        failure: StepFailed,
        worker_id: str | None,
        sources: tuple[str, ...],
    ) -> None:
        now = self.clock.now()
        redactor = await self.secrets.get(tx, run.workspace_id)
        error = str(redactor.redact(failure.message))
        output = redactor.redact(failure.output)
        policy = self.retry_policy(cw, step)
        if failure.retryable and step.attempt < policy.max_attempts:
            if not await tx.finish_step(
                step.id,
                "failed",
                now,
                sources=sources,
                worker_id=worker_id,
                error=error,
                output=output,
                is_current=False,
            ):
                return
            await self.retry(tx, fx, run, step, error, policy.delay_before(step.attempt + 1))
            return
        if not await tx.finish_step(
            step.id,
            "failed",
            now,
            sources=sources,
            worker_id=worker_id,
            error=error,
            output=output,
        ):
            return
        await self.event(
            tx, fx, run, "step_failed", step_id=step.step_id, attempt=step.attempt, error=error
        )
        await self.terminal(
            tx, fx, run, cw, step, "failed", None, error=error, was_waiting="waiting" in sources
        )

    async def retry(
        self, tx: EngineTx, fx: Effects, run: Run, step: StepRun, error: str, delay: float
    ) -> None:
        """Insert the next attempt of `step`, ready in `delay` seconds, and say so."""
        now = self.clock.now()
        await tx.insert_step_runs(
            [
                replace(
                    step,
                    id=new_id("sr"),
                    attempt=step.attempt + 1,
                    status="ready",
                    is_current=True,
                    output=None,
                    error=None,
                    state=_child_state(step),
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
        fx.timers = True
        fx.ready = True
        log.warning("step retrying in %gs: %s", delay, error, extra=log_ids(run, step))
        await self.event(
            tx,
            fx,
            run,
            "step_retrying",
            step_id=step.step_id,
            attempt=step.attempt,
            next_attempt=step.attempt + 1,
            error=error,
            retry_in_seconds=delay,
        )

    async def expire_lease(self, tx: EngineTx, fx: Effects, run: Run, step: StepRun) -> None:
        """A lease lapsed: record the lost attempt and queue another (at-least-once)."""
        now = self.clock.now()
        error = "The worker running this step stopped responding (lease expired)"
        log.warning("lease of %s expired; re-queueing", step.lease_owner, extra=log_ids(run, step))
        if step.attempt >= self.retry_policy(await self.compiled(tx, run), step).max_attempts + (
            MAX_LEASE_RETRIES
        ):
            await self.apply(tx, fx, run, step, StepFailed(error, retryable=False), worker_id=None)
            return
        if not await tx.finish_step(step.id, "failed", now, error=error, is_current=False):
            return
        await self.retry(tx, fx, run, step, error, 0.0)


def _child_state(step: StepRun) -> dict[str, Any] | None:
    """What a loop iteration must keep across attempts: its item."""
    if step.parent_step_id is None or not step.state:
        return None
    return {"item": step.state.get("item")}
