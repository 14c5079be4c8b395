"""Schedule queries (scaffold: being built)."""

from __future__ import annotations

from flowdeck.store.queries import Queries


class ScheduleQueries(Queries):
    """Schedule queries."""
