"""Routes that run their handler again when the database had a transient failure.

A lost connection (a database restart, a failover, a terminated backend), a serialization
failure or a deadlock is cured by trying again: the request is re-run with backoff instead of
answering 503. Only while nothing has committed yet: a handler whose write transaction already
committed (or whose COMMIT broke mid-way, so its outcome is unknown) is not run twice.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response

from flowdeck.api.guard import GuardedRoute
from flowdeck.errors import DatabaseBusy
from flowdeck.store.store import track_writes

log = logging.getLogger("flowdeck.api")

ATTEMPTS = 5
FIRST_DELAY = 0.05


class RetryingRoute(GuardedRoute):
    """A GuardedRoute whose handler is retried on `DatabaseBusy` (see the module docstring).

    Its response model serializes only the fields the handler answered: a view leaves out a
    field it has nothing to say about (`deleted_at` of a live workflow), and the model keeps
    it out rather than adding a null.
    """

    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        kwargs["response_model_exclude_unset"] = True
        super().__init__(path, endpoint, **kwargs)

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def run(request: Request) -> Response:
            delay = FIRST_DELAY
            for attempt in range(1, ATTEMPTS + 1):
                with track_writes() as writes:
                    try:
                        return await handler(request)
                    except DatabaseBusy as exc:
                        if exc.in_doubt or writes.committed or attempt == ATTEMPTS:
                            raise
                        log.info(
                            "%s %s: transient database error (%s); retry %d in %.2fs",
                            request.method,
                            request.url.path,
                            exc.__cause__ or exc.detail,
                            attempt,
                            delay,
                        )
                await asyncio.sleep(delay * random.uniform(0.5, 1.5))
                delay *= 2
            raise AssertionError("unreachable")  # the last attempt returns or raises

        return run
