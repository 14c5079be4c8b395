"""Retries with backoff on the clock, retry exhaustion, step timeouts, cancel during backoff."""

from __future__ import annotations

from tests.engine.defs import http_get, transform
from tests.engine.harness import Engine
from tests.support.peer import HttpPeer, Reply

RETRY = {"max_attempts": 3, "backoff_seconds": 10, "backoff_factor": 2}


async def test_a_step_failing_twice_then_succeeding_records_every_attempt(
    engine: Engine, peer: HttpPeer
) -> None:
    peer.then("/flaky", Reply(status=503), Reply(status=503), Reply(body={"ok": 1}))
    wf = await engine.workflow(
        {
            "name": "Flaky",
            "steps": [
                http_get("fetch", peer.url("/flaky"), retry=RETRY),
                transform("use", "{{ steps.fetch.output.body.ok }}", "fetch"),
            ],
        }
    )
    run_id = await engine.start(wf)
    await engine.run_until_idle()
    engine.clock.advance(seconds=10)
    await engine.run_until_idle()
    engine.clock.advance(seconds=19)
    await engine.run_until_idle()
    assert peer.calls["/flaky"] == 2  # the second backoff is twice the first
    engine.clock.advance(seconds=1)
    await engine.run_until_idle()
    assert peer.calls["/flaky"] == 3
    # Every attempt carried the same idempotency key.
    assert {r.headers["idempotency-key"] for r in peer.requests} == {f"{run_id}:fetch"}
    run, steps = await engine.run(run_id)
    assert run.status == "completed", run
    tries = await engine.attempts(run_id, "fetch")
    assert [(t.attempt, t.status, t.is_current) for t in tries] == [
        (1, "failed", False),
        (2, "failed", False),
        (3, "completed", True),
    ]
    assert "HTTP 503" in tries[0].error
    assert tries[0].output["status_code"] == 503
    assert steps["use"].output == 1
    events = await engine.event_log(run_id)
    retrying = [e.data for e in events if e.type == "step_retrying"]
    assert [(e["step_id"], e["attempt"], e["next_attempt"]) for e in retrying] == [
        ("fetch", 1, 2),
        ("fetch", 2, 3),
    ]
    assert [e["retry_in_seconds"] for e in retrying] == [10, 20]
    started = [e.data["attempt"] for e in events if e.type == "step_started"]
    assert started == [1, 2, 3, 1]  # fetch three times, then use


async def test_retry_exhaustion_fails_the_run_naming_the_step(
    engine: Engine, peer: HttpPeer
) -> None:
    peer.replies["/down"] = Reply(status=503, body="down")
    wf = await engine.workflow(
        {
            "name": "Down",
            "steps": [
                http_get("fetch", peer.url("/down"), retry={**RETRY, "max_attempts": 2}),
                transform("after", 1, "fetch"),
            ],
        }
    )
    run_id = await engine.start(wf)
    await engine.run_until_idle()
    engine.clock.advance(seconds=10)
    await engine.run_until_idle()
    assert peer.calls["/down"] == 2
    run, steps = await engine.run(run_id)
    assert run.status == "failed", run
    tries = await engine.attempts(run_id, "fetch")
    assert [(t.attempt, t.status) for t in tries] == [(1, "failed"), (2, "failed")]
    assert run.error.startswith("Step 'fetch' failed: HTTP 503")
    assert steps["after"].status == "skipped"


async def test_a_client_error_is_not_retried(engine: Engine, peer: HttpPeer) -> None:
    peer.replies["/gone"] = Reply(status=404)
    wf = await engine.workflow(
        {"name": "Gone", "steps": [http_get("fetch", peer.url("/gone"), retry=RETRY)]}
    )
    run_id = await engine.start(wf)
    await engine.run_until_idle()
    engine.clock.advance(seconds=3600)
    await engine.run_until_idle()
    assert peer.calls["/gone"] == 1
    assert await engine.status(run_id) == "failed"
    assert len(await engine.attempts(run_id, "fetch")) == 1


# A step's `timeout_seconds` is real time (asyncio.timeout around the handler), not the
# engine clock's: these two tests wait it out, so it is as short as the steps allow.
TIMEOUT = 0.2


async def test_timeout_seconds_fails_a_slow_step(engine: Engine, peer: HttpPeer) -> None:
    peer.replies["/slow"] = Reply(body="late", delay=30)
    wf = await engine.workflow(
        {
            "name": "Slow",
            "steps": [
                {
                    "id": "fetch",
                    "type": "http_request",
                    "config": {"url": peer.url("/slow")},
                    "timeout_seconds": TIMEOUT,
                },
                {
                    "id": "sleepy",
                    "type": "script",
                    "config": {"language": "bash", "code": "sleep 30"},
                    "timeout_seconds": TIMEOUT,
                },
            ],
        }
    )
    run_id = await engine.start(wf)
    await engine.run_until_idle()
    assert peer.disconnected.is_set()  # the request was aborted, not left hanging
    assert await engine.status(run_id) == "failed"
    [fetch] = await engine.attempts(run_id, "fetch")
    assert fetch.status == "failed"
    assert fetch.error == f"Step timed out after {TIMEOUT}s"
    [sleepy] = await engine.attempts(run_id, "sleepy")
    assert sleepy.status == "failed"
    assert f"timed out after {TIMEOUT}s" in sleepy.error


async def test_a_timed_out_attempt_is_retried(engine: Engine, peer: HttpPeer) -> None:
    peer.then("/sometimes", Reply(body="late", delay=30), Reply(body="quick"))
    wf = await engine.workflow(
        {
            "name": "Retry after timeout",
            "steps": [
                {
                    "id": "fetch",
                    "type": "http_request",
                    "config": {"url": peer.url("/sometimes")},
                    "timeout_seconds": TIMEOUT,
                    "retry": {"max_attempts": 2, "backoff_seconds": 0},
                }
            ],
        }
    )
    run_id = await engine.start(wf)
    await engine.run_until_idle()
    run, steps = await engine.run(run_id)
    assert run.status == "completed", run
    tries = await engine.attempts(run_id, "fetch")
    assert [(t.attempt, t.status, t.error) for t in tries] == [
        (1, "failed", f"Step timed out after {TIMEOUT}s"),
        (2, "completed", None),
    ]
    assert steps["fetch"].output["body"] == "quick"


async def test_cancel_during_backoff(engine: Engine, peer: HttpPeer) -> None:
    peer.replies["/down"] = Reply(status=503)
    wf = await engine.workflow(
        {
            "name": "Backoff",
            "steps": [
                http_get(
                    "fetch", peer.url("/down"), retry={"max_attempts": 5, "backoff_seconds": 3600}
                )
            ],
        }
    )
    run_id = await engine.start(wf)
    await engine.run_until_idle()
    tries = await engine.attempts(run_id, "fetch")
    assert [t.status for t in tries] == ["failed", "ready"]
    await engine.services.runs.cancel(engine.principal, run_id)
    engine.clock.advance(seconds=3600)  # the backoff passes: nothing runs it now
    await engine.run_until_idle()
    assert peer.calls["/down"] == 1
    assert await engine.status(run_id) == "cancelled"
    tries = await engine.attempts(run_id, "fetch")
    assert [(t.attempt, t.status) for t in tries] == [(1, "failed"), (2, "cancelled")]
