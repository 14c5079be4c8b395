"""Queries on runs and their event logs."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from flowdeck.domain.records import Page, Run, RunEvent
from flowdeck.domain.states import RUN_ACTIVE, RunStatus, run_sources
from flowdeck.store.queries import Queries, prepared
from flowdeck.store.raw import in_list, list_param
from flowdeck.store.rows import RUN_COLUMNS, RUN_SELECT, encode, run_from, run_params
from flowdeck.store.tables import run_events, runs

_RUN_COLUMNS = [c for c in runs.c if c.name != "event_seq"]

# PostgreSQL: a whole batch in one statement each, arrays and JSON as single parameters.
# PostgreSQL: a whole batch in one statement each, arrays and JSON as single parameters.
_BUMP_MANY = (
    "UPDATE runs SET event_seq = runs.event_seq + v.n "
    "FROM (SELECT unnest(CAST(:ids AS text[])) AS id, unnest(CAST(:ns AS int[])) AS n) AS v "
    "WHERE runs.id = v.id RETURNING runs.id, runs.event_seq"
)
_INSERT_MANY_EVENTS = (
    "INSERT INTO run_events (run_id, seq, type, data, created_at) "
    "SELECT x.run_id, x.seq, x.type, x.data, :now FROM jsonb_to_recordset(CAST(:rows AS jsonb)) "
    "AS x(run_id text, seq integer, type text, data jsonb)"
)
_INSERT_EVENT = (
    "INSERT INTO run_events (run_id, seq, type, data, created_at) "
    "VALUES (:run_id, :seq, :type, :data, :at)"
)
_INSERT_RUN = (
    f"INSERT INTO runs ({', '.join([*RUN_COLUMNS, 'event_seq'])}) "
    f"VALUES ({', '.join(':' + c for c in [*RUN_COLUMNS, 'event_seq'])})"
)


def _fair_queue() -> Any:
    place = sa.func.row_number().over(partition_by=runs.c.workspace_id, order_by=runs.c.id)
    queued = (
        sa.select(*_RUN_COLUMNS, place.label("place"))
        .where(
            runs.c.status == "queued",
            runs.c.workflow_id.not_in(sa.bindparam("b_skip", expanding=True)),
        )
        .subquery()
    )
    return (
        sa.select(*(queued.c[c.name] for c in _RUN_COLUMNS))
        .where(queued.c.place <= sa.bindparam("b_per"))
        .order_by(queued.c.place, queued.c.id)
        .limit(sa.bindparam("b_limit"))
    )


def _run(row: Any) -> Run:
    return Run(
        id=row.id,
        workspace_id=row.workspace_id,
        workflow_id=row.workflow_id,
        workflow_version=row.workflow_version,
        status=RunStatus(row.status),
        trigger=row.trigger,
        input_data=row.input_data,
        created_at=row.created_at,
        output=row.output,
        error=row.error,
        cost=row.cost,
        idempotency_key=row.idempotency_key,
        max_concurrency=row.max_concurrency,
        parent_run_id=row.parent_run_id,
        parent_step_run_id=row.parent_step_run_id,
        steps_remaining=row.steps_remaining,
        steps_failed=row.steps_failed,
        created_by=row.created_by,
        started_at=row.started_at,
        completed_at=row.completed_at,
    )


class RunQueries(Queries):
    """Runs, their admission and their event logs."""

    async def insert_run(self, run: Run) -> None:
        """Store a new run."""
        db = await self.db()
        await db.run(_INSERT_RUN, run_params(db, run))

    async def get_run(self, run_id: str, workspace_id: str | None = None) -> Run | None:
        """The run with this id (in the workspace, when one is given)."""
        db = await self.db()
        sql = f"SELECT {RUN_SELECT} FROM runs WHERE id = :id"
        params = {"id": run_id}
        if workspace_id is not None:
            sql += " AND workspace_id = :ws"
            params["ws"] = workspace_id
        rows = await db.rows(sql, params)
        return run_from(db, rows[0]) if rows else None

    async def find_run_by_idempotency_key(self, workflow_id: str, key: str) -> Run | None:
        """The run an earlier start with this Idempotency-Key made."""
        row = (
            await self.conn.execute(
                sa.select(*_RUN_COLUMNS).where(
                    runs.c.workflow_id == workflow_id, runs.c.idempotency_key == key
                )
            )
        ).first()
        return _run(row) if row else None

    async def list_runs(
        self,
        workflow_id: str,
        *,
        status: str | None,
        limit: int,
        offset: int = 0,
        before_id: str | None = None,
    ) -> Page[Run]:
        """A page of a workflow's runs, newest first."""
        conds: list[sa.ColumnElement[bool]] = [runs.c.workflow_id == workflow_id]
        if status:
            conds.append(runs.c.status == status)
        total = (
            await self.conn.execute(sa.select(sa.func.count()).select_from(runs).where(*conds))
        ).scalar_one()
        if before_id:
            conds.append(runs.c.id < before_id)
        rows = await self.conn.execute(
            sa.select(*_RUN_COLUMNS)
            .where(*conds)
            .order_by(runs.c.id.desc())
            .limit(limit + 1)
            .offset(offset)
        )
        items = [_run(r) for r in rows]
        more = len(items) > limit
        items = items[:limit]
        return Page(items=items, total=int(total), next_cursor=items[-1].id if more else None)

    async def list_workspace_runs(
        self,
        workspace_id: str,
        *,
        status: str | None = None,
        workflow_id: str | None = None,
        trigger: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int,
        before_id: str | None = None,
    ) -> Page[Run]:
        """A page of a workspace's runs across its workflows, newest first (ids sort by time)."""
        conds: list[sa.ColumnElement[bool]] = [runs.c.workspace_id == workspace_id]
        for column, value in ((runs.c.status, status), (runs.c.workflow_id, workflow_id)):
            if value:
                conds.append(column == value)
        if trigger:
            conds.append(runs.c.trigger == trigger)
        if since is not None:
            conds.append(runs.c.created_at >= since)
        if until is not None:
            conds.append(runs.c.created_at < until)
        if before_id:
            conds.append(runs.c.id < before_id)
        rows = await self.conn.execute(
            sa.select(*_RUN_COLUMNS).where(*conds).order_by(runs.c.id.desc()).limit(limit + 1)
        )
        items = [_run(r) for r in rows]
        more = len(items) > limit
        items = items[:limit]
        return Page(items=items, total=len(items), next_cursor=items[-1].id if more else None)

    async def move_run(
        self,
        run_id: str,
        to: RunStatus,
        *,
        only_from: Iterable[RunStatus] | None = None,
        **values: Any,
    ) -> bool:
        """Move the run to `to` if its status allows it by the transition table (narrowed to
        `only_from`): one conditional UPDATE; False when the run was not in such a status."""
        db = await self.db()
        sets = ", ".join(["status = :to", *(f"{k} = :v_{k}" for k in sorted(values))])
        sql = f"UPDATE runs SET {sets} WHERE id = :id AND status {in_list(db.dialect, 'sources')}"
        params = {f"v_{k}": encode(db, runs, k, v) for k, v in values.items()}
        sources = run_sources(to, only_from)
        params.update(id=run_id, sources=list_param(db, sources), to=str(to))
        return await db.run(sql, params) == 1

    async def update_run(self, run_id: str, **values: Any) -> None:
        """Set columns of a run unconditionally (counters reset on resume)."""
        keys = tuple(sorted(values))
        stmt = prepared(
            ("update_run", keys),
            lambda: (
                runs.update()
                .where(runs.c.id == sa.bindparam("b_id"))
                .values(**{k: sa.bindparam(f"v_{k}") for k in keys})
            ),
        )
        await self.conn.execute(stmt, {"b_id": run_id, **{f"v_{k}": v for k, v in values.items()}})

    async def add_to_run_counters(
        self, run_id: str, *, remaining: int = 0, failed: int = 0, cost: float = 0.0
    ) -> tuple[int, int]:
        """Add to steps_remaining, steps_failed and cost; returns the new remaining, failed."""
        db = await self.db()
        sql = (
            "UPDATE runs SET steps_remaining = steps_remaining + :remaining, "
            "steps_failed = steps_failed + :failed, cost = cost + :cost WHERE id = :id "
            "RETURNING steps_remaining, steps_failed"
        )
        params = {"id": run_id, "remaining": remaining, "failed": failed, "cost": cost}
        (row,) = await db.rows(sql, params)
        return int(row[0]), int(row[1])

    async def lock_admission(self) -> bool:
        """Serialise run admission across processes (SQLite's write lock already does).

        Never waits: False when another transaction is admitting right now. Waiting would hold
        this transaction's row locks behind that one's and let the two deadlock."""
        if self.dialect != "postgresql":
            return True
        stmt = sa.text("SELECT pg_try_advisory_xact_lock(724201)")
        return bool((await self.conn.execute(stmt)).scalar_one())

    async def running_run_counts(self) -> dict[str, tuple[int, int | None]]:
        """How many runs execute now, per workflow, with the lowest limit among them."""
        stmt = prepared(
            "running_counts",
            lambda: (
                sa.select(
                    runs.c.workflow_id,
                    sa.func.count().label("n"),
                    sa.func.min(runs.c.max_concurrency).label("cap"),
                )
                .where(runs.c.status == "running")
                .group_by(runs.c.workflow_id)
            ),
        )
        rows = await self.conn.execute(stmt)
        return {r.workflow_id: (int(r.n), r.cap) for r in rows}

    async def queued_runs(
        self, limit: int, *, per_workspace: int, skip_workflows: Sequence[str] = ()
    ) -> list[Run]:
        """Each workspace's oldest `per_workspace` queued runs, first in first out within a
        workspace; every workspace's first comes before any workspace's second, so one
        workspace's backlog cannot push another's runs past `limit`. Runs of
        `skip_workflows` (at their limit) are left out, so they cannot hold back the rest of
        their workspace either."""
        stmt = prepared("queued_runs", _fair_queue)
        params = {"b_limit": limit, "b_per": per_workspace, "b_skip": list(skip_workflows)}
        return [_run(r) for r in await self.conn.execute(stmt, params)]

    async def active_child_runs(self, parent_run_id: str) -> list[str]:
        """Ids of the run's child runs that have not ended."""
        rows = await self.conn.execute(
            sa.select(runs.c.id).where(
                runs.c.parent_run_id == parent_run_id,
                runs.c.status.in_(sorted(RUN_ACTIVE)),
            )
        )
        return [r[0] for r in rows]

    async def delete_run(self, run_id: str) -> None:
        """Delete a run with its step runs and events."""
        await self.conn.execute(runs.delete().where(runs.c.id == run_id))

    async def average_duration(self, workflow_id: str) -> float | None:
        """Mean duration in seconds of the workflow's completed runs (latest 100)."""
        recent = (
            sa.select(runs.c.started_at, runs.c.completed_at)
            .where(
                runs.c.workflow_id == workflow_id,
                runs.c.status == "completed",
                runs.c.started_at.is_not(None),
                runs.c.completed_at.is_not(None),
            )
            .order_by(runs.c.id.desc())
            .limit(100)
        )
        rows = list(await self.conn.execute(recent))
        if not rows:
            return None
        total = sum(float((r.completed_at - r.started_at).total_seconds()) for r in rows)
        return total / len(rows)

    async def append_events(
        self, run_id: str, events: Sequence[tuple[str, dict[str, Any]]], now: datetime
    ) -> int:
        """Append events with the next sequence numbers; returns the last one."""
        if not events:
            return 0
        db = await self.db()
        bump = "UPDATE runs SET event_seq = event_seq + :n WHERE id = :id RETURNING event_seq"
        ((last,),) = await db.rows(bump, {"id": run_id, "n": len(events)})
        first = int(last) - len(events) + 1
        at = db.time(now)
        await db.run_many(
            _INSERT_EVENT,
            [
                {"run_id": run_id, "seq": first + i, "type": t, "data": db.json(d), "at": at}
                for i, (t, d) in enumerate(events)
            ],
        )
        return int(last)

    async def append_event_batches(
        self, batches: Mapping[str, Sequence[tuple[str, dict[str, Any]]]], now: datetime
    ) -> None:
        """`append_events` for many runs at once. On PostgreSQL: one sequence bump for all
        the runs and one insert for all the events, whatever the number of runs."""
        batches = {run_id: events for run_id, events in batches.items() if events}
        if not batches:
            return
        if self.dialect != "postgresql" or len(batches) == 1:
            for run_id in sorted(batches):
                await self.append_events(run_id, batches[run_id], now)
            return
        db = await self.db()
        ids = sorted(batches)
        bumped = await db.rows(_BUMP_MANY, {"ids": ids, "ns": [len(batches[i]) for i in ids]})
        rows: list[dict[str, Any]] = []
        for run_id, last in bumped:
            events = batches[run_id]
            first = int(last) - len(events) + 1
            rows.extend(
                {"run_id": run_id, "seq": first + i, "type": kind, "data": data}
                for i, (kind, data) in enumerate(events)
            )
        await db.run(_INSERT_MANY_EVENTS, {"rows": json.dumps(rows), "now": now})

    async def list_events(
        self, run_id: str, after_seq: int = 0, limit: int = 1000
    ) -> list[RunEvent]:
        """Events with a sequence number above `after_seq`, in order."""
        rows = await self.conn.execute(
            sa.select(run_events)
            .where(run_events.c.run_id == run_id, run_events.c.seq > after_seq)
            .order_by(run_events.c.seq)
            .limit(limit)
        )
        return [
            RunEvent(run_id=r.run_id, seq=r.seq, type=r.type, data=r.data, created_at=r.created_at)
            for r in rows
        ]

    async def set_run_error_once(self, run_id: str, error: str) -> None:
        """Record the run's first error; later ones do not overwrite it."""
        db = await self.db()
        sql = "UPDATE runs SET error = :error WHERE id = :id AND error IS NULL"
        await db.run(sql, {"id": run_id, "error": error})
