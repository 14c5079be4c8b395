"""Schedules, as the API answers them."""

from __future__ import annotations

from pydantic import Field

from flowdeck.models.base import ApiModel, JsonObject, Paged, Timestamp


class ScheduleView(ApiModel):
    """A cron schedule of a workflow."""

    id: str = Field(examples=["sched_01J9Z8Q4T5V6W7X8Y9Z0ABCDEF"])
    workflow_id: str
    cron_expression: str = Field(examples=["0 9 * * 1-5"])
    timezone: str = Field(examples=["Europe/Paris"])
    input_data: JsonObject
    enabled: bool
    next_run_at: Timestamp | None
    last_run_at: Timestamp | None
    last_run_id: str | None
    created_at: Timestamp
    updated_at: Timestamp


class ScheduleList(Paged):
    """A page of schedules, newest first."""

    schedules: list[ScheduleView]


class ScheduleSaved(ApiModel):
    """A created or changed schedule."""

    schedule_id: str
    next_run_at: Timestamp | None
    schedule: ScheduleView


class ScheduleEnvelope(ApiModel):
    """One schedule."""

    schedule: ScheduleView
