"""Approvals (SPEC §5 Runs): pending approval steps, and approve or reject one."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import Field

from flowdeck.api.deps import PrincipalDep, ServicesDep
from flowdeck.api.retry import RetryingRoute
from flowdeck.api.schemas import Limit, Offset, RequestBody
from flowdeck.models import ApprovalDecision, ApprovalList
from flowdeck.services.approvals import MAX_COMMENT, approval_view, decision_view

router = APIRouter(route_class=RetryingRoute, tags=["approvals"])


class DecisionRequest(RequestBody):
    """POST …/approve or …/reject."""

    comment: str | None = Field(default=None, max_length=MAX_COMMENT)


@router.get("/api/approvals", response_model=ApprovalList)
async def list_approvals(
    principal: PrincipalDep,
    services: ServicesDep,
    workflow_id: str | None = None,
    limit: Limit = 50,
    offset: Offset = 0,
    cursor: str | None = None,
) -> dict[str, Any]:
    """Approval steps of the workspace waiting for a decision, oldest first."""
    page = await services.approvals.pending(
        principal, workflow_id=workflow_id, limit=limit, offset=offset, cursor=cursor
    )
    return {
        "approvals": [approval_view(a) for a in page.items],
        "total": page.total,
        "next_cursor": page.next_cursor,
    }


@router.post(
    "/api/workflows/runs/{run_id}/steps/{step_id}/approve", response_model=ApprovalDecision
)
async def approve_step(
    run_id: str,
    step_id: str,
    principal: PrincipalDep,
    services: ServicesDep,
    body: DecisionRequest | None = None,
) -> dict[str, Any]:
    """Approve a waiting approval step: it completes and its dependents run."""
    decision = await services.approvals.decide(
        principal, run_id, step_id, approve=True, comment=body.comment if body else None
    )
    return decision_view(decision)


@router.post("/api/workflows/runs/{run_id}/steps/{step_id}/reject", response_model=ApprovalDecision)
async def reject_step(
    run_id: str,
    step_id: str,
    principal: PrincipalDep,
    services: ServicesDep,
    body: DecisionRequest | None = None,
) -> dict[str, Any]:
    """Reject a waiting approval step: it fails and its dependents are skipped."""
    decision = await services.approvals.decide(
        principal, run_id, step_id, approve=False, comment=body.comment if body else None
    )
    return decision_view(decision)
