"""Lifecycle endpoints (SPEC §5 Workflows): archive, trash, delete, clone, fork, tokens."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import AliasChoices, Field

from flowdeck.api.deps import PrincipalDep, ServicesDep
from flowdeck.api.retry import RetryingRoute
from flowdeck.api.routes.workflows import detail_view
from flowdeck.api.schemas import Limit, Offset, RequestBody
from flowdeck.domain.clock import isoformat
from flowdeck.errors import InvalidInput
from flowdeck.models import (
    BulkDeleteResult,
    DeletionPreview,
    TrashList,
    WebhookSecret,
    WorkflowArchived,
    WorkflowCreated,
    WorkflowDeleted,
    WorkflowDetail,
    WorkflowToken,
)
from flowdeck.services.auth import TOKEN_DEFAULT_SECONDS, TOKEN_MAX_SECONDS, TOKEN_SCOPES
from flowdeck.services.lifecycle import BULK_MAX_IDS
from flowdeck.services.views import run_summary, workflow_summary

router = APIRouter(route_class=RetryingRoute, tags=["workflows"])


class BulkDeleteRequest(RequestBody):
    """POST /api/workflows/bulk-delete."""

    ids: list[str] = Field(min_length=1, max_length=BULK_MAX_IDS)
    permanent: bool = False
    cascade: bool = False


class CloneRequest(RequestBody):
    """POST /api/workflows/{id}/clone."""

    name: str = Field(min_length=1, max_length=200)
    slug: str | None = None


class ForkRequest(RequestBody):
    """POST /api/workflows/fork (seed 000 calls the slug `url`; both are accepted)."""

    source_workspace: str = Field(min_length=1)
    source_workflow: str = Field(min_length=1)
    name: str | None = Field(default=None, min_length=1, max_length=200)
    slug: str | None = Field(default=None, validation_alias=AliasChoices("slug", "url"))


class TokenRequest(RequestBody):
    """POST /api/workflows/{id}/token."""

    expires_in: int = Field(default=TOKEN_DEFAULT_SECONDS, ge=1, le=TOKEN_MAX_SECONDS)


@router.post("/api/workflows/bulk-delete", response_model=BulkDeleteResult)
async def bulk_delete_workflows(
    body: BulkDeleteRequest, principal: PrincipalDep, services: ServicesDep
) -> dict[str, Any]:
    """Trash (or, with `permanent`, delete for good) many workflows; one result per id."""
    outcomes = await services.lifecycle.bulk_delete(
        principal, body.ids, permanent=body.permanent, cascade=body.cascade
    )
    results = []
    for o in outcomes:
        item: dict[str, Any] = {"id": o.id, "status": o.status, "result": o.result}
        if o.detail is not None:
            item["detail"] = o.detail
        if o.deleted_run_count is not None:
            item["deleted_run_count"] = o.deleted_run_count
        results.append(item)
    failed = sum(1 for o in outcomes if o.result == "error")
    return {"results": results, "succeeded": len(outcomes) - failed, "failed": failed}


@router.post("/api/workflows/fork", status_code=201, response_model=WorkflowCreated)
async def fork_workflow(
    body: ForkRequest, principal: PrincipalDep, services: ServicesDep
) -> dict[str, Any]:
    """Copy another workspace's public workflow into this one."""
    wf = await services.lifecycle.fork(
        principal, body.source_workspace, body.source_workflow, name=body.name, slug=body.slug
    )
    return {"id": wf.id, "workflow": await detail_view(services, principal, wf)}


@router.get("/api/trash", response_model=TrashList)
async def list_trash(
    principal: PrincipalDep,
    services: ServicesDep,
    limit: Limit = 50,
    offset: Offset = 0,
    cursor: str | None = None,
) -> dict[str, Any]:
    """Workflows in the trash, newest first, with when each will be purged."""
    page = await services.lifecycle.list_trash(principal, limit=limit, offset=offset, cursor=cursor)
    return {
        "workflows": [
            {
                **workflow_summary(w, principal),
                "purge_at": isoformat(services.lifecycle.purge_at(w)),
            }
            for w in page.items
        ],
        "total": page.total,
        "next_cursor": page.next_cursor,
        "retention_days": services.settings.trash_retention_days,
    }


