"""Templates endpoints (SPEC §5 Templates): built-in and workspace templates."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response
from pydantic import Field

from flowdeck.api.deps import PrincipalDep, ServicesDep
from flowdeck.api.retry import RetryingRoute
from flowdeck.api.schemas import Limit, Offset, RequestBody
from flowdeck.domain.catalog import Template
from flowdeck.domain.clock import isoformat
from flowdeck.models import TemplateDetail, TemplateList, WorkflowRef

router = APIRouter(route_class=RetryingRoute, prefix="/api/workflows/templates", tags=["templates"])


class InstallRequest(RequestBody):
    """POST /api/workflows/templates/{id}/install."""

    name: str | None = Field(
        default=None, description="Name of the new workflow; the template's name by default"
    )


class SaveTemplateRequest(RequestBody):
    """POST /api/workflows/templates: save a workflow as a workspace template."""

    workflow_id: str = Field(min_length=1, description="The workflow's id or slug")
    name: str | None = Field(default=None, description="The workflow's name by default")
    category: str | None = Field(default=None, description='"custom" by default')
    description: str | None = None


def template_summary(t: Template) -> dict[str, Any]:
    """A template as it appears in lists."""
    return {
        "id": t.id,
        "name": t.name,
        "category": t.category,
        "description": t.description,
        "is_builtin": t.is_builtin,
        "trigger_type": t.trigger_type,
        "requirements": list(t.requirements),
        "step_count": len(t.definition.get("steps") or []),
        "source_workflow_id": t.source_workflow_id,
        "created_by": t.created_by,
        "created_at": isoformat(t.created_at),
    }


def template_detail(t: Template) -> dict[str, Any]:
    """A template with its definition."""
    return {**template_summary(t), "definition": t.definition}


@router.get("", response_model=TemplateList)
async def list_templates(
    principal: PrincipalDep,
    services: ServicesDep,
    category: str | None = None,
    is_builtin: bool | None = None,
    limit: Limit = 50,
    offset: Offset = 0,
    cursor: str | None = None,
) -> dict[str, Any]:
    """Built-in templates, then the workspace's own (newest first)."""
    page = await services.templates.list_templates(
        principal,
        category=category,
        is_builtin=is_builtin,
        limit=limit,
        offset=offset,
        cursor=cursor,
    )
    return {
        "templates": [template_summary(t) for t in page.items],
        "total": page.total,
        "next_cursor": page.next_cursor,
    }


@router.post("", status_code=201, response_model=TemplateDetail)
async def save_template(
    body: SaveTemplateRequest, principal: PrincipalDep, services: ServicesDep, response: Response
) -> dict[str, Any]:
    """Save a workflow's current definition as a template of the workspace."""
    template = await services.templates.save(
        principal,
        body.workflow_id,
        name=body.name,
        category=body.category,
        description=body.description,
    )
    response.headers["Location"] = f"/api/workflows/templates/{template.id}"
    return template_detail(template)


@router.get("/{template_id}", response_model=TemplateDetail)
async def get_template(
    template_id: str, principal: PrincipalDep, services: ServicesDep
) -> dict[str, Any]:
    """One template with its definition."""
    return template_detail(await services.templates.get(principal, template_id))


@router.post("/{template_id}/install", status_code=201, response_model=WorkflowRef)
async def install_template(
    template_id: str,
    principal: PrincipalDep,
    services: ServicesDep,
    response: Response,
    body: InstallRequest | None = None,
) -> dict[str, Any]:
    """Create a workflow from the template."""
    wf = await services.templates.install(
        principal, template_id, name=body.name if body is not None else None
    )
    response.headers["Location"] = f"/api/workflows/{wf.id}"
    return {"workflow_id": wf.id, "name": wf.name, "slug": wf.slug}


@router.delete("/{template_id}", status_code=204)
async def delete_template(
    template_id: str, principal: PrincipalDep, services: ServicesDep
) -> Response:
    """Delete a workspace template (built-in templates cannot be deleted)."""
    await services.templates.delete(principal, template_id)
    return Response(status_code=204)
