"""Seed 000's answers (`/{workspace}/workflows`, `/{workspace}/createWorkflow`, …): camelCase,
every body with `status: "ok"`, the specification as JSON text in `config`."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from flowdeck.models.base import ApiModel, Timestamp
from flowdeck.models.enums import Scope

Ok = Literal["ok"]


class Seed000Summary(ApiModel):
    """A workflow in the list."""

    id: str
    name: str
    url: str = Field(description="The workflow's slug")
    createdAt: Timestamp


class Seed000WorkflowList(ApiModel):
    """Every workflow of the workspace."""

    workflows: list[Seed000Summary]
    status: Ok


class Seed000Workflow(Seed000Summary):
    """One workflow: metadata, specification and whether the caller is authorized."""

    updatedAt: Timestamp
    version: int
    public: bool
    config: str = Field(description='JSON text: `{"specification": {...}}`')
    template: str = Field(description="JSON text: the template metadata given at create")
    authorized: bool = Field(description="Whether the caller presented a key")


class Seed000WorkflowEnvelope(ApiModel):
    """GET /{workspace}/workflows/{url}."""

    workflow: Seed000Workflow
    status: Ok


class Seed000Version(ApiModel):
    """One versioned specification."""

    version: int
    createdAt: Timestamp
    createdBy: str | None
    changeSummary: str | None
    config: str = Field(description='JSON text: `{"specification": {...}}`')


class Seed000VersionList(ApiModel):
    """The workflow's versions, newest first."""

    versions: list[Seed000Version]
    status: Ok


class Seed000Ref(ApiModel):
    """A workflow's id and slug, as create, update and fork answer them."""

    id: str
    url: str


class Seed000Saved(ApiModel):
    """What create, update and fork answer (`workflows` is one object, as the seed has it)."""

    workflows: Seed000Ref
    status: Ok


class Seed000Token(ApiModel):
    """A short-lived token that may read and run the workspace's workflows."""

    token: str
    expiresAt: Timestamp
    scopes: list[Scope]
    status: Ok


class Seed000Trashed(Seed000Ref):
    """A workflow moved to the trash."""

    deletedAt: Timestamp | None


class Seed000Deleted(ApiModel):
    """DELETE /{workspace}/workflows/{url}."""

    workflows: Seed000Trashed
    status: Ok
