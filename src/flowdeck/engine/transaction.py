"""The run transaction: the engine's one way to change runs.

`async with runtime.transaction() as rt:` opens a store transaction and yields a
`RunTransaction` with named commands (`create_run`, `admit`, `claim`, `apply`, `cancel`,
`pause`, `resume`, `decide_approval`, …). A command writes what it must and queues what
follows from it (`work.py`); before it returns, the queue is worked off: steps' dependents,
runs' ends, parents of nested work. Leaving the block writes the events and rollups, commits,
and publishes what others must hear (wake-ups, SSE, cancellations).

In a worker's transaction (`runtime.transaction(worker)`), `claim` also executes pure steps
(transform, condition, a loop's items) right there, in the transaction that made them ready:
a chain of pure steps costs one commit, not two per step.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Generic

from flowdeck.domain.records import Run, StepRun
from flowdeck.domain.states import StepStatus
from flowdeck.domain.step_configs import step_facts
from flowdeck.domain.templating import SliceSpent
from flowdeck.engine import (
    admission,
    control,
    finish,
    metrics,
    nesting,
    outcomes,
    settle,
    tracing,
)
from flowdeck.engine.compiled import CompiledWorkflow
from flowdeck.engine.effects import Effects
from flowdeck.engine.execution import Claimed, execute_claimed, guard_outcome, prepare_claims
from flowdeck.engine.fairness import Turns
from flowdeck.engine.ports import TxT
from flowdeck.engine.runstate import requeue_waiting
from flowdeck.engine.steps.base import StepEnvironment, StepFailed, StepHandler
from flowdeck.engine.txn import Txn
from flowdeck.engine.work import (
    ApplyOutcome,
    CancelRun,
    ChildRunEnded,
    Item,
    IterationEnded,
    Outcome,
    RunDone,
)

S = StepStatus


@dataclass
class InlineBudget:
    """How much more pure-step work one transaction may do before it must commit: steps, and
    a deadline (perf_counter), so the write lock is never held long."""

    steps: int
    deadline: float

    def spent(self) -> bool:
        """No more inline work in this transaction."""
        return self.steps <= 0 or time.perf_counter() >= self.deadline


@dataclass(frozen=True)
class Executor:
    """What executing steps inside a worker's transaction needs."""

    handlers: Mapping[str, StepHandler]
    env: StepEnvironment
    # Per transaction; what is left over is claimed and run as tasks.
    max_inline_steps: int = 1000
    max_inline_seconds: float = 0.02

    def in_transaction(self) -> StepEnvironment:
        """The step environment for executing inside a transaction (templates never wait
        for a thread there)."""
        return replace(self.env, templates=self.env.templates.in_transaction())

    def budget(self) -> InlineBudget:
        """A fresh budget for one transaction."""
        return InlineBudget(self.max_inline_steps, time.perf_counter() + self.max_inline_seconds)


