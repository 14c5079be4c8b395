"""Runs entering execution: created queued, admitted within the limits, started."""

from __future__ import annotations

from typing import Any

from flowdeck.domain.ids import new_id
from flowdeck.domain.records import Run, StepRun
from flowdeck.domain.states import RunStatus, StepStatus
from flowdeck.engine.fairness import Turns
from flowdeck.engine.runstate import maybe_waiting
from flowdeck.engine.txn import Txn
from flowdeck.engine.work import RunDone

R, S = RunStatus, StepStatus


async def create_run(
    t: Txn,
    *,
    workspace_id: str,
    workflow_id: str,
    version: int,
    input_data: dict[str, Any],
    trigger: str,
    created_by: str | None = None,
    idempotency_key: str | None = None,
    parent: tuple[str, str] | None = None,
) -> Run:
    """Store a queued run (a child run names its parent run and step run); admission starts it
    when a slot is free."""
    cw = await t.definitions.get(t.tx, workflow_id, version)
    run = Run(
        id=new_id("run"),
        workspace_id=workspace_id,
        workflow_id=workflow_id,
        workflow_version=version,
        status=R.QUEUED,
        trigger=trigger,
        input_data=input_data,
        created_at=t.now(),
        idempotency_key=idempotency_key,
        max_concurrency=cw.definition.concurrency,
        parent_run_id=parent[0] if parent else None,
        parent_step_run_id=parent[1] if parent else None,
        created_by=created_by,
    )
    await t.tx.insert_run(run)
    t.fx.admit = True
    t.fx.runs_touched.add(run.id)
    return run


async def admit(t: Txn, fair: Turns) -> list[str]:
    """Start queued runs within the global and per-workflow limits: first in, first out within
    a workspace, workspaces taking turns."""
    if not await t.tx.lock_admission():
        t.fx.admit_again = True  # another process is admitting: look again in a moment
        return []
    running = await t.tx.running_run_counts()
    counts = {workflow_id: n for workflow_id, (n, _) in running.items()}
    free = t.limits.max_running_runs - sum(counts.values())
    if free <= 0:
        return []
    # One batch per transaction, so it stays short; a full batch admits again right after.
    capped = free > t.limits.admit_batch
    free = min(free, t.limits.admit_batch)
    full = [wf for wf, (n, cap) in running.items() if cap is not None and n >= cap]
    queue = await t.tx.queued_runs(
        limit=max(free * 20, 100), per_workspace=free, skip_workflows=full
    )
    started: list[str] = []
    for run in fair.order(queue):
        if len(started) >= free:
            break
        limit = run.max_concurrency
        if limit is not None and counts.get(run.workflow_id, 0) >= limit:
            continue
        if await start(t, run):
            counts[run.workflow_id] = counts.get(run.workflow_id, 0) + 1
            fair.served(run.workspace_id)
            started.append(run.id)
    if capped and len(started) >= free:
        t.fx.admit = True
    return started


async def start(t: Txn, run: Run) -> bool:
    """queued → running; on first start create the step runs."""
    now = t.now()
    first = run.started_at is None
    if not await t.tx.move_run(
        run.id, R.RUNNING, only_from=[R.QUEUED], started_at=run.started_at or now
    ):
        return False
    t.fx.runs_touched.add(run.id)
    if not first:
        t.ready_later()
        if run.steps_remaining <= 0:
            t.push(RunDone(run.id))
        else:
            # Resumed with only waiting steps (a timer, a child run): it executes nothing.
            await maybe_waiting(t, run.id)
        return True
    cw = await t.compiled(run)
    steps = [
        StepRun(
            id=new_id("sr"),
            run_id=run.id,
            step_id=s.id,
            step_type=s.type,
            attempt=1,
            status=S.PENDING if s.depends_on else S.READY,
            created_at=now,
            deps_remaining=len(s.depends_on),
            available_at=None if s.depends_on else now,
        )
        for s in cw.definition.steps
    ]
    await t.tx.insert_step_runs(steps)
    await t.tx.update_run(run.id, steps_remaining=len(steps), steps_failed=0)
    await t.event(
        run,
        "run_started",
        workflow_id=run.workflow_id,
        workflow_version=run.workflow_version,
        trigger=run.trigger,
    )
    if steps:
        t.made_ready(run, [(s.id, s.step_type) for s in steps if s.status == S.READY])
    else:
        t.push(RunDone(run.id))
    return True
