"""Inbound webhooks: POST /api/hooks/{workflow_id} starts a run of a webhook workflow."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from flowdeck.api.deps import ServicesDep
from flowdeck.api.retry import RetryingRoute

router = APIRouter(route_class=RetryingRoute, prefix="/api/hooks", tags=["hooks"])

_bearer = HTTPBearer(auto_error=False, description="Authorization: Bearer <workflow token>")


@router.post(
    "/{workflow_id}",
    status_code=202,
    openapi_extra={
        "requestBody": {
            "required": False,
            "content": {"application/json": {"schema": {"type": "object"}}},
        }
    },
)
async def receive_hook(
    workflow_id: str,
    request: Request,
    services: ServicesDep,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Security(_bearer)],
    signature: Annotated[str | None, Header(alias="X-Flowdeck-Signature")] = None,
    token: Annotated[str | None, Query(description="A workflow token")] = None,
    idempotency_key: Annotated[str | None, Header(max_length=200)] = None,
) -> dict[str, Any]:
    """The JSON body becomes the run's `input_data` (trigger `webhook`).

    Authenticated by `X-Flowdeck-Signature: sha256=<hex HMAC-SHA256 of the body>` with the
    workflow's webhook secret, or by a workflow token (Bearer or `?token=`).
    """
    run = await services.lifecycle.access.receive_hook(
        workflow_id,
        await request.body(),
        signature=signature,
        token=(bearer.credentials if bearer else None) or token,
        idempotency_key=idempotency_key,
    )
    return {"run_id": run.id, "status": run.status}
