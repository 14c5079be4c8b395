"""Claiming ready steps with leases, keeping leases alive, completing a worker's batch, and
durable timers."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from flowdeck.domain.records import StepRun
from flowdeck.domain.states import StepStatus, step_sources
from flowdeck.store.queries import Queries
from flowdeck.store.raw import in_list, list_param
from flowdeck.store.rows import STEP_SELECT, step_from
from flowdeck.store.steps import step_from_row
from flowdeck.store.tables import step_runs

_S = step_runs.c
_READY, _RUNNING, _WAITING = StepStatus.READY, StepStatus.RUNNING, StepStatus.WAITING
# What a claim takes (ready → running) and a due timer wakes (waiting → ready), by the table.
_CLAIMABLE = [str(s) for s in step_sources(_RUNNING)]
_WAKEABLE = [str(s) for s in step_sources(_READY, [_WAITING])]

# PostgreSQL: the whole batch as one JSON parameter, one statement, one round trip.
_COMPLETE_MANY = (
    "UPDATE step_runs SET status = 'completed', output = x.output, cost = x.cost, "
    "completed_at = :now, lease_owner = NULL, lease_expires_at = NULL "
    "FROM jsonb_to_recordset(CAST(:rows AS jsonb)) AS x(id text, output jsonb, cost float8) "
    "WHERE step_runs.id = x.id"
)
_COMPLETE_ONE = (
    "UPDATE step_runs SET status = 'completed', output = :output, cost = :cost, "
    "completed_at = :now, lease_owner = NULL, lease_expires_at = NULL WHERE id = :sid"
)


class LeaseQueries(Queries):
    """What workers do with the step runs they lease."""

    async def own_running_steps(self, step_run_ids: Sequence[str], worker_id: str) -> set[str]:
        """Of these step runs, those still running under the worker's lease, locked until the
        transaction ends (PostgreSQL; SQLite's writer holds the whole database anyway)."""
        if not step_run_ids:
            return set()
        db = await self.db()
        sql = (
            f"SELECT id FROM step_runs WHERE id {in_list(db.dialect, 'ids')} "
            "AND status = 'running' AND lease_owner = :worker"
        )
        if db.dialect == "postgresql":
            sql += " FOR UPDATE"
        params = {"ids": list_param(db, step_run_ids), "worker": worker_id}
        return {row[0] for row in await db.rows(sql, params)}

    async def complete_steps(self, rows: Sequence[tuple[str, Any, float]], now: datetime) -> None:
        """Complete step runs this transaction owns (`own_running_steps`) with their (id,
        output, cost): one statement on PostgreSQL (the rows as one JSON parameter), an
        executemany on SQLite."""
        if not rows:
            return
        db = await self.db()
        if db.dialect == "postgresql":
            payload = [{"id": sid, "output": output, "cost": cost} for sid, output, cost in rows]
            await db.run(_COMPLETE_MANY, {"rows": json.dumps(payload), "now": now})
            return
        params = [
            {"sid": sid, "output": db.json(out), "cost": cost, "now": db.time(now)}
            for sid, out, cost in rows
        ]
        await db.run_many(_COMPLETE_ONE, params)

    async def claim_ready_steps(
        self, worker_id: str, limit: int, now: datetime, lease_until: datetime
    ) -> list[StepRun]:
        """Lease up to `limit` ready steps of running runs (SKIP LOCKED on PostgreSQL)."""
        db = await self.db()
        sql = (
            "SELECT step_runs.id FROM step_runs JOIN runs ON runs.id = step_runs.run_id "
            "WHERE step_runs.status = 'ready' AND step_runs.available_at <= :now "
            "AND runs.status = 'running' ORDER BY step_runs.available_at LIMIT :limit"
        )
        if db.dialect == "postgresql":
            sql += " FOR UPDATE OF step_runs SKIP LOCKED"
        ids = [row[0] for row in await db.rows(sql, {"now": db.time(now), "limit": limit})]
        return await self.claim_steps(ids, worker_id, now, lease_until)

    async def claim_steps(
        self, ids: Sequence[str], worker_id: str, now: datetime, lease_until: datetime
    ) -> list[StepRun]:
        """Lease these steps if they are still ready and their run is running (not paused)."""
        if not ids:
            return []
        db = await self.db()
        sql = (
            "UPDATE step_runs SET status = 'running', lease_owner = :worker, "
            "lease_expires_at = :lease_until, started_at = COALESCE(started_at, :now) "
            f"WHERE id {in_list(db.dialect, 'ids')} AND status {in_list(db.dialect, 'claimable')} "
            "AND EXISTS (SELECT 1 FROM runs WHERE runs.id = step_runs.run_id "
            f"AND runs.status = 'running') RETURNING {STEP_SELECT}"
        )
        params = {
            "ids": list_param(db, ids),
            "claimable": list_param(db, _CLAIMABLE),
            "worker": worker_id,
            "lease_until": db.time(lease_until),
            "now": db.time(now),
        }
        return [step_from(db, row) for row in await db.rows(sql, params)]

    async def wake_due_steps(self, now: datetime) -> list[tuple[str, str]]:
        """Make waiting steps whose timer is due ready; returns (step run id, run id)."""
        rows = await self.conn.execute(
            step_runs.update()
            .where(_S.status.in_(_WAKEABLE), _S.wake_at <= now)
            .values(status=str(_READY), available_at=now, wake_at=None)
            .returning(_S.id, _S.run_id)
        )
        return [(r.id, r.run_id) for r in rows]

    async def expired_leases(self, now: datetime, limit: int = 500) -> list[StepRun]:
        """Running steps whose lease lapsed."""
        rows = await self.conn.execute(
            sa.select(step_runs)
            .where(_S.status == "running", _S.lease_expires_at < now)
            .limit(limit)
        )
        return [step_from_row(r) for r in rows]

    async def renew_leases(self, worker_id: str, ids: Sequence[str], until: datetime) -> None:
        """Extend the leases the worker holds on these steps."""
        if ids:
            await self.conn.execute(
                step_runs.update()
                .where(_S.id.in_(list(ids)), _S.lease_owner == worker_id, _S.status == "running")
                .values(lease_expires_at=until)
            )

    async def not_running(self, ids: Sequence[str], worker_id: str) -> list[str]:
        """Which of these step runs are no longer running under this worker's lease."""
        if not ids:
            return []
        still = await self.conn.execute(
            sa.select(_S.id).where(
                _S.id.in_(list(ids)), _S.status == "running", _S.lease_owner == worker_id
            )
        )
        alive = {r[0] for r in still}
        return [i for i in ids if i not in alive]

    async def next_timer(self, now: datetime) -> datetime | None:
        """The earliest future moment a waiting or backing-off step becomes due."""
        wake = (
            await self.conn.execute(
                sa.select(sa.func.min(_S.wake_at)).where(_S.status == "waiting")
            )
        ).scalar_one()
        backoff = (
            await self.conn.execute(
                sa.select(sa.func.min(_S.available_at)).where(
                    _S.status == "ready", _S.available_at > now
                )
            )
        ).scalar_one()
        moments = [m for m in (wake, backoff) if m is not None]
        return min(moments) if moments else None
