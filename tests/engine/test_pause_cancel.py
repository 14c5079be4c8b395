"""Cancel and pause: what stops, what finishes, what a later resume picks up."""

from __future__ import annotations

import asyncio

import pytest

from flowdeck.errors import Conflict
from tests.engine.defs import transform, wait
from tests.engine.harness import Engine, probe
from tests.unit.step_helpers import processes_with, unique_sleep_seconds, wait_until_no_process_with


async def test_cancel_kills_a_running_script(engine: Engine) -> None:
    # A live worker: the script must be running in a task when the cancel lands. The script
    # runs sandboxed (no network, its own PID namespace), so the test finds its process by a
    # marker in the command line.
    marker = unique_sleep_seconds()
    wf = await engine.workflow(
        {
            "name": "Sleeper",
            "steps": [
                {
                    "id": "sleep",
                    "type": "script",
                    "config": {"language": "bash", "code": f"sleep {marker}"},
                },
                transform("after", 1, "sleep"),
            ],
        }
    )
    async with engine.live():
        run_id = await engine.start(wf)
        for _ in range(400):  # a real process: it appears in real time
            if await asyncio.to_thread(processes_with, marker):
                break
            await asyncio.sleep(0.05)
        cancelled = await engine.services.runs.cancel(engine.principal, run_id)
        assert cancelled.status == "cancelled"
        assert await wait_until_no_process_with(marker, seconds=20) == []
    run, steps = await engine.run(run_id)
    assert run.status == "cancelled"
    assert {sid: s.status for sid, s in steps.items()} == {
        "sleep": "cancelled",
        "after": "cancelled",
    }
    assert run.completed_at is not None
    with pytest.raises(Conflict):  # only an active run can be cancelled
        await engine.services.runs.cancel(engine.principal, run_id)


async def test_cancel_a_queued_run_before_it_is_admitted(engine: Engine) -> None:
    run_id = await engine.start(await engine.workflow({"name": "One", "steps": [probe("a")]}))
    await engine.services.runs.cancel(engine.principal, run_id)
    await engine.run_until_idle()
    run, steps = await engine.run(run_id)
    assert run.status == "cancelled"
    assert run.started_at is None and steps == {}
    assert engine.probe.executed == []


async def test_pause_lets_the_running_step_finish_and_dispatches_nothing_new(
    engine: Engine,
) -> None:
    gate = engine.probe.gate("first")
    wf = await engine.workflow(
        {
            "name": "Pausable",
            "steps": [
                probe("first"),
                transform("second", "{{ steps.first.output.attempt + 1 }}", "first"),
                transform("third", "{{ steps.second.output + 1 }}", "second"),
            ],
        }
    )
    run_id = await engine.start(wf)
    ticking = asyncio.create_task(engine.worker.tick())  # runs `first` up to the gate
    await asyncio.wait_for(gate.entered.wait(), 20)
    paused = await engine.services.runs.pause(engine.principal, run_id)
    assert paused.status == "paused"
    _, steps = await engine.run(run_id)
    assert steps["first"].status == "running"
    gate.release()
    await ticking
    await engine.run_until_idle()  # every chance for a wrongly dispatched step to show up
    run, steps = await engine.run(run_id)
    assert run.status == "paused", run
    assert {sid: s.status for sid, s in steps.items()} == {
        "first": "completed",
        "second": "ready",
        "third": "pending",
    }
    assert steps["second"].started_at is None

    resumed = await engine.services.runs.resume(engine.principal, run_id, None)
    assert resumed.status in ("queued", "running")
    await engine.run_until_idle()
    run, steps = await engine.run(run_id)
    assert run.status == "completed", run
    assert steps["second"].output == 2 and steps["third"].output == 3
    assert [s.attempt for s in await engine.attempts(run_id)] == [1, 1, 1]


async def test_pause_holds_a_wait_past_its_deadline(engine: Engine) -> None:
    wf = await engine.workflow(
        {"name": "Pause wait", "steps": [wait("nap", 30), transform("after", 1, "nap")]}
    )
    run_id = await engine.start(wf)
    await engine.run_until_idle()
    assert await engine.status(run_id) == "waiting"
    await engine.services.runs.pause(engine.principal, run_id)
    # The timer fires while paused: the step becomes ready, but nothing runs it.
    engine.clock.advance(seconds=30)
    await engine.run_until_idle()
    run, steps = await engine.run(run_id)
    assert run.status == "paused"
    assert {sid: s.status for sid, s in steps.items()} == {"nap": "ready", "after": "pending"}
    await engine.services.runs.resume(engine.principal, run_id, None)
    await engine.run_until_idle()
    assert await engine.status(run_id) == "completed"
    assert [s.attempt for s in await engine.attempts(run_id, "nap")] == [1]


async def test_on_failure_pause_pauses_the_run_for_resume(engine: Engine) -> None:
    engine.probe.script("fetch", "fail", "ok")
    wf = await engine.workflow(
        {
            "name": "Pause on failure",
            "on_failure": "pause",
            "steps": [
                probe("fetch"),
                transform("after", "{{ steps.fetch.output.attempt }}", "fetch"),
            ],
        }
    )
    run_id = await engine.start(wf)
    await engine.run_until_idle()
    run, steps = await engine.run(run_id)
    assert run.status == "paused", run
    assert steps["fetch"].status == "failed"
    await engine.services.runs.resume(engine.principal, run_id, None)
    await engine.run_until_idle()
    run, steps = await engine.run(run_id)
    assert run.status == "completed", run
    assert steps["after"].output == 2
    assert run.error is None


async def test_resuming_a_paused_waiting_run_goes_back_to_waiting(engine: Engine) -> None:
    run_id = await engine.start(
        await engine.workflow({"name": "Pause nap", "steps": [wait("nap", 3600)]})
    )
    await engine.run_until_idle()
    paused = await engine.services.runs.pause(engine.principal, run_id)
    assert paused.status == "paused"
    await engine.services.runs.resume(engine.principal, run_id, None)
    await engine.run_until_idle()
    assert await engine.status(run_id) == "waiting"  # nothing executes: it holds no run slot
    tries = await engine.attempts(run_id, "nap")
    assert [(s.attempt, s.status) for s in tries] == [(1, "waiting")]
    await engine.services.runs.cancel(engine.principal, run_id)
    assert await engine.events(run_id) == [
        "run_started",
        "step_started",
        "step_waiting",
        "run_paused",
        "run_resumed",
        "run_cancelled",
    ]
