"""Rules for runs inside runs: how deep child runs may nest, and a workflow that calls itself."""

from __future__ import annotations

from collections.abc import Iterator, Set
from typing import Any

from flowdeck.domain.definition import WorkflowDefinition
from flowdeck.domain.step_configs import step_facts

# SPEC §4: child runs nest at most 10 deep (a run started by a run started by …).
DEFAULT_MAX_RUN_DEPTH = 10


def depth_exceeded(depth: int, limit: int) -> str:
    """The sentence for a `workflow` step whose child run would nest deeper than `limit`."""
    return (
        f"Child runs nest at most {limit} deep; this run is already {depth} deep "
        "(does a workflow start itself through its steps?)"
    )


def _child_workflow(step_type: Any, config: Any) -> str | None:
    """The workflow a step of this type and config starts, if it starts one."""
    field = step_facts(str(step_type)).child_workflow
    if field is None or not isinstance(config, dict):
        return None
    return str(config.get(field, ""))


def _workflow_targets(definition: WorkflowDefinition) -> Iterator[tuple[str, str]]:
    """(step id, workflow) of every step that starts a child run, loop bodies included."""
    for step in definition.steps:
        candidates: list[tuple[Any, Any]] = [(step.type, step.config)]
        body_field = step_facts(step.type).loop_body
        body = step.config.get(body_field) if body_field else None
        if isinstance(body, dict):
            candidates.append((body.get("type"), body.get("config")))
        for kind, config in candidates:
            target = _child_workflow(kind, config)
            if target is not None:
                yield step.id, target


def self_calls(definition: WorkflowDefinition, names: Set[str]) -> list[str]:
    """Errors for `workflow` steps that start the workflow itself (named by id or slug)."""
    return [
        f"Step '{step_id}' runs this workflow itself ('{target}'), which would never end"
        for step_id, target in _workflow_targets(definition)
        if target in names
    ]
