"""Nested work inside a run: loop iterations and the child runs of `workflow` steps.

What ends nested work (the loop's or the `workflow` step's own outcome) is queued as an
`ApplyOutcome` for the parent step, like any attempt's outcome."""

from __future__ import annotations

from flowdeck.domain.ids import new_id
from flowdeck.domain.inputs import validate_run_inputs
from flowdeck.domain.nesting import depth_exceeded
from flowdeck.domain.records import Run, StepRun
from flowdeck.domain.states import RUN_ACTIVE, StepStatus
from flowdeck.engine import admission
from flowdeck.engine.runstate import maybe_waiting, requeue_waiting
from flowdeck.engine.steps.base import Completed, SpawnChildren, StartChildRun, StepFailed
from flowdeck.engine.txn import Txn
from flowdeck.engine.work import ApplyOutcome, CancelRun, ChildRunEnded, IterationEnded, Outcome

S = StepStatus
_UNFINISHED = (S.PENDING, S.READY, S.RUNNING, S.WAITING)


def _settle_parent(t: Txn, run: Run, parent: StepRun, outcome: Outcome) -> None:
    t.push(ApplyOutcome(run, parent, outcome, only_from=(S.WAITING,)))


async def spawn_children(t: Txn, item: ApplyOutcome, spawn: SpawnChildren) -> None:
    """The loop step waits; its iterations become step runs `<id>[i]`, the first ready."""
    run, step, now = item.run, item.step, t.now()
    total = len(spawn.items)
    if not await t.tx.move_step(
        step.id,
        S.WAITING,
        now,
        only_from=item.only_from,
        worker_id=item.worker_id,
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
            status=S.READY if i < spawn.concurrency else S.PENDING,
            created_at=now,
            parent_step_id=step.step_id,
            item_index=i,
            state={"item": value},
            available_at=now if i < spawn.concurrency else None,
        )
        for i, value in enumerate(spawn.items)
    ]
    await t.tx.insert_step_runs(children)
    t.made_ready(run, [(c.id, body_type) for c in children if c.status == S.READY])


async def iteration_ended(t: Txn, item: IterationEnded) -> None:
    """One loop iteration ended: release the next, or finish the loop."""
    run, child = item.run, item.child
    assert child.parent_step_id is not None
    parent = await t.tx.current_step(run.id, child.parent_step_id)
    if parent is None or parent.status != S.WAITING or not parent.state:
        return
    done, failed, skipped = await t.tx.add_step_counters(
        parent.id,
        completed=int(item.status == S.COMPLETED),
        failed=int(item.status in (S.FAILED, S.CANCELLED)),
        skipped=int(item.status == S.SKIPPED),
    )
    total = int(parent.state["total"])
    if failed and parent.state.get("fail_fast", True):
        # Running siblings are interrupted too (the worker sees their step cancelled), and
        # the child runs of waiting `workflow` iterations are cancelled with them.
        siblings = await t.tx.current_steps(run.id, parent_step_id=parent.step_id)
        active = [s for s in siblings if s.status in _UNFINISHED]
        moved = set(await t.tx.move_steps([s.id for s in active], S.CANCELLED, t.now()))
        for s in active:
            if s.id in moved:
                t.step_ended(s.step_type, S.CANCELLED, s.started_at)
        cancel_child_runs(t, active, "loop stopped after a failed iteration")
        why = f"Iteration {child.item_index} failed: {item.error or child.error or item.status}"
        _settle_parent(t, run, parent, StepFailed(why, retryable=False))
        return
    if done + failed + skipped >= total:
        outputs = [out for _, _, out, _ in await t.tx.children_outputs(run.id, parent.step_id)]
        if failed:
            message = f"{failed} of {total} iterations failed"
            _settle_parent(t, run, parent, StepFailed(message, retryable=False, output=outputs))
        else:
            _settle_parent(t, run, parent, Completed(outputs))
        return
    released = await t.tx.release_pending_children(run.id, parent.step_id, 1, t.now())
    if released:
        t.made_ready(run, [(sid, child.step_type) for sid in released])
        # An iteration that waited (a child run) may have left the run `waiting`.
        await requeue_waiting(t, run.id)


