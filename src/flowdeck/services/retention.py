"""Run retention (FLOWDECK_RUN_RETENTION_DAYS): finished runs older than that are deleted with
their step runs and events, a small batch per transaction, their analytics kept
(store/retention.py). Running, waiting, paused and queued runs are never touched."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from flowdeck.domain.clock import Clock
from flowdeck.domain.retention import PurgeCounts
from flowdeck.services.ports import StorePort

log = logging.getLogger("flowdeck.retention")
BATCH = 200


class RetentionService:
    """Purges expired finished runs, on a timer (the lifecycle loop) or on demand (the CLI)."""

    def __init__(self, store: StorePort, clock: Clock, retention_days: int) -> None:
        self.store = store
        self.clock = clock
        self.retention_days = retention_days

    def cutoff(self, older_than: timedelta) -> datetime:
        """The moment before which a finished run is expired."""
        return self.clock.now() - older_than

    async def purge_batch(self, cutoff: datetime, limit: int = BATCH) -> PurgeCounts | None:
        """One transaction's worth; None when another server is purging."""
        async with self.store.write() as tx:
            return await tx.purge_expired_runs(cutoff, limit)

    async def purge_expired(self) -> int:
        """The background sweep: one batch past the configured retention (0 days: never);
        returns how many runs went."""
        if self.retention_days <= 0:
            return 0
        done = await self.purge_batch(self.cutoff(timedelta(days=self.retention_days)))
        if done is not None and done.runs:
            log.info(
                "retention purged %d runs (%d step runs, %d events)",
                done.runs,
                done.step_runs,
                done.events,
                extra={"purged_runs": done.runs},
            )
        return done.runs if done is not None else 0

    async def purge(self, older_than: timedelta, *, dry_run: bool = False) -> PurgeCounts:
        """Every run finished longer ago than `older_than`, batch after batch (or, with
        `dry_run`, how many there are); what went."""
        cutoff = self.cutoff(older_than)
        if dry_run:
            async with self.store.read() as tx:
                return await tx.count_expired_runs(cutoff)
        total = PurgeCounts()
        while True:
            done = await self.purge_batch(cutoff)
            if done is None:  # another server is purging: it will get there too
                return total
            total += done
            if done.runs < BATCH:
                return total
