"""Projects: named groups of workflows inside a workspace (seed 004)."""

from __future__ import annotations

from flowdeck.models.base import ApiModel, Timestamp


class ProjectView(ApiModel):
    """A project."""

    id: str
    name: str
    description: str | None
    created_at: Timestamp


class ProjectEnvelope(ApiModel):
    """One project."""

    project: ProjectView


class ProjectList(ApiModel):
    """The workspace's projects, by name."""

    projects: list[ProjectView]
    total: int
