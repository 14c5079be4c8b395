"""Inbound webhooks: POST /api/hooks/{workflow_id_or_slug} starts a run of a webhook workflow."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from flowdeck.api.deps import ServicesDep
from flowdeck.api.retry import RetryingRoute
from flowdeck.models import RunStarted
from flowdeck.services.access import HookCredentials

router = APIRouter(route_class=RetryingRoute, prefix="/api/hooks", tags=["hooks"])

_bearer = HTTPBearer(auto_error=False, description="Authorization: Bearer <workflow token>")


@router.post(
    "/{workflow_id_or_slug}",
    status_code=202,
    openapi_extra={
        "requestBody": {
            "required": False,
            "content": {"application/json": {"schema": {"type": "object"}}},
        }
    },
    responses={
        400: {"description": "Bad JSON, or a webhook-timestamp outside 5 minutes"},
        401: {"description": "No credentials, or a signature that does not match"},
        403: {"description": "X-Flowdeck-Signature on a workflow that did not opt in"},
        409: {"description": "A repeated delivery, or a workflow that cannot start runs"},
    },
    response_model=RunStarted,
)
async def receive_hook(
    workflow_id_or_slug: str,
    request: Request,
    services: ServicesDep,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Security(_bearer)],
    webhook_id: Annotated[str | None, Header(alias="webhook-id", max_length=200)] = None,
    webhook_timestamp: Annotated[
        str | None, Header(alias="webhook-timestamp", max_length=20)
    ] = None,
    webhook_signature: Annotated[
        str | None, Header(alias="webhook-signature", max_length=2000)
    ] = None,
    signature: Annotated[str | None, Header(alias="X-Flowdeck-Signature", max_length=200)] = None,
    token: Annotated[str | None, Query(description="A workflow token")] = None,
    idempotency_key: Annotated[str | None, Header(max_length=200)] = None,
) -> dict[str, Any]:
    """The JSON body becomes the run's `input_data` (trigger `webhook`).

    Authenticated by the Standard Webhooks headers (`webhook-id`, `webhook-timestamp`,
    `webhook-signature: v1,<base64 HMAC-SHA256 of id.timestamp.body>`) with the workflow's
    `whsec_` secret, or by a workflow token (Bearer or `?token=`). Workflows that opted in
    (`legacy_webhook_signature`) also take `X-Flowdeck-Signature: sha256=<hex HMAC of the body>`.
    A delivery seen before is refused with 409.
    """
    credentials = HookCredentials(
        standard={
            "webhook-id": webhook_id,
            "webhook-timestamp": webhook_timestamp,
            "webhook-signature": webhook_signature,
        },
        legacy_signature=signature,
        token=(bearer.credentials if bearer else None) or token,
    )
    run = await services.lifecycle.access.receive_hook(
        workflow_id_or_slug,
        await request.body(),
        credentials,
        idempotency_key=idempotency_key,
    )
    return {"run_id": run.id, "status": run.status}
