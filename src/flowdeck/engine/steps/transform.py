"""`transform`: evaluate a value (any JSON with templates)."""

from __future__ import annotations

from flowdeck.domain.step_configs import TransformConfig
from flowdeck.engine.steps.base import Completed, StepContext, StepOutcome


class TransformHandler:
    """Outputs the rendered `value`."""

    type_name = "transform"
    config_model = TransformConfig

    async def execute(self, ctx: StepContext) -> StepOutcome:
        """Render the value."""
        return Completed(await ctx.render(ctx.config.get("value")))
