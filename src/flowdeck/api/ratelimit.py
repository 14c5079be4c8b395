"""Rate limits (SPEC §5, §9): requests per API key, requests per source address on routes
without a key, failed authentications per address, and open run streams per key.

The counting is `limits`' sliding-window counter (O(1) memory per key, no burst at a window
edge) on its in-memory storage, so the counters belong to one server process: behind a load
balancer with N API servers a client gets up to N times the configured rate. Sharing them
through the database would cost a write per request; a deployment that needs one global
budget sets the per-server limit to its share. `limits`' synchronous storage is used on purpose:
its asyncio twin sweeps expired counters on the event loop at every hit (measured: 1.2 ms per
request with 10,000 tracked addresses, against 7 µs here, where a timer thread sweeps).

`/healthz`, `/readyz` and `/metrics` are never limited.
"""

from __future__ import annotations

import ipaddress
import math
import time
from collections import Counter
from collections.abc import Callable

from fastapi import Request
from limits import RateLimitItem, RateLimitItemPerMinute
from limits.storage import MemoryStorage
from limits.strategies import SlidingWindowCounterRateLimiter
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from flowdeck.api.problems import problem
from flowdeck.config import Settings
from flowdeck.errors import RateLimited

EXEMPT_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})
# A stream's end cannot be predicted; this is when a client may sensibly look again.
STREAM_RETRY_SECONDS = 5
# Set on a request's scope once it was counted: a retried handler (RetryingRoute) runs its
# dependencies again, and must not be charged twice.
_COUNTED = "flowdeck.rate_counted"


def client_address(scope: Scope) -> str:
    """The address a request is counted against: the socket peer, or the client a trusted
    proxy named (the proxy middleware has rewritten the scope by then).

    An IPv6 client stands for its /64: one host is routinely given that whole network.
    """
    client = scope.get("client")
    host = str(client[0]) if client else ""
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return host or "unknown"
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return str(ip)


class StreamSlots:
    """Open SSE streams per API key in this process, at most `per_key` (0: no cap)."""

    def __init__(self, per_key: int) -> None:
        self.per_key = per_key
        self._open: Counter[str] = Counter()

    def open_streams(self, key_id: str) -> int:
        """How many streams `key_id` holds open now."""
        return self._open[key_id]

    def acquire(self, key_id: str) -> Callable[[], None]:
        """Take a slot, or raise RateLimited; returns the release (safe to call twice)."""
        if self.per_key and self._open[key_id] >= self.per_key:
            raise RateLimited(
                f"This API key already has {self.per_key} open run streams; "
                "close one before opening another",
                retry_after=STREAM_RETRY_SECONDS,
            )
        self._open[key_id] += 1
        released = False

        def release() -> None:
            nonlocal released
            if released:
                return
            released = True
            self._open[key_id] -= 1
            if self._open[key_id] <= 0:
                del self._open[key_id]

        return release


class RateLimits:
    """The process's request counters and stream slots."""

    def __init__(
        self, *, per_minute: int, auth_failures_per_minute: int, streams_per_key: int
    ) -> None:
        self._limiter = SlidingWindowCounterRateLimiter(MemoryStorage())
        self._requests = RateLimitItemPerMinute(per_minute) if per_minute else None
        self._failures = (
            RateLimitItemPerMinute(auth_failures_per_minute) if auth_failures_per_minute else None
        )
        self.streams = StreamSlots(streams_per_key)

    @classmethod
    def from_settings(cls, settings: Settings) -> RateLimits:
        """Limits as configured (`FLOWDECK_RATE_LIMIT_PER_MINUTE` and friends)."""
        return cls(
            per_minute=settings.rate_limit_per_minute,
            auth_failures_per_minute=settings.auth_failures_per_minute,
            streams_per_key=settings.max_streams_per_key,
        )

    def count_key(self, scope: Scope, key_id: str) -> None:
        """Charge one request to an API key (a workflow token's to the key that made it)."""
        if self._requests is None or scope.get(_COUNTED):
            return
        scope[_COUNTED] = True
        self._hit(self._requests, "key", key_id, "This API key")

    def count_address(self, scope: Scope) -> None:
        """Charge one request without an API key to its source address."""
        if self._requests is None or scope.get(_COUNTED):
            return
        scope[_COUNTED] = True
        self._hit(self._requests, "address", client_address(scope), "This address")

    def auth_refusal(self, address: str) -> RateLimited | None:
        """The 429 for an address that failed authentication too often lately, else None."""
        if self._failures is None or self._limiter.test(self._failures, "auth", address):
            return None
        return RateLimited(
            f"Too many failed authentications from this address (over "
            f"{self._failures.amount} a minute)",
            retry_after=self._retry_after(self._failures, "auth", address),
        )

    def record_auth_failure(self, address: str) -> None:
        """Count a failed authentication against its address."""
        if self._failures is not None:
            self._limiter.hit(self._failures, "auth", address)

    def _hit(self, item: RateLimitItem, kind: str, ident: str, who: str) -> None:
        if not self._limiter.hit(item, kind, ident):
            raise RateLimited(
                f"{who} is over its rate limit of {item.amount} requests a minute",
                retry_after=self._retry_after(item, kind, ident),
            )

    def _retry_after(self, item: RateLimitItem, *identifiers: str) -> int:
        reset = self._limiter.get_window_stats(item, *identifiers).reset_time
        return math.ceil(reset - time.time())


def rate_limits(request: Request) -> RateLimits:
    """The app's rate limits."""
    limits: RateLimits = request.app.state.rate_limits
    return limits


async def limit_by_address(request: Request) -> None:
    """Dependency for routes without an API key: count the request against its address."""
    rate_limits(request).count_address(request.scope)


class AuthFailureGuard:
    """ASGI middleware: every 401 counts against its source address; an address over its
    allowance of failures gets 429 before its request is even looked at, so guessing keys
    costs the server nothing and the guesser a wait."""

    def __init__(self, app: ASGIApp, limits: RateLimits) -> None:
        self.app = app
        self.limits = limits

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in EXEMPT_PATHS:
            await self.app(scope, receive, send)
            return
        address = client_address(scope)
        refusal = self.limits.auth_refusal(address)
        if refusal is not None:
            response = problem(
                refusal.status,
                refusal.title,
                refusal.detail,
                code=refusal.code,
                headers={"Retry-After": str(refusal.retry_after)},
            )
            await response(scope, receive, send)
            return

        async def watch(message: Message) -> None:
            if message["type"] == "http.response.start" and message["status"] == 401:
                self.limits.record_auth_failure(address)
            await send(message)

        await self.app(scope, receive, watch)