def cancel_child_runs(t: Txn, steps: list[StepRun], reason: str) -> None:
    """Queue the cancel of the child runs these (`workflow`) step runs started."""
    for step in steps:
        child_run_id = (step.state or {}).get("child_run_id")
        if child_run_id:
            t.push(CancelRun(str(child_run_id), reason))


async def _depth(t: Txn, run: Run) -> int:
    """How many runs `run` is nested in (0 for a top-level run), counted up to the limit."""
    depth, parent_id = 0, run.parent_run_id
    while parent_id is not None and depth < t.limits.max_run_depth:
        parent = await t.tx.get_run(parent_id)
        depth += 1
        parent_id = parent.parent_run_id if parent is not None else None
    return depth


async def _create_child_run(t: Txn, parent: Run, step: StepRun, start: StartChildRun) -> Run:
    """The child run of a `workflow` step, in the parent's workspace; StepFailed if it cannot
    be started."""
    limit = t.limits.max_run_depth
    depth = await _depth(t, parent)
    if depth >= limit:
        raise StepFailed(depth_exceeded(depth, limit), retryable=False)
    wf = await t.tx.get_workflow(parent.workspace_id, start.workflow_id)
    if wf is None:
        raise StepFailed(f"Workflow '{start.workflow_id}' not found", retryable=False)
    if wf.status in ("paused", "archived"):
        raise StepFailed(f"Workflow '{start.workflow_id}' is {wf.status}", retryable=False)
    cw = await t.definitions.get(t.tx, wf.id, wf.version)
    inputs, errors = validate_run_inputs(cw.definition, start.input_data)
    if errors:
        raise StepFailed("Child workflow inputs are invalid: " + "; ".join(errors), retryable=False)
    return await admission.create_run(
        t,
        workspace_id=parent.workspace_id,
        workflow_id=wf.id,
        version=wf.version,
        input_data=inputs,
        trigger="workflow",
        created_by=parent.created_by,
        parent=(parent.id, step.id),
    )


async def start_child(t: Txn, item: ApplyOutcome, start: StartChildRun) -> None:
    """The `workflow` step waits for the child run it starts."""
    run, step = item.run, item.step
    # Take the step first: one that is no longer ours (cancelled meanwhile) must not leave an
    # orphan child run behind.
    if not await t.tx.move_step(
        step.id,
        S.WAITING,
        t.now(),
        only_from=item.only_from,
        worker_id=item.worker_id,
        lease_owner=None,
        lease_expires_at=None,
    ):
        return
    try:
        child = await _create_child_run(t, run, step, start)
    except StepFailed as failure:
        _settle_parent(t, run, step, failure)
        return
    await t.tx.set_step_state(step.id, {"child_run_id": child.id})
    await t.event(
        run, "step_waiting", step_id=step.step_id, reason="workflow", child_run_id=child.id
    )
    await maybe_waiting(t, run.id)


async def child_run_ended(t: Txn, item: ChildRunEnded) -> None:
    """A child run ended: its parent's `workflow` step takes its outcome."""
    child = item.child
    if child.parent_run_id is None or child.parent_step_run_id is None:
        return
    parent_run = await t.tx.get_run(child.parent_run_id)
    parent_step = await t.tx.get_step_run(child.parent_step_run_id)
    if parent_run is None or parent_step is None or parent_step.status != S.WAITING:
        return
    outcome: Outcome
    if child.status == "completed":
        outcome = Completed(item.output)
    else:
        reason = item.error or "no error recorded"
        outcome = StepFailed(f"Child run {child.id} {child.status}: {reason}", retryable=False)
    _settle_parent(t, parent_run, parent_step, outcome)


def is_active(run: Run) -> bool:
    """Whether the run has not ended."""
    return run.status in RUN_ACTIVE
