"""`loop`: run a body step once per item, each iteration a persisted step run."""

from __future__ import annotations

from flowdeck.domain.step_configs import LoopConfig
from flowdeck.engine.steps.base import SpawnChildren, StepContext, StepFailed, StepOutcome

MAX_ITEMS = 10_000


class LoopHandler:
    """Evaluates `items`; the engine creates and schedules the iterations."""

    type_name = "loop"
    config_model = LoopConfig

    async def execute(self, ctx: StepContext) -> StepOutcome:
        """Resolve the item list."""
        raw = ctx.config.get("items")
        items = await ctx.evaluate(raw) if isinstance(raw, str) else await ctx.render(raw)
        if isinstance(items, dict):
            items = list(items.items())
        if not isinstance(items, list | tuple):
            raise StepFailed(
                f"loop.items must evaluate to a list, got {type(items).__name__}", retryable=False
            )
        if len(items) > MAX_ITEMS:
            raise StepFailed(
                f"loop.items has {len(items)} items; the limit is {MAX_ITEMS}", retryable=False
            )
        body = dict(ctx.config.get("step") or {})
        return SpawnChildren(
            items=list(items),
            body=body,
            concurrency=int(ctx.config.get("concurrency") or 1),
            fail_fast=bool(ctx.config.get("fail_fast", True)),
        )