class RunTransaction(Generic[TxT]):
    """Named commands on runs, inside one store transaction (see the module docstring)."""

    def __init__(self, tx: TxT, t: Txn, turns: Turns, executor: Executor | None = None) -> None:
        self._tx = tx
        self._t = t
        self._turns = turns
        self._executor = executor
        self._inline_env = executor.in_transaction() if executor is not None else None

    # -- what callers may read --------------------------------------------------------------

    @property
    def tx(self) -> TxT:
        """The store transaction, for reads (and the caller's own writes)."""
        return self._tx

    def now(self) -> datetime:
        """The engine clock's now."""
        return self._t.now()

    async def definition(self, workflow_id: str, version: int) -> CompiledWorkflow:
        """A workflow version, compiled (cached)."""
        return await self._t.definitions.get(self._t.tx, workflow_id, version)

    async def next_timer(self) -> datetime | None:
        """The earliest future moment a waiting or backing-off step becomes due."""
        return await self._t.tx.next_timer(self._t.now())

    # -- commands -----------------------------------------------------------------------------

    async def create_run(
        self,
        *,
        workspace_id: str,
        workflow_id: str,
        version: int,
        input_data: dict[str, Any],
        trigger: str,
        created_by: str | None = None,
        idempotency_key: str | None = None,
    ) -> Run:
        """A queued run; a worker admits it when a slot is free."""
        return await admission.create_run(
            self._t,
            workspace_id=workspace_id,
            workflow_id=workflow_id,
            version=version,
            input_data=input_data,
            trigger=trigger,
            created_by=created_by,
            idempotency_key=idempotency_key,
        )

    async def admit(self) -> list[str]:
        """Start queued runs within the limits (fair across workspaces)."""
        started = await admission.admit(self._t, self._turns)
        await self._work()
        return started

    async def apply(
        self,
        run: Run,
        step: StepRun,
        outcome: Outcome,
        *,
        only_from: tuple[StepStatus, ...] = (S.RUNNING,),
        worker_id: str | None = None,
    ) -> None:
        """Commit one attempt's outcome (nothing, if the step is no longer in `only_from`)."""
        await outcomes.apply(self._t, ApplyOutcome(run, step, outcome, only_from, worker_id))
        await self._work()

    async def apply_results(
        self, results: Sequence[tuple[Run, StepRun, Outcome]], worker_id: str
    ) -> None:
        """Commit a worker's batch of outcomes for steps it ran."""
        await outcomes.apply_results(self._t, results, worker_id)
        await self._work()

    async def wake_due(self) -> None:
        """Waiting steps whose timer is due become ready (their runs queue for a slot)."""
        for _, run_id in await self._t.tx.wake_due_steps(self._t.now()):
            await requeue_waiting(self._t, run_id)
            self._t.fx.runs_touched.add(run_id)
        await self._work()

    async def expire_leases(self) -> int:
        """Steps whose worker stopped renewing its lease run again (at least once)."""
        expired = await self._t.tx.expired_leases(self._t.now())
        for step in expired:
            run = await self._t.tx.get_run(step.run_id)
            if run is not None:
                await outcomes.expire_lease(self._t, run, step)
        await self._work()
        return len(expired)

    async def cancel(self, run: Run, reason: str) -> None:
        """Cancel an active run with its steps and child runs (Conflict when it ended)."""
        await control.cancel(self._t, run, reason)
        await self._work()

    async def pause(self, run: Run) -> None:
        """Stop dispatching the run's steps (Conflict when it is not active)."""
        await control.pause(self._t, run)
        await self._work()

    async def resume(
        self, run: Run, from_step: str | None = None, version: int | None = None
    ) -> None:
        """Run a failed, cancelled or paused run again, on its version or on `version`."""
        await control.resume(self._t, run, from_step, version)
        await self._work()
        await self.admit()

    async def decide_approval(
        self,
        run: Run,
        step: StepRun,
        outcome: Outcome,
        *,
        approved: bool,
        by: str,
        comment: str | None,
    ) -> bool:
        """Decide a waiting approval step; False when it is no longer waiting (decided by
        someone else meanwhile)."""
        locked = await self._t.tx.lock_step(step.id, S.WAITING)
        if locked is None:
            return False
        kind = "step_approved" if approved else "step_rejected"
        await self._t.event(run, kind, step_id=step.step_id, by=by, comment=comment)
        await self.apply(run, locked, outcome, only_from=(S.WAITING,))
        return True

    async def event(self, run: Run, kind: str, **data: Any) -> None:
        """Append an event to the run's log."""
        await self._t.event(run, kind, **data)

    async def claim(
        self,
        worker_id: str,
        capacity: int,
        lease_until: datetime,
        *,
        sweep: bool,
        admit: bool | None = None,
        known: Mapping[str, Run] | None = None,
    ) -> list[Claimed]:
        """Admit runs (when `admit`, or by default when this transaction freed or queued
        some), then lease the steps this transaction made ready, and with `sweep` any other
        ready steps, up to `capacity`. Pure steps execute here at once, within the inline
        budget (so the transaction stays short); the rest are returned for the worker to run."""
        t = self._t
        if admit or (admit is None and t.fx.admit):
            await self.admit()
        spawn: list[Claimed] = []
        runs = dict(known or {})
        budget = self._executor.budget() if self._executor else InlineBudget(0, 0.0)
        await self._claim_fresh(worker_id, capacity, lease_until, runs, spawn, budget)
        if sweep and capacity > len(spawn):
            now = t.now()
            steps = await t.tx.claim_ready_steps(worker_id, capacity - len(spawn), now, lease_until)
            await self._execute_pure(await prepare_claims(t, steps, runs), worker_id, spawn, budget)
            await self._claim_fresh(worker_id, capacity, lease_until, runs, spawn, budget)
        return spawn

    async def _claim_fresh(
        self,
        worker_id: str,
        capacity: int,
        lease_until: datetime,
        runs: dict[str, Run],
        spawn: list[Claimed],
        budget: InlineBudget,
    ) -> None:
        """Lease the steps this transaction made ready: pure ones while the inline budget
        lasts (they execute here and may make more ready), the others up to `capacity`."""
        t = self._t
        while t.fresh:
            fresh, t.fresh = t.fresh, {}
            inline = not budget.spent()
            pure = [i for i, (_, kind) in fresh.items() if inline and self._inline(kind)]
            other = [i for i in fresh if i not in set(pure)]
            take = pure[: budget.steps] + other[: max(capacity - len(spawn), 0)]
            if len(take) < len(fresh):
                t.ready_later()  # left in the queue for the next claim, here or elsewhere
            if not take:
                return
            runs.update((run.id, run) for run, _ in fresh.values())
            steps = await t.tx.claim_steps(take, worker_id, t.now(), lease_until)
            claimed = await prepare_claims(t, steps, runs)
            await self._execute_pure(claimed, worker_id, spawn, budget)

    def _inline(self, step_type: str) -> bool:
        return self._executor is not None and step_facts(step_type).pure

    async def _execute_pure(
        self, claimed: list[Claimed], worker_id: str, spawn: list[Claimed], budget: InlineBudget
    ) -> None:
        """Execute the pure claimed steps here while the budget lasts (queueing their
        outcomes); add the others to `spawn`."""
        results: list[tuple[Run, StepRun, Outcome]] = []
        for c in claimed:
            env = self._inline_env
            if env is None or self._executor is None or budget.spent():
                spawn.append(c)
                continue
            started = time.perf_counter()
            outcome = await self._execute_inline(c, env, budget)
            if outcome is None:
                spawn.append(c)
                continue
            metrics.observe_step(c.step.step_type, outcome, time.perf_counter() - started)
            results.append((c.run, c.step, outcome))
            budget.steps -= 1
        if results:  # committed like a worker's batch: the completions in one statement
            await outcomes.apply_results(self._t, results, worker_id, claimed_here=True)
            await self._work()

    async def _execute_inline(
        self, c: Claimed, env: StepEnvironment, budget: InlineBudget
    ) -> Outcome | None:
        """One pure step (or a step's `when` guard) here; None hands it to the worker."""
        assert self._executor is not None
        step = c.step
        with tracing.step_attempt(
            c.run.id, step.step_id, step.id, step.attempt, step.step_type
        ) as span:
            try:
                outcome: Outcome | None
                if self._inline(step.step_type):
                    outcome = await execute_claimed(c, self._executor.handlers, env)
                else:  # only its `when` guard: a false one skips the step here
                    outcome = await guard_outcome(c, env)
            except SliceSpent:  # a long template: the worker runs this one as a task
                budget.deadline = 0.0  # and whatever else is left, too
                tracing.mark_outcome(span, "handed_to_worker")
                return None
            if outcome is not None:
                failure = outcome.message if isinstance(outcome, StepFailed) else None
                tracing.mark_outcome(span, metrics.outcome_label(outcome), failure)
            return outcome

    async def _dispatch(self, item: Item) -> None:
        t = self._t
        if isinstance(item, ApplyOutcome):
            await outcomes.apply(t, item)
        elif isinstance(item, IterationEnded):
            await nesting.iteration_ended(t, item)
        elif isinstance(item, RunDone):
            await finish.finalize(t, item.run_id)
        elif isinstance(item, ChildRunEnded):
            await nesting.child_run_ended(t, item)
        elif isinstance(item, CancelRun):
            await control.cancel_queued(t, item)

    async def _work(self) -> None:
        """Work the queue off: items in order, step ends batched per run when it runs dry."""
        t = self._t
        while t.queue or t.ended:
            while t.queue:
                await self._dispatch(t.queue.popleft())
            if t.ended:
                await settle.settle(t)

    async def finish(self) -> None:
        """Work off what is left, say what is ready for others, write events and rollups."""
        await self._work()
        t = self._t
        t.fx.ready = t.ready_elsewhere or bool(t.fresh)
        await t.flush()

    @property
    def effects(self) -> Effects:
        """What to publish once committed."""
        return self._t.fx
