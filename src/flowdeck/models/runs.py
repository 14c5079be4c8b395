"""Runs, step runs, dry-run plans and run events, as the API answers them."""

from __future__ import annotations

from pydantic import Field

from flowdeck.models.base import ApiModel, JsonObject, JsonValue, Paged, Timestamp
from flowdeck.models.enums import RunStatus, RunTrigger, StepStatus


class RunStarted(ApiModel):
    """A run was queued (or an idempotent repeat found the one already started)."""

    run_id: str = Field(examples=["run_01J9Z8Q4T5V6W7X8Y9Z0ABCDEF"])
    status: RunStatus


class RunSummary(ApiModel):
    """A run as it appears in lists."""

    id: str
    workflow_id: str
    workflow_version: int
    status: RunStatus
    trigger: RunTrigger
    input_data: JsonObject
    output: JsonValue = Field(description="The workflow's outputs once it completed")
    error: str | None
    cost: float | None
    parent_run_id: str | None = Field(description="The run whose `workflow` step started it")
    created_at: Timestamp
    started_at: Timestamp | None
    completed_at: Timestamp | None
    duration_seconds: float | None


class StepRunView(ApiModel):
    """One attempt of one step (one per loop iteration too)."""

    id: str
    step_id: str = Field(examples=["fetch", "process[0]"])
    type: str = Field(description="The step type")
    status: StepStatus
    attempt: int
    current: bool = Field(description="The latest attempt of the step")
    loop_step_id: str | None = Field(description="The loop this iteration belongs to")
    item_index: int | None
    output: JsonValue = Field(description="The step type's output (see the step reference)")
    error: str | None
    cost: float | None
    started_at: Timestamp | None
    completed_at: Timestamp | None
    duration_seconds: float | None


class RunDetail(RunSummary):
    """A run with every attempt of every step."""

    step_runs: list[StepRunView]


class RunEnvelope(ApiModel):
    """One run with its step runs."""

    run: RunDetail


class RunChanged(ApiModel):
    """A run after a cancel, pause or resume."""

    run: RunSummary


class RunList(Paged):
    """A page of runs, newest first."""

    runs: list[RunSummary]


class WorkspaceRunList(ApiModel):
    """A page of the workspace's runs across workflows, newest first (cursor paging)."""

    runs: list[RunSummary]
    next_cursor: str | None = Field(
        default=None, description="Pass as `cursor` for the next page; null on the last one"
    )


class AgentEstimate(ApiModel):
    """What an `agent_task` step is expected to cost."""

    agent_id: str | None
    input_tokens: int | None = None
    output_tokens: int | None = None
    cost: float | None = None
    note: str | None = Field(default=None, description="Why no estimate could be made")


class PlannedStep(ApiModel):
    """One step of a dry run."""

    id: str
    type: str
    level: int = Field(description="Steps of one level may run at the same time")
    depends_on: list[str]
    cost: float
    estimated_cost: float
    agent_estimate: AgentEstimate | None = None


class RunPlan(ApiModel):
    """A dry run: what would run, in which order, at what cost; nothing ran."""

    valid: bool
    errors: list[str]
    plan: list[list[str]] = Field(description="Step ids by level")
    steps: list[PlannedStep]
    estimated_cost: float
    estimated_duration_seconds: float | None
    estimate_basis: str
