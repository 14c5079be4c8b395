"""Steering a run from outside: cancel, pause, resume."""

from __future__ import annotations

from datetime import datetime

from flowdeck.domain.ids import new_id
from flowdeck.domain.records import Run, StepRun
from flowdeck.domain.states import STEP_ACTIVE, RunStatus, StepStatus, decide
from flowdeck.engine.compiled import CompiledWorkflow
from flowdeck.engine.nesting import is_active
from flowdeck.engine.txn import Txn
from flowdeck.engine.work import CancelRun, ChildRunEnded, StepEnded
from flowdeck.errors import Conflict, InvalidInput

R, S = RunStatus, StepStatus
_RESUMABLE = (R.FAILED, R.CANCELLED, R.PAUSED)


async def cancel(t: Txn, run: Run, reason: str) -> None:
    """Cancel an active run, its unfinished steps and its child runs; Conflict when it ended."""
    if not await t.tx.move_run(run.id, R.CANCELLED, completed_at=t.now()):
        raise Conflict(f"Run '{run.id}' is {run.status}; only an active run can be cancelled")
    steps = await t.tx.active_steps_of_run(run.id)
    moved = set(await t.tx.move_steps([s.id for s in steps], S.CANCELLED, t.now(), error=reason))
    for step in steps:
        if step.id in moved:
            t.step_ended(step.step_type, S.CANCELLED, step.started_at)
    t.finished(run.id)
    t.run_ended(run, R.CANCELLED)
    t.fx.cancelled_runs.add(run.id)
    await t.event(run, "run_cancelled", status=R.CANCELLED, reason=reason)
    for child_id in await t.tx.active_child_runs(run.id):
        t.push(CancelRun(child_id, "parent run cancelled"))
    cancelled = await t.tx.get_run(run.id)
    if cancelled is not None:
        t.push(ChildRunEnded(cancelled, None, reason))


async def cancel_queued(t: Txn, item: CancelRun) -> None:
    """A queued cancel (a parent's, a loop's): only a run still active is cancelled."""
    run = await t.tx.get_run(item.run_id)
    if run is not None and is_active(run):
        await cancel(t, run, item.reason)


async def pause(t: Txn, run: Run) -> None:
    """Stop dispatching the run's steps (a queued run is not admitted); running ones finish."""
    if not await t.tx.move_run(run.id, R.PAUSED):
        raise Conflict(f"Run '{run.id}' is {run.status}; only an active run can be paused")
    await t.event(run, "run_paused", reason="requested")


def _reset_set(
    cw: CompiledWorkflow, current: dict[str, StepRun], from_step: str | None
) -> set[str]:
    """The steps that run again: `from_step` and its descendants, or every step that did not
    complete (including steps a newer version added)."""
    if from_step is not None:
        if from_step not in cw.steps:
            raise InvalidInput(
                "Unknown step", errors=[f"Step '{from_step}' is not in the resumed version"]
            )
        return {from_step} | cw.descendants_of(from_step)
    return {
        sid
        for sid in cw.steps
        if sid not in current or current[sid].status in (S.FAILED, S.CANCELLED, S.SKIPPED)
    }


