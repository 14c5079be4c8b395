"""Step flow through the real run transaction and worker: chains, joins, branches, retries."""

from __future__ import annotations

from datetime import timedelta

from tests.engine.defs import transform
from tests.engine.harness import Engine, probe


async def test_a_chain_runs_in_order_and_completes(engine: Engine) -> None:
    wf = await engine.workflow(
        {"name": "Chain", "steps": [probe("a"), probe("b", "a"), probe("c", "b")]}
    )
    run_id = await engine.start(wf)
    await engine.run_until_idle()
    run, steps = await engine.run(run_id)
    assert run.status == "completed"
    assert [s for _, s, _ in engine.probe.executed] == ["a", "b", "c"]
    assert {sid: s.status for sid, s in steps.items()} == {
        "a": "completed",
        "b": "completed",
        "c": "completed",
    }
    assert await engine.events(run_id) == [
        "run_started",
        *[kind for step in "abc" for kind in ("step_started", "step_completed")],
        "run_completed",
    ]


async def test_pure_steps_run_inside_the_transaction_that_made_them_ready(engine: Engine) -> None:
    steps = [transform("t0", "{{ 0 }}")] + [
        transform(f"t{i}", f"{{{{ steps.t{i - 1}.output + 1 }}}}", f"t{i - 1}")
        for i in range(1, 40)
    ]
    wf = await engine.workflow(
        {
            "name": "Pure",
            "steps": steps,
            "outputs": [{"name": "last", "value": "{{ steps.t39.output }}"}],
        }
    )
    run_id = await engine.start(wf)
    # One tick: admission, then all 40 transforms, one after another, in one transaction.
    assert await engine.worker.tick()
    run, current = await engine.run(run_id)
    assert run.status == "completed"
    assert run.output == {"last": 39}
    assert all(s.started_at is not None and s.completed_at is not None for s in current.values())
    kinds = await engine.events(run_id)
    assert kinds.count("step_started") == kinds.count("step_completed") == 40


async def _claim_once(engine: Engine) -> list[str]:
    """One worker claim (admission included): the steps it hands out to run as tasks."""
    lease_until = engine.clock.now() + timedelta(minutes=5)
    async with engine.services.runtime.transaction(engine.worker) as rt:
        spawned = await rt.claim(engine.worker.id, 8, lease_until, sweep=True, admit=True)
    return [c.step.step_id for c in spawned]


async def test_a_false_when_guard_skips_a_step_where_it_became_ready(engine: Engine) -> None:
    wf = await engine.workflow(
        {
            "name": "Guarded",
            "steps": [
                transform("t0", "{{ 0 }}"),
                probe("p", "t0", when="{{ steps.t0.output == 1 }}"),
                transform("t1", "{{ 1 }}", "p", trigger_rule="all_done"),
            ],
        }
    )
    run_id = await engine.start(wf)
    # The guard is a pure function of committed state: no task is handed out for `p`.
    assert await _claim_once(engine) == []
    run, current = await engine.run(run_id)
    assert run.status == "completed"
    assert {sid: s.status for sid, s in current.items()} == {
        "t0": "completed",
        "p": "skipped",
        "t1": "completed",
    }
    assert engine.probe.executed == []


async def test_a_true_when_guard_hands_the_step_to_the_worker(engine: Engine) -> None:
    wf = await engine.workflow(
        {
            "name": "Guarded",
            "steps": [
                transform("t0", "{{ 1 }}"),
                probe("p", "t0", when="{{ steps.t0.output == 1 }}"),
            ],
        }
    )
    run_id = await engine.start(wf)
    assert await _claim_once(engine) == ["p"]  # leased, for the worker to run as a task
    assert engine.probe.executed == []
    _, current = await engine.run(run_id)
    assert current["p"].status == "running"


async def test_a_failed_dependency_skips_what_needs_it(engine: Engine) -> None:
    wf = await engine.workflow(
        {
            "name": "Join",
            "steps": [
                probe("a"),
                probe("b"),
                probe("all", "a", "b"),
                probe("any", "a", "b", trigger_rule="none_failed"),
                probe("cleanup", "a", "b", trigger_rule="all_done"),
            ],
        }
    )
    engine.probe.script("b", "fail")
    run_id = await engine.start(wf)
    await engine.run_until_idle()
    run, steps = await engine.run(run_id)
    assert run.status == "failed"
    assert run.error == "Step 'b' failed: b failed (scripted)"
    assert {sid: s.status for sid, s in steps.items()} == {
        "a": "completed",
        "b": "failed",
        "all": "skipped",
        "any": "skipped",
        "cleanup": "completed",
    }


