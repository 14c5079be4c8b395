"""Every closed set the API answers or accepts, as enums (statuses, triggers, scopes…)."""

from __future__ import annotations

from enum import StrEnum

from flowdeck.domain.states import RunStatus, StepStatus

__all__ = [
    "Granularity",
    "RunStatus",
    "RunTrigger",
    "Scope",
    "StepStatus",
    "TriggerRule",
    "TriggerType",
    "Visibility",
    "WorkflowStatus",
]


class WorkflowStatus(StrEnum):
    """Whether a workflow may start runs (`active`) or not."""

    DRAFT = "draft"
    ACTIVE = "active"
    PAUSED = "paused"
    ARCHIVED = "archived"


class TriggerType(StrEnum):
    """How a workflow is meant to be started."""

    MANUAL = "manual"
    SCHEDULE = "schedule"
    WEBHOOK = "webhook"
    API = "api"


class RunTrigger(StrEnum):
    """What started a run (`workflow`: a parent run's `workflow` step)."""

    MANUAL = "manual"
    API = "api"
    SCHEDULE = "schedule"
    WEBHOOK = "webhook"
    WORKFLOW = "workflow"


class Visibility(StrEnum):
    """`public` workflows can be read and forked by anyone who knows their slug."""

    PRIVATE = "private"
    PUBLIC = "public"


class Scope(StrEnum):
    """What an API key may do (`workflows:admin` implies every other scope)."""

    READ = "workflows:read"
    WRITE = "workflows:write"
    RUN = "workflows:run"
    ADMIN = "workflows:admin"


class Granularity(StrEnum):
    """The period of an analytics series."""

    DAILY = "daily"
    WEEKLY = "weekly"
    MONTHLY = "monthly"


class TriggerRule(StrEnum):
    """When a step with dependencies runs (Airflow's trigger rules)."""

    ALL_SUCCESS = "all_success"
    NONE_FAILED = "none_failed"
    ALL_DONE = "all_done"
