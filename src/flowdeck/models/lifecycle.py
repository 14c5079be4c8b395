"""Trash, deletion, archive, bulk delete and workflow tokens, as the API answers them."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from flowdeck.models.base import ApiModel, Paged, Timestamp
from flowdeck.models.enums import Scope
from flowdeck.models.runs import RunSummary
from flowdeck.models.workflows import WorkflowDetail, WorkflowSummary


class BulkDeleteItem(ApiModel):
    """What happened to one id of a bulk delete."""

    id: str
    status: int = Field(description="The HTTP status this id alone would have had")
    result: Literal["trashed", "deleted", "error"]
    detail: str | None = None
    deleted_run_count: int | None = None


class BulkDeleteResult(ApiModel):
    """One result per id."""

    results: list[BulkDeleteItem]
    succeeded: int
    failed: int


class TrashedWorkflow(WorkflowSummary):
    """A workflow in the trash, with when it will be purged."""

    purge_at: Timestamp | None


class TrashList(Paged):
    """The trash, newest first."""

    workflows: list[TrashedWorkflow]
    retention_days: int


class WorkflowDeleted(ApiModel):
    """A workflow moved to the trash, or (with `deleted_run_count`) deleted for good."""

    status: Literal["success"]
    id: str
    deleted_at: Timestamp | None = Field(default=None, description="Trashed: when")
    purge_at: Timestamp | None = Field(default=None, description="Trashed: purged for good at")
    deleted_run_count: int | None = Field(default=None, description="Permanent: runs deleted")


class DeletionPreview(ApiModel):
    """What deleting the workflow for good would take with it."""

    workflow_id: str
    in_trash: bool
    run_count: int
    active_run_count: int
    schedule_count: int
    runs: list[RunSummary] = Field(description="The first 20 runs")
    has_active_runs: bool


class WorkflowArchived(ApiModel):
    """The workflow after archive or unarchive."""

    status: Literal["success"]
    workflow: WorkflowDetail


class WorkflowToken(ApiModel):
    """A short-lived token that may only read and run one workflow."""

    token: str = Field(examples=["fdt_…"])
    workflow_id: str
    scopes: list[Scope]
    expires_in: int
    expires_at: Timestamp | None
