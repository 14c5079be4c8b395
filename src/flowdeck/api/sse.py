"""Server-Sent Event streams that end cleanly when the server shuts down.

On shutdown sse-starlette sets the response's `shutdown_event`; the stream's events stop there
and the response finishes properly (its last, empty body chunk), so uvicorn never reports
"ASGI callable returned without completing response" and the client sees a normal end, then
reconnects with Last-Event-ID to another server (or this one, restarted) and misses nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any, TypeVar

import anyio
from sse_starlette import EventSourceResponse
from starlette.background import BackgroundTask

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
