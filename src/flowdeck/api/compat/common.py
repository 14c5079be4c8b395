"""What the seed routers share: credentials from the seed's places, request fields from the
query string or a JSON body, the seeds' timestamp spelling and the compat service."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import Depends, Request, Security
from fastapi.security import HTTPAuthorizationCredentials

from flowdeck.api.deps import _bearer, _header, _query, current_principal, get_services
from flowdeck.api.guard import is_json
from flowdeck.api.ratelimit import rate_limits
from flowdeck.errors import BadRequest, Unauthorized
from flowdeck.services.auth import Principal
from flowdeck.services.compat import CompatService
from flowdeck.services.container import Services


async def request_fields(request: Request) -> dict[str, Any]:
    """The query string's fields under the JSON body's (seed 000 sends either)."""
    fields: dict[str, Any] = dict(request.query_params)
    if request.method in ("GET", "HEAD") or not await request.body():
        return fields
    if not is_json(request.headers.get("content-type")):
        raise BadRequest("The request body must be JSON (Content-Type: application/json)")
    try:
        body = await request.json()
    except (ValueError, RecursionError) as exc:
        raise BadRequest(f"The request body is not valid JSON: {exc}") from exc
    if not isinstance(body, dict):
        raise BadRequest("The request body must be a JSON object")
    return {**fields, **body}


FieldsDep = Annotated[dict[str, Any], Depends(request_fields)]


async def optional_principal(
    request: Request,
    services: Annotated[Services, Depends(get_services)],
    bearer: Annotated[HTTPAuthorizationCredentials | None, Security(_bearer)],
    header: Annotated[str | None, Security(_header)],
    query: Annotated[str | None, Security(_query)],
    fields: FieldsDep,
) -> Principal | None:
    """The caller when it presents a key (query, body, header), else None (public reads,
    counted against the source address like every request without a key)."""
    if not (bearer or header or query or isinstance(fields.get("api_key"), str)):
        rate_limits(request).count_address(request.scope)
        return None
    principal = await current_principal(request, services, bearer, header, query)
    rate_limits(request).count_key(request.scope, principal.key_id)
    return principal


def compat_service(services: Annotated[Services, Depends(get_services)]) -> CompatService:
    """The references and projects service on the process's store."""
    return CompatService(services.store, services.clock)


OptionalPrincipalDep = Annotated[Principal | None, Depends(optional_principal)]
CompatDep = Annotated[CompatService, Depends(compat_service)]


def iso_z(moment: datetime | None) -> str | None:
    """`2026-04-12T17:05:33.000Z`, the seeds' spelling of a UTC time."""
    if moment is None:
        return None
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def json_field(value: Any, field: str) -> Any:
    """A field that the seed sends as JSON text (or already as JSON)."""
    if not isinstance(value, str):
        return value
    try:
        return json.loads(value)
    except ValueError as exc:
        raise BadRequest(f"{field} must be JSON text: {exc}") from exc


async def required_principal(principal: OptionalPrincipalDep) -> Principal:
    """The caller; 401 without a key."""
    if principal is None:
        raise Unauthorized("An API key is required (api_key in the query or the body)")
    return principal


PrincipalDep = Annotated[Principal, Depends(required_principal)]
