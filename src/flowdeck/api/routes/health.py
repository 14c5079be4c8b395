"""Liveness and readiness."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from flowdeck import __version__
from flowdeck.api.deps import ServicesDep
from flowdeck.api.retry import RetryingRoute
from flowdeck.errors import DatabaseBusy, DatabaseUnwritable
from flowdeck.models import Health, Readiness

router = APIRouter(route_class=RetryingRoute, tags=["health"])


@router.get("/healthz", response_model=Health)
async def healthz() -> dict[str, Any]:
    """The process is up."""
    return {"status": "ok", "version": __version__}


@router.get("/readyz", response_model=Readiness)
async def readyz(services: ServicesDep) -> dict[str, Any]:
    """The database takes a write: 503 while it is unreachable, full or read-only."""
    try:
        await services.store.probe_write()
    except (DatabaseBusy, DatabaseUnwritable):
        raise  # a lost connection is retried by the route; a refusal names its reason
    except Exception as exc:
        raise DatabaseBusy("The database is not reachable") from exc
    return {"status": "ready", "sandbox": await services.script_sandbox()}
