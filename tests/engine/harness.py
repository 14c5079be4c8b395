"""The engine tier's harness: the real run transaction and worker on the real test database,
a fake clock, and a step type whose outcomes the test scripts. No HTTP, no sleeps: a test
starts runs, then `run_until_idle()`; timers, retries and leases move with the clock."""

from __future__ import annotations

from collections import defaultdict, deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from flowdeck.config import Settings
from flowdeck.domain.clock import FakeClock
from flowdeck.domain.records import Run, StepRun
from flowdeck.engine.steps.base import Completed, StepContext, StepFailed, StepOutcome
from flowdeck.engine.steps.registry import all_handlers
from flowdeck.engine.worker import Worker
from flowdeck.services.auth import AuthService, Principal
from flowdeck.services.container import Services
from flowdeck.store.store import Store

START = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
ADMIN_SCOPES = ("workflows:admin",)


class ProbeConfig(BaseModel):
    """`probe`: a step whose outcome the test decides (by step id, attempt by attempt)."""

    model_config = ConfigDict(extra="forbid")
    note: str = ""


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

    def script(self, step_id: str, *verdicts: str) -> None:
        """The next outcomes of `step_id`, in order."""
        self.plan[step_id].extend(verdicts)

    async def execute(self, ctx: StepContext) -> StepOutcome:
        """Answer as scripted."""
        self.executed.append((ctx.run_id, ctx.step_id, ctx.attempt))
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

    async def workflow(self, definition: dict[str, Any], **fields: Any) -> str:
        """Create a workflow; returns its id."""
        wf = await self.services.workflows.create(self.principal, definition, **fields)
        return wf.id

    async def start(self, workflow_id: str, inputs: dict[str, Any] | None = None) -> str:
        """Queue a run; returns its id."""
        run, _ = await self.services.runs.start(self.principal, workflow_id, input_data=inputs)
        self.runs.append(run.id)
        return run.id

    async def run_until_idle(self, max_ticks: int = 500) -> None:
        """Tick the worker until a tick changes nothing (time does not move)."""
        for _ in range(max_ticks):
            if not await self.worker.tick():
                return
        raise AssertionError(f"the engine was still busy after {max_ticks} ticks")

    async def run(self, run_id: str) -> tuple[Run, dict[str, StepRun]]:
        """The run and its current step runs by step id."""
        run, steps = await self.services.runs.get(self.principal, run_id)
        return run, {s.step_id: s for s in steps if s.is_current}

    async def attempts(self, run_id: str) -> list[StepRun]:
        """Every attempt of every step, oldest first."""
        _, steps = await self.services.runs.get(self.principal, run_id)
        return steps

    async def events(self, run_id: str) -> list[str]:
        """The run's event types, in order."""
        _, events = await self.services.runs.events(self.principal, run_id, 0)
        return [e.type for e in events]

    async def status(self, run_id: str) -> str:
        """The run's status."""
        run, _ = await self.run(run_id)
        return str(run.status)


@asynccontextmanager
async def engine_on(database_url: str, data_dir: Path, **settings: Any) -> AsyncIterator[Engine]:
    """An Engine on `database_url` (migrated, empty), its clock at START."""
    clock = FakeClock(START)
    store = Store.from_url(database_url, pool_size=3)
    probe_handler = Probe()
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
        worker = services.runtime.new_worker()
        yield Engine(services, clock, worker, probe_handler, principal)
    finally:
        await services.runtime.close(graceful=False)
        await store.close()
