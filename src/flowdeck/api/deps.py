"""Request dependencies: the services and the calling principal."""

from __future__ import annotations

import json
from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.security import APIKeyHeader, APIKeyQuery, HTTPAuthorizationCredentials, HTTPBearer

from flowdeck.services.auth import Principal
from flowdeck.services.container import Services

_bearer = HTTPBearer(auto_error=False, description="Authorization: Bearer <api key>")
_header = APIKeyHeader(name="X-API-Key", auto_error=False)
_query = APIKeyQuery(name="api_key", auto_error=False)


def get_services(request: Request) -> Services:
    """The process's services."""
    services: Services = request.app.state.services
    return services


async def _body_key(request: Request) -> str | None:
    if request.method in ("GET", "HEAD", "DELETE") or "json" not in request.headers.get(
        "content-type", ""
    ):
        return None
    try:
        body = json.loads(await request.body() or b"null")
    except ValueError:
        return None
    key = body.get("api_key") if isinstance(body, dict) else None
    return key if isinstance(key, str) else None


async def current_principal(
    request: Request,
    services: Annotated[Services, Depends(get_services)],
    bearer: Annotated[HTTPAuthorizationCredentials | None, Security(_bearer)],
    header: Annotated[str | None, Security(_header)],
    query: Annotated[str | None, Security(_query)],
) -> Principal:
    """Authenticate by Bearer, X-API-Key, `api_key` query parameter or body field."""
    secret = (bearer.credentials if bearer else None) or header or query
    if not secret:
        secret = await _body_key(request)
    return await services.auth.authenticate(secret)


ServicesDep = Annotated[Services, Depends(get_services)]
PrincipalDep = Annotated[Principal, Depends(current_principal)]
