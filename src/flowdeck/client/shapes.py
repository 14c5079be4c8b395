"""What the client returns: plain dataclasses built from the server's JSON.

Fields a newer server adds land in `extra` instead of breaking an older client; fields an
older server leaves out take their defaults. Timestamps stay ISO 8601 strings, as sent.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar, cast

T = TypeVar("T")


def build(cls: type[T], data: Any) -> T:
    """An instance of the dataclass `cls` from a JSON object; unknown keys go to `extra`."""
    if not isinstance(data, dict):
        from flowdeck.client.errors import UnexpectedAnswer

        got = type(data).__name__
        raise UnexpectedAnswer(f"Expected a JSON object for {cls.__name__}, got {got}")
    names = {f.name for f in dataclasses.fields(cast(Any, cls))} - {"extra"}
    known = {k: v for k, v in data.items() if k in names}
    extra = {k: v for k, v in data.items() if k not in names}
    nested = getattr(cls, "_nested", {})
    for key, inner in nested.items():
        if isinstance(known.get(key), list):
            known[key] = [build(inner, item) for item in known[key]]
    try:
        return cast(Any, cls)(**known, extra=extra)  # type: ignore[no-any-return]
    except TypeError as exc:
        from flowdeck.client.errors import UnexpectedAnswer

        raise UnexpectedAnswer(f"The server's {cls.__name__} lacks a field: {exc}") from None


def as_json(value: Any) -> Any:
    """A shape back as the server's JSON: its fields, and the ones it did not know."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        data = {
            f.name: as_json(getattr(value, f.name))
            for f in dataclasses.fields(value)
            if f.name != "extra"
        }
        data.update(getattr(value, "extra", {}) or {})
        return data
    if isinstance(value, list):
        return [as_json(v) for v in value]
    if isinstance(value, dict):
        return {k: as_json(v) for k, v in value.items()}
    return value


def build_list(cls: type[T], items: Any) -> list[T]:
    """Instances of `cls` from a JSON list (an absent list is empty)."""
    return [build(cls, item) for item in items or []]


@dataclass
class Workflow:
    """A workflow; `definition` is filled by `get`, not by `list`."""

    id: str
    slug: str
    name: str
    version: int
    description: str | None = None
    status: str = "active"
    trigger_type: str = "manual"
    visibility: str = "private"
    tags: list[str] = field(default_factory=list)
    step_count: int = 0
    created_at: str | None = None
    updated_at: str | None = None
    definition: dict[str, Any] | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class Page(Generic[T]):
    """One page of a list; pass `next_cursor` back as `cursor` for the next (None: the end)."""

    items: list[T]
    next_cursor: str | None = None
    total: int | None = None


def page_of(cls: type[T], body: dict[str, Any], key: str) -> Page[T]:
    """The page in a list answer: `body[key]` as `cls`, with its cursor and total."""
    total = body.get("total")
    return Page(build_list(cls, body.get(key)), body.get("next_cursor"), total)


@dataclass
class StepRun:
    """One attempt of one step of a run."""

    id: str
    step_id: str
    status: str
    type: str | None = None
    attempt: int = 1
    current: bool = True
    loop_step_id: str | None = None
    item_index: int | None = None
    output: Any = None
    error: str | None = None
    cost: float | None = None
    started_at: str | None = None
    completed_at: str | None = None
    duration_seconds: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)


RUN_ENDED = frozenset({"completed", "failed", "cancelled"})


@dataclass
class Run:
    """A run; `step_runs` is filled by `get` and `wait`, not by `list`."""

    _nested = {"step_runs": StepRun}  # noqa: RUF012 (a class constant, not a field)

    id: str
    workflow_id: str
    status: str
    workflow_version: int | None = None
    trigger: str | None = None
    input_data: dict[str, Any] = field(default_factory=dict)
    output: Any = None
    error: str | None = None
    cost: float | None = None
    parent_run_id: str | None = None
    created_at: str | None = None
    started_at: str | None = None
    completed_at: str | None = None
    duration_seconds: float | None = None
    step_runs: list[StepRun] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def ended(self) -> bool:
        """True once the run is completed, failed or cancelled."""
        return self.status in RUN_ENDED

    def current_steps(self) -> list[StepRun]:
        """Each step's latest attempt (loop iterations included), in the server's order."""
        return [s for s in self.step_runs if s.current]


@dataclass
class StartedRun:
    """The answer to starting a run: its id and first status."""

    run_id: str
    status: str
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class Approval:
    """An approval step waiting for a decision."""

    run_id: str
    step_id: str
    workflow_id: str | None = None
    workflow_name: str | None = None
    workflow_slug: str | None = None
    run_status: str | None = None
    message: str | None = None
    requested_at: str | None = None
    expires_at: str | None = None
    on_timeout: str | None = None
    requested_by: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class Decision:
    """The answer to an approve or reject."""

    run_id: str
    step_id: str
    approved: bool
    by: str | None = None
    comment: str | None = None
    decided_at: str | None = None
    step_status: str | None = None
    run_status: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class Schedule:
    """A cron schedule of a workflow."""

    id: str
    workflow_id: str
    cron_expression: str
    timezone: str = "UTC"
    input_data: dict[str, Any] = field(default_factory=dict)
    enabled: bool = True
    next_run_at: str | None = None
    last_run_at: str | None = None
    last_run_id: str | None = None
    created_at: str | None = None
    updated_at: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class Deleted:
    """A workflow moved to the trash (or deleted for good)."""

    id: str
    status: str = "success"
    deleted_at: str | None = None
    purge_at: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class RunEvent:
    """One event of a run's log: `seq` orders them and resumes a stream after a break."""

    seq: int
    type: str
    data: dict[str, Any]


@dataclass
class Applied:
    """What `workflows.apply` did: created or updated, and what changed."""

    workflow: Workflow
    created: bool
    previous_version: int | None
    changed: list[str]
    schedules_added: list[str] = field(default_factory=list)
    schedules_removed: list[str] = field(default_factory=list)

    @property
    def unchanged(self) -> bool:
        """True when applying changed nothing on the server."""
        return not (self.created or self.changed or self.schedules_added or self.schedules_removed)
