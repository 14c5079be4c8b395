"""The engine tier's harness: the real run transaction and worker on the real test database,
a fake clock, and a step type whose outcomes the test scripts. No HTTP, no sleeps: a test
starts runs, then `run_until_idle()`; timers, retries and leases move with the clock.

A few tests need steps running side by side in real tasks (a cancel interrupting a step in
flight): `async with engine.live():` runs a worker's own loops, and `until()` follows the
run's events (no polling) until it reaches a status."""

from __future__ import annotations

import asyncio
from collections import defaultdict, deque
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from flowdeck.config import Settings
from flowdeck.domain.clock import FakeClock
from flowdeck.domain.ids import new_id
from flowdeck.domain.records import Run, RunEvent, StepRun, Workspace
from flowdeck.domain.states import RUN_TERMINAL
from flowdeck.engine.steps.base import Completed, StepContext, StepFailed, StepOutcome
from flowdeck.engine.steps.registry import all_handlers
from flowdeck.engine.worker import Worker
from flowdeck.services.auth import AuthService, Principal
from flowdeck.services.container import Services
from flowdeck.store.store import Store

START = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
ADMIN_SCOPES = ("workflows:admin",)
# How long a live test may wait for the run it follows (a guard, not a timing).
LIVE_TIMEOUT = 20.0


class ProbeConfig(BaseModel):
    """`probe`: a step whose outcome the test decides (by step id, attempt by attempt)."""

    model_config = ConfigDict(extra="forbid")
    note: str = ""
    # The step takes this long on the engine's fake clock (it moves the clock as it runs).
    takes_seconds: float = 0


@dataclass
class Gate:
    """Holds a step's executions until released: `entered` is set when one arrives."""

    entered: asyncio.Event = field(default_factory=asyncio.Event)
    opened: asyncio.Event = field(default_factory=asyncio.Event)

    def release(self) -> None:
        """Let the held execution (and later ones) through."""
        self.opened.set()


class Probe:
    """Records every execution; answers from `plan[step_id]` (default "ok"):
    "ok" completes, "fail" fails for good, "flaky" fails retryably."""

    type_name = "probe"
    config_model = ProbeConfig

    def __init__(self) -> None:
        self.plan: dict[str, deque[str]] = defaultdict(deque)
        # Outcomes for any step without a plan of its own, in order.
        self.anyone: deque[str] = deque()
        self.executed: list[tuple[str, str, int]] = []
        self.gates: dict[str, Gate] = {}
        # Called as each execution starts (a test's look at the database at that moment).
        self.on_execute: Callable[[StepContext], Awaitable[None]] | None = None

    def script(self, step_id: str, *verdicts: str) -> None:
        """The next outcomes of `step_id`, in order."""
        self.plan[step_id].extend(verdicts)

    def gate(self, step_id: str) -> Gate:
        """Hold the executions of `step_id` until the returned gate is released."""
        return self.gates.setdefault(step_id, Gate())

    async def execute(self, ctx: StepContext) -> StepOutcome:
        """Answer as scripted."""
        self.executed.append((ctx.run_id, ctx.step_id, ctx.attempt))
        if self.on_execute is not None:
            await self.on_execute(ctx)
        gate = self.gates.get(ctx.step_id)
        if gate is not None:
            gate.entered.set()
            await gate.opened.wait()
        takes = float(ctx.config.get("takes_seconds") or 0)
        if takes and isinstance(ctx.env.clock, FakeClock):
            ctx.env.clock.advance(seconds=takes)
        queue = self.plan.get(ctx.step_id) or self.anyone
        verdict = queue.popleft() if queue else "ok"
        if verdict == "fail":
            raise StepFailed(f"{ctx.step_id} failed (scripted)", retryable=False)
        if verdict == "flaky":
            raise StepFailed(f"{ctx.step_id} failed once (scripted)", retryable=True)
        return Completed({"step": ctx.step_id, "attempt": ctx.attempt})


def probe(step_id: str, *depends_on: str, **extra: Any) -> dict[str, Any]:
    """A probe step of a definition."""
    return {"id": step_id, "type": "probe", "depends_on": list(depends_on), **extra}


