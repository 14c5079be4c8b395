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
from flowdeck.store.tables import run_events, runs
from flowdeck.store.types import UTCDateTime

_RUN_COLUMNS = [c for c in runs.c if c.name != "event_seq"]

# PostgreSQL: a whole batch in one statement each, arrays and JSON as single parameters.
_BUMP_MANY = sa.text(
    "UPDATE runs SET event_seq = runs.event_seq + v.n "
    "FROM (SELECT unnest(CAST(:ids AS text[])) AS id, unnest(CAST(:ns AS int[])) AS n) AS v "
    "WHERE runs.id = v.id RETURNING runs.id, runs.event_seq"
)
_INSERT_MANY_EVENTS = sa.text(
    "INSERT INTO run_events (run_id, seq, type, data, created_at) "
    "SELECT x.run_id, x.seq, x.type, x.data, :now FROM jsonb_to_recordset(CAST(:rows AS jsonb)) "
    "AS x(run_id text, seq integer, type text, data jsonb)"
).bindparams(sa.bindparam("now", type_=UTCDateTime()))


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
        await self.conn.execute(
            prepared("insert_run", runs.insert),
            dict(
                id=run.id,
                workspace_id=run.workspace_id,
                workflow_id=run.workflow_id,
                workflow_version=run.workflow_version,
                status=str(run.status),
                trigger=run.trigger,
                input_data=run.input_data,
                output=run.output,
                error=run.error,
                cost=run.cost,
                idempotency_key=run.idempotency_key,
                max_concurrency=run.max_concurrency,
                parent_run_id=run.parent_run_id,
                parent_step_run_id=run.parent_step_run_id,
                event_seq=0,
                steps_remaining=run.steps_remaining,
                steps_failed=run.steps_failed,
                created_by=run.created_by,
                created_at=run.created_at,
                started_at=run.started_at,
                completed_at=run.completed_at,
            ),
        )

    async def get_run(self, run_id: str, workspace_id: str | None = None) -> Run | None:
        """The run with this id (in the workspace, when one is given)."""
        scoped = workspace_id is not None

        def build() -> Any:
            query = sa.select(*_RUN_COLUMNS).where(runs.c.id == sa.bindparam("b_id"))
            return query.where(runs.c.workspace_id == sa.bindparam("b_ws")) if scoped else query

        stmt = prepared(("get_run", scoped), build)
        row = (await self.conn.execute(stmt, {"b_id": run_id, "b_ws": workspace_id})).first()
        return _run(row) if row else None

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
        keys = tuple(sorted(values))

        def build() -> Any:
            return (
                runs.update()
                .where(
                    runs.c.id == sa.bindparam("b_id"),
                    runs.c.status.in_(sa.bindparam("b_sources", expanding=True)),
                )
                .values(status=sa.bindparam("b_to"), **{k: sa.bindparam(f"v_{k}") for k in keys})
            )

        params = {f"v_{k}": v for k, v in values.items()}
        params.update(
            b_id=run_id, b_sources=[str(x) for x in run_sources(to, only_from)], b_to=str(to)
        )
        result = await self.conn.execute(prepared(("move_run", keys), build), params)
        return result.rowcount == 1

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

        def build() -> Any:
            return (
                runs.update()
                .where(runs.c.id == sa.bindparam("b_id"))
                .values(
                    steps_remaining=runs.c.steps_remaining + sa.bindparam("b_remaining"),
                    steps_failed=runs.c.steps_failed + sa.bindparam("b_failed"),
                    cost=runs.c.cost + sa.bindparam("b_cost"),
                )
                .returning(runs.c.steps_remaining, runs.c.steps_failed)
            )

        params = {"b_id": run_id, "b_remaining": remaining, "b_failed": failed, "b_cost": cost}
        row = (await self.conn.execute(prepared("run_counters", build), params)).one()
        return int(row.steps_remaining), int(row.steps_failed)

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
        bump = prepared(
            "event_seq",
            lambda: (
                runs.update()
                .where(runs.c.id == sa.bindparam("b_id"))
                .values(event_seq=runs.c.event_seq + sa.bindparam("b_n"))
                .returning(runs.c.event_seq)
            ),
        )
        last = (await self.conn.execute(bump, {"b_id": run_id, "b_n": len(events)})).scalar_one()
        first = int(last) - len(events) + 1
        await self.conn.execute(
            prepared("insert_events", run_events.insert),
            [
                {"run_id": run_id, "seq": first + i, "type": t, "data": d, "created_at": now}
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
        ids = sorted(batches)
        bumped = await self.conn.execute(
            _BUMP_MANY, {"ids": ids, "ns": [len(batches[run_id]) for run_id in ids]}
        )
        rows: list[dict[str, Any]] = []
        for row in bumped:
            run_id, last = row.id, row.event_seq
            events = batches[run_id]
            first = int(last) - len(events) + 1
            rows.extend(
                {"run_id": run_id, "seq": first + i, "type": kind, "data": data}
                for i, (kind, data) in enumerate(events)
            )
        await self.conn.execute(_INSERT_MANY_EVENTS, {"rows": json.dumps(rows), "now": now})

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
        stmt = prepared(
            "run_error_once",
            lambda: (
                runs.update()
                .where(runs.c.id == sa.bindparam("b_id"), runs.c.error.is_(None))
                .values(error=sa.bindparam("b_error"))
            ),
        )
        await self.conn.execute(stmt, {"b_id": run_id, "b_error": error})
