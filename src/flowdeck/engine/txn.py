"""What the parts of one run transaction share: the store transaction, the clock, the caches,
the effects to publish, the events to write, and the queue of work left to do."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flowdeck.domain.clock import Clock, isoformat
from flowdeck.domain.records import Run
from flowdeck.engine.compiled import CompiledWorkflow
from flowdeck.engine.definitions import DefinitionCache
from flowdeck.engine.effects import Effects, RunEnd, StepEnd
from flowdeck.engine.ports import EngineTx
from flowdeck.engine.redaction import Redactor
from flowdeck.engine.rendering import TemplateRenderer
from flowdeck.engine.secrets import SecretCache
from flowdeck.engine.work import Item, StepEnded


@dataclass(frozen=True)
class Limits:
    """Engine-wide limits the commands apply."""

    max_running_runs: int = 10
    max_run_depth: int = 10
    admit_batch: int = 64


class Txn:
    """One run transaction's shared state; every part of the engine works on it."""

    def __init__(
        self,
        tx: EngineTx,
        clock: Clock,
        definitions: DefinitionCache,
        secrets: SecretCache,
        limits: Limits,
        templates: TemplateRenderer,
    ) -> None:
        self.tx = tx
        self.clock = clock
        self.definitions = definitions
        self.secrets = secrets
        self.limits = limits
        self.templates = templates
        self.fx = Effects()
        self.queue: deque[Item] = deque()
        # Top-level step ends, settled per run once the queue is empty (batched).
        self.ended: list[StepEnded] = []
        # Steps this transaction made ready (step run id → its run and step type), which its
        # worker claims first.
        self.fresh: dict[str, tuple[Run, str]] = {}
        # Steps became ready some other way (a retry, a resumed run): other workers may look.
        self.ready_elsewhere = False
        # Outputs of the steps completed in this transaction (run id, step id): what a step made
        # ready here reads, without a query.
        self.outputs: dict[tuple[str, str], Any] = {}
        self._events: dict[str, list[tuple[str, dict[str, Any]]]] = {}
        self._finished: set[str] = set()

    def now(self) -> datetime:
        """The transaction's clock."""
        return self.clock.now()

    def push(self, item: Item) -> None:
        """Queue work that follows from what was just written."""
        if isinstance(item, StepEnded):
            self.ended.append(item)
        else:
            self.queue.append(item)

    def made_ready(self, run: Run, steps: Iterable[tuple[str, str]]) -> None:
        """These (step run id, step type) of `run` became ready: this transaction's worker
        may take them."""
        for step_run_id, step_type in steps:
            self.fresh[step_run_id] = (run, step_type)

    def ready_later(self) -> None:
        """Steps became ready that no claim in this transaction will take (a retry's)."""
        self.ready_elsewhere = True

    async def compiled(self, run: Run) -> CompiledWorkflow:
        """The run's compiled definition."""
        return await self.definitions.get(self.tx, run.workflow_id, run.workflow_version)

    async def redactor(self, workspace_id: str) -> Redactor:
        """The workspace's secrets, to mask and to give templates."""
        return await self.secrets.get(self.tx, workspace_id)

    async def event(self, run: Run, kind: str, **data: Any) -> None:
        """Append one event to the run's log (secrets masked), written when the work is done."""
        redactor = await self.redactor(run.workspace_id)
        data = redactor.redact({"run_id": run.id, **data, "timestamp": isoformat(self.now())})
        self.fx.runs_touched.add(run.id)
        self._events.setdefault(run.id, []).append((kind, data))

    def step_ended(self, step_type: str, status: str, started_at: datetime | None) -> None:
        """A step run reached an end: counted once the transaction commits."""
        seconds = None
        if started_at is not None:
            seconds = max(0.0, (self.now() - started_at).total_seconds())
        self.fx.ended_steps.append(StepEnd(step_type, str(status), seconds))

    def run_ended(self, run: Run, status: str) -> None:
        """A run reached an end: counted and traced once the transaction commits."""
        end = RunEnd(run.id, run.workflow_id, str(status), run.started_at, self.now())
        self.fx.ended_runs.append(end)

    def finished(self, run_id: str) -> None:
        """A run ended: add it to the rollups when the work is done."""
        self._finished.add(run_id)
        self.fx.admit = True

    async def flush(self) -> None:
        """Write the buffered events (one sequence bump and one insert per run or per batch),
        then the rollups: last, and in key order, because rollup rows are shared by every run
        of a workflow and two commits must take them in the same order."""
        events, self._events = self._events, {}
        if events:
            await self.tx.append_event_batches(events, self.now())
        if self._finished:
            finished, self._finished = sorted(self._finished), set()
            await self.tx.roll_up_runs(finished)
