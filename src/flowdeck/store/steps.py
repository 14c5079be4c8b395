"""Queries on step runs: creation, claiming with leases, completion, dependents, timers."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from functools import lru_cache
from typing import Any

import sqlalchemy as sa

from flowdeck.domain.records import DependentUpdate, StepRun
from flowdeck.domain.states import STEP_ACTIVE, STEP_TERMINAL, StepStatus, step_sources
from flowdeck.store.dialect import recordset_insert, recordset_rows
from flowdeck.store.queries import Queries
from flowdeck.store.raw import Driver, in_list, list_param
from flowdeck.store.rows import STEP_COLUMNS, encode, step_params
from flowdeck.store.tables import step_runs

_S = step_runs.c
_FINAL = STEP_TERMINAL


def expanding_ids(name: str = "ids") -> sa.BindParameter[Any]:
    return sa.bindparam(name, expanding=True)


_INSERT_STEP = (
    f"INSERT INTO step_runs ({', '.join(STEP_COLUMNS)}) "
    f"VALUES ({', '.join(':' + c for c in STEP_COLUMNS)})"
)


@lru_cache(maxsize=256)
def _move_sql_text(dialect: str, keys: tuple[str, ...], by_worker: bool, many: bool) -> str:
    sets = ", ".join(["status = :to", *(f"{k} = :v_{k}" for k in keys)])
    target = f"id {in_list(dialect, 'ids')}" if many else "id = :sid"
    sql = f"UPDATE step_runs SET {sets} WHERE {target} AND status {in_list(dialect, 'sources')}"
    if by_worker:
        sql += " AND lease_owner = :worker"
    return sql + (" RETURNING id" if many else "")


def _move_sql(db: Driver, keys: tuple[str, ...], *, by_worker: bool, many: bool = False) -> str:
    """UPDATE of a step run's (or several's) status and `keys`, conditional on its status."""
    return _move_sql_text(db.dialect, keys, by_worker, many)


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
        """Store new step runs (PostgreSQL: one statement, the rows as one JSON parameter)."""
        if not steps:
            return
        db = await self.db()
        if db.dialect == "postgresql" and len(steps) > 1:
            rows = recordset_rows([_values(s) for s in steps])
            await db.run(recordset_insert(step_runs).text, {"rows": rows})
            return
        await db.run_many(_INSERT_STEP, [step_params(db, s) for s in steps])

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
        db = await self.db()
        sql = (
            "SELECT step_id, output FROM step_runs WHERE run_id = :run_id "
            "AND is_current = TRUE AND status = 'completed'"
        )
        params: dict[str, Any] = {"run_id": run_id}
        if step_ids is not None:
            ids = list(step_ids)
            if not ids:
                return {}
            sql += f" AND step_id {in_list(db.dialect, 'ids')}"
            params["ids"] = list_param(db, ids)
        return {step_id: db.from_json(out) for step_id, out in await db.rows(sql, params)}

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
        db = await self.db()
        values = _with_final(to, now, values)
        sources = step_sources(to, only_from, through=through)
        sql = _move_sql(db, tuple(sorted(values)), by_worker=worker_id is not None)
        params = {f"v_{k}": encode(db, step_runs, k, v) for k, v in values.items()}
        params.update(sid=step_run_id, sources=list_param(db, sources), to=str(to))
        if worker_id is not None:
            params["worker"] = worker_id
        return await db.run(sql, params) == 1

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
        db = await self.db()
        sql = (
            "UPDATE step_runs SET deps_remaining = deps_remaining - :ended, "
            "n_completed = n_completed + :completed, n_failed = n_failed + :failed, "
            "n_skipped = n_skipped + :skipped "
            f"WHERE run_id = :run_id AND step_id {in_list(db.dialect, 'ids')} "
            "AND is_current = TRUE AND status = 'pending' "
            "RETURNING id, step_id, deps_remaining, n_completed, n_failed, n_skipped"
        )
        params = {
            "run_id": run_id,
            "ids": list_param(db, step_ids),
            "ended": ended,
            "completed": completed,
            "failed": failed,
            "skipped": skipped,
        }
        return [DependentUpdate(*row) for row in await db.rows(sql, params)]

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
        db = await self.db()
        values = _with_final(to, now, values)
        sql = _move_sql(db, tuple(sorted(values)), by_worker=False, many=True)
        params = {f"v_{k}": encode(db, step_runs, k, v) for k, v in values.items()}
        sources = step_sources(to, only_from)
        params.update(ids=list_param(db, ids), sources=list_param(db, sources), to=str(to))
        return [row[0] for row in await db.rows(sql, params)]

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
        db = await self.db()
        sql = (
            "SELECT 1 FROM step_runs WHERE run_id = :run_id AND is_current = TRUE "
            f"AND status {in_list(db.dialect, 'statuses')} LIMIT 1"
        )
        params = {"run_id": run_id, "statuses": list_param(db, statuses)}
        return bool(await db.rows(sql, params))

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