@router.delete("/api/workflows/{workflow_id}", response_model=WorkflowDeleted)
async def delete_workflow(
    workflow_id: str,
    principal: PrincipalDep,
    services: ServicesDep,
    permanent: bool = False,
    cascade: bool = False,
) -> dict[str, Any]:
    """Move to the trash; with `permanent=true` (admin) delete for good (runs need cascade)."""
    if not permanent:
        if cascade:
            raise InvalidInput(
                "Invalid delete", errors=["cascade applies only with permanent=true"]
            )
        wf = await services.lifecycle.trash(principal, workflow_id)
        return {
            "status": "success",
            "id": wf.id,
            "deleted_at": isoformat(wf.deleted_at),
            "purge_at": isoformat(services.lifecycle.purge_at(wf)),
        }
    wf, runs = await services.lifecycle.delete_permanently(principal, workflow_id, cascade=cascade)
    return {"status": "success", "id": wf.id, "deleted_run_count": runs}


@router.get("/api/workflows/{workflow_id}/deletion-preview", response_model=DeletionPreview)
async def preview_workflow_deletion(
    workflow_id: str, principal: PrincipalDep, services: ServicesDep
) -> dict[str, Any]:
    """What deleting the workflow for good would take with it."""
    p = await services.lifecycle.preview_deletion(principal, workflow_id)
    return {
        "workflow_id": p.workflow.id,
        "in_trash": p.workflow.deleted_at is not None,
        "run_count": p.run_count,
        "active_run_count": p.active_run_count,
        "schedule_count": p.schedule_count,
        "runs": [run_summary(r) for r in p.runs],
        "has_active_runs": p.active_run_count > 0,
    }


@router.post("/api/workflows/{workflow_id}/restore", response_model=WorkflowDetail)
async def restore_workflow(
    workflow_id: str, principal: PrincipalDep, services: ServicesDep
) -> dict[str, Any]:
    """Take a workflow out of the trash."""
    wf = await services.lifecycle.restore(principal, workflow_id)
    return await detail_view(services, principal, wf)


@router.post("/api/workflows/{workflow_id}/archive", response_model=WorkflowArchived)
async def archive_workflow(
    workflow_id: str, principal: PrincipalDep, services: ServicesDep
) -> dict[str, Any]:
    """Archive: hidden from the default list, cannot start runs; its runs stay readable."""
    wf = await services.lifecycle.archive(principal, workflow_id)
    return {"status": "success", "workflow": await detail_view(services, principal, wf)}


@router.post("/api/workflows/{workflow_id}/unarchive", response_model=WorkflowArchived)
async def unarchive_workflow(
    workflow_id: str, principal: PrincipalDep, services: ServicesDep
) -> dict[str, Any]:
    """Back to the status the workflow had before it was archived."""
    wf = await services.lifecycle.unarchive(principal, workflow_id)
    return {"status": "success", "workflow": await detail_view(services, principal, wf)}


@router.post("/api/workflows/{workflow_id}/clone", status_code=201, response_model=WorkflowCreated)
async def clone_workflow(
    workflow_id: str, body: CloneRequest, principal: PrincipalDep, services: ServicesDep
) -> dict[str, Any]:
    """A copy with the definition, tags and description (not runs or schedules)."""
    wf = await services.lifecycle.clone(principal, workflow_id, body.name, body.slug)
    return {"id": wf.id, "workflow": await detail_view(services, principal, wf)}


@router.post("/api/workflows/{workflow_id}/token", response_model=WorkflowToken)
async def create_workflow_token(
    workflow_id: str,
    principal: PrincipalDep,
    services: ServicesDep,
    body: TokenRequest | None = None,
) -> dict[str, Any]:
    """A short-lived token that may only read and run this workflow (seed 000)."""
    expires_in = body.expires_in if body is not None else TOKEN_DEFAULT_SECONDS
    token, wf, claims = await services.lifecycle.access.create_token(
        principal, workflow_id, expires_in
    )
    return {
        "token": token,
        "workflow_id": wf.id,
        "scopes": list(TOKEN_SCOPES),
        "expires_in": expires_in,
        "expires_at": isoformat(claims.expires_at),
    }


@router.post("/api/workflows/{workflow_id}/webhook-secret", response_model=WebhookSecret)
async def rotate_webhook_secret(
    workflow_id: str, principal: PrincipalDep, services: ServicesDep
) -> dict[str, Any]:
    """Replace the webhook secret; the old one stops working at once."""
    secret = await services.lifecycle.access.rotate_webhook_secret(principal, workflow_id)
    return {"webhook_secret": secret}
