"""Schedules: cron triggers with time zones, fired exactly once across servers.

Firing: every serving process runs a loop that sleeps until the soonest `next_run_at` (at most
`schedule_poll_seconds`, and woken when a schedule changes here), then, in one transaction,
claims each due schedule by moving its `next_run_at` on with a conditional UPDATE (`… WHERE
next_run_at = :expected`) and starts a run (trigger `schedule`) for each claim it won. The next
fire time is computed from *now*, so a schedule that missed several slots while no server was
up fires once, late, then keeps its cadence.

A disabled schedule has no `next_run_at` and never fires; enabling it again computes the next
slot from then. While the workflow is not active (draft, paused, archived, in the trash) its
schedules' slots pass without runs and `next_run_at` keeps advancing: pausing skips those runs,
and reactivating starts none at once; the next slot fires.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flowdeck.config import Settings
from flowdeck.domain.clock import Clock, isoformat
from flowdeck.domain.ids import new_id
from flowdeck.domain.inputs import validate_run_inputs
from flowdeck.domain.records import Page, Run, Workflow
from flowdeck.domain.schedules import (
    DueSchedule,
    InvalidSchedule,
    Schedule,
    next_fire,
    normalise_cron,
    schedule_problems,
)
from flowdeck.engine.runtime import Runtime
from flowdeck.engine.transaction import RunTransaction
from flowdeck.errors import Conflict, DatabaseBusy, InvalidInput, NotFound
from flowdeck.services.auth import Principal
from flowdeck.services.ports import StorePort, TxPort
from flowdeck.services.scope import load_workflow

log = logging.getLogger("flowdeck.schedules")

_BATCH = 100


@dataclass(frozen=True)
class ScheduleChanges:
    """A PATCH: the fields to change (None leaves a field as it is)."""

    cron_expression: str | None = None
    timezone: str | None = None
    input_data: dict[str, Any] | None = None
    enabled: bool | None = None


def schedule_view(s: Schedule) -> dict[str, Any]:
    """A schedule as the API, the CLI and MCP show it."""
    return {
        "id": s.id,
        "workflow_id": s.workflow_id,
        "cron_expression": s.cron_expression,
        "timezone": s.timezone,
        "input_data": s.input_data,
        "enabled": s.enabled,
        "next_run_at": isoformat(s.next_run_at),
        "last_run_at": isoformat(s.last_run_at),
        "last_run_id": s.last_run_id,
        "created_at": isoformat(s.created_at),
        "updated_at": isoformat(s.updated_at),
    }


class ScheduleService:
    """CRUD for schedules and the loop that fires them."""

    def __init__(
        self, store: StorePort, clock: Clock, runtime: Runtime[TxPort], settings: Settings
    ) -> None:
        self.store = store
        self.clock = clock
        self.runtime = runtime
        self.settings = settings
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    # -- CRUD ---------------------------------------------------------------------------------

    async def _schedule(self, tx: TxPort, principal: Principal, schedule_id: str) -> Schedule:
        found = await tx.get_schedule(principal.workspace_id, schedule_id)
        if found is None or (
            principal.workflow_id is not None and found.workflow_id != principal.workflow_id
        ):
            raise NotFound(f"Schedule '{schedule_id}' not found")
        return found

    async def _problems(
        self, tx: TxPort, wf: Workflow, cron: str, timezone: str, input_data: dict[str, Any]
    ) -> list[str]:
        problems = schedule_problems(cron, timezone, self.clock.now())
        cw = await self.runtime.definitions.get(tx, wf.id, wf.version)
        _, input_errors = validate_run_inputs(cw.definition, input_data)
        return problems + input_errors

    async def create(
        self,
        principal: Principal,
        id_or_slug: str,
        *,
        cron_expression: str,
        timezone: str = "UTC",
        input_data: dict[str, Any] | None = None,
        enabled: bool = True,
    ) -> Schedule:
        """Add a schedule to a workflow; 422 lists every problem with the cron, zone and inputs."""
        principal.require("workflows:write")
        cron = normalise_cron(cron_expression)
        data = dict(input_data or {})
        async with self.store.write() as tx:
            wf = await load_workflow(tx, principal, id_or_slug)
            problems = await self._problems(tx, wf, cron, timezone, data)
            if problems:
                raise InvalidInput("The schedule is invalid", errors=problems)
            now = self.clock.now()
            schedule = Schedule(
                id=new_id("sched"),
                workspace_id=wf.workspace_id,
                workflow_id=wf.id,
                cron_expression=cron,
                timezone=timezone,
                input_data=data,
                enabled=enabled,
                next_run_at=next_fire(cron, timezone, now) if enabled else None,
                created_at=now,
                updated_at=now,
            )
            await tx.insert_schedule(schedule)
        self._wake.set()
        return schedule

    async def list_schedules(
        self,
        principal: Principal,
        id_or_slug: str,
        *,
        limit: int = 50,
        offset: int = 0,
        cursor: str | None = None,
    ) -> Page[Schedule]:
        """A page of a workflow's schedules, newest first."""
        principal.require("workflows:read")
        async with self.store.read() as tx:
            wf = await load_workflow(tx, principal, id_or_slug)
            return await tx.list_schedules(
                wf.id, limit=limit, offset=0 if cursor else offset, before_id=cursor
            )

    async def list_workspace_schedules(
        self,
        principal: Principal,
        *,
        workflow_id: str | None = None,
        enabled: bool | None = None,
        limit: int = 50,
        offset: int = 0,
        cursor: str | None = None,
    ) -> Page[Schedule]:
        """A page of every schedule in the workspace (of one workflow, by id or slug, when
        `workflow_id` is given), newest first."""
        principal.require("workflows:read")
        if cursor is not None and not cursor.startswith("sched_"):
            raise InvalidInput("Invalid cursor", errors=[f"cursor '{cursor}' is not a schedule id"])
        async with self.store.read() as tx:
            wf_id = None
            if workflow_id is not None:
                wf_id = (await load_workflow(tx, principal, workflow_id)).id
            return await tx.list_workspace_schedules(
                principal.workspace_id,
                workflow_id=wf_id,
                enabled=enabled,
                limit=limit,
                offset=0 if cursor else offset,
                before_id=cursor,
            )

    async def get(self, principal: Principal, schedule_id: str) -> Schedule:
        """One schedule."""
        principal.require("workflows:read")
        async with self.store.read() as tx:
            return await self._schedule(tx, principal, schedule_id)

    async def update(
        self, principal: Principal, schedule_id: str, changes: ScheduleChanges
    ) -> Schedule:
        """Change a schedule; a new cron, zone or re-enabling computes the next slot from now."""
        principal.require("workflows:write")
        async with self.store.write() as tx:
            current = await self._schedule(tx, principal, schedule_id)
            cron = (
                normalise_cron(changes.cron_expression)
                if changes.cron_expression is not None
                else current.cron_expression
            )
            timezone = changes.timezone if changes.timezone is not None else current.timezone
            data = changes.input_data if changes.input_data is not None else current.input_data
            enabled = changes.enabled if changes.enabled is not None else current.enabled
            wf = await tx.get_workflow(current.workspace_id, current.workflow_id)
            if wf is None:
                raise Conflict(
                    f"Schedule '{schedule_id}' belongs to a workflow in the trash; restore it first"
                )
            problems = await self._problems(tx, wf, cron, timezone, data)
            if problems:
                raise InvalidInput("The schedule is invalid", errors=problems)
            now = self.clock.now()
            values: dict[str, Any] = {
                "cron_expression": cron,
                "timezone": timezone,
                "input_data": data,
                "enabled": enabled,
                "updated_at": now,
            }
            timing_changed = (cron, timezone) != (current.cron_expression, current.timezone)
            if not enabled:
                values["next_run_at"] = None
            elif timing_changed or not current.enabled or current.next_run_at is None:
                values["next_run_at"] = next_fire(cron, timezone, now)
            await tx.update_schedule(current.id, values)
            updated = await tx.get_schedule(current.workspace_id, current.id)
        assert updated is not None
        self._wake.set()
        return updated

    async def delete(self, principal: Principal, schedule_id: str) -> None:
        """Delete a schedule; runs it started stay."""
        principal.require("workflows:write")
        async with self.store.write() as tx:
            current = await self._schedule(tx, principal, schedule_id)
            await tx.delete_schedule(current.id)

    # -- firing -------------------------------------------------------------------------------

    async def fire_due(self) -> list[str]:
        """Fire every schedule due now, each slot once however many servers try; the run ids."""
        now = self.clock.now()
        try:
            return await self._fire_all(now)
        except (DatabaseBusy, asyncio.CancelledError):
            raise
        except Exception:
            log.exception("firing due schedules failed; firing them one at a time")
        return await self._fire_one_at_a_time(now)

    async def _fire_all(self, now: datetime) -> list[str]:
        started: list[str] = []
        while True:
            soonest = await self._soonest()  # a read first: no write lock when nothing is due
            if soonest is None or soonest > now:
                return started
            ids, full = await self._fire_batch(now)
            started += ids
            if not full:
                return started

    async def _fire_one_at_a_time(self, now: datetime) -> list[str]:
        """Isolate a schedule whose firing keeps failing: it loses its slot, not the others."""
        async with self.store.write() as tx:
            due = await tx.due_schedules(now, _BATCH)
        started: list[str] = []
        for item in due:
            s = item.schedule
            try:
                ids, _ = await self._fire_batch(now, s.id)
                started += ids
            except (DatabaseBusy, asyncio.CancelledError):
                raise
            except Exception:
                log.exception("schedule %s could not start a run; skipping its slot", s.id)
                assert s.next_run_at is not None
                upcoming = next_fire(s.cron_expression, s.timezone, now)
                async with self.store.write() as tx:
                    await tx.claim_schedule(s.id, s.next_run_at, upcoming, now, None)
        return started

    async def _fire_batch(self, now: datetime, only: str | None = None) -> tuple[list[str], bool]:
        """Claim and fire up to a batch of due schedules (or just `only`) in one transaction;
        the run ids and whether the batch was full."""
        started: list[str] = []
        async with self.runtime.transaction() as rt:
            due = await rt.tx.due_schedules(now, _BATCH, schedule_id=only)
            for item in due:
                run = await self._fire(rt, item, now)
                if run is not None:
                    started.append(run.id)
            if started:
                await rt.admit()
        return started, len(due) == _BATCH

    async def _fire(
        self, rt: RunTransaction[TxPort], item: DueSchedule, now: datetime
    ) -> Run | None:
        tx = rt.tx
        s = item.schedule
        slot = s.next_run_at
        assert slot is not None
        try:
            upcoming = next_fire(s.cron_expression, s.timezone, now)
        except InvalidSchedule as exc:  # e.g. its zone vanished from this server's tz data
            log.error("schedule %s cannot fire and is disabled: %s", s.id, exc)
            await tx.update_schedule(
                s.id, {"enabled": False, "next_run_at": None, "updated_at": now}
            )
            return None
        if not await tx.claim_schedule(s.id, slot, upcoming, now, None):
            return None  # another server fired this slot
        if not item.workflow_runnable:
            return None  # the workflow is not active: the slot passes without a run
        wf = await tx.get_workflow(s.workspace_id, s.workflow_id)
        if wf is None:
            return None
        cw = await rt.definition(wf.id, wf.version)
        inputs, errors = validate_run_inputs(cw.definition, s.input_data)
        if errors:
            log.warning(
                "schedule %s skipped its %s slot: input_data no longer fits workflow %s: %s",
                s.id,
                isoformat(slot),
                wf.id,
                "; ".join(errors),
            )
            return None
        run = await rt.create_run(
            workspace_id=wf.workspace_id,
            workflow_id=wf.id,
            version=wf.version,
            input_data=inputs,
            trigger="schedule",
            created_by=f"schedule:{s.id}",
            # Unique per workflow: a backstop that makes a second run for one slot impossible.
            idempotency_key=f"schedule:{s.id}:{isoformat(slot)}",
        )
        await tx.record_schedule_run(s.id, run.id, now)
        log.info("schedule %s started run %s for its %s slot", s.id, run.id, isoformat(slot))
        return run

    # -- the loop -----------------------------------------------------------------------------

    async def start(self) -> None:
        """Start firing due schedules in this process."""
        if self._task is None:
            self._task = asyncio.create_task(self._loop(), name="flowdeck-schedules")

    async def stop(self) -> None:
        """Stop firing schedules."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def wake(self) -> None:
        """Look for due schedules now instead of at the next poll."""
        self._wake.set()

    async def _loop(self) -> None:
        poll = self.settings.schedule_poll_seconds
        while True:
            self._wake.clear()
            delay = poll
            try:
                await self.fire_due()
                delay = await self._seconds_to_next(poll)
            except DatabaseBusy as exc:
                log.warning("schedules not fired (%s); retrying", exc.detail)
            except Exception:
                log.exception("schedule loop failed; retrying")
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(delay):
                    await self._wake.wait()

    async def _soonest(self) -> datetime | None:
        async with self.store.read() as tx:
            return await tx.earliest_schedule_at()

    async def _seconds_to_next(self, poll: float) -> float:
        soonest = await self._soonest()
        if soonest is None:
            return poll
        # A slot that is due but was not fired is being fired by another server: look again
        # soon, without spinning.
        wait = (soonest - self.clock.now()).total_seconds()
        return min(poll, max(wait, min(poll, 0.05)))
