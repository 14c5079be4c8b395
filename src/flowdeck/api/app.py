"""The FastAPI application factory."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from flowdeck import __version__
from flowdeck.api import problems
from flowdeck.api.limits import BodySizeLimit
from flowdeck.api.routes import (
    admin,
    analytics,
    health,
    hooks,
    lifecycle,
    public,
    runs,
    schedules,
    templates,
    workflows,
)
from flowdeck.config import Settings
from flowdeck.domain.clock import Clock
from flowdeck.services.container import Services
from flowdeck.store.store import Store


def create_app(
    settings: Settings, *, store: Store | None = None, clock: Clock | None = None
) -> FastAPI:
    """An app serving the API on `store` (or one opened from settings at startup)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        own = store is None
        active = store or Store.from_url(
            settings.resolved_database_url, pool_size=settings.db_pool_size
        )
        services = Services.build(settings, active, clock)
        app.state.services = services
        if settings.run_worker:
            await services.runtime.start_worker()
        await services.schedules.start()
        await services.lifecycle.start()
        try:
            yield
        finally:
            await services.lifecycle.stop()
            await services.schedules.stop()
            await services.runtime.close()
            if own:
                await active.close()

    app = FastAPI(
        title="Flowdeck",
        version=__version__,
        description="Self-hosted workflow platform: workflows, runs, schedules, agents.",
        lifespan=lifespan,
    )
    problems.install(app)
    app.include_router(health.router)
    # Fixed paths under /api/workflows come before the /{workflow_id} routes they resemble.
    for module in (templates, lifecycle, schedules, analytics, public, hooks, admin, runs):
        app.include_router(module.router)
    app.include_router(workflows.router)
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)
    return app
