"""Totals kept as runs end, so analytics and metrics never recount every run or step run.

A run adds itself when it ends (completed, failed, cancelled) and takes itself back when it is
resumed or deleted: per-day step statistics (`step_rollups`) and finished runs per workflow and
status (`run_totals`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

from flowdeck.domain.retention import PURGED_RUNS, ROLLUP_ONLY
from flowdeck.domain.states import RUN_TERMINAL
from flowdeck.store.analytics_sql import step_rollup_select
from flowdeck.store.dialect import upsert
from flowdeck.store.queries import Queries, prepared
from flowdeck.store.tables import run_totals, runs, step_rollups, step_runs

_R = runs.c
_S = step_runs.c
_FINISHED = sorted(RUN_TERMINAL)


class RollupQueries(Queries):
    """Writing the rollups; reading them is analytics' and metrics' business."""

    def _upsert(self, table: sa.Table, keys: tuple[str, ...], select: Any) -> Any:
        insert = upsert(self.dialect, table)
        columns = [c.name for c in table.c]
        stmt = insert.from_select(columns, select).on_conflict_do_update(
            index_elements=list(keys),
            set_={
                name: getattr(table.c, name) + getattr(insert.excluded, name)
                for name in columns
                if name not in keys
            },
        )
        return stmt

    async def _add(self, table: sa.Table, keys: tuple[str, ...], select: Any) -> None:
        await self.conn.execute(self._upsert(table, keys, select))

    async def _add_step_rollups(self, select: Any) -> None:
        await self._add(step_rollups, ("workflow_id", "day", "step_id", "step_type"), select)

    async def _add_run_totals(self, where: sa.ColumnElement[bool], sign: int) -> None:
        select = (
            sa.select(_R.workflow_id, _R.status, sign * sa.func.count())
            .where(where, _R.status.in_(_FINISHED))
            .group_by(_R.workflow_id, _R.status)
            .order_by(_R.workflow_id, _R.status)
        )
        await self._add(run_totals, ("workflow_id", "status"), select)

    async def roll_up_run(self, run_id: str, sign: int = 1) -> None:
        """Add a finished run to the rollups (or, with sign -1, take it back)."""
        await self._add_step_rollups(step_rollup_select(self.dialect, _S.run_id == run_id, sign))
        await self._add_run_totals(_R.id == run_id, sign)

    async def roll_up_runs(self, run_ids: Sequence[str]) -> None:
        """Add finished runs to the rollups: one statement per table, rows in key order (all
        writers lock the shared rollup rows in the same order, so they queue, not deadlock)."""
        if not run_ids:
            return
        params = {"ids": list(run_ids)}
        for stmt in prepared(("roll_up_runs", self.dialect), self._roll_up_runs_statements):
            await self.conn.execute(stmt, params)

    def _roll_up_runs_statements(self) -> tuple[Any, Any]:
        ids: sa.BindParameter[Any] = sa.bindparam("ids", expanding=True)
        steps = step_rollup_select(self.dialect, _S.run_id.in_(ids), 1)
        totals = (
            sa.select(_R.workflow_id, _R.status, sa.func.count())
            .where(_R.id.in_(ids), _R.status.in_(_FINISHED))
            .group_by(_R.workflow_id, _R.status)
            .order_by(_R.workflow_id, _R.status)
        )
        return (
            self._upsert(
                step_rollups,
                ("workflow_id", "day", "step_id", "step_type"),
                steps.order_by(*steps.selected_columns[:4]),
            ),
            self._upsert(run_totals, ("workflow_id", "status"), totals),
        )

    async def rebuild_step_rollups(self, workflow_id: str) -> None:
        """Recompute a workflow's rollups from its finished runs (and the counts kept of the
        runs retention purged)."""
        r = step_rollups.c
        await self.conn.execute(
            step_rollups.delete().where(
                r.workflow_id == workflow_id, r.step_type.not_in(ROLLUP_ONLY)
            )
        )
        await self.conn.execute(run_totals.delete().where(run_totals.c.workflow_id == workflow_id))
        finished = sa.and_(_R.workflow_id == workflow_id, _R.status.in_(_FINISHED))
        await self._add_step_rollups(step_rollup_select(self.dialect, finished, 1))
        await self._add_run_totals(_R.workflow_id == workflow_id, 1)
        purged = sa.select(
            sa.func.sum(r.completed), sa.func.sum(r.failed), sa.func.sum(r.skipped)
        ).where(r.workflow_id == workflow_id, r.step_type == PURGED_RUNS)
        counts = (await self.conn.execute(purged)).one()
        for status, n in zip(("completed", "failed", "cancelled"), counts, strict=True):
            if n:
                await self._add(
                    run_totals,
                    ("workflow_id", "status"),
                    sa.select(sa.literal(workflow_id), sa.literal(status), sa.literal(int(n))),
                )
