"""The FastAPI application factory."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI
from fastapi.routing import APIRoute
from fastapi.utils import generate_unique_id
from starlette.routing import Route
from starlette.types import Receive, Scope, Send
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from flowdeck import __version__
from flowdeck.api import problems
from flowdeck.api.compat import management, runs_v1, workflows_v1, workspaces_v2
from flowdeck.api.limits import BodySizeLimit
from flowdeck.api.observability import RequestObserver
from flowdeck.api.openapi import build_openapi
from flowdeck.api.ratelimit import AuthFailureGuard, RateLimits, limit_by_address
from flowdeck.api.routes import (
    admin,
    agents,
    analytics,
    approvals,
    health,
    hooks,
    lifecycle,
    me,
    metrics,
    projects,
    public,
    runs,
    schedule_list,
    schedules,
    schema,
    templates,
    workflows,
)
from flowdeck.config import Settings
from flowdeck.domain.clock import Clock
from flowdeck.mcp.http import PATH as MCP_PATH
from flowdeck.mcp.http import McpEndpoint
from flowdeck.services.container import Services
from flowdeck.store.store import Store
from flowdeck.ui.app import install_ui


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
        await services.announce_script_sandbox()
        await services.runtime.start()
        if settings.run_worker:
            await services.runtime.start_worker()
        await services.schedules.start()
        await services.lifecycle.start()
        mcp = McpEndpoint(services, count_request=limiter.count_key)
        app.state.mcp = mcp
        try:
            async with mcp.running():
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
        # /docs and /redoc come from the UI, with their assets served locally (no CDN).
        docs_url=None,
        redoc_url=None,
        generate_unique_id_function=operation_id,
    )
    problems.install(app)
    app.openapi = lambda: build_openapi(app)  # type: ignore[method-assign]
    limiter = RateLimits.from_settings(settings)
    app.state.rate_limits = limiter
    app.include_router(health.router)
    app.include_router(metrics.router)
    # Fixed paths under /api/workflows come before the /{workflow_id} routes they resemble.
    # Routes without an API key are counted per source address.
    by_address = [Depends(limit_by_address)]
    for module in (templates, lifecycle, schedules, analytics, public, hooks, admin, runs):
        unkeyed = module in (public, hooks)
        app.include_router(module.router, dependencies=by_address if unkeyed else None)
    for module in (agents, approvals, me, schema, schedule_list, projects):
        app.include_router(module.router)
    app.include_router(runs.workspace_router)
    app.include_router(workflows.router)
    install_ui(app)
    # Seed-compatible APIs last: seed 000's `/{workspace}/…` must not shadow Flowdeck's paths.
    app.include_router(workflows_v1.router)
    app.include_router(runs_v1.router)
    app.include_router(workspaces_v2.workspace_router)
    app.include_router(workspaces_v2.router)
    app.include_router(runs_v1.upload_router, dependencies=by_address)
    app.include_router(management.router)
    app.router.routes.append(
        Route(MCP_PATH, _McpRoute(), methods=["GET", "POST", "DELETE"], include_in_schema=False)
    )
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)
    # Outermost last: the client address is settled before failed logins are counted.
    app.add_middleware(AuthFailureGuard, limits=limiter)
    if settings.trusted_proxies:
        app.add_middleware(ProxyHeadersMiddleware, trusted_hosts=list(settings.trusted_proxies))
    # Outermost: every answer is measured, a rate limit's 429 included.
    app.add_middleware(RequestObserver, log_requests=settings.access_log_on)
    return app


# The seed-compatible routes are named by their function after their API's prefix
# (`seed000_create_workflow`, `v1_list_workflows`, `v2_get_workflow`): their functions share
# names with Flowdeck's own and with each other's.
COMPAT_PREFIXES = {
    management.__name__: "seed000_",
    workflows_v1.__name__: "v1_",
    runs_v1.__name__: "v1_",
    workspaces_v2.__name__: "v2_",
}


def operation_id(route: APIRoute) -> str:
    """Flowdeck's own routes are named by their function (`get_run`), the seed-compatible ones
    by their function after their API's prefix: short, stable ids for generated clients.
    Other routes keep FastAPI's longer, collision-free default."""
    module = route.endpoint.__module__
    if module.startswith("flowdeck.api.routes."):
        return route.name
    if module in COMPAT_PREFIXES:
        return COMPAT_PREFIXES[module] + route.name
    return generate_unique_id(route)


class _McpRoute:
    """/mcp: the MCP endpoint built at startup (streamable HTTP), as a plain ASGI app."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        endpoint: McpEndpoint = scope["app"].state.mcp
        await endpoint(scope, receive, send)
