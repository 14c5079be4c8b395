"""The worker registry: one row per worker process, kept fresh by its heartbeat."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa

from flowdeck.domain.cluster import WorkerRecord
from flowdeck.store.dialect import upsert
from flowdeck.store.queries import Queries, prepared
from flowdeck.store.tables import workers

_W = workers.c


def worker_from_row(row: Any) -> WorkerRecord:
    """A registry row as a record."""
    return WorkerRecord(
        id=row.id,
        hostname=row.hostname,
        pid=row.pid,
        started_at=row.started_at,
        heartbeat_at=row.heartbeat_at,
        inflight=row.inflight,
        capacity=row.capacity,
        stopped_at=row.stopped_at,
    )


class WorkerQueries(Queries):
    """Registering workers, their heartbeats, and forgetting the long gone."""

    async def register_worker(self, worker: WorkerRecord) -> None:
        """Insert the worker's row (or bring back one that was pruned while it was silent)."""
        values = {
            "id": worker.id,
            "hostname": worker.hostname,
            "pid": worker.pid,
            "started_at": worker.started_at,
            "heartbeat_at": worker.heartbeat_at,
            "stopped_at": None,
            "inflight": worker.inflight,
            "capacity": worker.capacity,
        }
        stmt = upsert(self.dialect, workers).values(values)
        changed = {k: getattr(stmt.excluded, k) for k in values if k != "id"}
        await self.conn.execute(stmt.on_conflict_do_update(index_elements=["id"], set_=changed))

    async def heartbeat_worker(
        self, worker_id: str, now: datetime, *, inflight: int, capacity: int
    ) -> bool:
        """Refresh a live worker's row; False when it is missing (pruned meanwhile)."""

        def build() -> Any:
            return (
                workers.update()
                .where(_W.id == sa.bindparam("worker_id"))
                .values(
                    heartbeat_at=sa.bindparam("now"),
                    inflight=sa.bindparam("inflight"),
                    capacity=sa.bindparam("capacity"),
                    stopped_at=None,
                )
            )

        result = await self.conn.execute(
            prepared("heartbeat_worker", build),
            {"worker_id": worker_id, "now": now, "inflight": inflight, "capacity": capacity},
        )
        return bool(result.rowcount)

    async def stop_worker(self, worker_id: str, now: datetime) -> None:
        """Mark the worker stopped (it shut down in order)."""
        await self.conn.execute(
            workers.update()
            .where(_W.id == worker_id)
            .values(stopped_at=now, heartbeat_at=now, inflight=0)
        )

    async def prune_workers(self, cutoff: datetime) -> int:
        """Forget workers stopped or silent since before `cutoff`; returns how many."""
        result = await self.conn.execute(
            workers.delete().where(sa.or_(_W.heartbeat_at < cutoff, _W.stopped_at < cutoff))
        )
        return int(result.rowcount)

    async def list_workers(self, *, include_stopped: bool = False) -> list[WorkerRecord]:
        """Registered workers, oldest first."""
        stmt = sa.select(workers).order_by(_W.started_at, _W.id)
        if not include_stopped:
            stmt = stmt.where(_W.stopped_at.is_(None))
        return [worker_from_row(r) for r in await self.conn.execute(stmt)]
