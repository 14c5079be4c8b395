"""API keys, secrets, workspaces and the caller, as the API answers them."""

from __future__ import annotations

from pydantic import Field

from flowdeck.models.base import ApiModel, Paged, Timestamp
from flowdeck.models.enums import Scope


class ApiKeyView(ApiModel):
    """A key's metadata; never its secret."""

    id: str
    name: str
    prefix: str = Field(description="The first characters of the secret, to recognise it")
    scopes: list[Scope]
    created_at: Timestamp
    last_used_at: Timestamp | None
    revoked_at: Timestamp | None


class ApiKeyCreated(ApiModel):
    """A new key: its secret is shown here and never again."""

    key: ApiKeyView
    secret: str


class ApiKeyList(Paged):
    """The workspace's keys, newest first."""

    keys: list[ApiKeyView]


class SecretSaved(ApiModel):
    """A secret was created (201) or replaced (200); its value is never returned."""

    name: str
    created: bool


class SecretName(ApiModel):
    """A secret's name and dates."""

    name: str
    created_at: Timestamp
    updated_at: Timestamp


class SecretList(Paged):
    """Secret names; values are never returned."""

    secrets: list[SecretName]


class WorkspaceView(ApiModel):
    """A workspace (tenant)."""

    id: str
    slug: str
    name: str
    created_at: Timestamp


class WorkspaceList(Paged):
    """Every workspace, oldest first."""

    workspaces: list[WorkspaceView]


class WorkspaceCreated(ApiModel):
    """A new workspace and its first admin key."""

    workspace: WorkspaceView
    key: ApiKeyView
    secret: str


class CallerKey(ApiModel):
    """The key (or workflow token) making the request."""

    id: str
    name: str
    scopes: list[Scope]


class Me(ApiModel):
    """Who the presented key is."""

    workspace: WorkspaceView
    key: CallerKey


class Health(ApiModel):
    """The process is up."""

    status: str = Field(examples=["ok"])
    version: str


class Readiness(ApiModel):
    """The database takes a write."""

    status: str = Field(examples=["ready"])
    sandbox: str = Field(
        description="Where scripts run: bwrap, landlock, none, unavailable or disabled"
    )
