"""Seed 000: the workflow management API with the workspace in the path, at the root
(`/{workspace}/workflows`, `/{workspace}/createWorkflow`, …), `api_key` in the query or body.

Each route checks that the path's workspace is the key's (else 404) and hands the request to
Flowdeck's own services; public workflows are readable without a key."""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter
from starlette.convertors import Convertor, register_url_convertor

from flowdeck.api.compat.common import (
    CompatDep,
    FieldsDep,
    OptionalPrincipalDep,
    PrincipalDep,
    iso_z,
    json_field,
)
from flowdeck.api.deps import ServicesDep
from flowdeck.api.retry import RetryingRoute
from flowdeck.domain.credentials import mask_credentials
from flowdeck.domain.records import Workflow, WorkflowFilter
from flowdeck.errors import InvalidInput
from flowdeck.models.compat_000 import (
    Seed000Deleted,
    Seed000Saved,
    Seed000Token,
    Seed000VersionList,
    Seed000WorkflowEnvelope,
    Seed000WorkflowList,
)
from flowdeck.services.admin import RESERVED_WORKSPACE_SLUGS
from flowdeck.services.auth import TOKEN_DEFAULT_SECONDS

router = APIRouter(route_class=RetryingRoute, tags=["seed 000: workflow management"])
LIST_LIMIT = 1000


class WorkspaceSlug(Convertor[str]):
    """A workspace slug that is none of Flowdeck's own top-level paths: these routes never
    match `/api/…`, `/ui/…` or `/mcp/…`, whatever order routers are mounted in."""

    _reserved = "|".join(sorted(s for s in RESERVED_WORKSPACE_SLUGS if "." not in s))
    regex = f"(?!(?:{_reserved})/)[a-z0-9](?:[a-z0-9-]{{0,98}}[a-z0-9])?"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


register_url_convertor("workspace_slug", WorkspaceSlug())


def _text(fields: dict[str, Any], name: str, *, required: bool) -> str | None:
    value = fields.get(name)
    if value is None or value == "":
        if required:
            raise InvalidInput(f"{name} is required", errors=[f"{name}: required"])
        return None
    if not isinstance(value, str):
        raise InvalidInput(f"{name} must be a string", errors=[f"{name}: must be a string"])
    return value


def specification(config: Any) -> dict[str, Any]:
    """The specification inside seed 000's `config` (`{"specification": {...}}`, or bare)."""
    parsed = json_field(config, "config")
    if not isinstance(parsed, dict):
        raise InvalidInput("config is invalid", errors=["config: must be a JSON object"])
    spec = parsed.get("specification", parsed)
    if not isinstance(spec, dict):
        raise InvalidInput("config is invalid", errors=["config.specification: must be an object"])
    return spec


def _summary(wf: Workflow) -> dict[str, Any]:
    return {"id": wf.id, "name": wf.name, "url": wf.slug, "createdAt": iso_z(wf.created_at)}


def _config(definition: dict[str, Any]) -> str:
    return json.dumps({"specification": definition}, separators=(",", ":"))


@router.get(
    "/{workspace:workspace_slug}/workflows",
    response_model=Seed000WorkflowList,
    response_model_exclude_unset=True,
)
async def list_workflows(
    workspace: str, principal: PrincipalDep, services: ServicesDep, compat: CompatDep
) -> dict[str, Any]:
    """Every workflow of the workspace (GET /api/workflows)."""
    await compat.check_workspace_slug(principal, workspace)
    page = await services.workflows.list_workflows(principal, WorkflowFilter(), limit=LIST_LIMIT)
    return {"workflows": [_summary(w) for w in page.items], "status": "ok"}


@router.get(
    "/{workspace:workspace_slug}/workflows/{url}",
    response_model=Seed000WorkflowEnvelope,
    response_model_exclude_unset=True,
)
async def get_workflow(
    workspace: str,
    url: str,
    principal: OptionalPrincipalDep,
    services: ServicesDep,
    compat: CompatDep,
) -> dict[str, Any]:
    """One workflow: its specification, metadata and whether the caller is authorized
    (GET /api/workflows/{id}, or /api/public/{workspace}/workflows/{slug} without a key)."""
    if principal is None:
        wf = await services.lifecycle.access.public_workflow(workspace, url)
        definition = mask_credentials(wf.definition)
    else:
        await compat.check_workspace_slug(principal, workspace)
        wf = await services.workflows.get(principal, url)
        definition = wf.definition
    ref = await compat.ref(wf)
    template = ref.extras.get("template", "{}")
    body = {
        **_summary(wf),
        "updatedAt": iso_z(wf.updated_at),
        "version": wf.version,
        "public": wf.visibility == "public",
        "config": _config(definition),
        "template": template,
        "authorized": principal is not None,
    }
    return {"workflow": body, "status": "ok"}


@router.get(
    "/{workspace:workspace_slug}/workflows/{url}/versions",
    response_model=Seed000VersionList,
    response_model_exclude_unset=True,
)
async def list_versions(
    workspace: str, url: str, principal: PrincipalDep, services: ServicesDep, compat: CompatDep
) -> dict[str, Any]:
    """The workflow's versioned specifications, newest first (GET …/versions)."""
    await compat.check_workspace_slug(principal, workspace)
    versions = await services.workflows.versions(principal, url)
    return {
        "versions": [
            {
                "version": v.version,
                "createdAt": iso_z(v.created_at),
                "createdBy": v.created_by,
                "changeSummary": v.change_summary,
                "config": _config(v.definition),
            }
            for v in versions
        ],
        "status": "ok",
    }


