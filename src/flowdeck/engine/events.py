"""In-process wake-ups for event-log readers (SSE); other processes' commits arrive as signals."""

from __future__ import annotations

import asyncio
import contextlib
from collections import defaultdict
from collections.abc import Iterable, Iterator


class EventBus:
    """Readers listen on a run; writers announce that a run's log grew."""

    def __init__(self) -> None:
        self._listeners: dict[str, set[asyncio.Event]] = defaultdict(set)

    def publish(self, run_ids: Iterable[str]) -> None:
        """Wake every listener of these runs."""
        for run_id in run_ids:
            for event in self._listeners.get(run_id, ()):
                event.set()

    def publish_all(self) -> None:
        """Wake every listener (signals may have been lost: everyone should look again)."""
        for events in self._listeners.values():
            for event in events:
                event.set()

    @contextlib.contextmanager
    def listen(self, run_id: str) -> Iterator[asyncio.Event]:
        """An event set whenever the run's log grows, for as long as the block lasts.

        Listen before reading the log: a publish between the read and the wait then still
        wakes the reader (clear the event before each read).
        """
        event = asyncio.Event()
        self._listeners[run_id].add(event)
        try:
            yield event
        finally:
            listeners = self._listeners.get(run_id)
            if listeners is not None:
                listeners.discard(event)
                if not listeners:
                    del self._listeners[run_id]

    async def wait(self, run_id: str, seconds: float) -> bool:
        """Wait until the run's log may have grown, or `seconds` pass (may miss a publish
        that came before the call: use `listen` when that matters)."""
        with self.listen(run_id) as event:
            try:
                async with asyncio.timeout(seconds):
                    await event.wait()
                return True
            except TimeoutError:
                return False
