"""The worker: claim ready steps, execute them, commit outcomes in batches, keep leases."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
from collections.abc import Callable, Mapping
from contextlib import AbstractAsyncContextManager
from datetime import datetime, timedelta
from typing import Any

from flowdeck.domain.clock import Clock
from flowdeck.domain.ids import new_id
from flowdeck.domain.states import StepStatus
from flowdeck.engine import metrics, tracing
from flowdeck.engine.effects import Effects
from flowdeck.engine.events import EventBus
from flowdeck.engine.execution import Claimed, execute_claimed
from flowdeck.engine.ports import EngineStore, EngineTx
from flowdeck.engine.registry import Registration
from flowdeck.engine.signals import Signal, Signals
from flowdeck.engine.steps.base import StepEnvironment, StepFailed, StepHandler
from flowdeck.engine.tasks import cancel_task, finish_task
from flowdeck.engine.transaction import RunTransaction
from flowdeck.engine.work import Outcome
from flowdeck.engine.worker_settings import ADMIT_RETRY_SECONDS, WorkerSettings
from flowdeck.errors import FlowdeckError
from flowdeck.logs import bind_log_context, bind_log_redactor

log = logging.getLogger("flowdeck.worker")


Transactions = Callable[["Worker"], AbstractAsyncContextManager[RunTransaction[Any]]]


class Worker:
    """Runs steps for any number of runs; safe to run many of them on one database."""

    def __init__(
        self,
        store: EngineStore[EngineTx],
        clock: Clock,
        handlers: Mapping[str, StepHandler],
        step_env: StepEnvironment,
        transactions: Transactions,
        *,
        settings: WorkerSettings | None = None,
        bus: EventBus | None = None,
        signals: Signals | None = None,
    ) -> None:
        self.store = store
        self.signals = signals
        self.clock = clock
        self.handlers = dict(handlers)
        self.step_env = step_env
        self.settings = settings or WorkerSettings()
        self.bus = bus or EventBus()
        self.id = f"{socket.gethostname()}:{os.getpid()}:{new_id('w')[-8:]}"
        self.registration = Registration(self.id, clock)
        self._transaction = transactions
        self._wake = asyncio.Event()
        # Results to commit; None (from stop) ends the commit loop.
        self._results: asyncio.Queue[tuple[Claimed, Outcome] | None] = asyncio.Queue()
        self._inflight: dict[str, tuple[asyncio.Task[None], Claimed]] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._stopping = False
        self._handing_back: set[str] = set()
        self._need_admit = True
        # Ready steps were left unclaimed for lack of capacity: look again when some frees.
        self._backlog = False

    # -- lifecycle ----------------------------------------------------------------------------

    async def start(self) -> None:
        """Start the dispatch, commit and maintenance loops."""
        await self.registration.register(self.store, self.settings.max_parallel_steps)
        self._tasks = [
            asyncio.create_task(self._guard(self._dispatch_loop), name="flowdeck-dispatch"),
            asyncio.create_task(self._guard(self._commit_loop), name="flowdeck-commit"),
            asyncio.create_task(self._guard(self._maintenance_loop), name="flowdeck-maintain"),
            asyncio.create_task(self._guard(self._cancel_watch_loop), name="flowdeck-cancel"),
        ]
        self.wake()

    async def stop(self, *, graceful: bool = True) -> None:
        """Drain: stop claiming, let in-flight steps finish within the grace period (the
        leases are still renewed meanwhile), commit every result, hand back what was cut
        short, then exit. Nothing this worker took is left to a lapsed lease."""
        self._stopping = True
        self._wake.set()
        tasks = {task.get_name(): task for task in self._tasks}
        # The dispatcher ends on its own at its next turn. It is not cancelled: a cancel that
        # lands while its claim commits would leave claimed steps unspawned, their leases to
        # lapse. What any claim brings from now on is handed back instead of run (`_spawn`).
        await finish_task(tasks.pop("flowdeck-dispatch", None), 30)
        await self._hand_back()  # those, at once: another worker can run them during the grace
        loop = asyncio.get_running_loop()
        deadline = loop.time() + (self.settings.shutdown_grace_seconds if graceful else 0.0)
        while self._inflight:
            pending = {task for task, _ in self._inflight.values()}
            remaining = deadline - loop.time()
            if remaining > 0:
                await asyncio.wait(pending, timeout=remaining)
                continue
            for task in pending:
                task.cancel()
            await asyncio.wait(pending)
        # Every result is queued now: the commit loop writes them all, then ends.
        self._results.put_nowait(None)
        await finish_task(tasks.pop("flowdeck-commit", None), 30)
        with contextlib.suppress(Exception):
            await self._flush_results()  # the commit loop had died: one last try
        await self._hand_back()
        for task in tasks.values():
            await cancel_task(task)
        await self.registration.stop(self.store)

    async def _guard(self, loop: Any) -> None:
        while True:  # the loops end on their own (or by cancellation) when the worker stops
            try:
                await loop()
                return
            except asyncio.CancelledError:
                raise
            except FlowdeckError as exc:
                if exc.retryable:  # the database is away for a moment: no stack trace
                    log.warning("worker loop %s: %s; retrying", loop.__name__, exc.detail)
                else:
                    log.exception("worker loop %s failed; restarting it", loop.__name__)
                await asyncio.sleep(0.5)
            except Exception:
                log.exception("worker loop %s crashed; restarting it", loop.__name__)
                await asyncio.sleep(0.5)

    def wake(self) -> None:
        """Something may be ready: look now instead of at the next poll."""
        self._wake.set()

    def after_commit(self, fx: Effects, *, own: bool = False) -> None:
        """Act on what a committed transaction did (wake-ups, cancellations, SSE) and tell
        the other processes. `own`: the worker's commit, which admitted and claimed what it
        could already, so only work left over (a backlog) needs other workers."""
        if fx.runs_touched:
            self.bus.publish(fx.runs_touched)
        self._cancel_runs(fx.cancelled_runs)
        if fx.admit:
            self._need_admit = True
        if fx.ready or fx.admit or fx.timers:
            self.wake()
        if fx.admit_again:
            self._need_admit = True
            asyncio.get_running_loop().call_later(ADMIT_RETRY_SECONDS, self.wake)
        if self.signals is not None:
            work = (fx.ready or self._backlog) if own else (fx.ready or fx.admit or fx.timers)
            self.signals.publish(work=work, runs=fx.runs_touched, cancelled=fx.cancelled_runs)

    def on_signal(self, signal: Signal) -> None:
        """Another process committed something this worker may act on."""
        self._cancel_runs(signal.cancelled)
        if signal.work:
            self._need_admit = True
            if self.capacity > 0:
                self.wake()
            else:  # saturated: look when a slot frees instead of a useless round now
                self._backlog = True

    def _cancel_runs(self, run_ids: set[str]) -> None:
        if not run_ids:
            return
        for task, claimed in list(self._inflight.values()):
            if claimed.run.id in run_ids:
                task.cancel()

    @property
    def capacity(self) -> int:
        """How many more steps this worker may execute now."""
        if self._stopping:
            return 0
        return self.settings.max_parallel_steps - len(self._inflight)

    # -- claiming ------------------------------------------------------------------------------

    def _lease_until(self) -> Any:
        return self.clock.now() + timedelta(seconds=self.settings.lease_seconds)

    async def _dispatch_round(self, *, admit: bool) -> tuple[list[Claimed], datetime | None, bool]:
        """One dispatch transaction: wake due timers, admit runs, claim ready steps (pure
        ones execute inside it). Returns the claimed steps to run, the next timer when
        capacity is left, and whether the transaction changed anything."""
        cap = self.capacity
        next_timer = None
        async with self._transaction(self) as rt:
            await rt.wake_due()
            claimed = await rt.claim(self.id, cap, self._lease_until(), sweep=True, admit=admit)
            self._backlog = len(claimed) >= cap
            if len(claimed) < cap:
                next_timer = await rt.next_timer()
            changed = bool(rt.effects.runs_touched)
        return claimed, next_timer, changed

    async def _dispatch_loop(self) -> None:
        while not self._stopping:
            self._wake.clear()
            admit, self._need_admit = self._need_admit, False
            cap = self.capacity
            claimed, next_timer, _ = await self._dispatch_round(admit=admit)
            for c in claimed:
                self._spawn(c)
            if cap > 0 and len(claimed) >= cap:
                continue
            timeout = self.settings.poll_seconds_with(self.signals)
            if next_timer is not None:
                timeout = max(0.0, min(timeout, (next_timer - self.clock.now()).total_seconds()))
            try:
                async with asyncio.timeout(timeout):
                    await self._wake.wait()
            except TimeoutError:
                self._need_admit = True  # the safety-net sweep

    # -- driving by hand (tests, simulations) --------------------------------------------------

    async def tick(self) -> bool:
        """One dispatch round worked to its end in this task, without the loops: claim,
        execute every claimed step here (one after another), commit the outcomes and run
        what they make ready, until nothing more is claimed. True when anything changed.

        With a fake clock this makes a run's progress deterministic: timers, retries and
        leases move only when the clock does."""
        claimed, _, changed = await self._dispatch_round(admit=True)
        while claimed:
            changed = True
            batch = [(c, await self._outcome(c)) for c in claimed]
            claimed = await self._commit(batch)
        return changed

    async def maintain(self) -> int:
        """Renew this worker's leases, and re-queue the steps of workers whose leases lapsed
        (admitting runs that their ends freed a slot for); returns how many lapsed."""
        # The heartbeat is a short transaction of its own: nothing another transaction holds
        # (run rows, the admission lock) can delay it until the leases lapse.
        async with self.store.write() as tx:
            # Steps waiting to be handed back are still ours until they are.
            held = [*self._inflight, *self._handing_back]
            await tx.renew_leases(self.id, held, self._lease_until())
            await self.registration.heartbeat(
                tx, len(self._inflight), self.settings.max_parallel_steps
            )
        async with self._transaction(self) as rt:
            expired = await rt.expire_leases()
            await rt.admit()
        metrics.LEASES_EXPIRED.inc(expired)
        return expired

    def _spawn_all(self, claimed: list[Claimed]) -> None:
        for c in claimed:
            self._spawn(c)
        if self._backlog and self.capacity > 0:
            self.wake()

    def _spawn(self, claimed: Claimed) -> None:
        if self._stopping:  # claimed while the drain began: back to the queue, not run here
            self._handing_back.add(claimed.step.id)
            return
        task = asyncio.create_task(self._execute(claimed), name=f"step-{claimed.step.id}")
        self._inflight[claimed.step.id] = (task, claimed)
        step_run_id = claimed.step.id

        def _forget(_task: asyncio.Task[None]) -> None:
            self._inflight.pop(step_run_id, None)

        task.add_done_callback(_forget)

    # -- executing -----------------------------------------------------------------------------

    async def _outcome(self, c: Claimed) -> Outcome:
        """Execute one claimed step; a handler's crash fails the step, never the worker."""
        # Every record logged while this step runs (its own task) names it.
        bind_log_context(
            run_id=c.run.id, step_id=c.step.step_id, attempt=c.step.attempt, worker_id=self.id
        )
        bind_log_redactor(c.redactor.redact_text)
        with tracing.step_attempt(
            c.run.id, c.step.step_id, c.step.id, c.step.attempt, c.step.step_type
        ) as span:
            started = time.perf_counter()
            outcome: Outcome
            try:
                outcome = await execute_claimed(c, self.handlers, self.step_env)
            except asyncio.CancelledError:
                metrics.observe_step(c.step.step_type, None, time.perf_counter() - started)
                tracing.mark_outcome(span, "cancelled")
                raise
            except Exception as exc:
                log.exception("step %s of run %s crashed", c.step.step_id, c.run.id)
                outcome = StepFailed(f"{type(exc).__name__}: {exc}", retryable=True)
            metrics.observe_step(c.step.step_type, outcome, time.perf_counter() - started)
            failure = None
            if isinstance(outcome, StepFailed):
                failure = str(c.redactor.redact(outcome.message))
                log.warning("step failed: %s", failure)
            tracing.mark_outcome(span, metrics.outcome_label(outcome), failure)
        return outcome

    async def _execute(self, c: Claimed) -> None:
        try:
            outcome = await self._outcome(c)
        except asyncio.CancelledError:
            if self._stopping:
                self._handing_back.add(c.step.id)
            return
        finally:
            # Free the slot now: the done-callback runs later, and a commit on SQLite never
            # yields to the loop, so capacity computed during it would still count this step.
            self._inflight.pop(c.step.id, None)
        self._results.put_nowait((c, outcome))

    # -- committing ----------------------------------------------------------------------------

    async def _commit_loop(self) -> None:
        while True:
            first = await self._results.get()
            if first is None:
                return  # stop(): every result before this one is committed
            batch = [first]
            done = False
            while len(batch) < self.settings.commit_batch and not self._results.empty():
                item = self._results.get_nowait()
                if item is None:
                    done = True
                    break
                batch.append(item)
            self._spawn_all(await self._commit(batch))
            if done:
                return

    async def _flush_results(self) -> None:
        batch = []
        while not self._results.empty():
            item = self._results.get_nowait()
            if item is not None:
                batch.append(item)
        if batch:
            self._spawn_all(await self._commit(batch))

    async def _commit(self, batch: list[tuple[Claimed, Outcome]]) -> list[Claimed]:
        """Commit a batch of outcomes and claim what they made ready (pure steps execute
        inside the same transaction); returns the claimed steps to run."""
        known = {c.run.id: c.run for c, _ in batch}
        for attempt in range(5):
            try:
                async with self._transaction(self) as rt:
                    await rt.apply_results([(c.run, c.step, o) for c, o in batch], self.id)
                    cap = self.capacity
                    claimed = await rt.claim(
                        self.id, cap, self._lease_until(), sweep=False, known=known
                    )
                    if rt.effects.ready and cap <= len(claimed):
                        self._backlog = True
                return claimed
            except FlowdeckError as exc:
                if not exc.retryable:
                    raise
                log.warning("commit failed (%s); retrying", exc.detail)
                await asyncio.sleep(0.05 * 2**attempt)
        log.error(
            "dropping %d step results after repeated database errors; leases will "
            "expire and the steps will run again",
            len(batch),
        )
        return []

    # -- leases, timers, cancellations ----------------------------------------------------------

    async def _maintenance_loop(self) -> None:
        while True:  # also while draining: in-flight steps keep their leases
            await asyncio.sleep(self.settings.heartbeat_seconds)
            await self.maintain()

    async def _cancel_watch_loop(self) -> None:
        while True:  # also while draining
            # Other processes' cancellations arrive as signals; this query is the safety net.
            connected = self.signals is not None and self.signals.connected
            await asyncio.sleep(
                self.settings.poll_seconds if connected else self.settings.cancel_check_seconds
            )
            if not self._inflight:
                continue
            async with self.store.read() as tx:
                gone = await tx.not_running(list(self._inflight), self.id)
            for step_run_id in gone:
                entry = self._inflight.get(step_run_id)
                if entry is not None:
                    entry[0].cancel()

    async def _hand_back(self) -> None:
        """Return steps interrupted by shutdown to the queue for another worker."""
        if not self._handing_back:
            return
        ids = sorted(self._handing_back)
        now = self.clock.now()
        async with self.store.write() as tx:
            await tx.move_steps(
                ids,
                StepStatus.READY,
                now,
                only_from=[StepStatus.RUNNING],
                available_at=now,
                lease_owner=None,
                lease_expires_at=None,
            )
        self._handing_back.difference_update(ids)  # more may have come during the await
        if self.signals is not None:
            self.signals.publish(work=True)  # other workers: these are ready now