@router.post(
    "/{workspace:workspace_slug}/createWorkflow",
    response_model=Seed000Saved,
    response_model_exclude_unset=True,
)
async def create_workflow(
    workspace: str,
    fields: FieldsDep,
    principal: PrincipalDep,
    services: ServicesDep,
    compat: CompatDep,
) -> dict[str, Any]:
    """Create from `name`, `url`, `config` and `template` (POST /api/workflows)."""
    await compat.check_workspace_slug(principal, workspace)
    name = _text(fields, "name", required=True)
    url = _text(fields, "url", required=False)
    if fields.get("config") in (None, ""):
        raise InvalidInput("config is required", errors=["config: required"])
    spec = specification(fields["config"])
    template = fields.get("template", "{}")
    json_field(template, "template")
    wf = await services.workflows.create(principal, {**spec, "name": name}, slug=url)
    text = template if isinstance(template, str) else json.dumps(template)
    await compat.merge_extras(principal, wf, {"template": text})
    return {"workflows": {"id": wf.id, "url": wf.slug}, "status": "ok"}


@router.post(
    "/{workspace:workspace_slug}/updateWorkflow",
    response_model=Seed000Saved,
    response_model_exclude_unset=True,
)
async def update_workflow(
    workspace: str,
    fields: FieldsDep,
    principal: PrincipalDep,
    services: ServicesDep,
    compat: CompatDep,
) -> dict[str, Any]:
    """Change name, url (the old one stops resolving) and config (PUT /api/workflows/{id})."""
    await compat.check_workspace_slug(principal, workspace)
    workflow_id = _text(fields, "id", required=True) or ""
    changes: dict[str, Any] = {}
    name = _text(fields, "name", required=False)
    if name is not None:
        changes["name"] = name
    url = _text(fields, "url", required=False)
    if url is not None:
        changes["slug"] = url
    if fields.get("config") is not None:
        current = await services.workflows.get(principal, workflow_id)
        changes["definition"] = {**specification(fields["config"]), "name": name or current.name}
    wf = await services.workflows.update(principal, workflow_id, changes)
    if fields.get("template") is not None:
        json_field(fields["template"], "template")
        template = fields["template"]
        text = template if isinstance(template, str) else json.dumps(template)
        await compat.merge_extras(principal, wf, {"template": text})
    return {"workflows": {"id": wf.id, "url": wf.slug}, "status": "ok"}


@router.post(
    "/{workspace:workspace_slug}/forkWorkflow",
    response_model=Seed000Saved,
    response_model_exclude_unset=True,
)
async def fork_workflow(
    workspace: str,
    fields: FieldsDep,
    principal: PrincipalDep,
    services: ServicesDep,
    compat: CompatDep,
) -> dict[str, Any]:
    """Copy another workspace's public workflow here (POST /api/workflows/fork)."""
    await compat.check_workspace_slug(principal, workspace)
    wf = await services.lifecycle.fork(
        principal,
        _text(fields, "source_workspace", required=True) or "",
        _text(fields, "source_workflow", required=True) or "",
        name=_text(fields, "name", required=False),
        slug=_text(fields, "url", required=False),
    )
    return {"workflows": {"id": wf.id, "url": wf.slug}, "status": "ok"}


@router.post(
    "/{workspace:workspace_slug}/workflowToken",
    response_model=Seed000Token,
    response_model_exclude_unset=True,
)
async def workflow_token(
    workspace: str,
    fields: FieldsDep,
    principal: PrincipalDep,
    services: ServicesDep,
    compat: CompatDep,
) -> dict[str, Any]:
    """A short-lived token that may read and run the workspace's workflows, for public
    clients (like POST /api/workflows/{id}/token, for every workflow)."""
    await compat.check_workspace_slug(principal, workspace)
    expires_in = fields.get("expires_in", TOKEN_DEFAULT_SECONDS)
    if isinstance(expires_in, str) and expires_in.isdigit():
        expires_in = int(expires_in)
    if not isinstance(expires_in, int) or isinstance(expires_in, bool):
        raise InvalidInput("Invalid expiry", errors=["expires_in: must be a whole number"])
    token, claims = await services.lifecycle.access.create_workspace_token(principal, expires_in)
    return {
        "token": token,
        "expiresAt": iso_z(claims.expires_at),
        "scopes": ["workflows:read", "workflows:run"],
        "status": "ok",
    }


@router.delete(
    "/{workspace:workspace_slug}/workflows/{url}",
    response_model=Seed000Deleted,
    response_model_exclude_unset=True,
)
async def delete_workflow(
    workspace: str, url: str, principal: PrincipalDep, services: ServicesDep, compat: CompatDep
) -> dict[str, Any]:
    """Move the workflow to the trash (DELETE /api/workflows/{id})."""
    await compat.check_workspace_slug(principal, workspace)
    wf = await services.lifecycle.trash(principal, url)
    return {
        "workflows": {"id": wf.id, "url": wf.slug, "deletedAt": iso_z(wf.deleted_at)},
        "status": "ok",
    }
