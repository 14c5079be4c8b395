"""Server-Sent Event streams that end cleanly when the server shuts down.

On shutdown sse-starlette sets the response's `shutdown_event`; the stream's events stop there
and the response finishes properly (its last, empty body chunk), so uvicorn never reports
"ASGI callable returned without completing response" and the client sees a normal end, then
reconnects with Last-Event-ID to another server (or this one, restarted) and misses nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Callable
from typing import Any, TypeVar

import anyio
from sse_starlette import EventSourceResponse, ServerSentEvent
from starlette.background import BackgroundTask
from starlette.requests import Request

from flowdeck.api.ratelimit import rate_limits
from flowdeck.services.auth import Principal
from flowdeck.services.container import Services

T = TypeVar("T")
# How long a stream may take to end on its own once shutdown begins, before it is cut.
SHUTDOWN_GRACE_SECONDS = 5.0


async def until_set(source: AsyncIterator[T], stop: anyio.Event) -> AsyncIterator[T]:
    """The items of `source` until `stop` is set (the one being awaited then is dropped)."""

    async def next_item() -> T:
        return await anext(source)

    stopped = asyncio.ensure_future(stop.wait())
    try:
        while True:
            item = asyncio.ensure_future(next_item())
            await asyncio.wait({item, stopped}, return_when=asyncio.FIRST_COMPLETED)
            if not item.done():
                item.cancel()
                with contextlib.suppress(asyncio.CancelledError, StopAsyncIteration):
                    await item
                return
            try:
                value = item.result()
            except StopAsyncIteration:
                return
            yield value
    finally:
        stopped.cancel()
        aclose: Callable[[], Any] | None = getattr(source, "aclose", None)
        if aclose is not None:
            await aclose()


def event_stream(
    events: Callable[[anyio.Event], AsyncIterator[Any]],
    *,
    ping: int = 15,
    background: BackgroundTask | None = None,
) -> EventSourceResponse:
    """An SSE response over `events(shutdown)`, which must stop once `shutdown` is set
    (`until_set` does that for any iterator)."""
    shutdown = anyio.Event()
    return EventSourceResponse(
        events(shutdown),
        ping=ping,
        background=background,
        shutdown_event=shutdown,
        shutdown_grace_period=SHUTDOWN_GRACE_SECONDS,
    )


def run_events_response(
    request: Request, services: Services, principal: Principal, run_id: str, after: int
) -> EventSourceResponse:
    """A run's events after `after` as SSE, then followed live (the API's stream and the UI's):
    one of the key's stream slots while open, ended cleanly on shutdown."""
    follow = services.runs.follow(principal, run_id, after, gone=request.is_disconnected)
    # At most FLOWDECK_MAX_STREAMS_PER_KEY open streams per key (429 past it). The slot is
    # given back when the generator ends, and by the response's background task in case the
    # generator never started or was dropped unfinished.
    release = rate_limits(request).streams.acquire(principal.key_id)

    async def events(shutdown: anyio.Event) -> AsyncIterator[ServerSentEvent]:
        try:
            async for event in until_set(follow, shutdown):  # ends cleanly on shutdown
                yield ServerSentEvent(
                    data=json.dumps(event.data), event=event.type, id=str(event.seq)
                )
        finally:
            release()

    return event_stream(events, ping=15, background=BackgroundTask(release))
