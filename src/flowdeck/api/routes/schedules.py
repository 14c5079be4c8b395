"""Schedule endpoints (SPEC §5): list, create, read, change and delete cron schedules."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response
from pydantic import Field, field_validator

from flowdeck.api.deps import PrincipalDep, ServicesDep
from flowdeck.api.retry import RetryingRoute
from flowdeck.api.schemas import Limit, Offset, RequestBody
from flowdeck.domain.schedules import Schedule
from flowdeck.models import ScheduleEnvelope, ScheduleList, ScheduleSaved
from flowdeck.services.schedules import ScheduleChanges, schedule_view

router = APIRouter(route_class=RetryingRoute, prefix="/api/workflows", tags=["schedules"])


class ScheduleCreate(RequestBody):
    """POST /api/workflows/{id}/schedules."""

    cron_expression: str = Field(
        max_length=200,
        description="5 fields (minute hour day-of-month month day-of-week), or 6 with seconds last",
        examples=["0 9 * * 1-5"],
    )
    timezone: str = Field(default="UTC", max_length=64, examples=["America/New_York"])
    input_data: dict[str, Any] = Field(default_factory=dict)
    enabled: bool = True


class ScheduleUpdate(RequestBody):
    """PATCH /api/workflows/schedules/{id}: any subset; a field left out keeps its value."""

    cron_expression: str | None = Field(default=None, max_length=200)
    timezone: str | None = Field(default=None, max_length=64)
    input_data: dict[str, Any] | None = None
    enabled: bool | None = None

    @field_validator("cron_expression", "timezone", "input_data", "enabled")
    @classmethod
    def _not_null(cls, value: Any) -> Any:
        # Only runs for values that were sent: leaving a field out is how to keep it.
        if value is None:
            raise ValueError("may be left out but not null")
        return value


def _answer(schedule: Schedule) -> dict[str, Any]:
    view = schedule_view(schedule)
    return {"schedule_id": schedule.id, "next_run_at": view["next_run_at"], "schedule": view}


@router.get("/{workflow_id}/schedules", response_model=ScheduleList)
async def list_workflow_schedules(
    workflow_id: str,
    principal: PrincipalDep,
    services: ServicesDep,
    limit: Limit = 50,
    offset: Offset = 0,
    cursor: str | None = None,
) -> dict[str, Any]:
    """A workflow's schedules, newest first."""
    page = await services.schedules.list_schedules(
        principal, workflow_id, limit=limit, offset=offset, cursor=cursor
    )
    return {
        "schedules": [schedule_view(s) for s in page.items],
        "total": page.total,
        "next_cursor": page.next_cursor,
    }


@router.post("/{workflow_id}/schedules", status_code=201, response_model=ScheduleSaved)
async def create_schedule(
    workflow_id: str, body: ScheduleCreate, principal: PrincipalDep, services: ServicesDep
) -> dict[str, Any]:
    """Add a cron schedule to a workflow: 201 `{schedule_id, next_run_at, schedule}`."""
    schedule = await services.schedules.create(
        principal,
        workflow_id,
        cron_expression=body.cron_expression,
        timezone=body.timezone,
        input_data=body.input_data,
        enabled=body.enabled,
    )
    return _answer(schedule)


@router.get("/schedules/{schedule_id}", response_model=ScheduleEnvelope)
async def get_schedule(
    schedule_id: str, principal: PrincipalDep, services: ServicesDep
) -> dict[str, Any]:
    """One schedule."""
    return {"schedule": schedule_view(await services.schedules.get(principal, schedule_id))}


@router.patch("/schedules/{schedule_id}", response_model=ScheduleSaved)
async def update_schedule(
    schedule_id: str, body: ScheduleUpdate, principal: PrincipalDep, services: ServicesDep
) -> dict[str, Any]:
    """Change a schedule's cron, time zone, inputs or enabled flag."""
    changes = ScheduleChanges(
        cron_expression=body.cron_expression,
        timezone=body.timezone,
        input_data=body.input_data,
        enabled=body.enabled,
    )
    return _answer(await services.schedules.update(principal, schedule_id, changes))


@router.delete("/schedules/{schedule_id}", status_code=204)
async def delete_schedule(
    schedule_id: str, principal: PrincipalDep, services: ServicesDep
) -> Response:
    """Delete a schedule (its past runs stay)."""
    await services.schedules.delete(principal, schedule_id)
    return Response(status_code=204)
