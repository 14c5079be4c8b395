"""Steering runs: cancel, pause, resume (from a step, on a newer version), approvals, leases."""

from __future__ import annotations

import pytest

from flowdeck.errors import Conflict
from tests.engine.harness import Engine, probe


async def test_resume_from_a_step_reruns_it_and_its_descendants_only(engine: Engine) -> None:
    wf = await engine.workflow(
        {"name": "Chain", "steps": [probe("a"), probe("b", "a"), probe("c", "b")]}
    )
    engine.probe.script("c", "fail")
    run_id = await engine.start(wf)
    await engine.run_until_idle()
    assert await engine.status(run_id) == "failed"
    await engine.services.runs.resume(engine.principal, run_id, "b")
    await engine.run_until_idle()
    run, steps = await engine.run(run_id)
    assert run.status == "completed"
    assert {sid: s.attempt for sid, s in steps.items()} == {"a": 1, "b": 2, "c": 2}
    assert [s for _, s, _ in engine.probe.executed] == ["a", "b", "c", "b", "c"]


async def test_resume_on_the_latest_version_runs_the_fixed_definition(engine: Engine) -> None:
    wf = await engine.workflow({"name": "Fixable", "steps": [probe("a"), probe("b", "a")]})
    engine.probe.script("b", "fail")
    run_id = await engine.start(wf)
    await engine.run_until_idle()
    # The fix: `b` is replaced by a transform, and a step `c` is added after it.
    fixed = {
        "name": "Fixable",
        "steps": [
            probe("a"),
            {"id": "b", "type": "transform", "config": {"value": "fixed"}, "depends_on": ["a"]},
            probe("c", "b"),
        ],
    }
    await engine.services.workflows.update(engine.principal, wf, {"definition": fixed})
    run = await engine.services.runs.resume(engine.principal, run_id, None, "latest")
    assert run.workflow_version == 2
    await engine.run_until_idle()
    run, steps = await engine.run(run_id)
    assert run.status == "completed"
    assert steps["b"].output == "fixed"
    assert steps["c"].status == "completed"
    assert steps["a"].attempt == 1  # upstream kept its output


async def test_cancel_stops_the_run_and_its_unfinished_steps(engine: Engine) -> None:
    wf = await engine.workflow(
        {
            "name": "Nap",
            "steps": [
                {"id": "nap", "type": "wait", "config": {"seconds": 60}},
                probe("after", "nap"),
            ],
        }
    )
    run_id = await engine.start(wf)
    await engine.run_until_idle()
    await engine.services.runs.cancel(engine.principal, run_id)
    run, steps = await engine.run(run_id)
    assert run.status == "cancelled"
    assert {s.status for s in steps.values()} == {"cancelled"}
    with pytest.raises(Conflict):
        await engine.services.runs.cancel(engine.principal, run_id)
    engine.clock.advance(seconds=120)
    await engine.run_until_idle()
    assert await engine.status(run_id) == "cancelled"


async def test_a_paused_queued_run_is_not_admitted_until_resumed(engine: Engine) -> None:
    wf = await engine.workflow({"name": "One", "steps": [probe("a")]})
    run_id = await engine.start(wf)
    await engine.services.runs.pause(engine.principal, run_id)
    await engine.run_until_idle()
    run, steps = await engine.run(run_id)
    assert run.status == "paused" and run.started_at is None and steps == {}
    await engine.services.runs.resume(engine.principal, run_id, None)
    await engine.run_until_idle()
    assert await engine.status(run_id) == "completed"


async def test_an_approval_decides_the_step_once(engine: Engine) -> None:
    wf = await engine.workflow(
        {
            "name": "Gate",
            "steps": [{"id": "ok", "type": "approval", "config": {}}, probe("go", "ok")],
        }
    )
    run_id = await engine.start(wf)
    await engine.run_until_idle()
    assert await engine.status(run_id) == "waiting"
    approvals = engine.services.approvals
    await approvals.decide(engine.principal, run_id, "ok", approve=True, comment="fine")
    with pytest.raises(Conflict):
        await approvals.decide(engine.principal, run_id, "ok", approve=False)
    await engine.run_until_idle()
    run, steps = await engine.run(run_id)
    assert run.status == "completed"
    assert steps["ok"].output["approved"] is True
    assert "step_approved" in await engine.events(run_id)


async def test_a_lapsed_lease_runs_the_step_again_and_never_a_completed_one(
    engine: Engine,
) -> None:
    wf = await engine.workflow({"name": "Two", "steps": [probe("a"), probe("b", "a")]})
    run_id = await engine.start(wf)
    # A worker that claims `a` and then dies without a word.
    ghost = engine.services.runtime.new_worker()
    async with engine.services.runtime.transaction(ghost) as rt:
        claimed = await rt.claim(ghost.id, 10, engine.clock.now(), sweep=True, admit=True)
    assert [c.step.step_id for c in claimed] == ["a"]
    worker = engine.services.runtime.new_worker()
    engine.clock.advance(seconds=1)
    assert await worker.maintain() == 1  # the ghost's lease (until "now") lapsed
    await worker.tick()
    run, _ = await engine.run(run_id)
    assert run.status == "completed"
    attempts = sorted((a.step_id, a.attempt, a.status) for a in await engine.attempts(run_id))
    assert attempts == [("a", 1, "failed"), ("a", 2, "completed"), ("b", 1, "completed")]
    assert [(s, n) for _, s, n in engine.probe.executed] == [("a", 2), ("b", 1)]


async def test_mutual_recursion_stops_at_the_depth_limit(engine: Engine) -> None:
    ping = await engine.workflow({"name": "Ping", "steps": [probe("p")]})
    pong = await engine.workflow(
        {
            "name": "Pong",
            "steps": [{"id": "back", "type": "workflow", "config": {"workflow_id": ping}}],
        }
    )
    await engine.services.workflows.update(
        engine.principal,
        ping,
        {
            "definition": {
                "name": "Ping",
                "steps": [{"id": "over", "type": "workflow", "config": {"workflow_id": pong}}],
            }
        },
    )
    run_id = await engine.start(ping)
    await engine.run_until_idle()
    run, _ = await engine.run(run_id)
    assert run.status == "failed"
    assert run.error is not None and "nest at most 10 deep" in run.error
