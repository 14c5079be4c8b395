"""The `approval` step: wait, holding no worker, for a person to approve or reject (SPEC §3).

Deciding happens outside the engine (the approvals service completes the waiting step).
The handler runs again only when the timeout passes, and then applies `on_timeout`.
"""

from __future__ import annotations

from datetime import timedelta

from flowdeck.domain.clock import isoformat
from flowdeck.domain.step_configs import ApprovalConfig
from flowdeck.engine.steps.base import Completed, StepContext, StepFailed, StepOutcome, Suspended
from flowdeck.engine.steps.common import validated_config


class ApprovalHandler:
    """Parks the step until a decision or the timeout."""

    type_name = "approval"
    config_model = ApprovalConfig

    async def execute(self, ctx: StepContext) -> StepOutcome:
        """First call: ask and wait. Second call (the timer woke it): decide by on_timeout."""
        now = ctx.env.clock.now()
        if ctx.state and "requested_at" in ctx.state:
            seconds = float(ctx.state.get("timeout_seconds") or 0)
            if ctx.state.get("on_timeout") == "approve":
                return Completed(
                    {
                        "approved": True,
                        "by": "timeout",
                        "comment": f"Approved automatically: no decision within {seconds:g}s",
                        "decided_at": isoformat(now),
                        "timed_out": True,
                    }
                )
            raise StepFailed(
                f"Approval timed out after {seconds:g}s without a decision; rejected "
                "(on_timeout: reject)",
                retryable=False,
                output={
                    "approved": False,
                    "by": "timeout",
                    "comment": None,
                    "decided_at": isoformat(now),
                    "timed_out": True,
                },
            )
        config = await validated_config(ctx, ApprovalConfig, texts=("message",))
        wake_at = None
        if config.timeout_seconds is not None:
            wake_at = now + timedelta(seconds=config.timeout_seconds)
        details = {
            "message": config.message,
            "expires_at": isoformat(wake_at),
            "on_timeout": config.on_timeout,
        }
        state = {
            **details,
            "requested_at": isoformat(now),
            "timeout_seconds": config.timeout_seconds,
        }
        return Suspended(state, wake_at=wake_at, reason="approval", details=details)
