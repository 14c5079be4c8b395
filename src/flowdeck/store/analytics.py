"""Analytics and related-object queries: aggregates computed by the database, never in Python."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from flowdeck.domain.analytics import (
    Granularity,
    PeriodCounts,
    ScheduleLink,
    StepAggregate,
    WorkflowLink,
    interpolate,
    percentile_rank,
)
from flowdeck.domain.retention import PURGED_RUNS, ROLLUP_ONLY
from flowdeck.store.analytics_sql import (
    Sql,
    count_of,
    has_purged_durations,
    purged_durations,
    step_rollup_select,
)
from flowdeck.store.queries import Queries
from flowdeck.store.tables import (
    runs,
    schedules,
    step_rollups,
    step_runs,
    workflows,
    workspaces,
)

_R = runs.c
_S = step_runs.c

# The summed columns of `step_rollups`, in the order `_aggregate` reads them.
_ROLLED = (
    "runs",
    "attempts",
    "completed",
    "failed",
    "skipped",
    "duration_sum",
    "duration_n",
    "cost",
    "step_runs",
)


def _merge(totals: dict[tuple[str, str], list[float]], key: tuple[str, str], values: Any) -> None:
    """Add one row of rollup columns to the running totals of a (step, type)."""
    found = totals.setdefault(key, [0.0] * 9)
    for i, value in enumerate(values):
        found[i] += float(value or 0)


def _float(value: Any) -> float | None:
    return None if value is None else float(value)


class AnalyticsQueries(Queries):
    """A workflow's run analytics and the objects related to it."""

    @property
    def _sql(self) -> Sql:
        return Sql(self.dialect)

    def _window(self, workflow_id: str, since: datetime) -> list[sa.ColumnElement[bool]]:
        # Served by ix_runs_workflow_id_created_at.
        return [_R.workflow_id == workflow_id, _R.created_at >= since]

    def _timed(self) -> sa.ColumnElement[bool]:
        return sa.and_(
            _R.status == "completed", _R.started_at.is_not(None), _R.completed_at.is_not(None)
        )

    async def analytics_runs_per_period(
        self, workflow_id: str, since: datetime, granularity: Granularity
    ) -> list[PeriodCounts]:
        """Runs per period by status, with their cost, oldest period first; periods without
        runs are absent. Runs are grouped by day first, then the days by period."""
        sql = self._sql
        per_day: Any = (
            sa.select(
                sql.day(_R.created_at).label("day"),
                count_of().label("total"),
                count_of(_R.status == "completed").label("completed"),
                count_of(_R.status == "failed").label("failed"),
                count_of(_R.status == "cancelled").label("cancelled"),
                sa.func.sum(_R.cost).label("cost"),
                count_of(self._timed()).label("timed"),
            )
            .where(*self._window(workflow_id, since))
            .group_by(sa.literal_column("day"))
        )
        # Runs purged by retention count where they were (store/retention.py).
        r = step_rollups.c
        purged = sa.select(
            sa.cast(r.day, sa.Date) if sql.postgres else r.day,
            r.runs,
            r.completed,
            r.failed,
            r.skipped,
            r.cost,
            r.duration_n,
        ).where(
            r.workflow_id == workflow_id,
            r.step_type == PURGED_RUNS,
            r.day >= since.strftime("%Y-%m-%d"),
        )
        per_day = sa.union_all(per_day, purged).subquery()
        period = sql.period(per_day.c.day, granularity).label("period")
        rows = await self.conn.execute(
            sa.select(
                period,
                sa.func.sum(per_day.c.total).label("total"),
                sa.func.sum(per_day.c.completed).label("completed"),
                sa.func.sum(per_day.c.failed).label("failed"),
                sa.func.sum(per_day.c.cancelled).label("cancelled"),
                sa.func.sum(per_day.c.cost).label("cost"),
                sa.func.sum(per_day.c.timed).label("timed"),
            )
            .group_by(sa.literal_column("period"))
            .order_by(sa.literal_column("period"))
        )
        return [
            PeriodCounts(
                period=str(r.period),
                total=int(r.total),
                completed=int(r.completed),
                failed=int(r.failed),
                cancelled=int(r.cancelled),
                cost=float(r.cost or 0.0),
                timed=int(r.timed),
            )
            for r in rows
        ]

    async def analytics_run_percentiles(
        self, workflow_id: str, since: datetime, fractions: Sequence[float], *, count: int
    ) -> list[float | None]:
        """Percentiles (continuous, as percentile_cont) of completed runs' durations in
        seconds; `count` is how many completed runs with a duration the window holds."""
        if count == 0:
            return [None for _ in fractions]
        sql = self._sql
        conds = [*self._window(workflow_id, since), self._timed()]
        if (await self.conn.execute(has_purged_durations(workflow_id, since))).scalar():
            live = sa.select(sql.seconds(_R.started_at, _R.completed_at).label("d")).where(*conds)
            both = sa.union_all(live, purged_durations(workflow_id, since)).subquery()
            return await self._percentiles_of(both.c.d, fractions, count)
        duration = sql.sortable_duration(_R.started_at, _R.completed_at)
        if sql.postgres:
            row = (
                await self.conn.execute(
                    sa.select(*(sql.percentile(f, duration) for f in fractions)).where(*conds)
                )
            ).one()
            return [None if v is None else sql.to_seconds(v) for v in row]
        out: list[float | None] = []
        for fraction in fractions:
            # One ORDER BY … LIMIT 2 OFFSET k per percentile: the database sorts and only the
            # two neighbours of the percentile's position come back. A high percentile counts
            # from the top, so SQLite's bounded sorter keeps few rows.
            lower, weight = percentile_rank(fraction, count)
            take = 2 if weight else 1
            from_top = lower > count // 2
            order: sa.ColumnElement[Any] = sa.literal_column("d")
            query = (
                sa.select(duration.label("d"))
                .where(*conds)
                .order_by(order.desc() if from_top else order)
                .limit(take)
                .offset(count - lower - take if from_top else lower)
                # Without the hint SQLite may walk ix_runs_status_id: every workflow's runs.
                .with_hint(runs, "INDEXED BY ix_runs_workflow_timing", "sqlite")
            )
            values = sorted(sql.to_seconds(r.d) for r in await self.conn.execute(query))
            out.append(
                interpolate(values[0], values[1] if len(values) > 1 else None, weight)
                if values
                else None
            )
        return out

    async def _percentiles_of(
        self, d: sa.ColumnElement[Any], fractions: Sequence[float], count: int
    ) -> list[float | None]:
        """Percentiles of a column of seconds (the kept runs and the purged ones together)."""
        if self._sql.postgres:
            row = (
                await self.conn.execute(
                    sa.select(*(self._sql.percentile(f, sa.cast(d, sa.Float)) for f in fractions))
                )
            ).one()
            return [None if v is None else float(v) for v in row]
        out: list[float | None] = []
        for fraction in fractions:
            lower, weight = percentile_rank(fraction, count)
            query = sa.select(d).order_by(d).limit(2 if weight else 1).offset(lower)
            values = [float(v) for v in (await self.conn.execute(query)).scalars()]
            out.append(
                interpolate(values[0], values[1] if len(values) > 1 else None, weight)
                if values
                else None
            )
        return out

    async def analytics_step_aggregates(
        self, workflow_id: str, since: datetime
    ) -> list[StepAggregate]:
        """Per (owning step, step type) statistics of the window's runs.

        Finished runs come from `step_rollups` (a row per workflow, day, step and type), so the
        cost does not grow with the number of step runs; the few runs still in flight are
        aggregated live. `runs` and the status counts are the current attempts of top-level
        steps; `attempts` counts every attempt; cost and `step_runs` include a loop's
        iterations (grouped under the loop step with the body's type).
        """
        r = step_rollups.c
        rolled = await self.conn.execute(
            sa.select(
                r.step_id,
                r.step_type,
                *(sa.func.sum(getattr(r, name)) for name in _ROLLED),
            )
            .where(
                r.workflow_id == workflow_id,
                r.day >= since.strftime("%Y-%m-%d"),
                r.step_type.not_in(ROLLUP_ONLY),
            )
            .group_by(r.step_id, r.step_type)
        )
        in_flight = sa.and_(
            _R.workflow_id == workflow_id,
            _R.created_at >= since,
            _R.status.not_in(["completed", "failed", "cancelled"]),
        )
        live = await self.conn.execute(step_rollup_select(self.dialect, in_flight, 1))
        totals: dict[tuple[str, str], list[float]] = {}
        for row in rolled:
            values = tuple(row)
            _merge(totals, (values[0], values[1]), values[2:])
        for row in live:
            values = tuple(row)
            _merge(totals, (values[2], values[3]), values[4:])
        return [_aggregate(key, t) for key, t in sorted(totals.items()) if t[8] > 0]

    # -- related objects --

    async def related_schedules(self, workflow_id: str) -> list[ScheduleLink]:
        """The workflow's schedules, oldest first."""
        rows = await self.conn.execute(
            sa.select(schedules)
            .where(schedules.c.workflow_id == workflow_id)
            .order_by(schedules.c.id)
        )
        return [
            ScheduleLink(
                id=r.id,
                cron_expression=r.cron_expression,
                timezone=r.timezone,
                enabled=bool(r.enabled),
                next_run_at=r.next_run_at,
            )
            for r in rows
        ]

    def _links(self) -> sa.Select[Any]:
        return sa.select(
            workflows.c.id,
            workflows.c.workspace_id,
            workspaces.c.slug.label("workspace_slug"),
            workflows.c.slug,
            workflows.c.name,
            workflows.c.visibility,
            workflows.c.source_kind,
            workflows.c.created_at,
            workflows.c.deleted_at,
        ).select_from(workflows.join(workspaces, workspaces.c.id == workflows.c.workspace_id))

    async def related_copies(self, workflow_id: str) -> list[WorkflowLink]:
        """Workflows (of any workspace, trash included) copied from this one, oldest first."""
        rows = await self.conn.execute(
            self._links()
            .where(workflows.c.source_workflow_id == workflow_id)
            .order_by(workflows.c.id)
        )
        return [_link(r) for r in rows]

    async def related_source(self, workflow_id: str) -> tuple[str, str] | None:
        """(source kind, source id) that the workflow was made from, if it was."""
        row = (
            await self.conn.execute(
                sa.select(workflows.c.source_kind, workflows.c.source_workflow_id).where(
                    workflows.c.id == workflow_id
                )
            )
        ).first()
        if row is None or row.source_workflow_id is None:
            return None
        return str(row.source_kind or "copy"), str(row.source_workflow_id)

    async def related_workflow(self, workflow_id: str) -> WorkflowLink | None:
        """Any workspace's workflow by id (the caller decides what it may reveal)."""
        row = (await self.conn.execute(self._links().where(workflows.c.id == workflow_id))).first()
        return _link(row) if row else None

    async def set_workflow_source(self, workflow_id: str, kind: str, source_id: str) -> None:
        """Record what a workflow was made from (a template, a clone's original…)."""
        await self.conn.execute(
            workflows.update()
            .where(workflows.c.id == workflow_id)
            .values(source_kind=kind, source_workflow_id=source_id)
        )


def _link(row: Any) -> WorkflowLink:
    return WorkflowLink(
        id=row.id,
        workspace_id=row.workspace_id,
        workspace_slug=row.workspace_slug,
        slug=row.slug,
        name=row.name,
        visibility=row.visibility,
        source_kind=row.source_kind,
        created_at=row.created_at,
        deleted=row.deleted_at is not None,
    )


def _aggregate(key: tuple[str, str], t: list[float]) -> StepAggregate:
    step_id, step_type = key
    return StepAggregate(
        step_id=step_id,
        step_type=step_type,
        runs=int(t[0]),
        attempts=int(t[1]),
        completed=int(t[2]),
        failed=int(t[3]),
        skipped=int(t[4]),
        avg_duration_seconds=t[5] / t[6] if t[6] else None,
        cost=float(t[7]),
        step_runs=int(t[8]),
    )
