"""Request bodies. Unknown fields are errors, so a typo never passes silently."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from annotated_types import Ge, Le
from pydantic import BaseModel, ConfigDict, Field

from flowdeck.domain.limits import INT32_MAX, INT64_MAX

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


Definition = dict[str, Any] | str


class WorkflowCreate(RequestBody):
    """POST /api/workflows."""

    definition: Definition = Field(description="The definition, as an object or YAML/JSON text")
    trigger_type: str = "manual"
    tags: list[str] = Field(default_factory=list)
    description: str | None = None
    slug: str | None = None
    status: str = "active"
    visibility: str = "private"
    legacy_webhook_signature: bool = Field(
        default=False, description="Inbound hooks also accept X-Flowdeck-Signature (legacy)"
    )
    project_id: str | None = Field(default=None, description="A project (id or name) to add it to")


class WorkflowUpdate(RequestBody):
    """PUT /api/workflows/{id}: any subset."""

    definition: Definition | None = None
    change_summary: str | None = Field(default=None, max_length=500)
    name: str | None = Field(default=None, min_length=1, max_length=200)
    description: str | None = None
    tags: list[str] | None = None
    trigger_type: str | None = None
    visibility: str | None = None
    legacy_webhook_signature: bool | None = None
    project_id: str | None = Field(
        default=None, description="Move it to this project (id or name); null takes it out"
    )


class ValidateRequest(RequestBody):
    """POST /api/workflows/validate."""

    definition: Any


class StatusChange(RequestBody):
    """PATCH /api/workflows/{id}/status."""

    status: str


class RollbackRequest(RequestBody):
    """POST /api/workflows/{id}/rollback."""

    version: VersionNumber


class RunRequest(RequestBody):
    """POST /api/workflows/{id}/run."""

    input_data: dict[str, Any] = Field(default_factory=dict)
    trigger: str = "manual"
    dry_run: bool = False


class ResumeRequest(RequestBody):
    """POST /api/workflows/runs/{run_id}/resume."""

    from_step: str | None = None
    # Run the resumed steps on this version of the workflow: "latest", or a number; by
    # default the run's own version.
    version: Literal["latest"] | VersionNumber | None = None
