"""GET /metrics: Prometheus text exposition (loopback only, or FLOWDECK_METRICS_TOKEN)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Request, Response, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from prometheus_client import CONTENT_TYPE_LATEST

from flowdeck.api.deps import ServicesDep
from flowdeck.api.retry import RetryingRoute

router = APIRouter(route_class=RetryingRoute, tags=["health"])
_bearer = HTTPBearer(auto_error=False, description="FLOWDECK_METRICS_TOKEN, when it is set")


@router.get("/metrics", response_class=Response)
async def get_metrics(
    request: Request,
    services: ServicesDep,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Security(_bearer)],
) -> Response:
    """Process metrics and instance-wide gauges (runs, steps, queue, workers)."""
    client = request.client.host if request.client else None
    body = await services.metrics.scrape(bearer.credentials if bearer else None, client)
    return Response(body, media_type=CONTENT_TYPE_LATEST)
