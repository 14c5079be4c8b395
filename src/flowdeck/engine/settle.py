"""Working out what step ends cause, inside a transaction: the run's counters, dependents
made ready or skipped, the event log, and the run's end."""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, cast

from flowdeck.domain.clock import Clock
from flowdeck.domain.nesting import DEFAULT_MAX_RUN_DEPTH
from flowdeck.domain.records import Run, StepRun
from flowdeck.domain.states import decide
from flowdeck.domain.templating import TemplateError, referenced_steps_in
from flowdeck.engine import nesting
from flowdeck.engine.compiled import CompiledWorkflow
from flowdeck.engine.definitions import DefinitionCache
from flowdeck.engine.effects import Effects
from flowdeck.engine.fairness import Turns
from flowdeck.engine.ports import EngineTx
from flowdeck.engine.rendering import TemplateRenderer
from flowdeck.engine.secrets import SecretCache

if TYPE_CHECKING:
    from flowdeck.engine.flow import StepFlow

log = logging.getLogger("flowdeck.engine")


@dataclass(frozen=True)
class _Ended:
    """A top-level step that ended, waiting for its consequences to be worked out."""

    run: Run
    cw: CompiledWorkflow
    step_id: str
    status: str
    output: Any
    cost: float
    error: str | None
    was_waiting: bool


def duration(run: Run) -> float | None:
    """Seconds from start to end of a finished run."""
    if run.started_at is None or run.completed_at is None:
        return None
    return round((run.completed_at - run.started_at).total_seconds(), 3)


