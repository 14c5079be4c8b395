"""Public reads: a workflow with `visibility: public`, readable without a key (seed 000)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from flowdeck.api.deps import ServicesDep
from flowdeck.api.retry import RetryingRoute
from flowdeck.models import PublicWorkflow
from flowdeck.services.views import public_workflow_view

router = APIRouter(route_class=RetryingRoute, prefix="/api/public", tags=["public"])


@router.get("/{workspace_slug}/workflows/{slug}", response_model=PublicWorkflow)
async def get_public_workflow(
    workspace_slug: str, slug: str, services: ServicesDep
) -> dict[str, Any]:
    """A public workflow by workspace slug and workflow slug (or id); private ones are 404."""
    wf = await services.lifecycle.access.public_workflow(workspace_slug, slug)
    return public_workflow_view(wf, workspace_slug)
