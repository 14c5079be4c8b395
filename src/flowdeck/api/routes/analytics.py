"""Analytics and related endpoints (SPEC §5 Workflows: analytics, related)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from flowdeck.api.deps import PrincipalDep, ServicesDep
from flowdeck.api.retry import RetryingRoute
from flowdeck.api.schemas import GranularityText
from flowdeck.models import WorkflowAnalytics, WorkflowRelated

router = APIRouter(route_class=RetryingRoute, prefix="/api/workflows", tags=["analytics"])


@router.get("/{workflow_id}/analytics", response_model=WorkflowAnalytics)
async def get_workflow_analytics(
    workflow_id: str,
    principal: PrincipalDep,
    services: ServicesDep,
    days: int = 30,
    granularity: GranularityText = "daily",
) -> dict[str, Any]:
    """KPIs, runs and success rate over time, cost by step type and per-step statistics."""
    return await services.analytics.analytics(
        principal, workflow_id, days=days, granularity=granularity
    )


@router.get("/{workflow_id}/related", response_model=WorkflowRelated)
async def get_workflow_related(
    workflow_id: str, principal: PrincipalDep, services: ServicesDep
) -> dict[str, Any]:
    """Schedules, templates saved from it, clones and forks of it, and its source."""
    return await services.analytics.related(principal, workflow_id)
