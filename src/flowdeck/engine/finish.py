"""A run's end: every step ended, so it completes (its outputs rendered) or fails."""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import Any

from flowdeck.domain.records import Run
from flowdeck.domain.states import RunStatus
from flowdeck.domain.templating import TemplateError, referenced_steps_in
from flowdeck.engine.compiled import CompiledWorkflow
from flowdeck.engine.txn import Txn
from flowdeck.engine.work import ChildRunEnded

R = RunStatus
log = logging.getLogger("flowdeck.engine")


def duration(run: Run) -> float | None:
    """Seconds from start to end of a finished run."""
    if run.started_at is None or run.completed_at is None:
        return None
    return round((run.completed_at - run.started_at).total_seconds(), 3)


async def _outputs(t: Txn, run: Run, cw: CompiledWorkflow) -> tuple[Any, str | None]:
    """The rendered `outputs` (redacted), or the error that makes the run fail."""
    outputs = await t.tx.step_outputs(run.id, None)
    redactor = await t.redactor(run.workspace_id)
    ctx = {
        "inputs": run.input_data,
        "steps": {sid: {"output": out} for sid, out in outputs.items()},
        "run": {"id": run.id, "workflow_id": run.workflow_id, "trigger": run.trigger},
        "secrets": redactor.secrets,
    }
    values: dict[str, Any] = {}
    for o in cw.definition.outputs:
        try:
            values[o.name] = await t.templates.render(o.value, ctx)
        except TemplateError as exc:
            if referenced_steps_in(o.value) - set(outputs):
                # It reads a step that did not complete (an untaken branch): null.
                values[o.name] = None
                continue
            return None, f"Could not compute output '{o.name}': {exc}"
    return redactor.redact(values), None


async def finalize(t: Txn, run_id: str) -> None:
    """Every step ended: complete or fail the run, render outputs, free its slot."""
    run = await t.tx.get_run(run_id)
    if run is None or run.status not in (R.RUNNING, R.WAITING):
        return
    cw = await t.compiled(run)
    now = t.now()
    output: Any = None
    error = run.error
    status = R.FAILED if run.steps_failed else R.COMPLETED
    if status == R.COMPLETED and cw.definition.outputs:
        output, problem = await _outputs(t, run, cw)
        if problem is not None:
            status, error = R.FAILED, problem
    if not await t.tx.move_run(
        run.id,
        status,
        only_from=[R.RUNNING, R.WAITING],
        completed_at=now,
        output=output,
        error=error,
    ):
        return
    t.finished(run.id)
    t.run_ended(run, status)
    done = replace(run, status=status, completed_at=now)
    seconds = duration(done)
    log.info(
        "run %s %s",
        run.id,
        status,
        extra={
            "run_id": run.id,
            "workflow_id": run.workflow_id,
            "status": str(status),
            "duration_seconds": seconds,
        },
    )
    if status == R.COMPLETED:
        await t.event(run, "run_completed", status=status, duration_seconds=seconds, output=output)
    else:
        await t.event(run, "run_failed", status=status, duration_seconds=seconds, error=error)
    t.push(ChildRunEnded(done, output, error))
