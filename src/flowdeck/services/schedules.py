"""Schedules: cron triggers with time zones, fired exactly once across servers."""

from __future__ import annotations

from flowdeck.config import Settings
from flowdeck.domain.clock import Clock
from flowdeck.engine.runtime import Runtime
from flowdeck.services.ports import StorePort


class ScheduleService:
    """CRUD for schedules and the loop that fires them (scaffold: being built)."""

    def __init__(
        self, store: StorePort, clock: Clock, runtime: Runtime, settings: Settings
    ) -> None:
        self.store = store
        self.clock = clock
        self.runtime = runtime
        self.settings = settings

    async def start(self) -> None:
        """Start firing due schedules in this process."""

    async def stop(self) -> None:
        """Stop firing schedules."""