async def test_retries_wait_for_their_backoff_on_the_clock(engine: Engine) -> None:
    retry = {"max_attempts": 3, "backoff_seconds": 10, "backoff_factor": 2}
    wf = await engine.workflow({"name": "Flaky", "steps": [probe("s", retry=retry)]})
    engine.probe.script("s", "flaky", "flaky", "ok")
    run_id = await engine.start(wf)
    await engine.run_until_idle()
    assert [a.status for a in await engine.attempts(run_id)] == ["failed", "ready"]
    engine.clock.advance(seconds=9)
    await engine.run_until_idle()
    assert len(await engine.attempts(run_id)) == 2  # not due yet
    engine.clock.advance(seconds=1)
    await engine.run_until_idle()
    assert [a.status for a in await engine.attempts(run_id)] == ["failed", "failed", "ready"]
    engine.clock.advance(timedelta(seconds=20))
    await engine.run_until_idle()
    run, steps = await engine.run(run_id)
    assert run.status == "completed"
    assert steps["s"].attempt == 3
    assert (await engine.events(run_id)).count("step_retrying") == 2


async def test_a_condition_skips_the_branch_it_did_not_take(engine: Engine) -> None:
    wf = await engine.workflow(
        {
            "name": "Branch",
            "inputs": [{"name": "n", "type": "number"}],
            "steps": [
                {
                    "id": "check",
                    "type": "condition",
                    "config": {"expression": "inputs.n > 1", "then": ["big"], "else": ["small"]},
                },
                probe("big", "check"),
                probe("small", "check"),
                probe("after", "big", "small", trigger_rule="none_failed"),
            ],
        }
    )
    run_id = await engine.start(wf, {"n": 5})
    await engine.run_until_idle()
    run, steps = await engine.run(run_id)
    assert run.status == "completed"
    assert {sid: s.status for sid, s in steps.items()} == {
        "check": "completed",
        "big": "completed",
        "small": "skipped",
        "after": "completed",
    }
    assert steps["small"].output == {"reason": "branch not taken by 'check'"}


async def test_a_wait_holds_until_the_clock_passes_it(engine: Engine) -> None:
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
    run, steps = await engine.run(run_id)
    assert run.status == "waiting"
    assert steps["nap"].status == "waiting" and steps["after"].status == "pending"
    engine.clock.advance(seconds=59)
    await engine.run_until_idle()
    assert await engine.status(run_id) == "waiting"
    engine.clock.advance(seconds=1)
    await engine.run_until_idle()
    run, steps = await engine.run(run_id)
    assert run.status == "completed"
    assert steps["nap"].output == {"waited_seconds": 60.0}
    assert steps["after"].status == "completed"
    assert len(await engine.attempts(run_id, "nap")) == 1  # woken, not retried
    assert await engine.events(run_id) == [
        "run_started",
        "step_started",
        "step_waiting",
        "step_started",
        "step_completed",
        "step_started",
        "step_completed",
        "run_completed",
    ]


async def test_a_loop_runs_its_body_once_per_item_in_order(engine: Engine) -> None:
    wf = await engine.workflow(
        {
            "name": "Loop",
            "steps": [
                {
                    "id": "each",
                    "type": "loop",
                    "config": {
                        "items": "{{ [1, 2, 3] }}",
                        "step": {"type": "transform", "config": {"value": "{{ loop.item * 10 }}"}},
                    },
                }
            ],
        }
    )
    run_id = await engine.start(wf)
    await engine.run_until_idle()
    run, steps = await engine.run(run_id)
    assert run.status == "completed"
    assert steps["each"].output == [10, 20, 30]


async def test_a_failed_run_logs_failure_and_skip_events(engine: Engine) -> None:
    wf = await engine.workflow(
        {
            "name": "Failing",
            "steps": [transform("bad", "{{ [1][5] }}"), transform("after", 1, "bad")],
        }
    )
    run_id = await engine.start(wf)
    await engine.run_until_idle()
    events = await engine.event_log(run_id)
    assert [(e.type, e.data.get("step_id")) for e in events] == [
        ("run_started", None),
        ("step_started", "bad"),
        ("step_failed", "bad"),
        ("step_skipped", "after"),
        ("run_failed", None),
    ]
    assert [e.seq for e in events] == [1, 2, 3, 4, 5]
    assert "no element 5" in events[2].data["error"]
    assert events[-1].data["error"].startswith("Step 'bad' failed")
