"""Run admission: the global and per-workflow limits, first in first out, paused and waiting
runs, workspaces taking turns, one run per idempotency key.

Probe steps that take a second on the fake clock give every run distinct start and end
times, so "each run started after the one before it ended" says something."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from flowdeck.domain.records import Run
from flowdeck.engine.steps.base import StepContext
from tests.engine.defs import transform, wait
from tests.engine.harness import Engine, engine_on, probe

ONE_SECOND = {"takes_seconds": 1}


@pytest.fixture
async def one_at_a_time(database_url: str, tmp_path: Path) -> AsyncIterator[Engine]:
    """An engine that runs one run at a time (FLOWDECK_MAX_CONCURRENT_RUNS=1)."""
    async with engine_on(database_url, tmp_path / "data", max_concurrent_runs=1) as e:
        yield e


def assert_fifo(runs: list[Run]) -> None:
    """Runs (in creation order) started in that order, each after the one before ended."""
    for before, after in itertools.pairwise(runs):
        assert before.started_at <= after.started_at, (before, after)
        assert before.completed_at <= after.started_at, (before, after)


async def ended(engine: Engine, run_ids: list[str], **kw: Any) -> list[Run]:
    return [(await engine.run(r, **kw))[0] for r in run_ids]


async def test_global_limit_queues_runs_and_starts_them_in_order(one_at_a_time: Engine) -> None:
    engine = one_at_a_time
    wf = await engine.workflow({"name": "A", "steps": [probe("s", config=ONE_SECOND)]})
    seen: list[tuple[int, int]] = []  # (running, queued) as each step executes

    async def count(ctx: StepContext) -> None:
        page = await engine.services.runs.list_runs(
            engine.principal, wf, status=None, limit=50, offset=0
        )
        statuses = [r.status for r in page.items]
        seen.append((statuses.count("running"), statuses.count("queued")))

    engine.probe.on_execute = count
    run_ids = [await engine.start(wf) for _ in range(4)]
    await engine.run_until_idle()
    runs = await ended(engine, run_ids)
    assert [r.status for r in runs] == ["completed"] * 4
    assert seen == [(1, 3), (1, 2), (1, 1), (1, 0)]
    assert_fifo(runs)


async def test_workflow_concurrency_limits_only_that_workflow(engine: Engine) -> None:
    limited = await engine.workflow(
        {"name": "Limited", "concurrency": 1, "steps": [probe("s", config=ONE_SECOND)]}
    )
    free = await engine.workflow({"name": "Free", "steps": [transform("t", 1)]})
    run_ids = [await engine.start(limited) for _ in range(3)]
    # A worker takes the first run's step and hangs: that run holds the workflow's one slot.
    assert [s.run_id for s in await engine.stall(3)] == [run_ids[0]]

    other = await engine.start(free)
    await engine.run_until_idle()
    assert await engine.status(other) == "completed"  # the global limit still has room
    for queued in run_ids[1:]:
        assert await engine.status(queued) == "queued"

    await engine.services.runs.cancel(engine.principal, run_ids[0])
    await engine.run_until_idle()
    runs = await ended(engine, run_ids[1:])
    assert [r.status for r in runs] == ["completed", "completed"]
    assert_fifo(runs)


async def test_a_cancelled_queued_run_never_starts(one_at_a_time: Engine) -> None:
    engine = one_at_a_time
    wf = await engine.workflow({"name": "Q", "steps": [probe("s")]})
    blocker, queued, last = [await engine.start(wf) for _ in range(3)]
    assert [s.run_id for s in await engine.stall()] == [blocker]
    await engine.services.runs.cancel(engine.principal, queued)
    await engine.services.runs.cancel(engine.principal, blocker)
    await engine.run_until_idle()
    assert await engine.status(last) == "completed"
    cancelled, steps = await engine.run(queued)
    assert cancelled.status == "cancelled"
    assert cancelled.started_at is None and steps == {}
    assert [run_id for run_id, _, _ in engine.probe.executed] == [last]


async def test_many_queued_runs_start_in_creation_order(one_at_a_time: Engine) -> None:
    engine = one_at_a_time
    blocker_wf = await engine.workflow({"name": "Blocker", "steps": [probe("s")]})
    wf = await engine.workflow({"name": "Quick", "steps": [probe("t", config=ONE_SECOND)]})
    blocker = await engine.start(blocker_wf)
    await engine.stall()
    queued = [await engine.start(wf) for _ in range(30)]
    await engine.services.runs.cancel(engine.principal, blocker)
    await engine.run_until_idle()
    runs = await ended(engine, queued)
    assert [r.status for r in runs] == ["completed"] * len(runs)
    assert_fifo(runs)


async def test_a_paused_queued_run_waits_for_resume(one_at_a_time: Engine) -> None:
    engine = one_at_a_time
    blocker_wf = await engine.workflow({"name": "Blocker", "steps": [probe("s")]})
    wf = await engine.workflow({"name": "Later", "steps": [transform("t", 1)]})
    blocker = await engine.start(blocker_wf)
    await engine.stall()
    held, other = await engine.start(wf), await engine.start(wf)
    paused = await engine.services.runs.pause(engine.principal, held)
    assert paused.status == "paused"
    await engine.services.runs.cancel(engine.principal, blocker)
    await engine.run_until_idle()
    assert await engine.status(other) == "completed"
    assert await engine.status(held) == "paused"  # skipped, not started
    await engine.services.runs.resume(engine.principal, held, None)
    await engine.run_until_idle()
    run, _ = await engine.run(held)
    assert run.status == "completed", run
    assert [(s.step_id, s.attempt) for s in await engine.attempts(held)] == [("t", 1)]


async def test_a_run_woken_from_waiting_queues_for_a_slot(one_at_a_time: Engine) -> None:
    # A waiting run holds no slot; when its timer fires it must not overrun the limit.
    engine = one_at_a_time
    wf = await engine.workflow(
        {
            "name": "Nap then work",
            "steps": [wait("nap", 10), probe("s", "nap", config=ONE_SECOND)],
        }
    )
    running_at_once: list[int] = []

    async def count(ctx: StepContext) -> None:
        page = await engine.services.runs.list_runs(
            engine.principal, wf, status="running", limit=50, offset=0
        )
        running_at_once.append(page.total)

    engine.probe.on_execute = count
    run_ids = [await engine.start(wf) for _ in range(3)]
    await engine.run_until_idle()
    assert [r.status for r in await ended(engine, run_ids)] == ["waiting"] * 3
    engine.clock.advance(seconds=10)
    await engine.run_until_idle()
    assert [r.status for r in await ended(engine, run_ids)] == ["completed"] * 3
    assert running_at_once == [1, 1, 1]
    assert [len(await engine.attempts(r)) for r in run_ids] == [2, 2, 2]


async def test_concurrent_starts_with_one_idempotency_key_make_one_run(engine: Engine) -> None:
    wf = await engine.workflow({"name": "Race", "steps": [transform("t", 1)]})
    started = await asyncio.gather(
        *(
            engine.services.runs.start(engine.principal, wf, idempotency_key="same")
            for _ in range(8)
        )
    )
    assert len({run.id for run, _ in started}) == 1
    assert [new for _, new in started].count(True) == 1
    await engine.run_until_idle()
    page = await engine.services.runs.list_runs(
        engine.principal, wf, status=None, limit=50, offset=0
    )
    assert page.total == 1 and page.items[0].status == "completed"


async def test_one_workspace_backlog_does_not_hold_back_another(one_at_a_time: Engine) -> None:
    engine = one_at_a_time
    blocker_wf = await engine.workflow({"name": "Blocker", "steps": [probe("s")]})
    busy_wf = await engine.workflow({"name": "Busy", "steps": [probe("b", config=ONE_SECOND)]})
    other = await engine.workspace("other")
    quiet_wf = await engine.workflow(
        {"name": "Quiet", "steps": [probe("q", config=ONE_SECOND)]}, principal=other
    )
    blocker = await engine.start(blocker_wf)
    await engine.stall()
    # More than one admission batch of the busy workspace's runs, all queued first.
    backlog = [await engine.start(busy_wf) for _ in range(120)]
    quiet = await engine.start(quiet_wf, principal=other)
    await engine.services.runs.cancel(engine.principal, blocker)
    await engine.run_until_idle()
    quiet_run, _ = await engine.run(quiet, principal=other)
    assert quiet_run.status == "completed"
    assert [r.status for r in await ended(engine, backlog)] == ["completed"] * len(backlog)
    # The quiet workspace's run is admitted at the latest right after the busy one's oldest.
    order = [run_id for run_id, _, _ in engine.probe.executed]
    assert order.index(quiet) <= 1, order[:3]
    second, _ = await engine.run(backlog[1])
    assert quiet_run.started_at <= second.started_at
