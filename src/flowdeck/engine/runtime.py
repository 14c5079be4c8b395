"""The engine as one object: the step flow, the event bus and (in a worker process) the worker."""

from __future__ import annotations

from collections.abc import Callable, Mapping

import httpx

from flowdeck.domain.clock import Clock
from flowdeck.engine.definitions import DefinitionCache
from flowdeck.engine.effects import Effects
from flowdeck.engine.events import EventBus
from flowdeck.engine.flow import StepFlow
from flowdeck.engine.ports import EngineStore
from flowdeck.engine.secrets import SecretCache
from flowdeck.engine.steps.base import StepEnvironment, StepHandler
from flowdeck.engine.worker import Worker, WorkerSettings


class Runtime:
    """Shared by the services (which start and steer runs) and the worker (which runs steps)."""

    def __init__(
        self,
        store: EngineStore,
        clock: Clock,
        handlers: Mapping[str, StepHandler],
        *,
        settings: WorkerSettings | None = None,
        step_env: StepEnvironment | None = None,
        decrypt: Callable[[str], str] | None = None,
    ) -> None:
        self.store = store
        self.clock = clock
        self.settings = settings or WorkerSettings()
        self.handlers = dict(handlers)
        self.bus = EventBus()
        self.flow = StepFlow(clock, DefinitionCache(), SecretCache(decrypt))
        self._own_http: httpx.AsyncClient | None = None
        if step_env is None:
            self._own_http = httpx.AsyncClient(timeout=httpx.Timeout(30.0), follow_redirects=True)
            step_env = StepEnvironment(http=self._own_http, clock=clock)
        self.step_env = step_env
        self.worker: Worker | None = None

    async def start_worker(self) -> Worker:
        """Run steps in this process too."""
        self.worker = Worker(
            self.store,
            self.clock,
            self.handlers,
            self.step_env,
            settings=self.settings,
            bus=self.bus,
            flow=self.flow,
        )
        await self.worker.start()
        return self.worker

    async def close(self, *, graceful: bool = True) -> None:
        """Stop the worker (handing back unfinished steps) and release clients."""
        if self.worker is not None:
            await self.worker.stop(graceful=graceful)
            self.worker = None
        if self._own_http is not None:
            await self._own_http.aclose()

    def after_commit(self, fx: Effects) -> None:
        """Wake the local worker and SSE readers for what a transaction did."""
        if self.worker is not None:
            self.worker.after_commit(fx)
        elif fx.runs_touched:
            self.bus.publish(fx.runs_touched)
