"""GET /api/schedules: every schedule of the workspace (SPEC §5 Templates, schedules)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from flowdeck.api.deps import PrincipalDep, ServicesDep
from flowdeck.api.retry import RetryingRoute
from flowdeck.api.schemas import Limit, Offset
from flowdeck.models import ScheduleList
from flowdeck.services.schedules import schedule_view

router = APIRouter(route_class=RetryingRoute, prefix="/api/schedules", tags=["schedules"])


@router.get("", response_model=ScheduleList)
async def list_schedules(
    principal: PrincipalDep,
    services: ServicesDep,
    workflow_id: str | None = None,
    enabled: bool | None = None,
    limit: Limit = 50,
    offset: Offset = 0,
    cursor: str | None = None,
) -> dict[str, Any]:
    """The workspace's schedules, newest first; filter by workflow (id or slug) or enabled."""
    page = await services.schedules.list_workspace_schedules(
        principal,
        workflow_id=workflow_id,
        enabled=enabled,
        limit=limit,
        offset=offset,
        cursor=cursor,
    )
    return {
        "schedules": [schedule_view(s) for s in page.items],
        "total": page.total,
        "next_cursor": page.next_cursor,
    }
