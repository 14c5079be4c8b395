"""Run lifecycle inside a transaction: create, admit, cancel, pause, resume."""

from __future__ import annotations

from typing import Any

from flowdeck.domain.ids import new_id
from flowdeck.domain.nesting import depth_exceeded
from flowdeck.domain.records import Run, StepRun
from flowdeck.domain.states import RUN_ACTIVE, decide, run_sources
from flowdeck.engine import nesting
from flowdeck.engine.compiled import CompiledWorkflow
from flowdeck.engine.effects import Effects
from flowdeck.engine.flow import StepFlow
from flowdeck.engine.ports import EngineTx
from flowdeck.engine.steps.base import StartChildRun, StepFailed
from flowdeck.errors import Conflict, InvalidInput


async def create_run(
    flow: StepFlow,
    tx: EngineTx,
    fx: Effects,
    *,
    workspace_id: str,
    workflow_id: str,
    version: int,
    input_data: dict[str, Any],
    trigger: str,
    created_by: str | None = None,
    idempotency_key: str | None = None,
    parent_run_id: str | None = None,
    parent_step_run_id: str | None = None,
) -> Run:
    """Store a queued run; admission starts it when a slot is free."""
    cw = await flow.definitions.get(tx, workflow_id, version)
    run = Run(
        id=new_id("run"),
        workspace_id=workspace_id,
        workflow_id=workflow_id,
        workflow_version=version,
        status="queued",
        trigger=trigger,
        input_data=input_data,
        created_at=flow.clock.now(),
        idempotency_key=idempotency_key,
        max_concurrency=cw.definition.concurrency,
        parent_run_id=parent_run_id,
        parent_step_run_id=parent_step_run_id,
        created_by=created_by,
    )
    await tx.insert_run(run)
    fx.admit = True
    fx.runs_touched.add(run.id)
    return run


async def create_child_run(
    flow: StepFlow, tx: EngineTx, parent: Run, step: StepRun, start: StartChildRun
) -> Run:
    """Start the child run of a `workflow` step, in the parent's workspace."""
    from flowdeck.domain.inputs import validate_run_inputs

    depth = await _depth(tx, parent, flow.max_run_depth)
    if depth >= flow.max_run_depth:
        raise StepFailed(depth_exceeded(depth, flow.max_run_depth), retryable=False)
    wf = await tx.get_workflow(parent.workspace_id, start.workflow_id)
    if wf is None:
        raise StepFailed(f"Workflow '{start.workflow_id}' not found", retryable=False)
    if wf.status in ("paused", "archived"):
        raise StepFailed(f"Workflow '{start.workflow_id}' is {wf.status}", retryable=False)
    cw = await flow.definitions.get(tx, wf.id, wf.version)
    inputs, errors = validate_run_inputs(cw.definition, start.input_data)
    if errors:
        raise StepFailed("Child workflow inputs are invalid: " + "; ".join(errors), retryable=False)
    fx = Effects()
    return await create_run(
        flow,
        tx,
        fx,
        workspace_id=parent.workspace_id,
        workflow_id=wf.id,
        version=wf.version,
        input_data=inputs,
        trigger="workflow",
        created_by=parent.created_by,
        parent_run_id=parent.id,
        parent_step_run_id=step.id,
    )


async def _depth(tx: EngineTx, run: Run, limit: int) -> int:
    """How many runs `run` is nested in (0 for a top-level run), counted up to `limit`."""
    depth, parent_id = 0, run.parent_run_id
    while parent_id is not None and depth < limit:
        parent = await tx.get_run(parent_id)
        depth += 1
        parent_id = parent.parent_run_id if parent is not None else None
    return depth


