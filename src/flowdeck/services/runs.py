"""Run use cases: start (or plan), read, list, cancel, pause, resume, delete, events."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from flowdeck.domain.clock import Clock
from flowdeck.domain.graph import topological_levels
from flowdeck.domain.inputs import validate_run_inputs
from flowdeck.domain.records import Page, Run, RunEvent, StepRun
from flowdeck.domain.states import RUN_ACTIVE, RUN_TERMINAL
from flowdeck.engine.compiled import CompiledWorkflow
from flowdeck.engine.runtime import Runtime
from flowdeck.errors import Conflict, DatabaseBusy, InvalidInput, NotFound
from flowdeck.services.auth import Principal
from flowdeck.services.costs import BASIS as COST_BASIS
from flowdeck.services.costs import AgentEstimate, agent_ref, estimate_agent_step, profile_of
from flowdeck.services.ports import StorePort, TxPort
from flowdeck.services.scope import load_workflow

RUN_STATUSES = ("queued", "running", "waiting", "paused", "completed", "failed", "cancelled")
TRIGGERS = ("manual", "api", "schedule", "webhook", "workflow")
FINAL_EVENTS = frozenset({"run_completed", "run_failed", "run_cancelled"})
# A follower rides out this many failed reads in a row (a database restart, a failover).
FOLLOW_DB_RETRIES = 20


@dataclass(frozen=True)
class RunPlan:
    """What a dry run reports instead of running."""

    valid: bool
    errors: list[str]
    plan: list[list[str]] = field(default_factory=list)
    steps: list[dict[str, Any]] = field(default_factory=list)
    estimated_cost: float = 0.0
    estimated_duration_seconds: float | None = None
    estimate_basis: str = ""


class RunService:
    """Starts and steers runs; the worker does the executing."""

    def __init__(self, store: StorePort, clock: Clock, runtime: Runtime[TxPort]) -> None:
        self.store = store
        self.clock = clock
        self.runtime = runtime

    async def _run(self, tx: TxPort, principal: Principal, run_id: str) -> Run:
        run = await tx.get_run(run_id, principal.workspace_id)
        if run is None or (
            principal.workflow_id is not None and run.workflow_id != principal.workflow_id
        ):
            raise NotFound(f"Run '{run_id}' not found")
        return run

    async def start(
        self,
        principal: Principal,
        id_or_slug: str,
        *,
        input_data: Mapping[str, Any] | None = None,
        trigger: str = "manual",
        idempotency_key: str | None = None,
        record: Callable[[TxPort, Run], Awaitable[None]] | None = None,
    ) -> tuple[Run, bool]:
        """Queue a run (a worker starts it when a slot is free); returns it and whether it is
        new. `record` runs in the same transaction once the run exists (an inbound webhook
        notes its delivery there), so both commit or neither does."""
        principal.require("workflows:run")
        if trigger not in TRIGGERS:
            raise InvalidInput(
                "Invalid trigger",
                errors=[f"trigger must be one of {', '.join(TRIGGERS)}; got '{trigger}'"],
            )
        try:
            async with self.runtime.transaction() as rt:
                wf = await load_workflow(rt.tx, principal, id_or_slug)
                if idempotency_key:
                    existing = await rt.tx.find_run_by_idempotency_key(wf.id, idempotency_key)
                    if existing is not None:
                        return existing, False
                if wf.status in ("paused", "archived"):
                    raise Conflict(
                        f"Workflow '{wf.slug}' is {wf.status}; set it active to start runs"
                    )
                cw = await rt.definition(wf.id, wf.version)
                inputs, errors = validate_run_inputs(cw.definition, dict(input_data or {}))
                if errors:
                    raise InvalidInput("The run's inputs are invalid", errors=errors)
                # Admission is a worker's: it starts queued runs in batches, fairly, in the
                # same transaction that claims their first steps.
                run = await rt.create_run(
                    workspace_id=wf.workspace_id,
                    workflow_id=wf.id,
                    version=wf.version,
                    input_data=inputs,
                    trigger=trigger,
                    created_by=principal.name,
                    idempotency_key=idempotency_key,
                )
                if record is not None:
                    await record(rt.tx, run)
        except Conflict:
            if not idempotency_key:
                raise
            async with self.store.read() as tx:  # a concurrent start with the same key won
                wf = await load_workflow(tx, principal, id_or_slug)
                existing = await tx.find_run_by_idempotency_key(wf.id, idempotency_key)
            if existing is None:
                raise
            return existing, False
        return run, True

    async def plan(
        self, principal: Principal, id_or_slug: str, *, input_data: Mapping[str, Any] | None = None
    ) -> RunPlan:
        """A dry run: the levels, estimated cost and duration; nothing runs."""
        principal.require("workflows:run")
        agents: dict[str, AgentEstimate] = {}
        async with self.store.read() as tx:
            wf = await load_workflow(tx, principal, id_or_slug)
            cw = await self.runtime.definitions.get(tx, wf.id, wf.version)
            avg = await tx.average_duration(wf.id)
            for step in cw.definition.steps:
                if step.type == "agent_task":
                    ref = agent_ref(step)
                    agent = await tx.get_agent(wf.workspace_id, ref) if ref else None
                    profile = profile_of(agent) if agent is not None else None
                    agents[step.id] = estimate_agent_step(step, profile)
        _, errors = validate_run_inputs(cw.definition, dict(input_data or {}))
        if wf.status in ("paused", "archived"):
            errors.append(f"Workflow '{wf.slug}' is {wf.status}; set it active to start runs")
        return _plan(cw, errors, avg, agents)

    async def get(self, principal: Principal, run_id: str) -> tuple[Run, list[StepRun]]:
        """A run with every attempt of every step."""
        principal.require("workflows:read")
        async with self.store.read() as tx:
            run = await self._run(tx, principal, run_id)
            return run, await tx.all_step_runs(run.id)

    async def list_runs(
        self,
        principal: Principal,
        id_or_slug: str,
        *,
        status: str | None,
        limit: int,
        offset: int,
        cursor: str | None = None,
    ) -> Page[Run]:
        """A page of the workflow's runs, newest first."""
        principal.require("workflows:read")
        if status is not None and status not in RUN_STATUSES:
            raise InvalidInput(
                "Invalid filter",
                errors=[f"status must be one of {', '.join(RUN_STATUSES)}; got '{status}'"],
            )
        async with self.store.read() as tx:
            wf = await load_workflow(tx, principal, id_or_slug)
            return await tx.list_runs(
                wf.id, status=status, limit=limit, offset=0 if cursor else offset, before_id=cursor
            )

    async def list_workspace_runs(
        self,
        principal: Principal,
        *,
        status: str | None = None,
        workflow_id: str | None = None,
        trigger: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> Page[Run]:
        """A page of every run in the caller's workspace, newest first, by a cursor."""
        principal.require("workflows:read")
        errors: list[str] = []
        if status is not None and status not in RUN_STATUSES:
            errors.append(f"status must be one of {', '.join(RUN_STATUSES)}; got '{status}'")
        if trigger is not None and trigger not in TRIGGERS:
            errors.append(f"trigger must be one of {', '.join(TRIGGERS)}; got '{trigger}'")
        if not 1 <= limit <= 200:
            errors.append(f"limit must be between 1 and 200; got {limit}")
        if cursor is not None and not cursor.startswith("run_"):
            errors.append(f"cursor '{cursor}' is not a run id")
        since, until = _utc(since, "since", errors), _utc(until, "until", errors)
        if since is not None and until is not None and since >= until:
            errors.append("since must be earlier than until")
        if errors:
            raise InvalidInput("Invalid filter", errors=errors)
        async with self.store.read() as tx:
            if workflow_id is not None:
                workflow_id = (await load_workflow(tx, principal, workflow_id)).id
            elif principal.workflow_id is not None:
                workflow_id = principal.workflow_id
            return await tx.list_workspace_runs(
                principal.workspace_id,
                status=status,
                workflow_id=workflow_id,
                trigger=trigger,
                since=since,
                until=until,
                limit=limit,
                before_id=cursor,
            )

    async def _steer(
        self,
        principal: Principal,
        run_id: str,
        action: str,
        from_step: str | None = None,
        version: int | str | None = None,
    ) -> Run:
        principal.require("workflows:run")
        async with self.runtime.transaction() as rt:
            run = await self._run(rt.tx, principal, run_id)
            if action == "cancel":
                await rt.cancel(run, "cancelled by request")
            elif action == "pause":
                await rt.pause(run)
            else:
                target = await self._resume_version(rt.tx, run, version)
                await rt.resume(run, from_step, target)
            updated = await rt.tx.get_run(run.id)
        assert updated is not None
        return updated

    async def _resume_version(self, tx: TxPort, run: Run, version: int | str | None) -> int | None:
        """The version a resume runs: the run's own (None), the workflow's latest, or a number
        that must exist."""
        if version is None:
            return None
        if version == "latest":
            wf = await tx.get_workflow(run.workspace_id, run.workflow_id, include_deleted=True)
            return wf.version if wf is not None else None
        if isinstance(version, str | bool):
            problem = f'version must be "latest" or a number; got {version!r}'
            raise InvalidInput("Invalid version", errors=[problem])
        if await tx.get_version(run.workflow_id, version) is None:
            raise InvalidInput(
                "Unknown version",
                errors=[f"The workflow has no version {version} to resume on"],
            )
        return version

    async def cancel(self, principal: Principal, run_id: str) -> Run:
        """Cancel an active run; running steps are interrupted."""
        return await self._steer(principal, run_id, "cancel")

    async def pause(self, principal: Principal, run_id: str) -> Run:
        """Stop dispatching new steps; running ones finish."""
        return await self._steer(principal, run_id, "pause")

    async def resume(
        self,
        principal: Principal,
        run_id: str,
        from_step: str | None,
        version: int | str | None = None,
    ) -> Run:
        """Run a failed, cancelled or paused run again (SPEC §4), on its own version or on
        `version` (a number, or "latest")."""
        return await self._steer(principal, run_id, "resume", from_step, version)

    async def delete(self, principal: Principal, run_id: str) -> None:
        """Delete a finished run."""
        principal.require("workflows:write")
        async with self.store.write() as tx:
            run = await self._run(tx, principal, run_id)
            if run.status in RUN_ACTIVE:
                raise Conflict(f"Run '{run.id}' is {run.status}; cancel it before deleting it")
            await tx.roll_up_run(run.id, -1)
            await tx.delete_run(run.id)

    async def events(
        self, principal: Principal, run_id: str, after_seq: int
    ) -> tuple[Run, list[RunEvent]]:
        """The run (for its status) and its events after `after_seq`."""
        principal.require("workflows:read")
        async with self.store.read() as tx:
            run = await self._run(tx, principal, run_id)
            return run, await tx.list_events(run.id, after_seq)

    async def follow(
        self,
        principal: Principal,
        run_id: str,
        after_seq: int = 0,
        *,
        gone: Callable[[], Awaitable[bool]] | None = None,
    ) -> AsyncIterator[RunEvent]:
        """The run's events after `after_seq`, then each new one as it commits, until the
        run's final event (the log's last: a resumed run has a `run_failed` followed by
        `run_resumed` and more). NotFound at once for a run the caller cannot see.

        The database going away for a while (a restart, a failover) does not end the stream;
        after `FOLLOW_DB_RETRIES` failed reads in a row, or once `gone()` says the reader left,
        it ends, and the reader resumes with the last sequence number it saw and misses
        nothing.
        """
        await self.events(principal, run_id, after_seq)  # NotFound before anything is yielded
        last, failures = after_seq, 0
        with self.runtime.bus.listen(run_id) as grew:
            while True:
                grew.clear()  # before reading: a commit after the read wakes the wait below
                try:
                    run, batch = await self.events(principal, run_id, last)
                except DatabaseBusy:
                    failures += 1
                    if failures > FOLLOW_DB_RETRIES or (gone is not None and await gone()):
                        return
                    await asyncio.sleep(min(0.05 * 2**failures, 2.0))
                    continue
                failures = 0
                for event in batch:
                    last = event.seq
                    yield event
                ended = run.status in RUN_TERMINAL
                if batch and not (ended and batch[-1].type in FINAL_EVENTS):
                    continue
                if ended or (gone is not None and await gone()):
                    return
                with contextlib.suppress(TimeoutError):
                    # Other processes' commits arrive as signals; the poll covers a lost one.
                    async with asyncio.timeout(self.runtime.fallback_poll_seconds):
                        await grew.wait()


def _utc(moment: datetime | None, name: str, errors: list[str]) -> datetime | None:
    """A moment in UTC (one without a zone is read as UTC); an error when it has none."""
    if moment is None:
        return None
    try:
        return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    except OverflowError:
        errors.append(f"{name} is out of range; give a date between years 1 and 9999 in UTC")
        return None


def _plan(
    cw: CompiledWorkflow,
    errors: list[str],
    avg: float | None,
    agents: Mapping[str, AgentEstimate] | None = None,
) -> RunPlan:
    levels = topological_levels(cw.deps)
    level_of = {sid: i for i, level in enumerate(levels) for sid in level}
    agents = agents or {}
    steps = []
    total = 0.0
    for s in cw.definition.steps:
        estimate = agents.get(s.id)
        step_cost = (s.cost or 0.0) + (estimate.cost if estimate else 0.0)
        total += step_cost
        entry: dict[str, Any] = {
            "id": s.id,
            "type": s.type,
            "level": level_of[s.id],
            "depends_on": list(s.depends_on),
            "cost": s.cost or 0.0,
            "estimated_cost": round(step_cost, 6),
        }
        if estimate is not None:
            entry["agent_estimate"] = estimate.view()
        steps.append(entry)
    basis = COST_BASIS
    if avg is not None:
        basis += "; duration is the mean of up to 100 recent completed runs"
    else:
        basis += "; no completed runs yet to estimate duration from"
    return RunPlan(
        valid=not errors,
        errors=errors,
        plan=levels,
        steps=steps,
        estimated_cost=round(total, 6),
        estimated_duration_seconds=round(avg, 3) if avg is not None else None,
        estimate_basis=basis,
    )