class RunSettlement:
    """The run-level half of the step flow: events, step ends and their consequences.

    Only ever the base of `StepFlow`: loops and child runs (nesting) need the whole flow.
    """

    @property
    def _flow(self) -> StepFlow:
        return cast("StepFlow", self)

    def __init__(
        self,
        clock: Clock,
        definitions: DefinitionCache,
        secrets: SecretCache,
        templates: TemplateRenderer | None = None,
        *,
        max_run_depth: int = DEFAULT_MAX_RUN_DEPTH,
    ) -> None:
        self.clock = clock
        self.definitions = definitions
        self.secrets = secrets
        self.max_run_depth = max_run_depth
        self.turns = Turns()
        self.templates = templates or TemplateRenderer()

    async def compiled(self, tx: EngineTx, run: Run) -> CompiledWorkflow:
        """The run's compiled definition."""
        return await self.definitions.get(tx, run.workflow_id, run.workflow_version)

    async def event(self, tx: EngineTx, fx: Effects, run: Run, kind: str, **data: Any) -> None:
        """Append one event to the run's log (secrets masked)."""
        redactor = await self.secrets.get(tx, run.workspace_id)
        data = redactor.redact({"run_id": run.id, **data, "timestamp": _iso(self.clock)})
        fx.runs_touched.add(run.id)
        if fx.batch:
            fx.events.setdefault(run.id, []).append((kind, data))
        else:
            await tx.append_events(run.id, [(kind, data)], self.clock.now())

    async def flush_events(self, tx: EngineTx, fx: Effects) -> None:
        """Write buffered events: one sequence bump and one insert per run, or per batch."""
        events, fx.events = fx.events, {}
        await tx.append_event_batches(events, self.clock.now())

    # -- dependents and the run's end ----------------------------------------------------------

    async def terminal(
        self,
        tx: EngineTx,
        fx: Effects,
        run: Run,
        cw: CompiledWorkflow,
        step: StepRun,
        status: str,
        output: Any,
        cost: float = 0.0,
        *,
        error: str | None = None,
        was_waiting: bool = False,
    ) -> None:
        """A step ended: count it, decide its dependents, and end the run when all ended.

        In batch mode the consequences are worked out at `settle`, once per run for every
        step that ended in the transaction; otherwise at once.
        """
        if step.parent_step_id is not None:
            if cost:
                await tx.add_to_run_counters(run.id, cost=cost)
            await nesting.child_terminal(self._flow, tx, fx, run, cw, step, status, error)
            return
        fx.ended.append(_Ended(run, cw, step.step_id, status, output, cost, error, was_waiting))
        if not fx.batch:
            await self.settle(tx, fx)

    async def settle(self, tx: EngineTx, fx: Effects, *, flush: bool = True) -> None:
        """Work out every collected step end (and what those cause), then write events."""
        while fx.ended:
            ended: list[_Ended] = fx.ended
            fx.ended = []
            by_run: dict[str, list[_Ended]] = {}
            for item in ended:
                by_run.setdefault(item.run.id, []).append(item)
            # Every writer locks run rows in id order, so two commits cannot deadlock on them.
            for run_id in sorted(by_run):
                await self._settle_run(tx, fx, by_run[run_id])
        if flush:
            await self.flush_events(tx, fx)
            if fx.finished:
                # Last, and in key order: rollup rows are shared by every run of a workflow.
                finished, fx.finished = fx.finished, []
                await tx.roll_up_runs(sorted(finished))

    async def _settle_run(self, tx: EngineTx, fx: Effects, items: list[_Ended]) -> None:
        run, cw = items[0].run, items[0].cw
        now = self.clock.now()
        remaining, _ = await tx.add_to_run_counters(
            run.id,
            remaining=-len(items),
            failed=sum(1 for i in items if i.status == "failed"),
            cost=sum(i.cost for i in items),
        )
        for item in items:
            if item.status != "failed":
                continue
            await tx.set_run_error_once(run.id, f"Step '{item.step_id}' failed: {item.error}")
            if cw.definition.on_failure == "pause" and await tx.set_run_status(
                run.id, "paused", ("running", "waiting")
            ):
                await self.event(tx, fx, run, "run_paused", reason=f"step '{item.step_id}' failed")
        # Count the ends on each dependent: one UPDATE per distinct set of increments.
        counts: dict[str, list[int]] = {}
        forced: dict[str, str] = {}
        for item in items:
            if (
                item.status == "completed"
                and cw.steps[item.step_id].type == "condition"
                and isinstance(item.output, dict)
            ):
                for dep in cw.branch_skips(item.step_id, str(item.output.get("branch"))):
                    forced[dep] = f"branch not taken by '{item.step_id}'"
            for dep in cw.dependents.get(item.step_id, []):
                c = counts.setdefault(dep, [0, 0, 0, 0])
                c[0] += 1
                c[1] += item.status == "completed"
                c[2] += item.status in ("failed", "cancelled")
                c[3] += item.status == "skipped"
        groups: dict[tuple[int, ...], list[str]] = {}
        for dep, c in counts.items():
            groups.setdefault(tuple(c), []).append(dep)
        ready: list[str] = []
        skips: dict[str, list[tuple[str, str]]] = {}
        for (n, done, failed, skipped), deps in groups.items():
            for u in await tx.update_dependents(
                run.id, deps, ended=n, completed=done, failed=failed, skipped=skipped
            ):
                if u.step_id in forced:
                    skips.setdefault(forced[u.step_id], []).append((u.id, u.step_id))
                    continue
                verdict = decide(
                    cw.steps[u.step_id].trigger_rule,
                    deps_remaining=u.deps_remaining,
                    n_completed=u.n_completed,
                    n_failed=u.n_failed,
                    n_skipped=u.n_skipped,
                )
                if verdict == "ready":
                    ready.append(u.id)
                elif verdict == "skip":
                    skips.setdefault("upstream did not succeed", []).append((u.id, u.step_id))
        moved: list[str] = []
        if ready:
            moved = await tx.set_steps_status(ready, "ready", ("pending",), now, available_at=now)
            if moved:
                fx.ready = True
                fx.ready_ids.extend(moved)
                if any(i.was_waiting for i in items):
                    await self.requeue_waiting(tx, fx, run.id)
        for reason, found in skips.items():
            names = dict(found)
            for sid in await tx.set_steps_status(
                list(names), "skipped", ("pending",), now, output={"reason": reason}
            ):
                await self.event(tx, fx, run, "step_skipped", step_id=names[sid], reason=reason)
                fx.ended.append(_Ended(run, cw, names[sid], "skipped", None, 0.0, None, False))
        if remaining <= 0:
            await self.finalize(tx, fx, run.id)
        elif not moved and not skips:
            await self.maybe_waiting(tx, fx, run.id)

    async def requeue_waiting(self, tx: EngineTx, fx: Effects, run_id: str) -> None:
        """A `waiting` run has steps to execute again: it queues for a slot like any run.

        A waiting run holds no slot of the run limits, so it must not simply go back to
        `running`; admission puts it there when the limits allow (it is first in line).
        """
        if await tx.set_run_status(run_id, "queued", ("waiting",)):
            fx.admit = True
            fx.runs_touched.add(run_id)

    async def maybe_waiting(self, tx: EngineTx, fx: Effects, run_id: str) -> None:
        """A running run with nothing ready or running, but something waiting, is `waiting`."""
        if await tx.run_has_steps_in(run_id, ("ready", "running")):
            return
        if await tx.run_has_steps_in(run_id, ("waiting",)):
            await tx.set_run_status(run_id, "waiting", ("running",))

    async def finalize(self, tx: EngineTx, fx: Effects, run_id: str) -> None:
        """Every step ended: complete or fail the run, render outputs, free its slot."""
        run = await tx.get_run(run_id)
        if run is None or run.status not in ("running", "waiting"):
            return
        cw = await self.compiled(tx, run)
        now = self.clock.now()
        output: Any = None
        error = run.error
        status = "failed" if run.steps_failed else "completed"
        if status == "completed" and cw.definition.outputs:
            outputs = await tx.step_outputs(run.id, None)
            redactor = await self.secrets.get(tx, run.workspace_id)
            ctx = {
                "inputs": run.input_data,
                "steps": {sid: {"output": out} for sid, out in outputs.items()},
                "run": {"id": run.id, "workflow_id": run.workflow_id, "trigger": run.trigger},
                "secrets": redactor.secrets,
            }
            values: dict[str, Any] = {}
            for o in cw.definition.outputs:
                try:
                    values[o.name] = await self.templates.render(o.value, ctx)
                except TemplateError as exc:
                    if referenced_steps_in(o.value) - set(outputs):
                        # It reads a step that did not complete (an untaken branch): null.
                        values[o.name] = None
                        continue
                    status = "failed"
                    error = f"Could not compute output '{o.name}': {exc}"
                    break
            output = redactor.redact(values) if status == "completed" else None
        if not await tx.set_run_status(
            run.id, status, ("running", "waiting"), completed_at=now, output=output, error=error
        ):
            return
        if fx.batch:
            fx.finished.append(run.id)
        else:
            await tx.roll_up_run(run.id)
        fx.admit = True
        done = replace(run, status=status, completed_at=now, started_at=run.started_at)
        log.info(
            "run %s %s",
            run.id,
            status,
            extra={
                "run_id": run.id,
                "workflow_id": run.workflow_id,
                "status": status,
                "duration_seconds": duration(done),
            },
        )
        if status == "completed":
            await self.event(
                tx,
                fx,
                run,
                "run_completed",
                status=status,
                duration_seconds=duration(done),
                output=output,
            )
        else:
            await self.event(
                tx,
                fx,
                run,
                "run_failed",
                status=status,
                duration_seconds=duration(done),
                error=error,
            )
        await nesting.notify_parent(self._flow, tx, fx, done, output, error)


def log_ids(run: Run, step: StepRun) -> dict[str, Any]:
    return {"run_id": run.id, "step_id": step.step_id, "attempt": step.attempt}


def _iso(clock: Clock) -> str:
    return clock.now().isoformat(timespec="milliseconds").replace("+00:00", "Z")


def iso_or_none(value: Any) -> str | None:
    return value.isoformat(timespec="milliseconds").replace("+00:00", "Z") if value else None
