"""`wait`: a durable timer; the step holds no worker while it waits."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from flowdeck.domain.step_configs import WaitConfig
from flowdeck.engine.steps.base import Completed, StepContext, StepFailed, StepOutcome, Suspended


def _parse_until(ctx: StepContext, value: object) -> datetime:
    if isinstance(value, datetime):
        moment = value
    else:
        try:
            moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
        except ValueError as exc:
            raise StepFailed(
                f"wait.until is not an ISO 8601 timestamp: {ctx.redact(value)!r}", retryable=False
            ) from exc
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


class WaitHandler:
    """Suspends until the time comes, then outputs `waited_seconds`."""

    type_name = "wait"
    config_model = WaitConfig

    async def execute(self, ctx: StepContext) -> StepOutcome:
        """First call: park until the deadline. Second call (woken): report."""
        now = ctx.env.clock.now()
        if ctx.state and "started_at" in ctx.state:
            started = datetime.fromisoformat(str(ctx.state["started_at"]))
            return Completed({"waited_seconds": round((now - started).total_seconds(), 3)})
        config = await ctx.render(dict(ctx.config))
        if config.get("until") is not None:
            deadline = _parse_until(ctx, config["until"])
        else:
            try:
                seconds = float(config.get("seconds") or 0)
            except (TypeError, ValueError) as exc:
                raise StepFailed(
                    f"wait.seconds is not a number: {ctx.redact(config.get('seconds'))!r}",
                    retryable=False,
                ) from exc
            if seconds < 0:
                raise StepFailed("wait.seconds must not be negative", retryable=False)
            deadline = now + timedelta(seconds=seconds)
        if deadline <= now:
            return Completed({"waited_seconds": 0.0})
        return Suspended({"started_at": now.isoformat()}, wake_at=deadline, reason="wait")
