"""Analytics queries (scaffold: being built)."""

from __future__ import annotations

from flowdeck.store.queries import Queries


class AnalyticsQueries(Queries):
    """Analytics queries."""
