"""`condition`: evaluate an expression and pick a branch; the engine skips the other."""

from __future__ import annotations

from flowdeck.domain.step_configs import ConditionConfig
from flowdeck.engine.steps.base import Completed, StepContext, StepOutcome


class ConditionHandler:
    """Outputs `{result, branch}`."""

    type_name = "condition"
    config_model = ConditionConfig

    async def execute(self, ctx: StepContext) -> StepOutcome:
        """Evaluate the expression's truth."""
        result = bool(await ctx.evaluate(str(ctx.config["expression"])))
        return Completed({"result": result, "branch": "then" if result else "else"})
