"""Approvals, as the API answers them."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from flowdeck.models.base import ApiModel, Paged, Timestamp
from flowdeck.models.enums import RunStatus, StepStatus


class PendingApproval(ApiModel):
    """An approval step waiting for a decision."""

    run_id: str
    step_id: str
    workflow_id: str
    workflow_name: str
    workflow_slug: str
    run_status: RunStatus
    message: str | None
    requested_at: Timestamp | None
    expires_at: Timestamp | None
    on_timeout: Literal["reject", "approve"] | None
    requested_by: str | None
    approve_url: str
    reject_url: str


class ApprovalList(Paged):
    """Pending approvals of the workspace, oldest first."""

    approvals: list[PendingApproval]


class ApprovalDecision(ApiModel):
    """The decision taken on an approval step."""

    run_id: str
    step_id: str
    approved: bool
    by: str | None
    comment: str | None
    decided_at: Timestamp
    step_status: StepStatus = Field(description="completed when approved, failed when rejected")
    run_status: RunStatus
