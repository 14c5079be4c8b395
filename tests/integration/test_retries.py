"""Retries with backoff, retry exhaustion and step timeouts."""

from __future__ import annotations

from tests.integration.conftest import Api
from tests.integration.runs_helpers import (
    attempts,
    create_workflow,
    http_get,
    http_peer,
    outputs,
    read_sse,
    run_to_end,
    start_run,
    wait_for_run,
)
from tests.unit.step_helpers import Reply

RETRY = {"max_attempts": 3, "backoff_seconds": 0.05, "backoff_factor": 2}


async def test_a_step_failing_twice_then_succeeding_records_every_attempt(api: Api) -> None:
    async with http_peer() as (peer, book):
        book.then("/flaky", Reply(status=503), Reply(status=503), Reply(body={"ok": 1}))
        definition = {
            "name": "Flaky",
            "steps": [
                http_get("fetch", peer.url("/flaky"), retry=RETRY),
                {
                    "id": "use",
                    "type": "transform",
                    "config": {"value": "{{ steps.fetch.output.body.ok }}"},
                    "depends_on": ["fetch"],
                },
            ],
        }
        wf = await create_workflow(api, definition)
        run_id = await start_run(api, wf)
        run = await wait_for_run(api, run_id)
        assert book.calls["/flaky"] == 3
        # Every attempt carried the same idempotency key.
        assert {r.headers["idempotency-key"] for r in peer.requests} == {f"{run_id}:fetch"}
    assert run["status"] == "completed", run
    tries = attempts(run, "fetch")
    assert [(t["attempt"], t["status"], t["current"]) for t in tries] == [
        (1, "failed", False),
        (2, "failed", False),
        (3, "completed", True),
    ]
    assert "HTTP 503" in tries[0]["error"]
    assert tries[0]["output"]["status_code"] == 503
    assert outputs(run)["use"] == 1
    events = await read_sse(api.client, run_id, api.headers)
    retrying = [e.data for e in events if e.event == "step_retrying"]
    assert [(e["step_id"], e["attempt"], e["next_attempt"]) for e in retrying] == [
        ("fetch", 1, 2),
        ("fetch", 2, 3),
    ]
    assert [e["retry_in_seconds"] for e in retrying] == [0.05, 0.1]
    started = [e.data["attempt"] for e in events if e.event == "step_started"]
    assert started == [1, 2, 3, 1]  # fetch three times, then use


async def test_retry_exhaustion_fails_the_run_naming_the_step(api: Api) -> None:
    async with http_peer() as (peer, book):
        book["/down"] = Reply(status=503, body="down")
        definition = {
            "name": "Down",
            "steps": [
                http_get("fetch", peer.url("/down"), retry={**RETRY, "max_attempts": 2}),
                {
                    "id": "after",
                    "type": "transform",
                    "config": {"value": 1},
                    "depends_on": ["fetch"],
                },
            ],
        }
        run = await run_to_end(api, definition)
        assert book.calls["/down"] == 2
    assert run["status"] == "failed", run
    assert [(t["attempt"], t["status"]) for t in attempts(run, "fetch")] == [
        (1, "failed"),
        (2, "failed"),
    ]
    assert run["error"].startswith("Step 'fetch' failed: HTTP 503")
    assert attempts(run, "after")[0]["status"] == "skipped"


async def test_a_client_error_is_not_retried(api: Api) -> None:
    async with http_peer() as (peer, book):
        book["/gone"] = Reply(status=404)
        run = await run_to_end(
            api, {"name": "Gone", "steps": [http_get("fetch", peer.url("/gone"), retry=RETRY)]}
        )
        assert book.calls["/gone"] == 1
    assert run["status"] == "failed", run
    assert len(attempts(run, "fetch")) == 1


async def test_timeout_seconds_fails_a_slow_step(api: Api) -> None:
    async with http_peer() as (peer, book):
        book["/slow"] = Reply(body="late", delay=30)
        definition = {
            "name": "Slow",
            "steps": [
                {
                    "id": "fetch",
                    "type": "http_request",
                    "config": {"url": peer.url("/slow")},
                    "timeout_seconds": 0.3,
                },
                {
                    "id": "sleepy",
                    "type": "script",
                    "config": {"language": "bash", "code": "sleep 30"},
                    "timeout_seconds": 0.3,
                },
            ],
        }
        run = await run_to_end(api, definition)
        assert peer.disconnected.is_set()  # the request was aborted, not left hanging
    assert run["status"] == "failed", run
    [fetch] = attempts(run, "fetch")
    assert fetch["status"] == "failed"
    assert fetch["error"] == "Step timed out after 0.3s"
    [sleepy] = attempts(run, "sleepy")
    assert sleepy["status"] == "failed"
    assert "timed out after 0.3s" in sleepy["error"]


async def test_a_timed_out_attempt_is_retried(api: Api) -> None:
    async with http_peer() as (peer, book):
        book.then("/sometimes", Reply(body="late", delay=30), Reply(body="quick"))
        definition = {
            "name": "Retry after timeout",
            "steps": [
                {
                    "id": "fetch",
                    "type": "http_request",
                    "config": {"url": peer.url("/sometimes")},
                    "timeout_seconds": 0.3,
                    "retry": {"max_attempts": 2, "backoff_seconds": 0},
                }
            ],
        }
        run = await run_to_end(api, definition)
    assert run["status"] == "completed", run
    assert [(t["attempt"], t["status"], t["error"]) for t in attempts(run, "fetch")] == [
        (1, "failed", "Step timed out after 0.3s"),
        (2, "completed", None),
    ]
    assert outputs(run)["fetch"]["body"] == "quick"
