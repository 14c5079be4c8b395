"""Seed 003's answers (`/api/v2/w/{workspace_uuid}/workflows/…`): camelCase
WorkflowResponse objects whose `tasks` are the workflow's steps. The fields a PUT stores
(`prompt`, `agentId`, `posX`, `abilities`, …) come back as they were given."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from flowdeck.models.base import ApiModel, JsonValue, Timestamp
from flowdeck.models.workflows import Permissions

Success = Literal["success"]


class V2WorkspaceView(ApiModel):
    """The caller's workspace, with the UUID seed 003's paths name it by."""

    uuid: str
    slug: str
    name: str


class V2Member(ApiModel):
    """The caller: its key's integer id (what `ownerId` holds) and name."""

    id: int | None
    name: str


class V2MyWorkspace(ApiModel):
    """GET /api/v2/w."""

    workspaces: list[V2WorkspaceView]
    member: V2Member


class V2Task(ApiModel):
    """A step as a TaskResponse (`id` its position, from 1)."""

    id: int
    stepId: str | None
    name: str | None
    description: JsonValue = Field(description="The step's goal, when it has one")
    type: str | None
    dependsOn: list[str]


class V2Workflow(ApiModel):
    """The seed's WorkflowResponse."""

    id: int
    uuid: str
    name: str
    description: str | None
    ownerId: int | None = Field(description="The owning key's integer id")
    agentId: str | None = Field(description="The agent's name")
    startTaskId: int | None
    tasks: list[V2Task]
    permissions: Permissions
    prompt: str | None
    posX: int | float | None
    posY: int | float | None
    abilities: list[JsonValue]
    eventRules: list[JsonValue]
    defaultPhoneNumberId: int | None
    defaultInboxId: int | None
    memberRoleAccess: list[JsonValue]
    archived: bool
    createdAt: Timestamp
    updatedAt: Timestamp


class V2WorkflowList(ApiModel):
    """The workspace's workflows (or its archived ones)."""

    workflows: list[V2Workflow]
    total: int


class V2Status(ApiModel):
    """Archive, unarchive and delete; a cascading delete tells how many tasks went."""

    status: Success
    deletedTaskCount: int | None = Field(default=None, description="Only with cascade=true")


class V2PreviewTask(ApiModel):
    """A task a delete would take."""

    id: int
    name: str | None
    description: JsonValue


class V2DeletionPreview(ApiModel):
    """What a delete would take."""

    taskCount: int
    tasks: list[V2PreviewTask]
    hasAssignments: bool = Field(description="Whether the workflow has runs")
