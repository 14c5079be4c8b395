"""Queries on step runs: creation, claiming with leases, completion, dependents, timers."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from flowdeck.domain.records import DependentUpdate, StepRun
from flowdeck.domain.states import STEP_ACTIVE, STEP_TERMINAL, StepStatus, step_sources
from flowdeck.store.dialect import recordset_insert, recordset_rows
from flowdeck.store.queries import Queries, prepared
from flowdeck.store.tables import step_runs

_S = step_runs.c
_FINAL = STEP_TERMINAL


def expanding_ids(name: str = "ids") -> sa.BindParameter[Any]:
    return sa.bindparam(name, expanding=True)


def _update_shape(keys: tuple[str, ...], by_ids: bool, by_worker: bool, returning: bool) -> Any:
    """UPDATE step_runs SET status and `keys` WHERE id matches and status is in :sources."""
    where = [
        _S.id.in_(expanding_ids()) if by_ids else _S.id == sa.bindparam("sid"),
        _S.status.in_(expanding_ids("sources")),
    ]
    if by_worker:
        where.append(_S.lease_owner == sa.bindparam("worker"))
    stmt = (
        step_runs.update()
        .where(*where)
        .values(status=sa.bindparam("to"), **{k: sa.bindparam(f"v_{k}") for k in keys})
    )
    return stmt.returning(_S.id) if returning else stmt


def _with_final(to: str, now: datetime, values: dict[str, Any]) -> dict[str, Any]:
    if to in _FINAL:
        values.setdefault("completed_at", now)
        values.setdefault("lease_owner", None)
        values.setdefault("lease_expires_at", None)
    return values


def step_from_row(row: Any) -> StepRun:
    return StepRun(
        id=row.id,
        run_id=row.run_id,
        step_id=row.step_id,
        step_type=row.step_type,
        attempt=row.attempt,
        status=StepStatus(row.status),
        created_at=row.created_at,
        is_current=bool(row.is_current),
        parent_step_id=row.parent_step_id,
        item_index=row.item_index,
        output=row.output,
        error=row.error,
        state=row.state,
        cost=row.cost,
        deps_remaining=row.deps_remaining,
        n_completed=row.n_completed,
        n_failed=row.n_failed,
        n_skipped=row.n_skipped,
        available_at=row.available_at,
        wake_at=row.wake_at,
        lease_owner=row.lease_owner,
        lease_expires_at=row.lease_expires_at,
        started_at=row.started_at,
        completed_at=row.completed_at,
    )


def _values(s: StepRun) -> dict[str, Any]:
    return {
        "id": s.id,
        "run_id": s.run_id,
        "step_id": s.step_id,
        "parent_step_id": s.parent_step_id,
        "item_index": s.item_index,
        "step_type": s.step_type,
        "attempt": s.attempt,
        "is_current": s.is_current,
        "status": str(s.status),
        "output": s.output,
        "error": s.error,
        "state": s.state,
        "cost": s.cost,
        "deps_remaining": s.deps_remaining,
        "n_completed": s.n_completed,
        "n_failed": s.n_failed,
        "n_skipped": s.n_skipped,
        "available_at": s.available_at,
        "wake_at": s.wake_at,
        "lease_owner": s.lease_owner,
        "lease_expires_at": s.lease_expires_at,
        "created_at": s.created_at,
        "started_at": s.started_at,
        "completed_at": s.completed_at,
    }


class StepQueries(Queries):
    """Step runs."""

    async def insert_step_runs(self, steps: Sequence[StepRun]) -> None:
        """Store new step runs in one statement."""
        if not steps:
            return
        rows = [_values(s) for s in steps]
        if self.dialect == "postgresql" and len(rows) > 1:
            await self.conn.execute(recordset_insert(step_runs), {"rows": recordset_rows(rows)})
            return
        await self.conn.execute(prepared("insert_step_runs", step_runs.insert), rows)

    async def get_step_run(self, step_run_id: str) -> StepRun | None:
        """One step run by id."""
        row = (await self.conn.execute(sa.select(step_runs).where(_S.id == step_run_id))).first()
        return step_from_row(row) if row else None

    async def current_step(self, run_id: str, step_id: str) -> StepRun | None:
        """The current attempt of a step."""
        row = (
            await self.conn.execute(
                sa.select(step_runs).where(
                    _S.run_id == run_id, _S.step_id == step_id, _S.is_current.is_(True)
                )
            )
        ).first()
        return step_from_row(row) if row else None

    async def current_steps(
        self, run_id: str, *, parent_step_id: str | None = None
    ) -> list[StepRun]:
        """Current attempts of the run's top-level steps, or of one loop's iterations."""
        query = sa.select(step_runs).where(_S.run_id == run_id, _S.is_current.is_(True))
        if parent_step_id is None:
            query = query.where(_S.parent_step_id.is_(None))
        else:
            query = query.where(_S.parent_step_id == parent_step_id).order_by(_S.item_index)
        return [step_from_row(r) for r in await self.conn.execute(query)]

    async def all_step_runs(self, run_id: str) -> list[StepRun]:
        """Every attempt of every step of a run, oldest first."""
        rows = await self.conn.execute(
            sa.select(step_runs).where(_S.run_id == run_id).order_by(_S.created_at, _S.id)
        )
        return [step_from_row(r) for r in rows]

    async def step_outputs(self, run_id: str, step_ids: Iterable[str] | None) -> dict[str, Any]:
        """Outputs of the current, completed attempts of the named steps (or all)."""
        params: dict[str, Any] = {"run_id": run_id}
        if step_ids is not None:
            params["ids"] = list(step_ids)
            if not params["ids"]:
                return {}

        def build() -> Any:
            query = sa.select(_S.step_id, _S.output).where(
                _S.run_id == sa.bindparam("run_id"),
                _S.is_current.is_(True),
                _S.status == "completed",
            )
            return query if step_ids is None else query.where(_S.step_id.in_(expanding_ids()))

        stmt = prepared(("step_outputs", step_ids is None), build)
        return {r.step_id: r.output for r in await self.conn.execute(stmt, params)}

    async def move_step(
        self,
        step_run_id: str,
        to: StepStatus,
        now: datetime,
        *,
        only_from: Iterable[StepStatus] | None = None,
        through: StepStatus | None = None,
        worker_id: str | None = None,
        **values: Any,
    ) -> bool:
        """Move a step run to `to` if the transition table allows it from its status (narrowed
        to `only_from`; `through`: a status it passes on the way) and, with `worker_id`, the
        worker still holds its lease. False when it was not so."""
        values = _with_final(to, now, values)
        keys = tuple(sorted(values))
        stmt = prepared(
            ("move_step", keys, worker_id is not None),
            lambda: _update_shape(keys, False, worker_id is not None, False),
        )
        sources = step_sources(to, only_from, through=through)
        params = {f"v_{k}": v for k, v in values.items()}
        params.update(
            sid=step_run_id, sources=[str(x) for x in sources], to=str(to), worker=worker_id
        )
        result = await self.conn.execute(stmt, params)
        return result.rowcount == 1

    async def lock_step(self, step_run_id: str, status: StepStatus) -> StepRun | None:
        """The step run, locked until the transaction ends, if it is in `status` (a change
        that keeps its status: of two concurrent deciders, the second finds it changed)."""
        query = sa.select(step_runs).where(_S.id == step_run_id, _S.status == str(status))
        if self.dialect == "postgresql":
            query = query.with_for_update()
        row = (await self.conn.execute(query)).first()
        return step_from_row(row) if row else None

    async def set_step_state(self, step_run_id: str, state: dict[str, Any] | None) -> None:
        """Replace what a (locked) step run keeps across wake-ups."""
        await self.conn.execute(step_runs.update().where(_S.id == step_run_id).values(state=state))

    async def retire_step(self, step_run_id: str) -> None:
        """Mark an attempt as no longer current (a newer attempt replaces it)."""
        await self.conn.execute(
            step_runs.update().where(_S.id == step_run_id).values(is_current=False)
        )

    async def retire_current(self, run_id: str, step_ids: Sequence[str]) -> None:
        """Retire the current attempts of these steps and of their loop iterations."""
        if not step_ids:
            return
        await self.conn.execute(
            step_runs.update()
            .where(
                _S.run_id == run_id,
                _S.is_current.is_(True),
                sa.or_(_S.step_id.in_(list(step_ids)), _S.parent_step_id.in_(list(step_ids))),
            )
            .values(is_current=False)
        )

    async def update_dependents(
        self,
        run_id: str,
        step_ids: Sequence[str],
        *,
        completed: int,
        failed: int,
        skipped: int,
        ended: int = 1,
    ) -> list[DependentUpdate]:
        """Count `ended` finished dependencies on each pending step named (of which so many
        completed, failed, were skipped); returns the new counters."""
        if not step_ids:
            return []

        def build() -> Any:
            return (
                step_runs.update()
                .where(
                    _S.run_id == sa.bindparam("b_run_id"),
                    _S.step_id.in_(expanding_ids()),
                    _S.is_current.is_(True),
                    _S.status == "pending",
                )
                .values(
                    deps_remaining=_S.deps_remaining - sa.bindparam("ended"),
                    n_completed=_S.n_completed + sa.bindparam("completed"),
                    n_failed=_S.n_failed + sa.bindparam("failed"),
                    n_skipped=_S.n_skipped + sa.bindparam("skipped"),
                )
                .returning(
                    _S.id,
                    _S.step_id,
                    _S.deps_remaining,
                    _S.n_completed,
                    _S.n_failed,
                    _S.n_skipped,
                )
            )

        rows = await self.conn.execute(
            prepared("update_dependents", build),
            {
                "b_run_id": run_id,
                "ids": list(step_ids),
                "ended": ended,
                "completed": completed,
                "failed": failed,
                "skipped": skipped,
            },
        )
        return [
            DependentUpdate(
                id=r.id,
                step_id=r.step_id,
                deps_remaining=r.deps_remaining,
                n_completed=r.n_completed,
                n_failed=r.n_failed,
                n_skipped=r.n_skipped,
            )
            for r in rows
        ]

    async def move_steps(
        self,
        ids: Sequence[str],
        to: StepStatus,
        now: datetime,
        *,
        only_from: Iterable[StepStatus] | None = None,
        **values: Any,
    ) -> list[str]:
        """Move these step runs to `to` where the transition table allows it from their status
        (narrowed to `only_from`); returns the ids that moved."""
        if not ids:
            return []
        values = _with_final(to, now, values)
        keys = tuple(sorted(values))
        stmt = prepared(("move_steps", keys), lambda: _update_shape(keys, True, False, True))
        params = {f"v_{k}": v for k, v in values.items()}
        sources = [str(x) for x in step_sources(to, only_from)]
        params.update(ids=list(ids), sources=sources, to=str(to))
        return [r[0] for r in await self.conn.execute(stmt, params)]

    async def active_steps_of_run(self, run_id: str) -> list[StepRun]:
        """Current step runs that have not ended (iterations included)."""
        rows = await self.conn.execute(
            sa.select(step_runs).where(
                _S.run_id == run_id,
                _S.is_current.is_(True),
                _S.status.in_(sorted(STEP_ACTIVE)),
            )
        )
        return [step_from_row(r) for r in rows]

    async def run_has_steps_in(self, run_id: str, statuses: Sequence[StepStatus]) -> bool:
        """Whether any current step run of the run is in one of `statuses`."""
        row = (
            await self.conn.execute(
                sa.select(_S.id)
                .where(
                    _S.run_id == run_id,
                    _S.is_current.is_(True),
                    _S.status.in_([str(x) for x in statuses]),
                )
                .limit(1)
            )
        ).first()
        return row is not None

    async def add_step_counters(
        self, step_run_id: str, *, completed: int = 0, failed: int = 0, skipped: int = 0
    ) -> tuple[int, int, int]:
        """Count finished loop iterations on the loop's own step run."""
        row = (
            await self.conn.execute(
                step_runs.update()
                .where(_S.id == step_run_id)
                .values(
                    n_completed=_S.n_completed + completed,
                    n_failed=_S.n_failed + failed,
                    n_skipped=_S.n_skipped + skipped,
                )
                .returning(_S.n_completed, _S.n_failed, _S.n_skipped)
            )
        ).one()
        return int(row.n_completed), int(row.n_failed), int(row.n_skipped)

    async def release_pending_children(
        self, run_id: str, parent_step_id: str, count: int, now: datetime
    ) -> list[str]:
        """Make the next `count` pending iterations of a loop ready, in item order."""
        if count <= 0:
            return []
        nxt = (
            sa.select(_S.id)
            .where(
                _S.run_id == run_id,
                _S.parent_step_id == parent_step_id,
                _S.is_current.is_(True),
                _S.status == "pending",
            )
            .order_by(_S.item_index)
            .limit(count)
        )
        ids = [r[0] for r in await self.conn.execute(nxt)]
        return await self.move_steps(
            ids, StepStatus.READY, now, only_from=[StepStatus.PENDING], available_at=now
        )

    async def children_outputs(
        self, run_id: str, parent_step_id: str
    ) -> list[tuple[int, str, Any, str | None]]:
        """(index, status, output, error) of a loop's current iterations, in item order."""
        rows = await self.conn.execute(
            sa.select(_S.item_index, _S.status, _S.output, _S.error)
            .where(
                _S.run_id == run_id,
                _S.parent_step_id == parent_step_id,
                _S.is_current.is_(True),
            )
            .order_by(_S.item_index)
        )
        return [(r.item_index, r.status, r.output, r.error) for r in rows]
