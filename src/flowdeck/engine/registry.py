"""A worker's row in the registry: written at start, refreshed by each heartbeat, marked at stop."""

from __future__ import annotations

import logging
import os
import socket
from datetime import datetime, timedelta

from flowdeck.domain.clock import Clock
from flowdeck.domain.cluster import WorkerRecord
from flowdeck.engine.ports import EngineStore, EngineTx

log = logging.getLogger("flowdeck.worker")

# Rows of workers stopped or silent for longer than this are deleted.
FORGET_AFTER = timedelta(days=1)
# How often one worker looks for such rows: the table is small, but no need every heartbeat.
PRUNE_EVERY = timedelta(hours=1)


class Registration:
    """Keeps one worker's registry row true."""

    def __init__(self, worker_id: str, clock: Clock) -> None:
        self.worker_id = worker_id
        self.clock = clock
        self.hostname = socket.gethostname()
        self.pid = os.getpid()
        self.started_at: datetime | None = None
        self._next_prune: datetime | None = None

    def _record(self, now: datetime, inflight: int, capacity: int) -> WorkerRecord:
        return WorkerRecord(
            id=self.worker_id,
            hostname=self.hostname,
            pid=self.pid,
            started_at=self.started_at or now,
            heartbeat_at=now,
            inflight=inflight,
            capacity=capacity,
        )

    async def register(self, store: EngineStore[EngineTx], capacity: int) -> None:
        """Announce the worker (a row in `workers`, a log line)."""
        now = self.clock.now()
        self.started_at = now
        try:
            async with store.write() as tx:
                await tx.register_worker(self._record(now, 0, capacity))
        except Exception:  # the database may be down at boot: the first heartbeat registers
            log.warning("could not register worker %s yet", self.worker_id, exc_info=True)
        log.info(
            "worker %s started",
            self.worker_id,
            extra={"worker_id": self.worker_id, "capacity": capacity},
        )

    async def heartbeat(self, tx: EngineTx, inflight: int, capacity: int) -> None:
        """Refresh the row inside the maintenance transaction; forget long-gone workers."""
        now = self.clock.now()
        if not await tx.heartbeat_worker(self.worker_id, now, inflight=inflight, capacity=capacity):
            # Silent for so long that another worker forgot it (a suspended machine).
            await tx.register_worker(self._record(now, inflight, capacity))
        if self._next_prune is None or now >= self._next_prune:
            self._next_prune = now + PRUNE_EVERY
            await tx.prune_workers(now - FORGET_AFTER)

    async def stop(self, store: EngineStore[EngineTx]) -> None:
        """Mark the worker stopped; a database that is gone by now is no reason to fail."""
        try:
            async with store.write() as tx:
                await tx.stop_worker(self.worker_id, self.clock.now())
        except Exception:
            log.warning("could not mark worker %s stopped", self.worker_id, exc_info=True)
        log.info("worker %s stopped", self.worker_id, extra={"worker_id": self.worker_id})
