"""Instance-wide counts for metrics, each answered by an index or a small table.

Unfinished runs are counted through `ix_runs_status_id` and finished ones from `run_totals`, so a
scrape costs the same with a thousand runs or ten million; step counts cover only unfinished runs
(their step runs, through `ix_step_runs_run_id_step_id`), and the queue comes from the partial
index on ready steps.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa

from flowdeck.domain.cluster import ClusterSnapshot
from flowdeck.domain.states import RUN_ACTIVE
from flowdeck.store.queries import Queries
from flowdeck.store.tables import run_totals, runs, step_runs

_R = runs.c
_S = step_runs.c
_T = run_totals.c
_ACTIVE = sorted(RUN_ACTIVE)


class ClusterQueries(Queries):
    """What `GET /metrics` reads at scrape time."""

    async def cluster_snapshot(self, now: datetime) -> ClusterSnapshot:
        """Runs and steps by status, and the queue of claimable steps."""
        n = sa.func.count().label("n")
        active = await self.conn.execute(
            sa.select(_R.status, n).where(_R.status.in_(_ACTIVE)).group_by(_R.status)
        )
        by_status = {row.status: int(row.n) for row in active}
        finished = await self.conn.execute(
            sa.select(_T.status, sa.func.sum(_T.runs).label("n")).group_by(_T.status)
        )
        for row in finished:
            by_status[row.status] = by_status.get(row.status, 0) + int(row.n or 0)
        # Unfinished runs first, through the index: left to itself, PostgreSQL's planner may
        # scan every run for this join.
        unfinished = (
            sa.select(_R.id)
            .where(_R.status.in_(_ACTIVE))
            .cte("unfinished")
            .prefix_with("MATERIALIZED", dialect="postgresql")
        )
        steps = await self.conn.execute(
            sa.select(_S.status, n)
            .select_from(unfinished.join(step_runs, _S.run_id == unfinished.c.id))
            .where(_S.is_current.is_(True))
            .group_by(_S.status)
        )
        # Driven by the partial index on ready steps (SQLite matches it only against the literal
        # text of its WHERE clause), then each step's run by its key.
        run_is_running = sa.select(_R.id).where(_R.id == _S.run_id, _R.status == "running").exists()
        queue = (
            await self.conn.execute(
                sa.select(n, sa.func.min(_S.available_at).label("oldest")).where(
                    _S.status == sa.literal_column("'ready'"),
                    _S.available_at <= now,
                    run_is_running,
                )
            )
        ).one()
        return ClusterSnapshot(
            runs_by_status=by_status,
            steps_by_status={row.status: int(row.n) for row in steps},
            claimable_steps=int(queue.n),
            oldest_claimable_at=queue.oldest,
        )
