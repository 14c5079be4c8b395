"""Working out what top-level step ends cause, per run: its counters, its error, dependents
made ready or skipped, and its end."""

from __future__ import annotations

from flowdeck.domain.records import Run
from flowdeck.domain.states import RunStatus, StepStatus, decide
from flowdeck.engine.compiled import CompiledWorkflow
from flowdeck.engine.runstate import maybe_waiting, requeue_waiting
from flowdeck.engine.txn import Txn
from flowdeck.engine.work import RunDone, StepEnded

R, S = RunStatus, StepStatus
UPSTREAM_DID_NOT_SUCCEED = "upstream did not succeed"


async def settle(t: Txn) -> None:
    """Settle every step end collected so far, run by run.

    Every writer locks run rows in id order, so two commits cannot deadlock on them.
    """
    ended, t.ended = t.ended, []
    by_run: dict[str, list[StepEnded]] = {}
    for item in ended:
        by_run.setdefault(item.run.id, []).append(item)
    for run_id in sorted(by_run):
        await _settle_run(t, by_run[run_id])


async def _record_failures(t: Txn, run: Run, cw: CompiledWorkflow, items: list[StepEnded]) -> None:
    for item in items:
        if item.status != S.FAILED:
            continue
        await t.tx.set_run_error_once(run.id, f"Step '{item.step_id}' failed: {item.error}")
        if cw.definition.on_failure == "pause" and await t.tx.move_run(
            run.id, R.PAUSED, only_from=[R.RUNNING, R.WAITING]
        ):
            await t.event(run, "run_paused", reason=f"step '{item.step_id}' failed")


def _count_ends(
    cw: CompiledWorkflow, items: list[StepEnded]
) -> tuple[dict[tuple[int, ...], list[str]], dict[str, str]]:
    """Dependents grouped by their increments (ended, completed, failed, skipped), one UPDATE
    per group; and the dependents an untaken branch forces to skip, with the reason."""
    counts: dict[str, list[int]] = {}
    forced: dict[str, str] = {}
    for item in items:
        if item.status == S.COMPLETED:
            for dep in cw.branch_skips(item.step_id, item.output):
                forced[dep] = f"branch not taken by '{item.step_id}'"
        for dep in cw.dependents.get(item.step_id, []):
            c = counts.setdefault(dep, [0, 0, 0, 0])
            c[0] += 1
            c[1] += item.status == S.COMPLETED
            c[2] += item.status in (S.FAILED, S.CANCELLED)
            c[3] += item.status == S.SKIPPED
    groups: dict[tuple[int, ...], list[str]] = {}
    for dep, c in counts.items():
        groups.setdefault(tuple(c), []).append(dep)
    return groups, forced


async def _settle_run(t: Txn, items: list[StepEnded]) -> None:
    run, cw = items[0].run, items[0].cw
    remaining, _ = await t.tx.add_to_run_counters(
        run.id,
        remaining=-len(items),
        failed=sum(1 for i in items if i.status == S.FAILED),
        cost=sum(i.cost for i in items),
    )
    await _record_failures(t, run, cw, items)
    groups, forced = _count_ends(cw, items)
    ready: list[tuple[str, str]] = []
    skips: dict[str, list[tuple[str, str]]] = {}
    for (n, done, failed, skipped), deps in groups.items():
        for u in await t.tx.update_dependents(
            run.id, deps, ended=n, completed=done, failed=failed, skipped=skipped
        ):
            if u.step_id in forced:
                skips.setdefault(forced[u.step_id], []).append((u.id, u.step_id))
                continue
            verdict = decide(
                cw.steps[u.step_id].trigger_rule,
                deps_remaining=u.deps_remaining,
                n_completed=u.n_completed,
                n_failed=u.n_failed,
                n_skipped=u.n_skipped,
            )
            if verdict == "ready":
                ready.append((u.id, u.step_id))
            elif verdict == "skip":
                skips.setdefault(UPSTREAM_DID_NOT_SUCCEED, []).append((u.id, u.step_id))
    moved = await _make_ready(t, run, cw, ready, any(i.was_waiting for i in items))
    skipped = await _skip(t, run, cw, skips)
    if remaining <= 0:
        t.push(RunDone(run.id))
    elif not moved and not skipped:
        await maybe_waiting(t, run.id)


async def _make_ready(
    t: Txn, run: Run, cw: CompiledWorkflow, ready: list[tuple[str, str]], after_wait: bool
) -> bool:
    if not ready:
        return False
    names = dict(ready)
    moved = await t.tx.move_steps(
        list(names), S.READY, t.now(), only_from=[S.PENDING], available_at=t.now()
    )
    t.made_ready(run, [(sid, cw.steps[names[sid]].type) for sid in moved])
    if moved and after_wait:
        await requeue_waiting(t, run.id)
    return bool(moved)


async def _skip(
    t: Txn, run: Run, cw: CompiledWorkflow, skips: dict[str, list[tuple[str, str]]]
) -> bool:
    for reason, found in skips.items():
        names = dict(found)
        for sid in await t.tx.move_steps(
            list(names), S.SKIPPED, t.now(), only_from=[S.PENDING], output={"reason": reason}
        ):
            await t.event(run, "step_skipped", step_id=names[sid], reason=reason)
            t.step_ended(cw.steps[names[sid]].type, S.SKIPPED, None)
            t.push(StepEnded(run, cw, names[sid], S.SKIPPED))
    return bool(skips)
