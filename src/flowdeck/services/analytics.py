"""Workflow analytics and related objects, computed in SQL."""

from __future__ import annotations

from flowdeck.domain.clock import Clock
from flowdeck.services.ports import StorePort


class AnalyticsService:
    """KPIs, series, cost breakdown, step stats, related objects (scaffold: being built)."""

    def __init__(self, store: StorePort, clock: Clock) -> None:
        self.store = store
        self.clock = clock
