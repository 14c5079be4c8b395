"""Run retention: finished runs older than a cutoff deleted in small batches, their analytics kept.

A purged run's step statistics and its place in the finished-run totals were rolled up when it
ended, and stay. What analytics read from the runs themselves (runs per day by status, and their
cost) is kept in `step_rollups` rows of their own, step type `PURGED_RUNS` and no step id, and
their durations (to the microsecond) in `PURGED_DURATIONS` rows, added as the runs go, so the
Analytics tab answers the same before and after.

One server purges at a time (PostgreSQL's advisory lock, as the webhook purge does; a SQLite write
transaction excludes the others anyway), and rows are locked with SKIP LOCKED: a run that a resume
is touching right now is left for the next sweep, and the purge never waits on the engine.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa

from flowdeck.domain.retention import PURGED_DURATIONS, PURGED_RUNS, PurgeCounts
from flowdeck.domain.states import RUN_TERMINAL
from flowdeck.store.analytics_sql import day_text, seconds_between
from flowdeck.store.dialect import try_claim, upsert
from flowdeck.store.queries import Queries
from flowdeck.store.tables import run_events, runs, step_rollups, step_runs

_R = runs.c
_FINISHED = sorted(RUN_TERMINAL)
_PURGE_LOCK = 0x666C6F7764656B02


def _expired(cutoff: datetime) -> list[sa.ColumnElement[bool]]:
    """Finished before `cutoff`, and not the child of a run still going (whose step waits on
    it and reads it when it ends)."""
    parent = runs.alias("parent")
    parent_active = (
        sa.select(parent.c.id)
        .where(parent.c.id == _R.parent_run_id, parent.c.status.not_in(_FINISHED))
        .exists()
    )
    return [_R.status.in_(_FINISHED), _R.completed_at < cutoff, ~parent_active]


class RetentionQueries(Queries):
    """Counting and deleting expired finished runs."""

    async def count_expired_runs(self, cutoff: datetime) -> PurgeCounts:
        """What a purge at `cutoff` would delete: runs, their step runs and their events."""
        expired = sa.select(_R.id).where(*_expired(cutoff)).subquery()
        n_runs = await self.conn.execute(sa.select(sa.func.count()).select_from(expired))
        n_steps = await self.conn.execute(
            sa.select(sa.func.count()).where(step_runs.c.run_id.in_(sa.select(expired.c.id)))
        )
        n_events = await self.conn.execute(
            sa.select(sa.func.count()).where(run_events.c.run_id.in_(sa.select(expired.c.id)))
        )
        return PurgeCounts(
            runs=int(n_runs.scalar_one()),
            step_runs=int(n_steps.scalar_one()),
            events=int(n_events.scalar_one()),
        )

    async def purge_expired_runs(self, cutoff: datetime, limit: int) -> PurgeCounts | None:
        """Delete up to `limit` runs finished before `cutoff` with their step runs and events,
        keeping their analytics; None when another server holds the purge."""
        claim = try_claim(self.dialect, _PURGE_LOCK)
        if claim is not None and not (await self.conn.execute(claim)).scalar():
            return None
        pick = sa.select(_R.id).where(*_expired(cutoff)).order_by(_R.completed_at).limit(limit)
        if self.dialect == "postgresql":
            pick = pick.with_for_update(of=runs, skip_locked=True)
        ids = [row.id for row in await self.conn.execute(pick)]
        if not ids:
            return PurgeCounts()
        await self._keep_run_counts(ids)
        steps = await self.conn.execute(step_runs.delete().where(step_runs.c.run_id.in_(ids)))
        events = await self.conn.execute(run_events.delete().where(run_events.c.run_id.in_(ids)))
        gone = await self.conn.execute(runs.delete().where(_R.id.in_(ids)))
        return PurgeCounts(
            runs=int(gone.rowcount), step_runs=int(steps.rowcount), events=int(events.rowcount)
        )

    async def _keep_run_counts(self, ids: list[str]) -> None:
        """Add the runs' per-day counts by status, cost and durations to the rollup-only rows."""
        day = day_text(self.dialect, _R.created_at)
        n = sa.func.count()
        timed = sa.and_(
            _R.status == "completed", _R.started_at.is_not(None), _R.completed_at.is_not(None)
        )
        counts = (
            sa.select(
                _R.workflow_id,
                day,
                sa.literal(""),
                sa.literal(PURGED_RUNS),
                n,  # runs
                sa.literal(0),  # attempts
                n.filter(_R.status == "completed"),
                n.filter(_R.status == "failed"),
                n.filter(_R.status == "cancelled"),  # in the `skipped` column
                sa.literal(0.0),  # duration_sum
                n.filter(timed),  # duration_n: how many have a duration
                sa.func.coalesce(sa.func.sum(_R.cost), 0.0),
                sa.literal(0),  # step_runs
            )
            .where(_R.id.in_(ids))
            .group_by(_R.workflow_id, day)
            .order_by(_R.workflow_id, day)
        )
        await self._add_rollup_rows(counts)
        micros = sa.cast(
            sa.func.round(seconds_between(self.dialect, _R.started_at, _R.completed_at) * 1e6),
            sa.BigInteger,
        )
        as_text = sa.cast(micros, sa.String)
        durations = (
            sa.select(
                _R.workflow_id,
                day,
                as_text,
                sa.literal(PURGED_DURATIONS),
                n,
                *(sa.literal(0) for _ in range(4)),  # attempts, completed, failed, skipped
                sa.literal(0.0),
                sa.literal(0),
                sa.literal(0.0),
                sa.literal(0),
            )
            .where(_R.id.in_(ids), timed)
            .group_by(_R.workflow_id, day, as_text)
            .order_by(_R.workflow_id, day, as_text)
        )
        await self._add_rollup_rows(durations)

    async def _add_rollup_rows(self, select: sa.Select[Any]) -> None:
        insert = upsert(self.dialect, step_rollups)
        keys = ("workflow_id", "day", "step_id", "step_type")
        columns = [c.name for c in step_rollups.c]
        stmt = insert.from_select(columns, select).on_conflict_do_update(
            index_elements=list(keys),
            set_={
                name: getattr(step_rollups.c, name) + getattr(insert.excluded, name)
                for name in columns
                if name not in keys
            },
        )
        await self.conn.execute(stmt)
