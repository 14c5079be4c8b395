"""Run endpoints (SPEC §5 Runs): start, dry run, read, list, steer, delete, stream."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Header, Request, Response
from fastapi.responses import JSONResponse
from sse_starlette import EventSourceResponse

from flowdeck.api.deps import PrincipalDep, ServicesDep
from flowdeck.api.links import RUN_LINKS, SSE, SSE_SCHEMA, STREAM_DESCRIPTION, links
from flowdeck.api.retry import RetryingRoute
from flowdeck.api.schemas import (
    EventSeq,
    Limit,
    Offset,
    ResumeRequest,
    RunRequest,
    RunStatusText,
    RunTriggerText,
)
from flowdeck.api.sse import run_events_response
from flowdeck.models import (
    RunChanged,
    RunEnvelope,
    RunList,
    RunPlan,
    RunStarted,
    WorkspaceRunList,
)
from flowdeck.services.views import run_detail, run_summary

router = APIRouter(route_class=RetryingRoute, prefix="/api/workflows", tags=["runs"])


@router.post(
    "/{workflow_id}/run",
    status_code=202,
    response_model=None,
    responses={
        202: {
            "model": RunStarted,
            "description": "The run was queued",
            "links": links("run_id", "run_id", RUN_LINKS),
        },
        200: {"model": RunPlan, "description": "`dry_run`: the plan; nothing ran"},
    },
)
async def start_run(
    workflow_id: str,
    body: RunRequest,
    principal: PrincipalDep,
    services: ServicesDep,
    idempotency_key: Annotated[str | None, Header(max_length=200)] = None,
) -> dict[str, Any] | JSONResponse:
    """Start a run (202), or plan one with `dry_run` (200)."""
    if body.dry_run:
        plan = await services.runs.plan(principal, workflow_id, input_data=body.input_data)
        answer = RunPlan.model_validate(
            {
                "valid": plan.valid,
                "errors": plan.errors,
                "plan": plan.plan,
                "steps": plan.steps,
                "estimated_cost": plan.estimated_cost,
                "estimated_duration_seconds": plan.estimated_duration_seconds,
                "estimate_basis": plan.estimate_basis,
            }
        )
        # 200, not the route's 202: the answer's model is checked here, as response_model
        # does for the other answers.
        return JSONResponse(answer.model_dump(mode="json", exclude_unset=True))
    run, _created = await services.runs.start(
        principal,
        workflow_id,
        input_data=body.input_data,
        trigger=body.trigger,
        idempotency_key=idempotency_key,
    )
    return {"run_id": run.id, "status": run.status}


@router.get("/{workflow_id}/runs", response_model=RunList)
async def list_workflow_runs(
    workflow_id: str,
    principal: PrincipalDep,
    services: ServicesDep,
    status: RunStatusText | None = None,
    limit: Limit = 50,
    offset: Offset = 0,
    cursor: str | None = None,
) -> dict[str, Any]:
    """A workflow's runs, newest first."""
    page = await services.runs.list_runs(
        principal, workflow_id, status=status, limit=limit, offset=offset, cursor=cursor
    )
    return {
        "runs": [run_summary(r) for r in page.items],
        "total": page.total,
        "next_cursor": page.next_cursor,
    }


@router.get("/runs/{run_id}", response_model=RunEnvelope)
async def get_run(run_id: str, principal: PrincipalDep, services: ServicesDep) -> dict[str, Any]:
    """A run with its step runs."""
    run, steps = await services.runs.get(principal, run_id)
    return {"run": run_detail(run, steps)}


@router.post("/runs/{run_id}/cancel", response_model=RunChanged)
async def cancel_run(run_id: str, principal: PrincipalDep, services: ServicesDep) -> dict[str, Any]:
    """Cancel an active run."""
    return {"run": run_summary(await services.runs.cancel(principal, run_id))}


@router.post("/runs/{run_id}/pause", response_model=RunChanged)
async def pause_run(run_id: str, principal: PrincipalDep, services: ServicesDep) -> dict[str, Any]:
    """Stop dispatching new steps; running ones finish."""
    return {"run": run_summary(await services.runs.pause(principal, run_id))}


@router.post("/runs/{run_id}/resume", response_model=RunChanged)
async def resume_run(
    run_id: str,
    principal: PrincipalDep,
    services: ServicesDep,
    body: ResumeRequest | None = None,
) -> dict[str, Any]:
    """Resume from a step or from the last checkpoint, on the run's version or another."""
    from_step = body.from_step if body else None
    version = body.version if body else None
    run = await services.runs.resume(principal, run_id, from_step, version)
    return {"run": run_summary(run)}


@router.delete("/runs/{run_id}", status_code=204)
async def delete_run(run_id: str, principal: PrincipalDep, services: ServicesDep) -> Response:
    """Delete a finished run."""
    await services.runs.delete(principal, run_id)
    return Response(status_code=204)


@router.get(
    "/runs/{run_id}/stream",
    response_class=EventSourceResponse,
    responses={200: {"description": STREAM_DESCRIPTION, "content": {SSE: {"schema": SSE_SCHEMA}}}},
)
async def stream_run(
    run_id: str,
    request: Request,
    principal: PrincipalDep,
    services: ServicesDep,
    last_event_id: Annotated[EventSeq | None, Header()] = None,
) -> EventSourceResponse:
    """Server-Sent Events: replay the log (after Last-Event-ID), then follow it live."""
    after = last_event_id or 0
    await services.runs.events(principal, run_id, after)  # 404 before the stream starts
    return run_events_response(request, services, principal, run_id, after)


# Runs across the workspace's workflows live at /api/runs, outside the /api/workflows prefix.
workspace_router = APIRouter(route_class=RetryingRoute, prefix="/api", tags=["runs"])


@workspace_router.get("/runs", response_model=WorkspaceRunList)
async def list_workspace_runs(
    principal: PrincipalDep,
    services: ServicesDep,
    status: RunStatusText | None = None,
    workflow_id: str | None = None,
    trigger: RunTriggerText | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: Limit = 50,
    cursor: str | None = None,
) -> dict[str, Any]:
    """Every run in the workspace, newest first; `next_cursor` fetches the next page."""
    page = await services.runs.list_workspace_runs(
        principal,
        status=status,
        workflow_id=workflow_id,
        trigger=trigger,
        since=since,
        until=until,
        limit=limit,
        cursor=cursor,
    )
    return {"runs": [run_summary(r) for r in page.items], "next_cursor": page.next_cursor}
