"""Steps that wait holding no worker: timers across a restart, and child runs of `workflow`
steps (outputs, failures, cancellation both ways, nesting depth)."""

from __future__ import annotations

from pathlib import Path

from tests.engine.defs import calls, failing, transform, wait
from tests.engine.harness import Engine, engine_on


async def test_a_waiting_step_holds_no_worker(database_url: str, tmp_path: Path) -> None:
    # One step at a time on a live worker: a long wait must not take the only slot.
    async with engine_on(database_url, tmp_path / "data", max_parallel_steps=1) as engine:
        long_wf = await engine.workflow({"name": "Long", "steps": [wait("nap", 3600)]})
        short_wf = await engine.workflow({"name": "Short", "steps": [transform("t", 1)]})
        async with engine.live():
            long_run = await engine.start(long_wf)
            await engine.until(long_run, "waiting")
            short = await engine.until(await engine.start(short_wf))
            assert short.status == "completed", short
            assert await engine.status(long_run) == "waiting"
            cancelled = await engine.services.runs.cancel(engine.principal, long_run)
        assert cancelled.status == "cancelled"


async def test_a_wait_survives_a_restart(database_url: str, tmp_path: Path) -> None:
    definition = {
        "name": "Restart",
        "steps": [wait("nap", 30), transform("after", "{{ steps.nap.output }}", "nap")],
    }
    async with engine_on(database_url, tmp_path / "data") as first:
        run_id = await first.start(await first.workflow(definition))
        await first.run_until_idle()
        assert await first.status(run_id) == "waiting"
    # That engine is gone; another one on the same database finishes the run.
    async with engine_on(database_url, tmp_path / "data") as second:
        second.clock.advance(seconds=45)
        await second.run_until_idle()
        run, steps = await second.run(run_id)
        tries = await second.attempts(run_id, "nap")
    assert run.status == "completed", run
    assert [s.attempt for s in tries] == [1]
    assert steps["after"].output["waited_seconds"] == 45.0


async def test_workflow_step_runs_a_linked_child_and_takes_its_outputs(engine: Engine) -> None:
    child = await engine.workflow(
        {
            "name": "Child",
            "inputs": [{"name": "x", "type": "number", "required": True}],
            "steps": [transform("double", "{{ inputs.x * 2 }}")],
            "outputs": [{"name": "doubled", "value": "{{ steps.double.output }}"}],
        }
    )
    parent = await engine.workflow(
        {
            "name": "Parent",
            "steps": [
                calls("call", child, input_data={"x": 21}),
                transform("use", "{{ steps.call.output.doubled + 1 }}", "call"),
            ],
        }
    )
    run_id = await engine.start(parent)
    await engine.run_until_idle()
    run, steps = await engine.run(run_id)
    assert run.status == "completed", run
    assert {sid: s.output for sid, s in steps.items()} == {"call": {"doubled": 42}, "use": 43}
    [child_run] = await engine.child_runs(child)
    assert child_run.parent_run_id == run_id
    assert child_run.trigger == "workflow"
    assert child_run.status == "completed"
    assert child_run.output == {"doubled": 42}


async def test_a_failed_child_run_fails_the_workflow_step(engine: Engine) -> None:
    child = await engine.workflow({"name": "Bad child", "steps": [failing("boom")]})
    parent = await engine.workflow(
        {"name": "Parent of bad", "steps": [calls("call", child), transform("after", 1, "call")]}
    )
    run_id = await engine.start(parent)
    await engine.run_until_idle()
    run, steps = await engine.run(run_id)
    assert run.status == "failed", run
    assert {sid: s.status for sid, s in steps.items()} == {"call": "failed", "after": "skipped"}
    [child_run] = await engine.child_runs(child)
    assert child_run.status == "failed"
    error = steps["call"].error
    assert child_run.id in error and "failed" in error
    assert run.error.startswith("Step 'call' failed")


async def test_child_with_invalid_inputs_fails_the_step(engine: Engine) -> None:
    child = await engine.workflow(
        {
            "name": "Needs x",
            "inputs": [{"name": "x", "type": "integer", "required": True}],
            "steps": [transform("t", "{{ inputs.x }}")],
        }
    )
    run_id = await engine.start(
        await engine.workflow({"name": "Forgets x", "steps": [calls("call", child)]})
    )
    await engine.run_until_idle()
    run, steps = await engine.run(run_id)
    assert run.status == "failed", run
    error = steps["call"].error
    assert error.startswith("Child workflow inputs are invalid") and "x" in error
    assert await engine.child_runs(child) == []


async def test_cancelling_a_child_run_fails_its_parent_step(engine: Engine) -> None:
    child = await engine.workflow({"name": "Napping child", "steps": [wait("nap", 3600)]})
    parent = await engine.workflow(
        {
            "name": "Waiting parent",
            "steps": [
                calls("call", child),
                transform("after", 1, "call"),
                transform("cleanup", 1, "call", trigger_rule="all_done"),
            ],
        }
    )
    run_id = await engine.start(parent)
    await engine.run_until_idle()
    [child_run] = await engine.child_runs(child)
    assert child_run.status == "waiting"
    assert await engine.status(run_id) == "waiting"
    await engine.services.runs.cancel(engine.principal, child_run.id)
    await engine.run_until_idle()
    run, steps = await engine.run(run_id)
    assert run.status == "failed", run
    assert {sid: s.status for sid, s in steps.items()} == {
        "call": "failed",
        "after": "skipped",
        "cleanup": "completed",
    }
    assert child_run.id in steps["call"].error


async def test_cancelling_a_parent_cancels_its_child_run(engine: Engine) -> None:
    child = await engine.workflow({"name": "Slow child", "steps": [wait("nap", 3600)]})
    parent = await engine.workflow({"name": "Parent", "steps": [calls("call", child)]})
    run_id = await engine.start(parent)
    await engine.run_until_idle()
    assert await engine.status(run_id) == "waiting"
    [child_run] = await engine.child_runs(child)
    assert child_run.status == "waiting"
    await engine.services.runs.cancel(engine.principal, run_id)
    await engine.run_until_idle()
    assert await engine.status(child_run.id) == "cancelled"
    assert await engine.status(run_id) == "cancelled"


async def test_nesting_stops_at_the_configured_depth(database_url: str, tmp_path: Path) -> None:
    async with engine_on(database_url, tmp_path / "data", max_run_depth=3) as engine:
        ping = await engine.workflow({"name": "Ping", "steps": [transform("t", 1)]})
        pong = await engine.workflow({"name": "Pong", "steps": [calls("back", ping)]})
        await engine.services.workflows.update(
            engine.principal,
            ping,
            {"definition": {"name": "Ping", "steps": [calls("over", pong)]}},
        )
        top = await engine.start(ping)
        await engine.run_until_idle()
        runs = [*await engine.child_runs(ping), *await engine.child_runs(pong)]
    assert next(r for r in runs if r.id == top).status == "failed"
    # The top run plus three nested ones; the fourth child was never created.
    assert len(runs) == 4, runs
    assert {r.status for r in runs} == {"failed"}
    deepest = next(r for r in runs if r.error and "nest at most 3 deep" in r.error)
    assert "this run is already 3 deep" in deepest.error
