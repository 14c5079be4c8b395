"""Rules for runs inside runs: how deep child runs may nest, and a workflow that calls itself."""

from __future__ import annotations

from collections.abc import Iterator, Set

from flowdeck.domain.definition import WorkflowDefinition

# SPEC §4: child runs nest at most 10 deep (a run started by a run started by …).
DEFAULT_MAX_RUN_DEPTH = 10


def depth_exceeded(depth: int, limit: int) -> str:
    """The sentence for a `workflow` step whose child run would nest deeper than `limit`."""
    return (
        f"Child runs nest at most {limit} deep; this run is already {depth} deep "
        "(does a workflow start itself through its steps?)"
    )


def _workflow_targets(definition: WorkflowDefinition) -> Iterator[tuple[str, str]]:
    """(step id, workflow_id) of every `workflow` step, loop bodies included."""
    for step in definition.steps:
        if step.type == "workflow":
            yield step.id, str(step.config.get("workflow_id", ""))
        elif step.type == "loop":
            body = step.config.get("step")
            if isinstance(body, dict) and body.get("type") == "workflow":
                config = body.get("config")
                target = config.get("workflow_id", "") if isinstance(config, dict) else ""
                yield step.id, str(target)


def self_calls(definition: WorkflowDefinition, names: Set[str]) -> list[str]:
    """Errors for `workflow` steps that start the workflow itself (named by id or slug)."""
    return [
        f"Step '{step_id}' runs this workflow itself ('{target}'), which would never end"
        for step_id, target in _workflow_targets(definition)
        if target in names
    ]