@dataclass
class Engine:
    """Services on a fake clock, with a worker the test drives by hand."""

    services: Services
    clock: FakeClock
    worker: Worker
    probe: Probe
    principal: Principal
    runs: list[str] = field(default_factory=list)

    @property
    def store(self) -> Any:
        """The store (a real SQLite or PostgreSQL database)."""
        return self.services.store

    async def workflow(
        self, definition: dict[str, Any], *, principal: Principal | None = None, **fields: Any
    ) -> str:
        """Create a workflow; returns its id."""
        wf = await self.services.workflows.create(principal or self.principal, definition, **fields)
        return wf.id

    async def start(
        self,
        workflow_id: str,
        inputs: dict[str, Any] | None = None,
        *,
        principal: Principal | None = None,
    ) -> str:
        """Queue a run; returns its id."""
        run, _ = await self.services.runs.start(
            principal or self.principal, workflow_id, input_data=inputs
        )
        self.runs.append(run.id)
        return run.id

    async def run_until_idle(self, max_ticks: int = 500) -> None:
        """Tick the worker until a tick changes nothing (time does not move)."""
        for _ in range(max_ticks):
            if not await self.worker.tick():
                return
        raise AssertionError(f"the engine was still busy after {max_ticks} ticks")

    async def run(
        self, run_id: str, *, principal: Principal | None = None
    ) -> tuple[Run, dict[str, StepRun]]:
        """The run and its current step runs by step id."""
        run, steps = await self.services.runs.get(principal or self.principal, run_id)
        return run, {s.step_id: s for s in steps if s.is_current}

    async def attempts(self, run_id: str, step_id: str | None = None) -> list[StepRun]:
        """Every attempt of every step (or of `step_id`, by attempt), oldest first."""
        _, steps = await self.services.runs.get(self.principal, run_id)
        if step_id is None:
            return steps
        return sorted((s for s in steps if s.step_id == step_id), key=lambda s: s.attempt)

    async def event_log(self, run_id: str) -> list[RunEvent]:
        """The run's events, in order."""
        _, events = await self.services.runs.events(self.principal, run_id, 0)
        return events

    async def events(self, run_id: str) -> list[str]:
        """The run's event types, in order."""
        return [e.type for e in await self.event_log(run_id)]

    async def status(self, run_id: str) -> str:
        """The run's status."""
        run, _ = await self.run(run_id)
        return str(run.status)

    async def child_runs(self, workflow_id: str) -> list[Run]:
        """The runs of `workflow_id`, oldest first."""
        page = await self.services.runs.list_runs(
            self.principal, workflow_id, status=None, limit=200, offset=0
        )
        return sorted(page.items, key=lambda r: r.id)

    async def workspace(self, slug: str) -> Principal:
        """An admin principal of a new, separate workspace."""
        ws = Workspace(id=new_id("ws"), slug=slug, name=slug, created_at=self.clock.now())
        async with self.store.write() as tx:
            await tx.insert_workspace(ws)
        return Principal(workspace_id=ws.id, key_id=slug, name=slug, scopes=ADMIN_SCOPES)

    async def stall(self, n: int = 1) -> list[StepRun]:
        """Another worker claims up to `n` ready steps (admitting runs as it does) and hangs:
        their runs stay running, holding their slots, until cancelled (its lease lasts a day).
        Use probe steps there: a worker runs pure steps inside its claim."""
        runtime = self.services.runtime
        hung = runtime.new_worker()
        runtime.worker = self.worker
        lease_until = self.clock.now() + timedelta(days=1)
        async with runtime.transaction(hung) as rt:
            claimed = await rt.claim(hung.id, n, lease_until, sweep=True, admit=True)
        return [c.step for c in claimed]

    @asynccontextmanager
    async def live(self) -> AsyncIterator[Worker]:
        """A worker running its own loops (steps in tasks, side by side, interruptible) for
        the block; the hand-driven worker is back afterwards."""
        runtime = self.services.runtime
        worker = runtime.new_worker()
        await worker.start()
        try:
            yield worker
        finally:
            await worker.stop(graceful=False)
            runtime.worker = self.worker

    async def until(self, run_id: str, *statuses: str) -> Run:
        """Follow the run's events until its status is one of `statuses` (by default any
        terminal one); for tests with a `live()` worker."""
        wanted = set(statuses) or {str(s) for s in RUN_TERMINAL}
        async with asyncio.timeout(LIVE_TIMEOUT):
            run, _ = await self.run(run_id)
            if run.status in wanted:
                return run
            async for _ in self.services.runs.follow(self.principal, run_id):
                run, _ = await self.run(run_id)
                if run.status in wanted:
                    return run
        raise AssertionError(f"run {run_id} ended {run.status}, not {sorted(wanted)}")


@asynccontextmanager
async def engine_on(database_url: str, data_dir: Path, **settings: Any) -> AsyncIterator[Engine]:
    """An Engine on `database_url` (migrated, empty), its clock at START."""
    clock = FakeClock(START)
    store = Store.from_url(database_url, pool_size=3)
    probe_handler = Probe()
    # The tests' HTTP peers listen on loopback, which the egress guard refuses unless opened.
    settings.setdefault("http_allow", "127.0.0.1")
    services = Services.build(
        Settings(data_dir=data_dir, database_url=database_url, run_worker=False, **settings),
        store,
        clock,
        handlers={**all_handlers(), "probe": probe_handler},
    )
    try:
        await AuthService(store, clock).bootstrap(None)
        async with store.read() as tx:
            ws = await tx.get_workspace_by_slug("default")
        assert ws is not None
        principal = Principal(workspace_id=ws.id, key_id="test", name="test", scopes=ADMIN_SCOPES)
        # The inline budget's 20 ms is wall time: on a loaded machine it would hand pure steps
        # to the worker at random. The tests decide where a step runs, not the machine's speed.
        runtime = services.runtime
        runtime.settings = replace(runtime.settings, max_inline_seconds=60.0)
        worker = runtime.new_worker()
        yield Engine(services, clock, worker, probe_handler, principal)
    finally:
        await services.runtime.close(graceful=False)
        await store.close()
