"""Every HTTP request measured (route template, method, status, duration), given a request id,
and, when access logs are on, logged as one line.

A pure ASGI middleware, so streamed responses (SSE) pass through untouched; the route is the
template FastAPI matched (`/api/workflows/runs/{run_id}`), never the path itself, so labels stay
few and a token in a path never reaches a log or a label. The query string is never logged.
"""

from __future__ import annotations

import logging
import re
import time
import uuid

from prometheus_client import Counter, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from flowdeck.logs import log_context

HTTP_REQUESTS = Counter(
    "flowdeck_http_requests",
    "HTTP requests answered, by route template, method and status.",
    ("route", "method", "status"),
)
HTTP_DURATION = Histogram(
    "flowdeck_http_request_duration_seconds",
    "Time from a request's arrival to the end of its response (an SSE stream: its life).",
    ("route", "method"),
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300),
)
UNMATCHED = "unmatched"
REQUEST_ID_HEADER = b"x-request-id"
# A caller's own request id is kept when it looks like one; anything else is replaced.
_GOOD_ID = re.compile(rb"^[A-Za-z0-9._:-]{1,64}$")
access_log = logging.getLogger("flowdeck.access")


def _request_id(scope: Scope) -> str:
    for name, value in scope.get("headers", []):
        if name == REQUEST_ID_HEADER and _GOOD_ID.match(value):
            return str(value.decode())
    return uuid.uuid4().hex


def route_template(scope: Scope) -> str:
    """The path template of the route that answered, or `unmatched`."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else UNMATCHED


class RequestObserver:
    """Counts, times, and (with `log_requests`) logs every HTTP request."""

    def __init__(self, app: ASGIApp, *, log_requests: bool) -> None:
        self.app = app
        self.log_requests = log_requests

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = _request_id(scope)
        started = time.perf_counter()
        status = 500  # what the server answers when the app fails before responding

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                headers = [*message.get("headers", []), (REQUEST_ID_HEADER, request_id.encode())]
                message = {**message, "headers": headers}
            await send(message)

        try:
            with log_context(request_id=request_id):
                await self.app(scope, receive, send_with_id)
        finally:
            self._observe(scope, request_id, status, time.perf_counter() - started)

    def _observe(self, scope: Scope, request_id: str, status: int, seconds: float) -> None:
        route, method = route_template(scope), str(scope["method"])
        HTTP_REQUESTS.labels(route, method, str(status)).inc()
        HTTP_DURATION.labels(route, method).observe(seconds)
        if self.log_requests:
            access_log.info(
                "%s %s %d",
                method,
                route,
                status,
                extra={
                    "request_id": request_id,
                    "method": method,
                    "route": route,
                    "status": status,
                    "duration_seconds": round(seconds, 4),
                },
            )
