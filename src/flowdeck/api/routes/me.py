"""GET /api/me: who the presented key is (its workspace, name and scopes)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from flowdeck.api.deps import PrincipalDep, ServicesDep
from flowdeck.api.retry import RetryingRoute
from flowdeck.models import Me
from flowdeck.services.views import workspace_view

router = APIRouter(route_class=RetryingRoute, prefix="/api", tags=["administration"])


@router.get("/me", response_model=Me)
async def get_me(principal: PrincipalDep, services: ServicesDep) -> dict[str, Any]:
    """The caller's workspace and key (MCP clients use it to check `project_id`)."""
    ws = await services.admin.current_workspace(principal)
    return {
        "workspace": workspace_view(ws),
        "key": {"id": principal.key_id, "name": principal.name, "scopes": list(principal.scopes)},
    }
