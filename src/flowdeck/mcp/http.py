"""Streamable HTTP at /mcp: the same API keys and scopes as the REST API (Bearer)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from mcp.server.mcpserver import Context
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from mcp.server.transport_security import TransportSecuritySettings
from starlette.types import Receive, Scope, Send

from flowdeck.errors import FlowdeckError, Unauthorized
from flowdeck.mcp.backend import Backend, LocalBackend
from flowdeck.mcp.server import build_server
from flowdeck.services.auth import TOKEN_PREFIX, Principal
from flowdeck.services.container import Services

PRINCIPAL_KEY = "flowdeck.principal"
PATH = "/mcp"


def _principal_of(ctx: Context) -> Principal:
    request = ctx.request_context.request
    principal = getattr(request, "scope", {}).get(PRINCIPAL_KEY)
    if not isinstance(principal, Principal):  # never: the endpoint authenticates first
        raise Unauthorized("An API key is required (Authorization: Bearer <key>)")
    return principal


class McpEndpoint:
    """An ASGI app: authenticate the key, then hand the request to the MCP session manager.

    Stateless and JSON responses: every request stands alone, so any number of API
    servers behind a load balancer can answer it.
    """

    def __init__(
        self,
        services: Services,
        count_request: Callable[[Scope, str], None] = lambda _scope, _key_id: None,
    ) -> None:
        """`count_request(scope, key_id)` charges a request to the key's rate limit (or raises)."""
        self.services = services
        self.count_request = count_request

        async def backend_for(ctx: Context) -> Backend:
            return LocalBackend(services, _principal_of(ctx))

        self.server = build_server(backend_for)
        self.manager = StreamableHTTPSessionManager(
            app=self.server._lowlevel_server,  # the SDK mounts it the same way
            json_response=True,
            stateless=True,
            # A Bearer key is required, so a rebinding page cannot call it; the server may
            # be reached under any host name.
            security_settings=TransportSecuritySettings(enable_dns_rebinding_protection=False),
        )

    @asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        """Run the session manager for the app's lifetime.

        It runs in a task of its own: its anyio task group must be entered and left by one
        task, and a lifespan's start and end may run in different tasks.
        """
        started, stop = asyncio.Event(), asyncio.Event()

        async def serve() -> None:
            async with self.manager.run():
                started.set()
                await stop.wait()

        task = asyncio.create_task(serve(), name="flowdeck-mcp")
        waiter = asyncio.create_task(started.wait())
        await asyncio.wait({task, waiter}, return_when=asyncio.FIRST_COMPLETED)
        waiter.cancel()
        if task.done():
            task.result()  # it failed to start: raise why
        try:
            yield
        finally:
            stop.set()
            await task

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Answer one HTTP request on /mcp."""
        if scope["type"] != "http":
            return
        secret = _bearer(scope)
        try:
            if secret and secret.startswith(TOKEN_PREFIX):
                raise Unauthorized("MCP needs an API key; a workflow token cannot be used here")
            principal = await self.services.auth.authenticate(secret)
            self.count_request(scope, principal.key_id)
        except FlowdeckError as exc:
            await _problem(send, exc)
            return
        scope[PRINCIPAL_KEY] = principal
        await self.manager.handle_request(scope, receive, send)


def _bearer(scope: Scope) -> str | None:
    headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
    auth = headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        return auth[7:].strip() or None
    return headers.get("x-api-key") or None


async def _problem(send: Send, exc: FlowdeckError) -> None:
    body: dict[str, Any] = {
        "type": f"urn:flowdeck:problem:{exc.code}",
        "title": exc.title,
        "status": exc.status,
        "detail": exc.detail,
    }
    headers = [(b"content-type", b"application/problem+json")]
    if exc.status == 401:
        headers.append((b"www-authenticate", b'Bearer realm="flowdeck"'))
    if exc.retryable:
        headers.append((b"retry-after", str(exc.retry_after).encode()))
    await send({"type": "http.response.start", "status": exc.status, "headers": headers})
    await send({"type": "http.response.body", "body": json.dumps(body).encode()})