async def admit(flow: StepFlow, tx: EngineTx, fx: Effects, max_running: int) -> list[str]:
    """Start queued runs within the global and per-workflow limits: first in, first out
    within a workspace, workspaces taking turns."""
    if not await tx.lock_admission():
        fx.admit_again = True  # another process is admitting: look again in a moment
        return []
    running = await tx.running_run_counts()
    counts = {workflow_id: n for workflow_id, (n, _) in running.items()}
    free = max_running - sum(counts.values())
    if free <= 0:
        return []
    full = [wf for wf, (n, cap) in running.items() if cap is not None and n >= cap]
    started: list[str] = []
    queue = await tx.queued_runs(limit=max(free * 20, 100), per_workspace=free, skip_workflows=full)
    for run in flow.turns.order(queue):
        if len(started) >= free:
            break
        limit = run.max_concurrency
        if limit is not None and counts.get(run.workflow_id, 0) >= limit:
            continue
        if await start(flow, tx, fx, run):
            counts[run.workflow_id] = counts.get(run.workflow_id, 0) + 1
            flow.turns.served(run.workspace_id)
            started.append(run.id)
    return started


async def start(flow: StepFlow, tx: EngineTx, fx: Effects, run: Run) -> bool:
    """queued → running; on first start create the step runs."""
    now = flow.clock.now()
    first = run.started_at is None
    if not await tx.set_run_status(
        run.id, "running", ("queued",), started_at=run.started_at or now
    ):
        return False
    fx.runs_touched.add(run.id)
    if not first:
        fx.ready = True
        if run.steps_remaining <= 0:
            await flow.finalize(tx, fx, run.id)
        else:
            # Resumed with only waiting steps (a timer, a child run): it executes nothing.
            await flow.maybe_waiting(tx, fx, run.id)
        return True
    cw = await flow.compiled(tx, run)
    steps = [
        StepRun(
            id=new_id("sr"),
            run_id=run.id,
            step_id=s.id,
            step_type=s.type,
            attempt=1,
            status="pending" if s.depends_on else "ready",
            created_at=now,
            deps_remaining=len(s.depends_on),
            available_at=None if s.depends_on else now,
        )
        for s in cw.definition.steps
    ]
    await tx.insert_step_runs(steps)
    await tx.update_run(run.id, steps_remaining=len(steps), steps_failed=0)
    await flow.event(
        tx,
        fx,
        run,
        "run_started",
        workflow_id=run.workflow_id,
        workflow_version=run.workflow_version,
        trigger=run.trigger,
    )
    if steps:
        fx.ready = True
        fx.ready_ids.extend(s.id for s in steps if s.status == "ready")
    else:
        await flow.finalize(tx, fx, run.id)
    return True


async def cancel(flow: StepFlow, tx: EngineTx, fx: Effects, run: Run, reason: str) -> None:
    """Cancel an active run, its unfinished steps and its child runs."""
    now = flow.clock.now()
    if not await tx.set_run_status(run.id, "cancelled", run_sources("cancelled"), completed_at=now):
        raise Conflict(f"Run '{run.id}' is {run.status}; only an active run can be cancelled")
    active = [s.id for s in await tx.active_steps_of_run(run.id)]
    await tx.set_steps_status(
        active, "cancelled", ("pending", "ready", "running", "waiting"), now, error=reason
    )
    await tx.roll_up_run(run.id)
    fx.cancelled_runs.add(run.id)
    fx.admit = True
    await flow.event(tx, fx, run, "run_cancelled", status="cancelled", reason=reason)
    for child_id in await tx.active_child_runs(run.id):
        child = await tx.get_run(child_id)
        if child is not None:
            await cancel(flow, tx, fx, child, "parent run cancelled")
    cancelled = await tx.get_run(run.id)
    if cancelled is not None:
        await nesting.notify_parent(flow, tx, fx, cancelled, None, reason)


async def pause(flow: StepFlow, tx: EngineTx, fx: Effects, run: Run) -> None:
    """Stop dispatching the run's steps; running ones finish."""
    if not await tx.set_run_status(run.id, "paused", ("running", "waiting", "queued")):
        raise Conflict(f"Run '{run.id}' is {run.status}; only an active run can be paused")
    await flow.event(tx, fx, run, "run_paused", reason="requested")


