"""Executing one claimed step: what it needs (run, definition, context, redactor) and the
handler call under its `when` guard and timeout. Claiming and committing are the run
transaction's; where the call happens (a task, or inside the transaction) is the worker's."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from flowdeck.domain.records import Run, StepRun
from flowdeck.engine import metrics
from flowdeck.engine.compiled import CompiledWorkflow
from flowdeck.engine.context import build_context, owner_id
from flowdeck.engine.redaction import Redactor
from flowdeck.engine.steps.base import StepContext, StepEnvironment, StepFailed, StepHandler
from flowdeck.engine.txn import Txn
from flowdeck.engine.work import Outcome, Skipped


@dataclass
class Claimed:
    """A leased step with everything needed to execute it."""

    run: Run
    step: StepRun
    compiled: CompiledWorkflow
    context: dict[str, Any]
    redactor: Redactor

    @property
    def step_def(self) -> Any:
        """The definition step it belongs to (a loop iteration's is its loop)."""
        return self.compiled.steps.get(owner_id(self.step))


async def prepare_claims(
    t: Txn, steps: list[StepRun], known: Mapping[str, Run] | None = None
) -> list[Claimed]:
    """Everything the claimed steps need to execute (runs already in hand are not re-read),
    and their `step_started` events."""
    metrics.observe_claims(steps, t.now())
    claimed = []
    # Only a run's fixed fields are used here, so a run already in hand needs no read.
    runs: dict[str, Run | None] = dict(known or {})
    for step in steps:
        if step.run_id not in runs:
            runs[step.run_id] = await t.tx.get_run(step.run_id)
        run = runs[step.run_id]
        if run is None:
            continue
        cw = await t.compiled(run)
        redactor = await t.redactor(run.workspace_id)
        ctx = await build_context(t.tx, run, cw, step, redactor.secrets, t.outputs)
        claimed.append(Claimed(run=run, step=step, compiled=cw, context=ctx, redactor=redactor))
        await t.event(run, "step_started", step_id=step.step_id, attempt=step.attempt)
    return claimed


def _item_only(step: StepRun) -> dict[str, Any] | None:
    if step.state is None:
        return None
    return {"item": step.state.get("item")}


def _step_context(c: Claimed, env: StepEnvironment) -> StepContext:
    step_def = c.step_def
    config = step_def.config
    if c.step.parent_step_id is not None:  # a loop iteration runs its loop's body step
        body = config.get(c.compiled.facts[step_def.id].loop_body or "", {})
        config = body.get("config", {}) if isinstance(body, dict) else {}
    return StepContext(
        run_id=c.run.id,
        workflow_id=c.run.workflow_id,
        workspace_id=c.run.workspace_id,
        step_id=c.step.step_id,
        step_type=c.step.step_type,
        attempt=c.step.attempt,
        config=config,
        template_context=c.context,
        env=env,
        state=c.step.state
        if c.step.parent_step_id is None or c.step.state != _item_only(c.step)
        else None,
        timeout_seconds=step_def.timeout_seconds,
        redact=c.redactor.redact,
    )


async def execute_claimed(
    c: Claimed, handlers: Mapping[str, StepHandler], env: StepEnvironment
) -> Outcome:
    """Run the step's handler; a StepFailed raised inside becomes the outcome."""
    step_def = c.step_def
    if step_def is None:
        return StepFailed(f"Step '{c.step.step_id}' is not in the definition", retryable=False)
    step_type = c.step.step_type
    handler = handlers.get(step_type)
    if handler is None:
        return StepFailed(f"No handler for step type '{step_type}' on this worker", retryable=False)
    ctx = _step_context(c, env)
    guard = step_def.when if c.step.parent_step_id is None else None
    try:
        if step_def.timeout_seconds:
            # The `when` guard is template work too: the step's timeout bounds it as well.
            try:
                async with asyncio.timeout(step_def.timeout_seconds):
                    return await _guarded(ctx, guard, handler)
            except TimeoutError:
                return StepFailed(f"Step timed out after {step_def.timeout_seconds:g}s")
        return await _guarded(ctx, guard, handler)
    except StepFailed as failure:
        return failure


async def guard_outcome(c: Claimed, env: StepEnvironment) -> Outcome | None:
    """What the step's `when` guard alone decides: Skipped when it is false (the failure when
    it cannot be evaluated), None when the step is to run. A guard is a pure function of
    committed state, so the transaction that made the step ready may evaluate it."""
    step_def = c.step_def
    if step_def is None or c.step.parent_step_id is not None or not step_def.when:
        return None
    try:
        if not await _step_context(c, env).evaluate(step_def.when):
            return Skipped("when condition was false")
    except StepFailed as failure:
        return failure
    return None


async def _guarded(ctx: StepContext, guard: str | None, handler: StepHandler) -> Outcome:
    """The handler's outcome, or Skipped when the step's `when` guard is false."""
    if guard and not await ctx.evaluate(guard):
        return Skipped("when condition was false")
    return await handler.execute(ctx)
