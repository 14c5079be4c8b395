"""Random commands against the real engine; after each, the rows must still add up.

Commands: start runs of several shapes, let the worker run (steps completing, failing for
good or retryably), move the clock, run the lease sweeper, let a worker claim steps and die,
cancel, pause, resume (from a step or the last checkpoint), approve or reject. Invariants:
the run's counters match its step rows, no attempt is executed twice, and a step completes
more than once only when the run was resumed. At the end, with approvals given and the clock
moved far enough, every run ends in a terminal state.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    initialize,
    invariant,
    rule,
    run_state_machine_as_test,
)

from flowdeck.domain.states import RUN_TERMINAL, STEP_ACTIVE, RunStatus, StepStatus
from flowdeck.errors import Conflict, InvalidInput, NotFound
from flowdeck.store.dialect import is_sqlite
from tests.conftest import reset_postgres
from tests.engine.harness import Engine, engine_on, probe

RETRY = {"max_attempts": 2, "backoff_seconds": 5}
SHAPES: dict[str, dict[str, Any]] = {
    "chain": {"steps": [probe("a", retry=RETRY), probe("b", "a"), probe("c", "b")]},
    "diamond": {
        "steps": [
            probe("a"),
            probe("b", "a"),
            probe("c", "a", retry=RETRY),
            probe("d", "b", "c", trigger_rule="none_failed"),
            probe("z", "d", trigger_rule="all_done"),
        ]
    },
    "gate": {
        "steps": [
            {"id": "ok", "type": "approval", "config": {"timeout_seconds": 600}},
            probe("go", "ok"),
        ]
    },
    "nap": {
        "on_failure": "pause",
        "steps": [{"id": "nap", "type": "wait", "config": {"seconds": 30}}, probe("p", "nap")],
    },
    "loop": {
        "steps": [
            {
                "id": "each",
                "type": "loop",
                "config": {
                    "items": "{{ [1, 2, 3] }}",
                    "concurrency": 2,
                    "step": {"type": "probe", "config": {}},
                },
            },
            probe("after", "each", trigger_rule="all_done"),
        ]
    },
    "branch": {
        "steps": [
            {
                "id": "pick",
                "type": "condition",
                "config": {
                    "expression": "run.id[-1] in '02468acegikmoqsuwy'",
                    "then": ["x"],
                    "else": ["y"],
                },
            },
            probe("x", "pick"),
            probe("y", "pick"),
            {
                "id": "sum",
                "type": "transform",
                "config": {"value": "done"},
                "depends_on": ["x", "y"],
                "trigger_rule": "none_failed",
            },
        ]
    },
    "child": {
        "steps": [
            {"id": "sub", "type": "workflow", "config": {"workflow_id": "chain"}},
            probe("after", "sub"),
        ]
    },
}
VERDICTS = st.sampled_from(["ok", "ok", "ok", "fail", "flaky"])


class EngineMachine(RuleBasedStateMachine):
    """One fresh database per example; the engine driven on its own event loop."""

    # An empty database: copied for each example on SQLite, emptied for each on PostgreSQL.
    database = ""
    scratch = Path()

    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        url = self._fresh_database()
        self._engine_cm = engine_on(url, self.scratch / uuid.uuid4().hex)
        self.engine: Engine = self._run(self._engine_cm.__aenter__())
        self.workflows: dict[str, str] = {}
        self.resumes: Counter[str] = Counter()

    def _fresh_database(self) -> str:
        if is_sqlite(self.database):
            path = self.scratch / f"{uuid.uuid4().hex}.db"
            shutil.copy(self.database.removeprefix("sqlite:///"), path)
            return f"sqlite:///{path}"
        reset_postgres(self.database)
        return self.database

    def _run(self, coro: Any) -> Any:
        return self.loop.run_until_complete(coro)

    runs = Bundle("runs")

    @initialize()
    def create_workflows(self) -> None:
        for name, shape in SHAPES.items():
            definition = {"name": name, **shape}
            self.workflows[name] = self._run(self.engine.workflow(definition, slug=name))

    @rule(target=runs, shape=st.sampled_from(sorted(SHAPES)))
    def start(self, shape: str) -> str:
        return str(self._run(self.engine.start(self.workflows[shape])))

    @rule(verdicts=st.lists(VERDICTS, max_size=6))
    def work(self, verdicts: list[str]) -> None:
        self.engine.probe.anyone.extend(verdicts)
        self._run(self.engine.run_until_idle())
        self.engine.probe.anyone.clear()

    @rule(seconds=st.sampled_from([1, 6, 31, 601]))
    def advance_clock(self, seconds: int) -> None:
        self.engine.clock.advance(seconds=seconds)

    @rule()
    def sweep_leases(self) -> None:
        self._run(self.engine.worker.maintain())

    @rule(n=st.integers(1, 3))
    def a_worker_claims_and_dies(self, n: int) -> None:
        runtime = self.engine.services.runtime
        ghost = runtime.new_worker()

        async def claim() -> None:
            async with runtime.transaction(ghost) as rt:
                await rt.claim(ghost.id, n, self.engine.clock.now(), sweep=True, admit=True)

        self._run(claim())
        runtime.worker = self.engine.worker

    @rule(run=runs)
    def cancel(self, run: str) -> None:
        self._ignore_refusal(self.engine.services.runs.cancel(self.engine.principal, run))

    @rule(run=runs)
    def pause(self, run: str) -> None:
        self._ignore_refusal(self.engine.services.runs.pause(self.engine.principal, run))

    @rule(run=runs, from_step=st.sampled_from([None, "a", "b", "p", "x"]))
    def resume(self, run: str, from_step: str | None) -> None:
        resumed = self.engine.services.runs.resume(self.engine.principal, run, from_step)
        if self._ignore_refusal(resumed):
            self.resumes[run] += 1

    @rule(run=runs, approve=st.booleans())
    def decide(self, run: str, approve: bool) -> None:
        approvals = self.engine.services.approvals
        decided = approvals.decide(self.engine.principal, run, "ok", approve=approve)
        self._ignore_refusal(decided)

    def _ignore_refusal(self, coro: Any) -> bool:
        try:
            self._run(coro)
        except (Conflict, InvalidInput, NotFound):  # not possible in the run's state
            return False
        return True

    @invariant()
    def counters_match_rows(self) -> None:
        for run_id in self.engine.runs:
            run, current = self._run(self.engine.run(run_id))
            if run.status == RunStatus.CANCELLED:
                continue
            top = [s for s in current.values() if s.parent_step_id is None]
            active = sum(1 for s in top if s.status in STEP_ACTIVE)
            failed = sum(1 for s in top if s.status == StepStatus.FAILED)
            assert (run.steps_remaining, run.steps_failed) == (active, failed), (run, top)

    @invariant()
    def no_attempt_runs_twice_and_completions_need_a_resume(self) -> None:
        executed = self.engine.probe.executed
        assert len(executed) == len(set(executed)), executed
        for run_id in self.engine.runs:
            attempts = self._run(self.engine.attempts(run_id))
            completed = Counter(a.step_id for a in attempts if a.status == StepStatus.COMPLETED)
            for step_id, n in completed.items():
                assert n <= 1 + self.resumes[run_id], (run_id, step_id, n)

    def teardown(self) -> None:
        try:
            self._run(self._finish_everything())
        finally:
            self._run(self._engine_cm.__aexit__(None, None, None))
            self.loop.close()

    async def _finish_everything(self) -> None:
        e = self.engine
        for _ in range(30):
            for run_id in e.runs:
                run, current = await e.run(run_id)
                if run.status == RunStatus.PAUSED:
                    # A step still running (a dead worker's) refuses it: the sweep frees it.
                    with contextlib.suppress(Conflict):
                        await e.services.runs.resume(e.principal, run_id, None)
                if "ok" in current and current["ok"].status == StepStatus.WAITING:
                    # Past its timeout the approval refuses a decision: its timer decides it.
                    with contextlib.suppress(Conflict):
                        await e.services.approvals.decide(e.principal, run_id, "ok", approve=True)
            e.clock.advance(seconds=700)
            await e.worker.maintain()
            await e.run_until_idle()
            statuses = {await e.status(run_id) for run_id in e.runs}
            if statuses <= RUN_TERMINAL:
                return
        raise AssertionError(f"runs did not end: {statuses}")


# Its length follows the hypothesis profile: with CI's, on PostgreSQL, about a minute on a busy
# machine, past the suite's per-test hang guard.
@pytest.mark.timeout(300)
def test_every_run_ends_and_the_rows_always_add_up(database_url: str, tmp_path: Path) -> None:
    # The test's own database (not the session's template): on PostgreSQL the fixture empties
    # it afterwards, so the last example's rows do not leak into the next test.
    EngineMachine.database = database_url
    EngineMachine.scratch = tmp_path
    # An example here costs what a hundred of the other property tests' do (a fresh engine and
    # up to `stateful_step_count` steps): CI's profile tries 30 of them, not its usual 60.
    examples = min(settings.default.max_examples, 30)
    run_state_machine_as_test(
        EngineMachine, settings=settings(deadline=None, max_examples=examples)
    )
