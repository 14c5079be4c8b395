"""Loops: item order, concurrency, empty lists, fail-fast, retries, bodies that wait or run
child workflows."""

from __future__ import annotations

import asyncio
from typing import Any

from flowdeck.engine.steps.base import StepContext
from tests.engine.defs import loop, transform, wait
from tests.engine.harness import Engine
from tests.support.peer import HttpPeer, Reply

PROBE = {"type": "probe", "config": {}}


async def finished(engine: Engine, definition: dict[str, Any]) -> Any:
    """Run `definition` to its end; the run and its current steps (iterations included)."""
    run_id = await engine.start(await engine.workflow(definition))
    await engine.run_until_idle()
    return await engine.run(run_id)


async def test_loop_runs_up_to_concurrency_items_at_once_and_keeps_item_order(
    engine: Engine,
) -> None:
    running_at_once: list[int] = []

    async def count_running(ctx: StepContext) -> None:
        steps = await engine.attempts(ctx.run_id)
        running = [s for s in steps if s.parent_step_id == "each" and s.status == "running"]
        running_at_once.append(len(running))

    engine.probe.on_execute = count_running
    engine.probe.script("each[0]", "flaky")  # the first item ends last
    wf = await engine.workflow(
        {
            "name": "Loop",
            "inputs": [{"name": "n", "type": "integer"}],
            "steps": [
                transform("make", "{{ range(inputs.n) | list }}"),
                {
                    **loop("each", "steps.make.output", PROBE, "make", concurrency=3),
                    "retry": {"max_attempts": 2, "backoff_seconds": 5},
                },
                transform(
                    "sum", "{{ steps.each.output | map(attribute='attempt') | sum }}", "each"
                ),
            ],
            "outputs": [{"name": "items", "value": "{{ steps.each.output }}"}],
        }
    )
    run_id = await engine.start(wf, {"n": 6})
    await engine.run_until_idle()
    engine.clock.advance(seconds=5)
    await engine.run_until_idle()
    run, steps = await engine.run(run_id)
    assert run.status == "completed", run
    assert [o["step"] for o in run.output["items"]] == [f"each[{i}]" for i in range(6)]
    assert steps["sum"].output == 7  # five first attempts and item 0's second
    assert max(running_at_once) == 3 and len(running_at_once) == 7
    assert steps["each[0]"].completed_at > steps["each[5]"].completed_at
    iterations = sorted(
        (s for s in steps.values() if s.parent_step_id == "each"), key=lambda s: s.item_index
    )
    assert [s.step_id for s in iterations] == [f"each[{i}]" for i in range(6)]
    assert all(s.status == "completed" and s.step_type == "probe" for s in iterations)
    assert sorted(s for _, s, _ in engine.probe.executed) == sorted(
        [f"each[{i}]" for i in range(6)] + ["each[0]"]
    )


async def test_loop_over_a_literal_list_with_loop_index(engine: Engine) -> None:
    body = {"type": "transform", "config": {"value": "{{ loop.index }}:{{ loop.item }}"}}
    run, steps = await finished(
        engine, {"name": "Literal loop", "steps": [loop("each", ["a", "b", "c"], body)]}
    )
    assert run.status == "completed", run
    assert steps["each"].output == ["0:a", "1:b", "2:c"]


async def test_loop_over_an_empty_list_completes_with_no_iterations(engine: Engine) -> None:
    body = {"type": "transform", "config": {"value": "{{ loop.item }}"}}
    run, steps = await finished(
        engine,
        {
            "name": "Empty loop",
            "steps": [
                loop("each", "[]", body),
                transform("after", "{{ steps.each.output | length }}", "each"),
            ],
        },
    )
    assert run.status == "completed", run
    assert {sid: s.output for sid, s in steps.items()} == {"each": [], "after": 0}
    assert not [s for s in await engine.attempts(run.id) if s.parent_step_id]


ITEMS = [{"v": 1}, {"x": 2}, {"v": 3}, {"v": 4}]
BODY = {"type": "transform", "config": {"value": "{{ loop.item.v }}"}}


async def test_loop_fail_fast_stops_at_the_first_failed_iteration(engine: Engine) -> None:
    run, steps = await finished(
        engine,
        {
            "name": "Fail fast",
            "steps": [loop("each", ITEMS, BODY, fail_fast=True), transform("after", 1, "each")],
        },
    )
    assert run.status == "failed", run
    assert {sid: s.status for sid, s in steps.items()} == {
        "each": "failed",
        "each[0]": "completed",
        "each[1]": "failed",
        "each[2]": "cancelled",
        "each[3]": "cancelled",
        "after": "skipped",
    }
    error = steps["each"].error
    assert error.startswith("Iteration 1 failed: Template error") and "no attribute 'v'" in error
    assert run.error.startswith("Step 'each' failed")


async def test_loop_without_fail_fast_runs_every_iteration(engine: Engine) -> None:
    run, steps = await finished(
        engine, {"name": "No fail fast", "steps": [loop("each", ITEMS, BODY, fail_fast=False)]}
    )
    assert run.status == "failed", run
    assert [steps[f"each[{i}]"].status for i in range(4)] == [
        "completed",
        "failed",
        "completed",
        "completed",
    ]
    assert steps["each"].error == "1 of 4 iterations failed"
    assert steps["each"].output == [1, None, 3, 4]


