"""Request bodies. Unknown fields are errors, so a typo never passes silently."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any, Literal

from annotated_types import Ge, Le
from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema

from flowdeck.domain.definition_schema import Workflow
from flowdeck.domain.limits import INT32_MAX, INT64_MAX
from flowdeck.models.base import SchemaOf
from flowdeck.models.enums import (
    Granularity,
    RunStatus,
    RunTrigger,
    Scope,
    TriggerType,
    Visibility,
    WorkflowStatus,
)


def one_of(choices: type[StrEnum]) -> WithJsonSchema:
    """Document a text field as the enum it is, while the service checks the value: its 422
    names the field and the choices in one sentence, as for every other rule."""
    return WithJsonSchema(
        {"type": "string", "enum": [c.value for c in choices], "title": choices.__name__}
    )


WorkflowStatusText = Annotated[str, one_of(WorkflowStatus)]
TriggerTypeText = Annotated[str, one_of(TriggerType)]
VisibilityText = Annotated[str, one_of(Visibility)]
RunStatusText = Annotated[str, one_of(RunStatus)]
RunTriggerText = Annotated[str, one_of(RunTrigger)]
ScopeText = Annotated[str, one_of(Scope)]
GranularityText = Annotated[str, one_of(Granularity)]

# Integers that reach the database are bounded by its column types (or tighter), in path,
# query, header and body alike: one out of range is a 422 naming it, never a driver error.
# Paging (SPEC §5: limit ≤ 200, offset, cursor); OFFSET is a BIGINT.
Limit = Annotated[int, Ge(1), Le(200)]
Offset = Annotated[int, Ge(0), Le(INT64_MAX)]
# A workflow version (INTEGER).
VersionNumber = Annotated[int, Ge(1), Le(INT32_MAX)]
# A run's event sequence number (INTEGER), as in Last-Event-ID.
EventSeq = Annotated[int, Ge(0), Le(INT32_MAX)]
# An agent's max_tokens (INTEGER).
MaxTokens = Annotated[int, Ge(1), Le(INT32_MAX)]


class RequestBody(BaseModel):
    """Base of every body: strict about unknown fields; `api_key` may ride along (seed 000)."""

    model_config = ConfigDict(extra="forbid")

    api_key: str | None = Field(default=None, exclude=True, description="Alternative to headers")


# A definition as an object or as YAML/JSON text, with its metadata (slug, tags, schedules…).
# Documented by the definition language's schema; checked by the validator, which reports
# every problem at once as sentences.
Definition = Annotated[dict[str, Any] | str, SchemaOf(Workflow, or_text=True)]


class WorkflowCreate(RequestBody):
    """POST /api/workflows."""

    definition: Definition = Field(description="The definition, as an object or YAML/JSON text")
    trigger_type: TriggerTypeText = "manual"
    tags: list[str] = Field(default_factory=list)
    description: str | None = None
    slug: str | None = None
    status: WorkflowStatusText = "active"
    visibility: VisibilityText = "private"
    legacy_webhook_signature: bool = Field(
        default=False, description="Inbound hooks also accept X-Flowdeck-Signature (legacy)"
    )
    project_id: str | None = Field(default=None, description="A project (id or name) to add it to")


class WorkflowUpdate(RequestBody):
    """PUT /api/workflows/{id}: any subset."""

    definition: Definition | None = None
    change_summary: str | None = Field(default=None, max_length=500)
    name: str | None = Field(default=None, min_length=1, max_length=200)
    slug: str | None = Field(default=None, description="A new slug (the old one stops working)")
    description: str | None = None
    tags: list[str] | None = None
    trigger_type: TriggerTypeText | None = None
    visibility: VisibilityText | None = None
    legacy_webhook_signature: bool | None = None
    project_id: str | None = Field(
        default=None, description="Move it to this project (id or name); null takes it out"
    )


class ValidateRequest(RequestBody):
    """POST /api/workflows/validate."""

    definition: Annotated[Any, SchemaOf(Workflow, or_text=True)]


class StatusChange(RequestBody):
    """PATCH /api/workflows/{id}/status."""

    status: WorkflowStatusText


class RollbackRequest(RequestBody):
    """POST /api/workflows/{id}/rollback."""

    version: VersionNumber


class RunRequest(RequestBody):
    """POST /api/workflows/{id}/run."""

    input_data: dict[str, Any] = Field(default_factory=dict)
    trigger: RunTriggerText = "manual"
    dry_run: bool = False


class ResumeRequest(RequestBody):
    """POST /api/workflows/runs/{run_id}/resume."""

    from_step: str | None = None
    # Run the resumed steps on this version of the workflow: "latest", or a number; by
    # default the run's own version.
    version: Literal["latest"] | VersionNumber | None = None
