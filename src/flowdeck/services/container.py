"""The services a process offers, wired to one store and one clock."""

from __future__ import annotations

from dataclasses import dataclass

from flowdeck.config import Settings
from flowdeck.domain.clock import Clock, SystemClock
from flowdeck.services.auth import AuthService
from flowdeck.services.ports import StorePort
from flowdeck.services.workflows import WorkflowService


@dataclass
class Services:
    """Every use-case service, sharing the store and the clock."""

    settings: Settings
    store: StorePort
    clock: Clock
    auth: AuthService
    workflows: WorkflowService

    @classmethod
    def build(cls, settings: Settings, store: StorePort, clock: Clock | None = None) -> Services:
        """Wire the services for `store`."""
        clock = clock or SystemClock()
        return cls(
            settings=settings,
            store=store,
            clock=clock,
            auth=AuthService(store, clock),
            workflows=WorkflowService(store, clock, max_steps=settings.max_steps),
        )
