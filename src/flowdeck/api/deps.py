"""Request dependencies: the services and the calling principal."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.security import APIKeyHeader, APIKeyQuery, HTTPAuthorizationCredentials, HTTPBearer

from flowdeck.api.guard import is_json
from flowdeck.api.ratelimit import rate_limits
from flowdeck.errors import Forbidden
from flowdeck.services.auth import TOKEN_PREFIX, Principal
from flowdeck.services.container import Services

_bearer = HTTPBearer(auto_error=False, description="Authorization: Bearer <api key>")
_header = APIKeyHeader(name="X-API-Key", auto_error=False)
_query = APIKeyQuery(name="api_key", auto_error=False)

# What a workflow token may call: reading its workflow and running it. Services already
# hide every other workflow from it; this list keeps it off workspace-wide endpoints too.
TOKEN_ROUTES = frozenset(
    {
        ("GET", "/api/workflows"),
        ("GET", "/api/workflows/{workflow_id}"),
        ("GET", "/api/workflows/{workflow_id}/versions"),
        ("GET", "/api/workflows/{workflow_id}/versions/{version}"),
        ("GET", "/api/workflows/{workflow_id}/diff"),
        ("POST", "/api/workflows/{workflow_id}/run"),
        ("GET", "/api/workflows/{workflow_id}/runs"),
        ("GET", "/api/workflows/runs/{run_id}"),
        ("GET", "/api/workflows/runs/{run_id}/stream"),
        ("POST", "/api/workflows/runs/{run_id}/cancel"),
        ("POST", "/api/workflows/runs/{run_id}/pause"),
        ("POST", "/api/workflows/runs/{run_id}/resume"),
    }
)


def get_services(request: Request) -> Services:
    """The process's services."""
    services: Services = request.app.state.services
    return services


async def _body_key(request: Request) -> str | None:
    if request.method in ("GET", "HEAD", "DELETE") or not is_json(
        request.headers.get("content-type")
    ):
        return None
    if not await request.body():
        return None
    try:
        body = await request.json()  # parsed once per request, shared with FastAPI
    except (ValueError, RecursionError):
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
    """Authenticate by Bearer, X-API-Key, `api_key` query parameter or body field; each may
    carry an API key or a workflow token (`fdt_…`)."""
    secret = (bearer.credentials if bearer else None) or header or query
    if not secret:
        secret = await _body_key(request)
    if secret and secret.startswith(TOKEN_PREFIX):
        principal = await services.lifecycle.access.authenticate_token(secret)
        route = request.scope.get("route")
        if (request.method, getattr(route, "path", "")) not in TOKEN_ROUTES:
            raise Forbidden(
                f"A workflow token may only read and run workflow '{principal.workflow_id}'"
            )
        return principal
    return await services.auth.authenticate(secret)


async def counted_principal(
    request: Request, principal: Annotated[Principal, Depends(current_principal)]
) -> Principal:
    """The caller, with this request charged to its key's rate limit (429 when over)."""
    rate_limits(request).count_key(request.scope, principal.key_id)
    return principal


ServicesDep = Annotated[Services, Depends(get_services)]
PrincipalDep = Annotated[Principal, Depends(counted_principal)]
