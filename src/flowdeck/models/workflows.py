"""Workflows, their versions and diffs, as the API answers them."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field

from flowdeck.domain.definition_schema import WorkflowDefinitionSchema
from flowdeck.models.base import ApiModel, JsonValue, Paged, SchemaOf, Timestamp
from flowdeck.models.enums import TriggerType, Visibility, WorkflowStatus

# A stored definition, as the server answers it. Its schema is the definition language's
# (`WorkflowDefinition`); the value is passed through as stored, never re-validated (a plugin
# step type is not in the built-in union).
DefinitionOut = Annotated[dict[str, Any], SchemaOf(WorkflowDefinitionSchema)]


class Permissions(ApiModel):
    """What the caller may do with the workflow."""

    use: bool = Field(description="May start runs")
    edit: bool = Field(description="May change it")


class WorkflowSummary(ApiModel):
    """A workflow as it appears in lists."""

    id: str = Field(examples=["wf_01J9Z8Q4T5V6W7X8Y9Z0ABCDEF"])
    slug: str = Field(examples=["fetch-and-notify"])
    name: str
    description: str | None
    version: int = Field(ge=1, description="The current version")
    status: WorkflowStatus
    trigger_type: TriggerType
    visibility: Visibility
    tags: list[str]
    project_id: str | None = Field(default=None, description="The project it belongs to, if any")
    step_count: int
    created_at: Timestamp
    updated_at: Timestamp
    permissions: Permissions
    deleted_at: Timestamp | None = Field(default=None, description="Only on trashed workflows")


class WorkflowSource(ApiModel):
    """Where a cloned, forked or installed workflow came from."""

    workflow_id: str
    kind: str | None = Field(description="clone, fork or template")


class WorkflowDetail(WorkflowSummary):
    """The full workflow, with its current definition."""

    definition: DefinitionOut
    warnings: list[str] = Field(description="Literal credentials found in the definition")
    legacy_webhook_signature: bool
    created_by: str | None
    source: WorkflowSource | None
    webhook_secret: str | None = Field(
        default=None, description="The inbound webhook secret; only shown to editors"
    )


class PublicWorkflow(WorkflowSummary):
    """A public workflow as anyone may read it (credentials in the definition are masked)."""

    definition: DefinitionOut
    workspace: str = Field(description="The owning workspace's slug")


class WorkflowList(Paged):
    """A page of workflows."""

    workflows: list[WorkflowSummary]


class WorkflowCreated(ApiModel):
    """A new workflow (create, clone, fork)."""

    id: str
    workflow: WorkflowDetail


class ValidationReport(ApiModel):
    """Whether a definition is valid: every error at once, as sentences."""

    valid: bool
    errors: list[str]
    warnings: list[str]


class VersionSummary(ApiModel):
    """One version in the version list."""

    version: int = Field(ge=1)
    change_summary: str | None
    created_at: Timestamp
    created_by: str | None


class VersionList(ApiModel):
    """Every version, newest first."""

    versions: list[VersionSummary]


class VersionDetail(VersionSummary):
    """One version with its full definition."""

    workflow_id: str
    definition: DefinitionOut


class PatchOperation(ApiModel):
    """One RFC 6902 JSON Patch operation."""

    op: Literal["add", "remove", "replace", "move", "copy", "test"]
    path: str
    value: JsonValue = None
    from_: str | None = Field(default=None, alias="from")


class VersionDiff(ApiModel):
    """What changed from v1 to v2."""

    diff: list[PatchOperation]
    summary: str = Field(examples=["Added 1 step, modified 1 step"])
    v1: int
    v2: int


class WorkflowRef(ApiModel):
    """A workflow made from a template."""

    workflow_id: str
    name: str
    slug: str


class WebhookSecret(ApiModel):
    """A workflow's new inbound webhook secret."""

    webhook_secret: str = Field(examples=["whsec_…"])


__all__ = [
    "DefinitionOut",
    "Permissions",
    "PublicWorkflow",
    "ValidationReport",
    "VersionDetail",
    "VersionDiff",
    "VersionList",
    "VersionSummary",
    "WebhookSecret",
    "WorkflowCreated",
    "WorkflowDetail",
    "WorkflowList",
    "WorkflowRef",
    "WorkflowSource",
    "WorkflowSummary",
]
