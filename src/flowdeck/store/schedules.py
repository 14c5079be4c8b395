"""Queries on schedules: CRUD, the due list and the conditional claim that fires one."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa

from flowdeck.domain.records import Page
from flowdeck.domain.schedules import DueSchedule, Schedule
from flowdeck.store.queries import Queries
from flowdeck.store.tables import schedules, workflows

_C = schedules.c
_UPDATABLE = frozenset(
    {"cron_expression", "timezone", "input_data", "enabled", "next_run_at", "updated_at"}
)


def _schedule(row: Any) -> Schedule:
    return Schedule(
        id=row.id,
        workspace_id=row.workspace_id,
        workflow_id=row.workflow_id,
        cron_expression=row.cron_expression,
        timezone=row.timezone,
        input_data=row.input_data,
        enabled=bool(row.enabled),
        next_run_at=row.next_run_at,
        created_at=row.created_at,
        updated_at=row.updated_at,
        last_run_at=row.last_run_at,
        last_run_id=row.last_run_id,
    )


class ScheduleQueries(Queries):
    """Schedules."""

    async def insert_schedule(self, schedule: Schedule) -> None:
        """Store a new schedule."""
        await self.conn.execute(
            schedules.insert().values(
                id=schedule.id,
                workspace_id=schedule.workspace_id,
                workflow_id=schedule.workflow_id,
                cron_expression=schedule.cron_expression,
                timezone=schedule.timezone,
                input_data=schedule.input_data,
                enabled=schedule.enabled,
                next_run_at=schedule.next_run_at,
                last_run_at=schedule.last_run_at,
                last_run_id=schedule.last_run_id,
                created_at=schedule.created_at,
                updated_at=schedule.updated_at,
            )
        )

    async def get_schedule(self, workspace_id: str, schedule_id: str) -> Schedule | None:
        """The schedule with this id in the workspace."""
        row = (
            await self.conn.execute(
                sa.select(schedules).where(_C.id == schedule_id, _C.workspace_id == workspace_id)
            )
        ).first()
        return _schedule(row) if row else None

    async def list_schedules(
        self, workflow_id: str, *, limit: int, offset: int = 0, before_id: str | None = None
    ) -> Page[Schedule]:
        """A page of a workflow's schedules, newest first, with the total."""
        conds: list[sa.ColumnElement[bool]] = [_C.workflow_id == workflow_id]
        return await self._schedule_page(conds, limit, offset, before_id)

    async def list_workspace_schedules(
        self,
        workspace_id: str,
        *,
        workflow_id: str | None = None,
        enabled: bool | None = None,
        limit: int,
        offset: int = 0,
        before_id: str | None = None,
    ) -> Page[Schedule]:
        """A page of the workspace's schedules, newest first; those of trashed workflows
        are left out (they cannot fire until the workflow is restored)."""
        live = sa.select(workflows.c.id).where(
            workflows.c.workspace_id == workspace_id, workflows.c.deleted_at.is_(None)
        )
        conds: list[sa.ColumnElement[bool]] = [
            _C.workspace_id == workspace_id,
            _C.workflow_id.in_(live.scalar_subquery()),
        ]
        if workflow_id is not None:
            conds.append(_C.workflow_id == workflow_id)
        if enabled is not None:
            conds.append(_C.enabled == enabled)
        return await self._schedule_page(conds, limit, offset, before_id)

    async def _schedule_page(
        self,
        conds: list[sa.ColumnElement[bool]],
        limit: int,
        offset: int,
        before_id: str | None,
    ) -> Page[Schedule]:
        total = (
            await self.conn.execute(sa.select(sa.func.count()).select_from(schedules).where(*conds))
        ).scalar_one()
        if before_id:
            conds.append(_C.id < before_id)
        rows = await self.conn.execute(
            sa.select(schedules)
            .where(*conds)
            .order_by(_C.id.desc())
            .limit(limit + 1)
            .offset(offset)
        )
        items = [_schedule(r) for r in rows]
        more = len(items) > limit
        items = items[:limit]
        return Page(items=items, total=int(total), next_cursor=items[-1].id if more else None)

    async def update_schedule(self, schedule_id: str, values: dict[str, Any]) -> bool:
        """Change a schedule's editable columns; False when it no longer exists."""
        unknown = set(values) - _UPDATABLE
        if unknown:
            raise ValueError(f"not updatable: {sorted(unknown)}")
        result = await self.conn.execute(
            schedules.update().where(_C.id == schedule_id).values(**values)
        )
        return result.rowcount == 1

    async def delete_schedule(self, schedule_id: str) -> bool:
        """Delete a schedule; False when it was already gone."""
        result = await self.conn.execute(schedules.delete().where(_C.id == schedule_id))
        return result.rowcount == 1

    async def due_schedules(
        self, now: datetime, limit: int, *, schedule_id: str | None = None
    ) -> list[DueSchedule]:
        """Enabled schedules due at `now` (or just `schedule_id` if due), oldest slot first,
        locked (SKIP LOCKED on PostgreSQL).

        Each comes with whether its workflow may run now (active and not in the trash); the
        others are due only to have their slot skipped.
        """
        runnable = sa.and_(workflows.c.status == "active", workflows.c.deleted_at.is_(None))
        query = (
            sa.select(schedules, runnable.label("workflow_runnable"))
            .join(workflows, workflows.c.id == _C.workflow_id)
            .where(_C.enabled.is_(True), _C.next_run_at <= now)
            .order_by(_C.next_run_at, _C.id)
            .limit(limit)
        )
        if schedule_id is not None:
            query = query.where(_C.id == schedule_id)
        if self.dialect == "postgresql":
            # A schedule another server is firing right now is skipped, not waited for.
            query = query.with_for_update(skip_locked=True, of=schedules)
        rows = await self.conn.execute(query)
        return [DueSchedule(_schedule(r), bool(r.workflow_runnable)) for r in rows]

    async def claim_schedule(
        self,
        schedule_id: str,
        expected_next_run_at: datetime,
        new_next_run_at: datetime,
        now: datetime,
        run_id: str | None,
    ) -> bool:
        """Move `next_run_at` on if it is still `expected`: True means this caller fires it.

        `run_id` (the run this slot starts, None for a skipped slot) can also be recorded later
        with `record_schedule_run`, once the run exists.
        """
        values: dict[str, Any] = {"next_run_at": new_next_run_at}
        if run_id is not None:
            values.update(last_run_at=now, last_run_id=run_id)
        result = await self.conn.execute(
            schedules.update()
            .where(
                _C.id == schedule_id,
                _C.enabled.is_(True),
                _C.next_run_at == expected_next_run_at,
            )
            .values(**values)
        )
        return result.rowcount == 1

    async def record_schedule_run(self, schedule_id: str, run_id: str, now: datetime) -> None:
        """Note the run a schedule last started."""
        await self.conn.execute(
            schedules.update()
            .where(_C.id == schedule_id)
            .values(last_run_at=now, last_run_id=run_id)
        )

    async def earliest_schedule_at(self) -> datetime | None:
        """The soonest `next_run_at` of any enabled schedule."""
        result = await self.conn.execute(
            sa.select(sa.func.min(_C.next_run_at)).where(_C.enabled.is_(True))
        )
        # min() keeps the column's type, so the value comes back as an aware UTC datetime.
        value: datetime | None = result.scalar_one_or_none()
        return value
