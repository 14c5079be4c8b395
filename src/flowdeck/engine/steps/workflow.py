"""`workflow`: run another workflow as a linked child run and take its outputs."""

from __future__ import annotations

from flowdeck.domain.step_configs import WorkflowConfig
from flowdeck.engine.steps.base import (
    Completed,
    StartChildRun,
    StepContext,
    StepFailed,
    StepOutcome,
)


class WorkflowHandler:
    """Asks the engine for a child run; the step completes when the child ends."""

    type_name = "workflow"
    config_model = WorkflowConfig

    async def execute(self, ctx: StepContext) -> StepOutcome:
        """Start the child (first call only; the engine finishes the step later)."""
        if ctx.state and ctx.state.get("child_run_id"):
            return Completed(None)
        config = await ctx.render(dict(ctx.config))
        input_data = config.get("input_data") or {}
        if not isinstance(input_data, dict):
            raise StepFailed("workflow.input_data must be an object", retryable=False)
        return StartChildRun(workflow_id=str(config["workflow_id"]), input_data=input_data)
