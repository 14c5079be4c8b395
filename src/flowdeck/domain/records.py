"""Plain records that the store returns and services pass around."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Generic, Literal, TypeVar

from flowdeck.domain.states import RunStatus, StepStatus

Scope = Literal["workflows:read", "workflows:write", "workflows:run", "workflows:admin"]
SCOPES: tuple[Scope, ...] = (
    "workflows:read",
    "workflows:write",
    "workflows:run",
    "workflows:admin",
)
WorkflowStatus = Literal["draft", "active", "paused", "archived"]
WORKFLOW_STATUSES: tuple[WorkflowStatus, ...] = ("draft", "active", "paused", "archived")
TriggerType = Literal["manual", "schedule", "webhook", "api"]
TRIGGER_TYPES: tuple[TriggerType, ...] = ("manual", "schedule", "webhook", "api")
Visibility = Literal["private", "public"]
T = TypeVar("T")


@dataclass(frozen=True)
class Workspace:
    """A tenant."""

    id: str
    slug: str
    name: str
    created_at: datetime


@dataclass(frozen=True)
class ApiKey:
    """An API key as stored: never the secret, only its hash."""

    id: str
    workspace_id: str
    name: str
    prefix: str
    scopes: tuple[str, ...]
    instance_admin: bool
    created_at: datetime
    last_used_at: datetime | None = None
    revoked_at: datetime | None = None

    def allows(self, scope: str) -> bool:
        """True when the key carries `scope` or `workflows:admin`."""
        return scope in self.scopes or "workflows:admin" in self.scopes


@dataclass(frozen=True)
class Workflow:
    """A workflow's metadata and its current definition."""

    id: str
    workspace_id: str
    slug: str
    name: str
    description: str | None
    tags: tuple[str, ...]
    status: str
    trigger_type: str
    visibility: str
    version: int
    definition: dict[str, Any]
    created_at: datetime
    updated_at: datetime
    created_by: str | None = None
    deleted_at: datetime | None = None
    pre_archive_status: str | None = None
    source_workflow_id: str | None = None
    source_kind: str | None = None
    # Ciphertext (SecretBox); only the lifecycle service decrypts it, for editors.
    webhook_secret: str | None = field(default=None, repr=False)
    # Inbound hooks also accept the timestamp-less X-Flowdeck-Signature (opt-in, legacy senders).
    legacy_webhook_signature: bool = False
    # The project (seed 004) it belongs to, if any.
    project_id: str | None = None
    # The key that made it: written on creation (kept in `workflow_refs`), not read back here.
    owner_key_id: str | None = None


@dataclass(frozen=True)
class WorkflowVersion:
    """An immutable snapshot of a definition."""

    workflow_id: str
    version: int
    definition: dict[str, Any]
    change_summary: str
    created_at: datetime
    created_by: str | None = None


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of a list and the total it was cut from."""

    items: list[T]
    total: int
    next_cursor: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class WorkflowFilter:
    """What a workflow list may be narrowed by."""

    status: str | None = None
    trigger_type: str | None = None
    tag: str | None = None
    q: str | None = None
    include_archived: bool = False
    only_archived: bool = False
    deleted: bool = False
    project_id: str | None = None


@dataclass(frozen=True)
class Run:
    """One execution of one workflow version."""

    id: str
    workspace_id: str
    workflow_id: str
    workflow_version: int
    status: RunStatus
    trigger: str
    input_data: dict[str, Any]
    created_at: datetime
    output: Any = None
    error: str | None = None
    cost: float = 0.0
    idempotency_key: str | None = None
    max_concurrency: int | None = None
    parent_run_id: str | None = None
    parent_step_run_id: str | None = None
    steps_remaining: int = 0
    steps_failed: int = 0
    created_by: str | None = None
    started_at: datetime | None = None
    completed_at: datetime | None = None


@dataclass(frozen=True)
class StepRun:
    """One attempt of one step (or one loop iteration) of a run."""

    id: str
    run_id: str
    step_id: str
    step_type: str
    attempt: int
    status: StepStatus
    created_at: datetime
    is_current: bool = True
    parent_step_id: str | None = None
    item_index: int | None = None
    output: Any = None
    error: str | None = None
    state: dict[str, Any] | None = None
    cost: float = 0.0
    deps_remaining: int = 0
    n_completed: int = 0
    n_failed: int = 0
    n_skipped: int = 0
    available_at: datetime | None = None
    wake_at: datetime | None = None
    lease_owner: str | None = None
    lease_expires_at: datetime | None = None
    started_at: datetime | None = None
    completed_at: datetime | None = None


@dataclass(frozen=True)
class RunEvent:
    """One entry of a run's event log."""

    run_id: str
    seq: int
    type: str
    data: dict[str, Any]
    created_at: datetime


@dataclass(frozen=True)
class DependentUpdate:
    """A pending step's counters after one of its dependencies ended."""

    id: str
    step_id: str
    deps_remaining: int
    n_completed: int
    n_failed: int
    n_skipped: int
