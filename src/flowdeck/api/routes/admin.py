"""Workspace administration: /api/keys, /api/secrets, /api/workspaces."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response
from pydantic import Field

from flowdeck.api.deps import PrincipalDep, ServicesDep
from flowdeck.api.retry import RetryingRoute
from flowdeck.api.schemas import Limit, Offset, RequestBody, ScopeText
from flowdeck.domain.clock import isoformat
from flowdeck.models import (
    ApiKeyCreated,
    ApiKeyList,
    SecretList,
    SecretSaved,
    WorkspaceCreated,
    WorkspaceList,
)
from flowdeck.services.views import api_key_view, workspace_view

router = APIRouter(route_class=RetryingRoute, prefix="/api", tags=["administration"])


# A secret put for the first time answers 201, a replaced one 200.
CREATED_SECRET: dict[int | str, dict[str, Any]] = {
    201: {"model": SecretSaved, "description": "The secret was created"}
}


class KeyCreate(RequestBody):
    """POST /api/keys."""

    name: str = Field(min_length=1, max_length=200)
    scopes: list[ScopeText] = Field(min_length=1)


class SecretPut(RequestBody):
    """PUT /api/secrets/{name}."""

    value: str


class SecretCreate(SecretPut):
    """POST /api/secrets."""

    name: str


class WorkspaceCreate(RequestBody):
    """POST /api/workspaces."""

    slug: str
    name: str | None = None


@router.post("/keys", status_code=201, response_model=ApiKeyCreated)
async def create_key(
    body: KeyCreate, principal: PrincipalDep, services: ServicesDep
) -> dict[str, Any]:
    """Create a key; its secret is in this response and never again."""
    key, secret = await services.admin.create_key(principal, body.name, body.scopes)
    return {"key": api_key_view(key), "secret": secret}


@router.get("/keys", response_model=ApiKeyList)
async def list_keys(
    principal: PrincipalDep,
    services: ServicesDep,
    limit: Limit = 50,
    offset: Offset = 0,
    cursor: str | None = None,
) -> dict[str, Any]:
    """The workspace's keys, without secrets, newest first."""
    page = await services.admin.list_keys(principal, limit=limit, offset=offset, cursor=cursor)
    return {
        "keys": [api_key_view(k) for k in page.items],
        "total": page.total,
        "next_cursor": page.next_cursor,
    }


@router.delete("/keys/{key_id}", status_code=204)
async def revoke_key(key_id: str, principal: PrincipalDep, services: ServicesDep) -> Response:
    """Revoke a key."""
    await services.admin.revoke_key(principal, key_id)
    return Response(status_code=204)


async def _put_secret(
    services: Any, principal: Any, name: str, value: str, response: Response
) -> dict[str, Any]:
    created = await services.admin.put_secret(principal, name, value)
    response.status_code = 201 if created else 200
    return {"name": name, "created": created}


@router.put("/secrets/{name}", response_model=SecretSaved, responses=CREATED_SECRET)
async def put_secret(
    name: str, body: SecretPut, principal: PrincipalDep, services: ServicesDep, response: Response
) -> dict[str, Any]:
    """Create or replace a secret (the value is encrypted and never returned)."""
    return await _put_secret(services, principal, name, body.value, response)


@router.post("/secrets", response_model=SecretSaved, responses=CREATED_SECRET)
async def create_secret(
    body: SecretCreate, principal: PrincipalDep, services: ServicesDep, response: Response
) -> dict[str, Any]:
    """Create or replace a secret by name."""
    return await _put_secret(services, principal, body.name, body.value, response)


@router.get("/secrets", response_model=SecretList)
async def list_secrets(
    principal: PrincipalDep,
    services: ServicesDep,
    limit: Limit = 50,
    offset: Offset = 0,
    cursor: str | None = None,
) -> dict[str, Any]:
    """Secret names; values are never returned."""
    page = await services.admin.list_secrets(principal, limit=limit, offset=offset, cursor=cursor)
    found = page.items
    return {
        "total": page.total,
        "next_cursor": page.next_cursor,
        "secrets": [
            {
                "name": s.name,
                "created_at": isoformat(s.created_at),
                "updated_at": isoformat(s.updated_at),
            }
            for s in found
        ],
    }


@router.delete("/secrets/{name}", status_code=204)
async def delete_secret(name: str, principal: PrincipalDep, services: ServicesDep) -> Response:
    """Delete a secret."""
    await services.admin.delete_secret(principal, name)
    return Response(status_code=204)


@router.get("/workspaces", response_model=WorkspaceList)
async def list_workspaces(
    principal: PrincipalDep,
    services: ServicesDep,
    limit: Limit = 50,
    offset: Offset = 0,
    cursor: str | None = None,
) -> dict[str, Any]:
    """Every workspace (instance admins only), oldest first."""
    page = await services.admin.list_workspaces(
        principal, limit=limit, offset=offset, cursor=cursor
    )
    return {
        "workspaces": [workspace_view(w) for w in page.items],
        "total": page.total,
        "next_cursor": page.next_cursor,
    }


@router.post("/workspaces", status_code=201, response_model=WorkspaceCreated)
async def create_workspace(
    body: WorkspaceCreate, principal: PrincipalDep, services: ServicesDep
) -> dict[str, Any]:
    """A new workspace and its first admin key (secret shown once)."""
    ws, key, secret = await services.admin.create_workspace(principal, body.slug, body.name)
    return {"workspace": workspace_view(ws), "key": api_key_view(key), "secret": secret}
