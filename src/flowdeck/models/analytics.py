"""A workflow's analytics and related objects, as the API answers them."""

from __future__ import annotations

from pydantic import Field

from flowdeck.models.base import ApiModel, Timestamp
from flowdeck.models.enums import Granularity


class Kpis(ApiModel):
    """Totals over the window."""

    total_runs: int
    completed: int
    failed: int
    cancelled: int
    success_rate: float | None = Field(description="completed / (completed + failed)")
    p50_duration_seconds: float | None
    p95_duration_seconds: float | None
    total_cost: float


class PeriodRuns(ApiModel):
    """Runs that started in one period."""

    period: str = Field(examples=["2026-11-30"])
    total: int
    completed: int
    failed: int
    cancelled: int


class PeriodSuccess(ApiModel):
    """The success rate of one period."""

    period: str
    success_rate: float | None


class StepTypeCost(ApiModel):
    """Cost by step type."""

    step_type: str
    cost: float
    step_runs: int


class StepStats(ApiModel):
    """Statistics of one step over the window."""

    step_id: str
    step_type: str
    runs: int
    attempts: int
    completed: int
    failed: int
    skipped: int
    avg_duration_seconds: float | None
    total_cost: float


class WorkflowAnalytics(ApiModel):
    """KPIs, series, cost by step type and per-step statistics."""

    workflow_id: str
    days: int
    granularity: Granularity
    since: Timestamp
    until: Timestamp
    kpis: Kpis
    runs_over_time: list[PeriodRuns]
    success_rate_series: list[PeriodSuccess]
    cost_breakdown: list[StepTypeCost]
    step_stats: list[StepStats]


class RelatedSchedule(ApiModel):
    """A schedule of the workflow."""

    id: str
    cron_expression: str
    timezone: str
    enabled: bool
    next_run_at: Timestamp | None


class RelatedTemplate(ApiModel):
    """A template saved from the workflow."""

    id: str
    name: str
    category: str
    created_at: Timestamp | None


class RelatedCopy(ApiModel):
    """A clone or fork of the workflow in this workspace."""

    id: str
    name: str
    slug: str
    kind: str | None
    created_at: Timestamp


class RelatedSource(ApiModel):
    """What the workflow was made from (`available: false` once it is gone)."""

    kind: str = Field(description="clone, fork or template")
    id: str
    name: str | None
    available: bool
    is_builtin: bool | None = None
    slug: str | None = None
    workspace: str | None = None


class WorkflowRelated(ApiModel):
    """Schedules, templates saved from it, clones and forks of it, and its source."""

    workflow_id: str
    schedules: list[RelatedSchedule]
    templates: list[RelatedTemplate]
    copies: list[RelatedCopy]
    forks_elsewhere: int = Field(description="Forks into other workspaces (not shown)")
    source: RelatedSource | None
