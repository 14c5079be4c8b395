"""In-process wake-ups for event-log readers (SSE); other processes fall back to polling."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Iterable


class EventBus:
    """Readers wait on a run; writers announce that a run's log grew."""

    def __init__(self) -> None:
        self._waiters: dict[str, set[asyncio.Event]] = defaultdict(set)

    def publish(self, run_ids: Iterable[str]) -> None:
        """Wake every reader of these runs."""
        for run_id in run_ids:
            for event in self._waiters.get(run_id, ()):
                event.set()

    async def wait(self, run_id: str, seconds: float) -> bool:
        """Wait until the run's log may have grown, or `seconds` pass."""
        event = asyncio.Event()
        self._waiters[run_id].add(event)
        try:
            async with asyncio.timeout(seconds):
                await event.wait()
            return True
        except TimeoutError:
            return False
        finally:
            waiters = self._waiters.get(run_id)
            if waiters is not None:
                waiters.discard(event)
                if not waiters:
                    del self._waiters[run_id]