def _fresh_step(
    run: Run,
    cw: CompiledWorkflow,
    sid: str,
    current: dict[str, StepRun],
    reset: set[str],
    now: datetime,
) -> tuple[StepRun, bool]:
    """The new attempt of a reset step, and whether it is skipped at once."""
    counts = {S.COMPLETED: 0, S.FAILED: 0, S.SKIPPED: 0}
    remaining = 0
    branch_skip = False
    for d in cw.deps[sid]:
        if d in reset:
            remaining += 1
            continue
        status = current[d].status if d in current else S.COMPLETED
        key = S.FAILED if status == S.CANCELLED else status
        if key in counts:
            counts[key] += 1
        output = current[d].output if d in current else None
        if sid in cw.branch_skips(d, output):
            branch_skip = True
    verdict = (
        "skip"
        if branch_skip
        else decide(
            cw.steps[sid].trigger_rule,
            deps_remaining=remaining,
            n_completed=counts[S.COMPLETED],
            n_failed=counts[S.FAILED],
            n_skipped=counts[S.SKIPPED],
        )
    )
    old = current.get(sid)
    step = StepRun(
        id=new_id("sr"),
        run_id=run.id,
        step_id=sid,
        step_type=cw.steps[sid].type,
        attempt=(old.attempt + 1) if old else 1,
        status=S.READY if verdict == "ready" else S.PENDING,
        created_at=now,
        deps_remaining=remaining,
        n_completed=counts[S.COMPLETED],
        n_failed=counts[S.FAILED],
        n_skipped=counts[S.SKIPPED],
        available_at=now if verdict == "ready" else None,
    )
    return step, verdict == "skip" and remaining == 0


async def resume(t: Txn, run: Run, from_step: str | None, version: int | None = None) -> None:
    """Run again from `from_step` (it and its descendants) or from the last checkpoint, on
    the run's own version or on `version` (a fixed definition)."""
    if run.status not in _RESUMABLE:
        raise Conflict(
            f"Run '{run.id}' is {run.status}; only failed, cancelled or paused runs can be resumed"
        )
    target = version if version is not None else run.workflow_version
    cw = await t.definitions.get(t.tx, run.workflow_id, target)
    if run.started_at is None:  # paused while queued: it starts from scratch when admitted
        await t.tx.update_run(run.id, workflow_version=target)
        if not await t.tx.move_run(run.id, R.QUEUED, only_from=[run.status]):
            raise Conflict(f"Run '{run.id}' changed while resuming; try again")
        await t.event(run, "run_resumed", from_step=None, steps=[], workflow_version=target)
        t.fx.admit = True
        return
    current = {s.step_id: s for s in await t.tx.current_steps(run.id)}
    reset = _reset_set(cw, current, from_step)
    busy = sorted(sid for sid in reset if sid in current and current[sid].status == S.RUNNING)
    if busy:
        raise Conflict(f"Step '{busy[0]}' is still running; wait for it before resuming")
    if run.status in (R.FAILED, R.CANCELLED):
        await t.tx.roll_up_run(run.id, -1)  # its statistics come back when it ends again
    gone = sorted(sid for sid in current if sid not in cw.steps)  # dropped by the new version
    await t.tx.retire_current(run.id, sorted(reset) + gone)
    now = t.now()
    fresh: list[StepRun] = []
    skipped: list[StepRun] = []
    for sid in (s.id for s in cw.definition.steps if s.id in reset):
        step, skip = _fresh_step(run, cw, sid, current, reset, now)
        fresh.append(step)
        if skip:
            skipped.append(step)
    await t.tx.insert_step_runs(fresh)
    kept = [s for sid, s in current.items() if sid in cw.steps and sid not in reset]
    await t.tx.update_run(
        run.id,
        workflow_version=target,
        steps_remaining=len(fresh) + sum(1 for s in kept if s.status in STEP_ACTIVE),
        steps_failed=sum(1 for s in kept if s.status == S.FAILED),
        error=None,
        output=None,
        completed_at=None,
    )
    if not await t.tx.move_run(run.id, R.QUEUED, only_from=[run.status]):
        raise Conflict(f"Run '{run.id}' changed while resuming; try again")
    await t.event(
        run, "run_resumed", from_step=from_step, steps=sorted(reset), workflow_version=target
    )
    resumed = await t.tx.get_run(run.id)
    assert resumed is not None
    for step in skipped:
        reason = "upstream did not succeed"
        if await t.tx.move_steps(
            [step.id], S.SKIPPED, now, only_from=[S.PENDING], output={"reason": reason}
        ):
            await t.event(run, "step_skipped", step_id=step.step_id, reason=reason)
            t.push(StepEnded(resumed, cw, step.step_id, S.SKIPPED))
    t.fx.admit = True
