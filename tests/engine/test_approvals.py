"""Approval steps: the run waits holding no worker; approve, reject, timeouts on the clock,
decisions that come too late."""

from __future__ import annotations

from typing import Any

import pytest

from flowdeck.errors import Conflict
from tests.engine.defs import transform
from tests.engine.harness import Engine


def gate(name: str = "Gated release", **config: Any) -> dict[str, Any]:
    return {
        "name": name,
        "inputs": [{"name": "version", "type": "string", "default": "1.2"}],
        "steps": [
            transform("build", "built {{ inputs.version }}"),
            {
                "id": "review",
                "type": "approval",
                "config": {"message": "Ship {{ inputs.version }}?", **config},
                "depends_on": ["build"],
            },
            transform("ship", "shipped", "review"),
            transform("notify", "done", "ship"),
        ],
        "outputs": [{"name": "result", "value": "{{ steps.ship.output }}"}],
    }


async def waiting_run(engine: Engine, name: str = "Gated release", **config: Any) -> str:
    run_id = await engine.start(await engine.workflow(gate(name, **config)))
    await engine.run_until_idle()
    assert await engine.status(run_id) == "waiting"
    return run_id


async def decide(engine: Engine, run_id: str, approve: bool, comment: str | None = None) -> Any:
    return await engine.services.approvals.decide(
        engine.principal, run_id, "review", approve=approve, comment=comment
    )


async def test_approve_lets_the_run_finish(engine: Engine) -> None:
    run_id = await waiting_run(engine)
    _, steps = await engine.run(run_id)
    assert steps["review"].status == "waiting" and steps["review"].output is None
    decision = await decide(engine, run_id, True, "looks good")
    assert decision.approved is True and decision.by == "test"
    await engine.run_until_idle()
    run, steps = await engine.run(run_id)
    assert run.status == "completed"
    assert run.output == {"result": "shipped"}
    assert steps["review"].output == {
        "approved": True,
        "by": "test",
        "comment": "looks good",
        "decided_at": decision.decided_at,
    }

    events = await engine.event_log(run_id)
    kinds = [e.type for e in events]
    waiting = next(e for e in events if e.type == "step_waiting")
    assert waiting.data["step_id"] == "review" and waiting.data["reason"] == "approval"
    assert waiting.data["message"] == "Ship 1.2?"
    assert kinds.index("step_waiting") < kinds.index("step_approved") < kinds.index("run_completed")
    approved = next(e for e in events if e.type == "step_approved")
    assert approved.data["by"] == "test" and approved.data["comment"] == "looks good"
    done = next(e for e in events if e.type == "step_completed" and e.data["step_id"] == "review")
    assert done.data["output"]["approved"] is True

    with pytest.raises(Conflict) as again:
        await decide(engine, run_id, True)
    assert again.value.detail == f"Step 'review' of run '{run_id}' was already decided (approved)"
    with pytest.raises(Conflict):
        await decide(engine, run_id, False)


async def test_reject_fails_the_step_and_skips_dependents(engine: Engine) -> None:
    run_id = await waiting_run(engine)
    decision = await decide(engine, run_id, False, "not today")
    assert decision.approved is False
    await engine.run_until_idle()
    run, steps = await engine.run(run_id)
    assert run.status == "failed"
    assert {sid: s.status for sid, s in steps.items()} == {
        "build": "completed",
        "review": "failed",
        "ship": "skipped",
        "notify": "skipped",
    }
    assert steps["review"].error == "Rejected by test: not today"
    assert steps["review"].output["approved"] is False and steps["review"].output["by"] == "test"
    assert run.error == "Step 'review' failed: Rejected by test: not today"
    assert "step_rejected" in await engine.events(run_id)
    for approve in (True, False):
        with pytest.raises(Conflict) as again:
            await decide(engine, run_id, approve)
        assert again.value.detail.endswith("was already decided (rejected)")


async def test_timeout_applies_on_timeout(engine: Engine) -> None:
    approving = await waiting_run(engine, timeout_seconds=60, on_timeout="approve")
    rejecting = await waiting_run(engine, "Rejects on timeout", timeout_seconds=60)
    engine.clock.advance(seconds=59)
    await engine.run_until_idle()
    assert {await engine.status(approving), await engine.status(rejecting)} == {"waiting"}
    engine.clock.advance(seconds=1)
    await engine.run_until_idle()

    run, steps = await engine.run(approving)
    assert run.status == "completed"
    output = steps["review"].output
    assert output["approved"] is True and output["by"] == "timeout" and output["timed_out"]

    run, steps = await engine.run(rejecting)
    assert run.status == "failed"
    assert steps["review"].error == (
        "Approval timed out after 60s without a decision; rejected (on_timeout: reject)"
    )
    assert steps["ship"].status == "skipped"
    with pytest.raises(Conflict):
        await decide(engine, rejecting, True)


async def test_a_decision_after_the_timeout_is_refused_before_the_timer_runs(
    engine: Engine,
) -> None:
    run_id = await waiting_run(engine, timeout_seconds=60)
    engine.clock.advance(seconds=60)  # due, but no worker has looked yet
    with pytest.raises(Conflict) as late:
        await decide(engine, run_id, True)
    assert "timed out" in late.value.detail and "on_timeout rule (reject)" in late.value.detail
    await engine.run_until_idle()
    assert await engine.status(run_id) == "failed"


async def test_cancelled_run_cannot_be_decided(engine: Engine) -> None:
    run_id = await waiting_run(engine)
    await engine.services.runs.cancel(engine.principal, run_id)
    with pytest.raises(Conflict) as refused:
        await decide(engine, run_id, True)
    assert refused.value.detail == (
        f"Step 'review' of run '{run_id}' is not waiting for a decision (it is cancelled)"
    )