async def resume(
    flow: StepFlow, tx: EngineTx, fx: Effects, run: Run, from_step: str | None
) -> None:
    """Run again from `from_step` (it and its descendants) or from the last checkpoint."""
    if run.status not in ("failed", "cancelled", "paused"):
        raise Conflict(
            f"Run '{run.id}' is {run.status}; only failed, cancelled or paused runs can be resumed"
        )
    cw = await flow.compiled(tx, run)
    current = {s.step_id: s for s in await tx.current_steps(run.id)}
    if from_step is not None:
        if from_step not in cw.steps:
            raise InvalidInput(
                "Unknown step", errors=[f"Step '{from_step}' is not in this run's workflow version"]
            )
        reset = {from_step} | cw.descendants_of(from_step)
    else:
        reset = {
            sid for sid, s in current.items() if s.status in ("failed", "cancelled", "skipped")
        }
    busy = sorted(sid for sid in reset if current.get(sid) and current[sid].status == "running")
    if busy:
        raise Conflict(f"Step '{busy[0]}' is still running; wait for it before resuming")
    now = flow.clock.now()
    if run.status in ("failed", "cancelled"):
        await tx.roll_up_run(run.id, -1)  # its statistics come back when it ends again
    await tx.retire_current(run.id, sorted(reset))
    fresh: list[StepRun] = []
    skipped: list[str] = []
    for sid in (s.id for s in cw.definition.steps if s.id in reset):
        deps = cw.deps[sid]
        counts = {"completed": 0, "failed": 0, "skipped": 0}
        remaining = 0
        branch_skip = False
        for d in deps:
            if d in reset:
                remaining += 1
                continue
            st = current[d].status if d in current else "completed"
            key = "failed" if st == "cancelled" else st
            if key in counts:
                counts[key] += 1
            out = current[d].output if d in current else None
            if (
                cw.steps[d].type == "condition"
                and isinstance(out, dict)
                and sid in cw.branch_skips(d, str(out.get("branch")))
            ):
                branch_skip = True
        verdict = (
            "skip"
            if branch_skip
            else decide(
                cw.steps[sid].trigger_rule,
                deps_remaining=remaining,
                n_completed=counts["completed"],
                n_failed=counts["failed"],
                n_skipped=counts["skipped"],
            )
        )
        old = current.get(sid)
        fresh.append(
            StepRun(
                id=new_id("sr"),
                run_id=run.id,
                step_id=sid,
                step_type=cw.steps[sid].type,
                attempt=(old.attempt + 1) if old else 1,
                status="ready" if verdict == "ready" else "pending",
                created_at=now,
                deps_remaining=remaining,
                n_completed=counts["completed"],
                n_failed=counts["failed"],
                n_skipped=counts["skipped"],
                available_at=now if verdict == "ready" else None,
            )
        )
        if verdict == "skip" and remaining == 0:
            skipped.append(sid)
    await tx.insert_step_runs(fresh)
    unfinished = sum(
        1
        for sid, s in current.items()
        if sid not in reset and s.status in ("pending", "ready", "running", "waiting")
    )
    failed_outside = sum(
        1 for sid, s in current.items() if sid not in reset and s.status == "failed"
    )
    await tx.update_run(
        run.id,
        steps_remaining=len(fresh) + unfinished,
        steps_failed=failed_outside,
        error=None,
        output=None,
        completed_at=None,
    )
    if not await tx.set_run_status(run.id, "queued", (run.status,)):
        raise Conflict(f"Run '{run.id}' changed while resuming; try again")
    await flow.event(tx, fx, run, "run_resumed", from_step=from_step, steps=sorted(reset))
    resumed = await tx.get_run(run.id)
    assert resumed is not None
    by_id = {s.step_id: s for s in fresh}
    for sid in skipped:
        step = by_id[sid]
        if await tx.set_steps_status(
            [step.id], "skipped", ("pending",), now, output={"reason": "upstream did not succeed"}
        ):
            await flow.event(
                tx, fx, run, "step_skipped", step_id=sid, reason="upstream did not succeed"
            )
            await flow.terminal(tx, fx, resumed, cw, step, "skipped", None)
    fx.admit = True


def is_active(run: Run) -> bool:
    """Whether the run has not ended."""
    return run.status in RUN_ACTIVE


__all__ = ["CompiledWorkflow", "admit", "cancel", "create_run", "pause", "resume", "start"]