async def test_loop_iterations_retry_with_the_loop_policy(engine: Engine) -> None:
    engine.probe.script("each[1]", "flaky")
    wf = await engine.workflow(
        {
            "name": "Loop retry",
            "steps": [
                {
                    **loop("each", [0, 1], PROBE),
                    "retry": {"max_attempts": 2, "backoff_seconds": 5},
                }
            ],
        }
    )
    run_id = await engine.start(wf)
    await engine.run_until_idle()
    engine.clock.advance(seconds=5)
    await engine.run_until_idle()
    run, steps = await engine.run(run_id)
    assert run.status == "completed", run
    assert steps["each"].output == [
        {"step": "each[0]", "attempt": 1},
        {"step": "each[1]", "attempt": 2},
    ]
    tries = await engine.attempts(run_id, "each[1]")
    assert [(s.attempt, s.status) for s in tries] == [(1, "failed"), (2, "completed")]
    assert [s.attempt for s in await engine.attempts(run_id, "each")] == [1]


async def test_a_loop_of_child_workflows(engine: Engine) -> None:
    child = await engine.workflow(
        {
            "name": "Square",
            "inputs": [{"name": "x", "type": "integer", "required": True}],
            "steps": [transform("sq", "{{ inputs.x * inputs.x }}")],
            "outputs": [{"name": "sq", "value": "{{ steps.sq.output }}"}],
        }
    )
    body = {
        "type": "workflow",
        "config": {"workflow_id": child, "input_data": {"x": "{{ loop.item }}"}},
    }
    run, steps = await finished(
        engine, {"name": "Squares", "steps": [loop("each", [1, 2, 3], body)]}
    )
    assert run.status == "completed", run
    assert steps["each"].output == [{"sq": 1}, {"sq": 4}, {"sq": 9}]
    children = await engine.child_runs(child)
    assert len(children) == 3
    assert {r.parent_run_id for r in children} == {run.id}


async def test_a_loop_of_waits(engine: Engine) -> None:
    body = {"type": "wait", "config": {"seconds": 5}}
    wf = await engine.workflow(
        {
            "name": "Naps",
            "steps": [
                loop("each", [1, 2, 3], body),
                transform("after", "{{ steps.each.output | length }}", "each"),
            ],
        }
    )
    run_id = await engine.start(wf)
    await engine.run_until_idle()
    for _ in range(3):  # one item at a time: each waits its own five seconds
        assert await engine.status(run_id) == "waiting"
        engine.clock.advance(seconds=5)
        await engine.run_until_idle()
    run, steps = await engine.run(run_id)
    assert run.status == "completed", run
    assert steps["after"].output == 3


async def test_fail_fast_interrupts_running_iterations(engine: Engine, peer: HttpPeer) -> None:
    # Real tasks (a live worker): the slow sibling must be interrupted while its request is in
    # flight. Nothing waits for time to pass; the run ends as soon as the sibling fails.
    peer.replies["/item/0"] = Reply(body="slow", delay=30)
    peer.replies["/item/1"] = Reply(status=400)
    body = {
        "type": "http_request",
        "config": {"url": peer.url("/item/{{ loop.item }}"), "expect_status": [200]},
    }
    wf = await engine.workflow(
        {"name": "Fail fast, parallel", "steps": [loop("each", [0, 1], body, concurrency=2)]}
    )
    async with engine.live():
        run_id = await engine.start(wf)
        run = await engine.until(run_id)
        assert run.status == "failed", run
        # The slow sibling does not outlive the loop: its request is aborted.
        await asyncio.wait_for(peer.disconnected.wait(), 20)
    _, steps = await engine.run(run_id)
    assert {sid: s.status for sid, s in steps.items()} == {
        "each": "failed",
        "each[0]": "cancelled",
        "each[1]": "failed",
    }


async def test_fail_fast_cancels_the_child_runs_of_waiting_iterations(engine: Engine) -> None:
    child = await engine.workflow(
        {
            "name": "Nap or fail",
            "inputs": [{"name": "x", "type": "integer", "required": True}],
            "steps": [
                wait("nap", 3600, when="inputs.x == 0"),
                transform("boom", "{{ [1][5] }}", when="inputs.x == 1"),
            ],
        }
    )
    body = {
        "type": "workflow",
        "config": {"workflow_id": child, "input_data": {"x": "{{ loop.item }}"}},
    }
    run, steps = await finished(
        engine,
        {"name": "Parallel children", "steps": [loop("each", [0, 1], body, concurrency=2)]},
    )
    assert run.status == "failed", run
    assert {sid: s.status for sid, s in steps.items()} == {
        "each": "failed",
        "each[0]": "cancelled",
        "each[1]": "failed",
    }
    by_input = {r.input_data["x"]: r for r in await engine.child_runs(child)}
    assert by_input[1].status == "failed"
    assert by_input[0].status == "cancelled"
