"""Nested work inside a run: loop iterations and child runs of `workflow` steps."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from flowdeck.domain.ids import new_id
from flowdeck.domain.records import Run, StepRun
from flowdeck.engine.compiled import CompiledWorkflow
from flowdeck.engine.effects import Effects
from flowdeck.engine.ports import EngineTx
from flowdeck.engine.steps.base import Completed, SpawnChildren, StartChildRun, StepFailed

if TYPE_CHECKING:
    from flowdeck.engine.flow import Outcome, StepFlow


async def spawn_children(
    flow: StepFlow,
    tx: EngineTx,
    fx: Effects,
    run: Run,
    cw: CompiledWorkflow,
    step: StepRun,
    spawn: SpawnChildren,
    worker_id: str | None,
    sources: tuple[str, ...],
) -> None:
    if not spawn.items:
        await flow.apply(tx, fx, run, step, Completed([]), worker_id=worker_id, sources=sources)
        return
    now = flow.clock.now()
    total = len(spawn.items)
    if not await tx.finish_step(
        step.id,
        "waiting",
        now,
        sources=sources,
        worker_id=worker_id,
        state={"total": total, "fail_fast": spawn.fail_fast, "concurrency": spawn.concurrency},
        lease_owner=None,
        lease_expires_at=None,
        n_completed=0,
        n_failed=0,
        n_skipped=0,
    ):
        return
    body_type = str(spawn.body.get("type"))
    children = [
        StepRun(
            id=new_id("sr"),
            run_id=run.id,
            step_id=f"{step.step_id}[{i}]",
            step_type=body_type,
            attempt=1,
            status="ready" if i < spawn.concurrency else "pending",
            created_at=now,
            parent_step_id=step.step_id,
            item_index=i,
            state={"item": item},
            available_at=now if i < spawn.concurrency else None,
        )
        for i, item in enumerate(spawn.items)
    ]
    await tx.insert_step_runs(children)
    fx.ready = True


async def child_terminal(
    flow: StepFlow,
    tx: EngineTx,
    fx: Effects,
    run: Run,
    cw: CompiledWorkflow,
    child: StepRun,
    status: str,
    error: str | None = None,
) -> None:
    """One loop iteration ended: release the next, or finish the loop."""
    assert child.parent_step_id is not None
    parent = await tx.current_step(run.id, child.parent_step_id)
    if parent is None or parent.status != "waiting" or not parent.state:
        return
    done, failed, skipped = await tx.add_step_counters(
        parent.id,
        completed=int(status == "completed"),
        failed=int(status in ("failed", "cancelled")),
        skipped=int(status == "skipped"),
    )
    total = int(parent.state["total"])
    now = flow.clock.now()
    if failed and parent.state.get("fail_fast", True):
        # Running siblings are interrupted too (the worker sees their step cancelled),
        # and the child runs of waiting `workflow` iterations are cancelled with them.
        unfinished = ("pending", "ready", "running", "waiting")
        active = [
            s
            for s in await tx.current_steps(run.id, parent_step_id=parent.step_id)
            if s.status in unfinished
        ]
        await tx.set_steps_status([s.id for s in active], "cancelled", unfinished, now)
        await cancel_child_runs(flow, tx, fx, active)
        await flow.apply(
            tx,
            fx,
            run,
            parent,
            StepFailed(
                f"Iteration {child.item_index} failed: {error or child.error or status}",
                retryable=False,
            ),
            worker_id=None,
            sources=("waiting",),
        )
        return
    if done + failed + skipped >= total:
        results = await tx.children_outputs(run.id, parent.step_id)
        outputs = [out for _, _, out, _ in results]
        if failed:
            await flow.apply(
                tx,
                fx,
                run,
                parent,
                StepFailed(
                    f"{failed} of {total} iterations failed", retryable=False, output=outputs
                ),
                worker_id=None,
                sources=("waiting",),
            )
        else:
            await flow.apply(
                tx, fx, run, parent, Completed(outputs), worker_id=None, sources=("waiting",)
            )
        return
    if await tx.release_pending_children(run.id, parent.step_id, 1, now):
        fx.ready = True
        # An iteration that waited (a child run) may have left the run `waiting`.
        await flow.requeue_waiting(tx, fx, run.id)


async def cancel_child_runs(
    flow: StepFlow, tx: EngineTx, fx: Effects, steps: list[StepRun]
) -> None:
    from flowdeck.engine.lifecycle import cancel, is_active  # circular at import time

    for step in steps:
        child_run_id = (step.state or {}).get("child_run_id")
        child = await tx.get_run(str(child_run_id)) if child_run_id else None
        if child is not None and is_active(child):
            await cancel(flow, tx, fx, child, "loop stopped after a failed iteration")


async def start_child(
    flow: StepFlow,
    tx: EngineTx,
    fx: Effects,
    run: Run,
    cw: CompiledWorkflow,
    step: StepRun,
    start: StartChildRun,
    worker_id: str | None,
    sources: tuple[str, ...],
) -> None:
    from flowdeck.engine.lifecycle import create_child_run  # circular at import time

    now = flow.clock.now()
    # Take the step first: one that is no longer ours (cancelled meanwhile) must not
    # leave an orphan child run behind.
    if not await tx.finish_step(
        step.id,
        "waiting",
        now,
        sources=sources,
        worker_id=worker_id,
        lease_owner=None,
        lease_expires_at=None,
    ):
        return
    try:
        child = await create_child_run(flow, tx, run, step, start)
    except StepFailed as failure:
        await flow.apply(tx, fx, run, step, failure, worker_id=None, sources=("waiting",))
        return
    await tx.finish_step(
        step.id, "waiting", now, sources=("waiting",), state={"child_run_id": child.id}
    )
    await flow.event(
        tx,
        fx,
        run,
        "step_waiting",
        step_id=step.step_id,
        reason="workflow",
        child_run_id=child.id,
    )
    fx.admit = True
    await flow.maybe_waiting(tx, fx, run.id)


async def notify_parent(
    flow: StepFlow, tx: EngineTx, fx: Effects, child: Run, output: Any, error: str | None
) -> None:
    """A child run ended: its parent's `workflow` step takes its outcome."""
    if child.parent_run_id is None or child.parent_step_run_id is None:
        return
    parent_run = await tx.get_run(child.parent_run_id)
    parent_step = await tx.get_step_run(child.parent_step_run_id)
    if parent_run is None or parent_step is None or parent_step.status != "waiting":
        return
    outcome: Outcome
    if child.status == "completed":
        outcome = Completed(output)
    else:
        outcome = StepFailed(
            f"Child run {child.id} {child.status}: {error or 'no error recorded'}",
            retryable=False,
        )
    await flow.apply(tx, fx, parent_run, parent_step, outcome, worker_id=None, sources=("waiting",))
