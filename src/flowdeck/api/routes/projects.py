"""Projects (seed 004): named groups of workflows inside a workspace. A workflow joins one with
`project_id` on create or update; `GET /api/workflows?project=…` lists a project's."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import Field

from flowdeck.api.compat.common import CompatDep
from flowdeck.api.deps import PrincipalDep
from flowdeck.api.retry import RetryingRoute
from flowdeck.api.schemas import RequestBody
from flowdeck.domain.clock import isoformat
from flowdeck.domain.compat import Project
from flowdeck.models import ProjectEnvelope, ProjectList

router = APIRouter(route_class=RetryingRoute, prefix="/api/projects", tags=["projects"])


class ProjectCreate(RequestBody):
    """POST /api/projects."""

    name: str = Field(min_length=1, max_length=200)
    description: str | None = Field(default=None, max_length=2000)


def project_view(project: Project) -> dict[str, Any]:
    """A project as the API shows it."""
    return {
        "id": project.id,
        "name": project.name,
        "description": project.description,
        "created_at": isoformat(project.created_at),
    }


@router.get("", response_model=ProjectList)
async def list_projects(principal: PrincipalDep, compat: CompatDep) -> dict[str, Any]:
    """The workspace's projects, by name."""
    projects = await compat.list_projects(principal)
    return {"projects": [project_view(p) for p in projects], "total": len(projects)}


@router.post("", status_code=201, response_model=ProjectEnvelope)
async def create_project(
    body: ProjectCreate, principal: PrincipalDep, compat: CompatDep
) -> dict[str, Any]:
    """A new project in the workspace (names are unique in it)."""
    project = await compat.create_project(principal, body.name, body.description)
    return {"project": project_view(project)}


@router.get("/{project_id}", response_model=ProjectEnvelope)
async def get_project(
    project_id: str, principal: PrincipalDep, compat: CompatDep
) -> dict[str, Any]:
    """One project, by id or name."""
    return {"project": project_view(await compat.project(principal, project_id))}
