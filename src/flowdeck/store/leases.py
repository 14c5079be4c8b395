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
from flowdeck.store.queries import Queries, prepared
from flowdeck.store.steps import expanding_ids, step_from_row
from flowdeck.store.tables import runs, step_runs
from flowdeck.store.types import UTCDateTime

_S = step_runs.c
_READY, _RUNNING, _WAITING = StepStatus.READY, StepStatus.RUNNING, StepStatus.WAITING
# What a claim takes (ready → running) and a due timer wakes (waiting → ready), by the table.
_CLAIMABLE = [str(s) for s in step_sources(_RUNNING)]
_WAKEABLE = [str(s) for s in step_sources(_READY, [_WAITING])]

# PostgreSQL: the whole batch as one JSON parameter, one statement, one round trip.
_COMPLETE_MANY = sa.text(
    "UPDATE step_runs SET status = 'completed', output = x.output, cost = x.cost, "
    "completed_at = :now, lease_owner = NULL, lease_expires_at = NULL "
    "FROM jsonb_to_recordset(CAST(:rows AS jsonb)) AS x(id text, output jsonb, cost float8) "
    "WHERE step_runs.id = x.id"
).bindparams(sa.bindparam("now", type_=UTCDateTime()))


class LeaseQueries(Queries):
    """What workers do with the step runs they lease."""

    async def own_running_steps(self, step_run_ids: Sequence[str], worker_id: str) -> set[str]:
        """Of these step runs, those still running under the worker's lease, locked until the
        transaction ends (PostgreSQL; SQLite's writer holds the whole database anyway)."""
        if not step_run_ids:
            return set()
        stmt = prepared(
            ("own_running",),
            lambda: (
                sa.select(_S.id)
                .where(
                    _S.id.in_(expanding_ids()),
                    _S.status == "running",
                    _S.lease_owner == sa.bindparam("worker"),
                )
                .with_for_update()
            ),
        )
        result = await self.conn.execute(stmt, {"ids": list(step_run_ids), "worker": worker_id})
        return {row.id for row in result}

    async def complete_steps(self, rows: Sequence[tuple[str, Any, float]], now: datetime) -> None:
        """Complete step runs this transaction owns (`own_running_steps`) with their (id,
        output, cost): one executemany, which psycopg pipelines into one round trip."""
        if not rows:
            return
        if self.dialect == "postgresql":
            payload = [{"id": sid, "output": output, "cost": cost} for sid, output, cost in rows]
            await self.conn.execute(_COMPLETE_MANY, {"rows": json.dumps(payload), "now": now})
            return
        stmt = prepared(
            ("complete_many",),
            lambda: (
                step_runs.update()
                .where(_S.id == sa.bindparam("sid"))
                .values(
                    status="completed",
                    output=sa.bindparam("v_output"),
                    cost=sa.bindparam("v_cost"),
                    completed_at=sa.bindparam("v_at"),
                    lease_owner=None,
                    lease_expires_at=None,
                )
            ),
        )
        params = [
            {"sid": sid, "v_output": out, "v_cost": cost, "v_at": now} for sid, out, cost in rows
        ]
        await self.conn.execute(stmt, params)

    async def claim_ready_steps(
        self, worker_id: str, limit: int, now: datetime, lease_until: datetime
    ) -> list[StepRun]:
        """Lease up to `limit` ready steps of running runs (SKIP LOCKED on PostgreSQL)."""

        def build() -> Any:
            candidates = (
                sa.select(_S.id)
                .join(runs, runs.c.id == _S.run_id)
                .where(
                    _S.status == "ready",
                    _S.available_at <= sa.bindparam("now"),
                    runs.c.status == "running",
                )
                .order_by(_S.available_at)
                .limit(sa.bindparam("limit"))
            )
            if self.dialect == "postgresql":
                candidates = candidates.with_for_update(skip_locked=True, of=step_runs)
            return candidates

        stmt = prepared(("claim_candidates", self.dialect), build)
        ids = [r[0] for r in await self.conn.execute(stmt, {"now": now, "limit": limit})]
        return await self.claim_steps(ids, worker_id, now, lease_until)

    async def claim_steps(
        self, ids: Sequence[str], worker_id: str, now: datetime, lease_until: datetime
    ) -> list[StepRun]:
        """Lease these steps if they are still ready and their run is running (not paused)."""
        if not ids:
            return []

        def build() -> Any:
            run_is_running = (
                sa.select(runs.c.id)
                .where(runs.c.id == _S.run_id, runs.c.status == "running")
                .exists()
            )
            return (
                step_runs.update()
                .where(_S.id.in_(expanding_ids()), _S.status.in_(_CLAIMABLE), run_is_running)
                .values(
                    status=str(_RUNNING),
                    lease_owner=sa.bindparam("worker"),
                    lease_expires_at=sa.bindparam("lease_until"),
                    started_at=sa.func.coalesce(_S.started_at, sa.bindparam("now")),
                )
                .returning(*step_runs.c)
            )

        rows = await self.conn.execute(
            prepared("claim_steps", build),
            {"ids": list(ids), "worker": worker_id, "lease_until": lease_until, "now": now},
        )
        return [step_from_row(r) for r in rows]

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
