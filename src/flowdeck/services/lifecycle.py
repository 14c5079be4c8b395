"""Workflow lifecycle and access: archive, trash, delete, clone, fork, tokens, inbound hooks."""

from __future__ import annotations

from flowdeck.config import Settings
from flowdeck.crypto import SecretBox
from flowdeck.domain.clock import Clock
from flowdeck.engine.runtime import Runtime
from flowdeck.services.ports import StorePort


class LifecycleService:
    """Everything done to a workflow besides editing and running it (scaffold: being built)."""

    def __init__(
        self, store: StorePort, clock: Clock, runtime: Runtime, box: SecretBox, settings: Settings
    ) -> None:
        self.store = store
        self.clock = clock
        self.runtime = runtime
        self.box = box
        self.settings = settings

    async def start(self) -> None:
        """Start the trash purge loop in this process."""

    async def stop(self) -> None:
        """Stop the purge loop."""
