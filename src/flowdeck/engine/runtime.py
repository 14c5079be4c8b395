"""The engine as one object: run transactions, the event bus, signals and (in a worker
process) the worker."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from typing import Generic

import httpx

from flowdeck.domain.clock import Clock
from flowdeck.engine import metrics, tracing
from flowdeck.engine.definitions import DefinitionCache
from flowdeck.engine.effects import Effects
from flowdeck.engine.egress import EgressPolicy, step_client
from flowdeck.engine.events import EventBus
from flowdeck.engine.fairness import Turns
from flowdeck.engine.ports import EngineStore, TxT
from flowdeck.engine.rendering import TemplateRenderer
from flowdeck.engine.secrets import SecretCache
from flowdeck.engine.signals import Signal, Signals
from flowdeck.engine.steps.base import StepEnvironment, StepHandler
from flowdeck.engine.transaction import Executor, RunTransaction
from flowdeck.engine.txn import Limits, Txn
from flowdeck.engine.worker import Worker
from flowdeck.engine.worker_settings import WorkerSettings


class Runtime(Generic[TxT]):
    """Shared by the services (which start and steer runs) and the worker (which runs steps)."""

    def __init__(
        self,
        store: EngineStore[TxT],
        clock: Clock,
        handlers: Mapping[str, StepHandler],
        *,
        settings: WorkerSettings | None = None,
        step_env: StepEnvironment | None = None,
        decrypt: Callable[[str], str] | None = None,
        signals: Signals | None = None,
        egress: EgressPolicy | None = None,
        templates: TemplateRenderer | None = None,
    ) -> None:
        self.store = store
        self.clock = clock
        self.settings = settings or WorkerSettings()
        self.handlers = dict(handlers)
        self.bus = EventBus()
        self.definitions = DefinitionCache()
        self.secrets = SecretCache(decrypt)
        self.templates = templates or TemplateRenderer()
        self.turns = Turns()
        self.limits = Limits(
            max_running_runs=self.settings.max_running_runs,
            max_run_depth=self.settings.max_run_depth,
            admit_batch=self.settings.admit_batch,
        )
        self._own_http: httpx.AsyncClient | None = None
        if step_env is None:
            # Steps reach the network only through the egress guard; None guards by default.
            self._own_http = step_client(egress or EgressPolicy())
            step_env = StepEnvironment(http=self._own_http, clock=clock, templates=self.templates)
        self.step_env = step_env
        self.worker: Worker | None = None
        # Other processes on the same database (PostgreSQL); None when this one is alone.
        self.signals = signals
        if signals is not None:
            signals.subscribe(self._on_signal)

    @asynccontextmanager
    async def transaction(self, worker: Worker | None = None) -> AsyncIterator[RunTransaction[TxT]]:
        """A run transaction (see `transaction.py`); committed and published on a clean exit.

        A worker's transactions may execute pure steps inside themselves (`claim`)."""
        executor = (
            Executor(
                self.handlers,
                self.step_env,
                self.settings.max_inline_steps,
                self.settings.max_inline_seconds,
            )
            if worker is not None
            else None
        )
        async with self.store.write() as tx:
            rt = RunTransaction(
                tx,
                Txn(tx, self.clock, self.definitions, self.secrets, self.limits, self.templates),
                self.turns,
                executor,
            )
            yield rt
            await rt.finish()
        self.after_commit(rt.effects, own=worker)

    async def start(self) -> None:
        """Start hearing (and telling) the other processes on the database."""
        if self.signals is not None:
            await self.signals.start()

    @property
    def fallback_poll_seconds(self) -> float:
        """How often a waiter polls for what a lost signal would have told it."""
        return self.settings.poll_seconds_with(self.signals)

    def _on_signal(self, signal: Signal) -> None:
        if signal.resync:
            self.bus.publish_all()
        elif signal.runs:
            self.bus.publish(signal.runs)
        for workspace_id in signal.secrets:
            self.secrets.invalidate(workspace_id)
        if self.worker is not None:
            self.worker.on_signal(signal)

    def secrets_changed(self, workspace_id: str) -> None:
        """A workspace's secrets changed: forget them here and in every other process."""
        self.secrets.invalidate(workspace_id)
        if self.signals is not None:
            self.signals.publish(secrets=[workspace_id])

    def new_worker(self) -> Worker:
        """This process's worker, not started: `start_worker` runs its loops; tests and
        simulations may drive it by hand (`Worker.tick`) instead."""
        self.worker = Worker(
            self.store,
            self.clock,
            self.handlers,
            self.step_env,
            self.transaction,
            settings=self.settings,
            bus=self.bus,
            signals=self.signals,
        )
        return self.worker

    async def start_worker(self) -> Worker:
        """Run steps in this process too."""
        await self.start()
        worker = self.new_worker()
        await worker.start()
        return worker

    async def close(self, *, graceful: bool = True) -> None:
        """Stop the worker (handing back unfinished steps) and release clients."""
        if self.worker is not None:
            await self.worker.stop(graceful=graceful)
            self.worker = None
        if self.signals is not None:
            await self.signals.close()
        if self._own_http is not None:
            await self._own_http.aclose()

    def after_commit(self, fx: Effects, *, own: Worker | None = None) -> None:
        """Wake the local worker and SSE readers for what a transaction did, and tell the
        other processes."""
        metrics.observe_ended(fx)
        for end in fx.ended_runs:
            tracing.record_run(end)
        if own is not None:
            own.after_commit(fx, own=True)
            return
        if self.worker is not None:
            self.worker.after_commit(fx)
            return
        if fx.runs_touched:
            self.bus.publish(fx.runs_touched)
        if self.signals is not None:
            self.signals.publish(
                work=fx.ready or fx.admit or fx.admit_again or fx.timers,
                runs=fx.runs_touched,
                cancelled=fx.cancelled_runs,
            )
