"""Workflow management endpoints (SPEC §5 Workflows)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header, Response

from flowdeck.api.deps import PrincipalDep, ServicesDep
from flowdeck.api.links import WORKFLOW_LINKS, links
from flowdeck.api.retry import RetryingRoute
from flowdeck.api.schemas import (
    Limit,
    Offset,
    RollbackRequest,
    StatusChange,
    TriggerTypeText,
    ValidateRequest,
    VersionNumber,
    WorkflowCreate,
    WorkflowStatusText,
    WorkflowUpdate,
)
from flowdeck.domain.records import Workflow, WorkflowFilter
from flowdeck.errors import BadRequest
from flowdeck.models import (
    ValidationReport,
    VersionDetail,
    VersionDiff,
    VersionList,
    WorkflowCreated,
    WorkflowDetail,
    WorkflowList,
)
from flowdeck.services import workflow_rules
from flowdeck.services.auth import Principal
from flowdeck.services.container import Services
from flowdeck.services.views import (
    version_detail,
    version_summary,
    workflow_detail,
    workflow_summary,
)

router = APIRouter(route_class=RetryingRoute, prefix="/api/workflows", tags=["workflows"])


def _if_match(value: str | None) -> int | None:
    if value is None:
        return None
    tag = value.strip().removeprefix("W/").strip('"')
    if not (tag.isascii() and tag.isdigit() and len(tag) <= 10):
        raise BadRequest(f'If-Match must be a version in quotes, like "3"; got {value}')
    return int(tag)


def _with_etag(response: Response, version: int) -> None:
    response.headers["ETag"] = f'"{version}"'


async def detail_view(services: Services, principal: Principal, wf: Workflow) -> dict[str, Any]:
    """The workflow as one caller sees it (editors of webhook workflows get the secret)."""
    secret = await services.lifecycle.access.webhook_secret_for(principal, wf)
    return workflow_detail(wf, principal, webhook_secret=secret)


@router.get("", response_model=WorkflowList)
async def list_workflows(
    principal: PrincipalDep,
    services: ServicesDep,
    status: WorkflowStatusText | None = None,
    trigger_type: TriggerTypeText | None = None,
    tag: str | None = None,
    q: str | None = None,
    archived: bool | None = None,
    limit: Limit = 50,
    offset: Offset = 0,
    cursor: str | None = None,
    project: str | None = None,
) -> dict[str, Any]:
    """List the workspace's workflows (of one project, by id or name, when given)."""
    flt = WorkflowFilter(
        project_id=project,
        status=status,
        trigger_type=trigger_type,
        tag=tag,
        q=q,
        only_archived=archived is True,
    )
    page = await services.workflows.list_workflows(
        principal, flt, limit=limit, offset=offset, cursor=cursor
    )
    return {
        "workflows": [workflow_summary(w, principal) for w in page.items],
        "total": page.total,
        "next_cursor": page.next_cursor,
    }


@router.post(
    "",
    status_code=201,
    response_model=WorkflowCreated,
    responses={201: {"links": links("id", "workflow_id", WORKFLOW_LINKS)}},
)
async def create_workflow(
    body: WorkflowCreate, principal: PrincipalDep, services: ServicesDep, response: Response
) -> dict[str, Any]:
    """Create a workflow from a definition (its slug, tags, schedules… applied too)."""
    explicit = body.model_dump(include=body.model_fields_set - {"definition", "api_key"})
    wf, _ = await workflow_rules.create_workflow(
        services.workflows, services.schedules, principal, body.definition, explicit
    )
    response.headers["Location"] = f"/api/workflows/{wf.id}"
    _with_etag(response, wf.version)
    return {"id": wf.id, "workflow": await detail_view(services, principal, wf)}


@router.post("/validate", response_model=ValidationReport)
async def validate_workflow(
    body: ValidateRequest, principal: PrincipalDep, services: ServicesDep
) -> dict[str, Any]:
    """Validate a definition without creating it."""
    principal.require("workflows:read")
    result = await services.workflows.check(body.definition)
    return {"valid": result.valid, "errors": result.errors, "warnings": result.warnings}


@router.get("/{workflow_id}", response_model=WorkflowDetail)
async def get_workflow(
    workflow_id: str, principal: PrincipalDep, services: ServicesDep, response: Response
) -> dict[str, Any]:
    """One workflow, by id or slug."""
    wf = await services.workflows.get(principal, workflow_id)
    _with_etag(response, wf.version)
    return await detail_view(services, principal, wf)


@router.put("/{workflow_id}", response_model=WorkflowDetail)
async def update_workflow(
    workflow_id: str,
    body: WorkflowUpdate,
    principal: PrincipalDep,
    services: ServicesDep,
    response: Response,
    if_match: Annotated[str | None, Header()] = None,
) -> dict[str, Any]:
    """Update any subset of a workflow; a changed definition makes a new version."""
    changes = body.model_dump(exclude_unset=True, exclude={"api_key"})
    wf, _ = await workflow_rules.update_workflow(
        services.workflows,
        services.schedules,
        principal,
        workflow_id,
        changes,
        if_match=_if_match(if_match),
    )
    _with_etag(response, wf.version)
    return await detail_view(services, principal, wf)


@router.patch("/{workflow_id}/status", response_model=WorkflowDetail)
async def set_workflow_status(
    workflow_id: str, body: StatusChange, principal: PrincipalDep, services: ServicesDep
) -> dict[str, Any]:
    """Move a workflow to draft, active, paused or archived."""
    wf = await services.workflows.set_status(principal, workflow_id, body.status)
    return await detail_view(services, principal, wf)


@router.get("/{workflow_id}/versions", response_model=VersionList)
async def list_versions(
    workflow_id: str, principal: PrincipalDep, services: ServicesDep
) -> dict[str, Any]:
    """Every version, newest first."""
    versions = await services.workflows.versions(principal, workflow_id)
    return {"versions": [version_summary(v) for v in versions]}


@router.get("/{workflow_id}/versions/{version}", response_model=VersionDetail)
async def get_version(
    workflow_id: str, version: VersionNumber, principal: PrincipalDep, services: ServicesDep
) -> dict[str, Any]:
    """One version's full definition."""
    return version_detail(await services.workflows.version(principal, workflow_id, version))


@router.get("/{workflow_id}/diff", response_model=VersionDiff)
async def diff_versions(
    workflow_id: str,
    principal: PrincipalDep,
    services: ServicesDep,
    v1: VersionNumber,
    v2: VersionNumber,
) -> dict[str, Any]:
    """RFC 6902 operations from v1 to v2 and a summary."""
    ops, summary = await services.workflows.diff(principal, workflow_id, v1, v2)
    return {"diff": ops, "summary": summary, "v1": v1, "v2": v2}


@router.post("/{workflow_id}/rollback", response_model=WorkflowDetail)
async def rollback_workflow(
    workflow_id: str,
    body: RollbackRequest,
    principal: PrincipalDep,
    services: ServicesDep,
    response: Response,
) -> dict[str, Any]:
    """Make a new version from an old one."""
    wf = await services.workflows.rollback(principal, workflow_id, body.version)
    _with_etag(response, wf.version)
    return await detail_view(services, principal, wf)
