"""The template context a step attempt sees: inputs, upstream outputs, run, loop, secrets."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flowdeck.domain.records import Run, StepRun
from flowdeck.engine.compiled import CompiledWorkflow
from flowdeck.engine.ports import EngineTx


def owner_id(step: StepRun) -> str:
    """The definition step a step run belongs to (a loop iteration belongs to its loop)."""
    return step.parent_step_id or step.step_id


async def build_context(
    tx: EngineTx,
    run: Run,
    cw: CompiledWorkflow,
    step: StepRun,
    secrets: dict[str, str],
    known: Mapping[tuple[str, str], Any] | None = None,
) -> dict[str, Any]:
    """Load exactly the outputs the step's templates read (those `known` already, completed in
    this transaction, are not read again) and assemble its context."""
    needs = cw.needs.get(owner_id(step))
    outputs: dict[str, Any] = {}
    if needs is not None and known:
        outputs = {sid: known[(run.id, sid)] for sid in needs if (run.id, sid) in known}
        needs = needs - outputs.keys()
    if needs is None or needs:
        outputs.update(await tx.step_outputs(run.id, needs))
    context: dict[str, Any] = {
        "inputs": run.input_data,
        "steps": {sid: {"output": out} for sid, out in outputs.items()},
        "run": {
            "id": run.id,
            "workflow_id": run.workflow_id,
            "workflow_version": run.workflow_version,
            "trigger": run.trigger,
            "attempt": step.attempt,
        },
        "secrets": secrets,
    }
    if step.parent_step_id is not None:
        context["loop"] = {
            "item": (step.state or {}).get("item"),
            "index": step.item_index,
        }
    return context
