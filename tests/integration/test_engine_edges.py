"""Edges of the engine: loop retries, backoff cancellation, child runs, concurrent starts."""

from __future__ import annotations

import asyncio

from tests.integration.conftest import Api
from tests.integration.runs_helpers import (
    RUNS,
    attempts,
    create_workflow,
    current,
    get_run,
    http_get,
    http_peer,
    outputs,
    read_sse,
    run_to_end,
    start_run,
    statuses,
    transform,
    wait,
    wait_for_run,
    wait_until,
)
from tests.unit.step_helpers import Reply


async def test_loop_iterations_retry_with_the_loop_policy(api: Api) -> None:
    async with http_peer() as (peer, book):
        book["/item/0"] = Reply(body=0)
        book.then("/item/1", Reply(status=503), Reply(body=1))
        definition = {
            "name": "Loop retry",
            "steps": [
                {
                    "id": "each",
                    "type": "loop",
                    "retry": {"max_attempts": 2, "backoff_seconds": 0.01},
                    "config": {
                        "items": [0, 1],
                        "step": {
                            "type": "http_request",
                            "config": {
                                "url": peer.url("/item/{{ loop.item }}"),
                                "expect_status": [200],
                            },
                        },
                    },
                }
            ],
        }
        run = await run_to_end(api, definition)
    assert run["status"] == "completed", run
    assert [o["body"] for o in outputs(run)["each"]] == [0, 1]
    assert [(s["attempt"], s["status"]) for s in attempts(run, "each[1]")] == [
        (1, "failed"),
        (2, "completed"),
    ]
    assert [s["attempt"] for s in attempts(run, "each")] == [1]


async def test_cancel_during_backoff(api: Api) -> None:
    async with http_peer() as (peer, book):
        book["/down"] = Reply(status=503)
        definition = {
            "name": "Backoff",
            "steps": [
                http_get(
                    "fetch", peer.url("/down"), retry={"max_attempts": 5, "backoff_seconds": 3600}
                )
            ],
        }
        run_id = await start_run(api, await create_workflow(api, definition))

        async def second_attempt_queued() -> bool:
            run = await get_run(api, run_id)
            return [s["status"] for s in attempts(run, "fetch")] == ["failed", "ready"]

        await wait_until(second_attempt_queued)
        resp = await api.client.post(f"{RUNS}/{run_id}/cancel", headers=api.headers)
        assert resp.status_code == 200
        run = await wait_for_run(api, run_id)
        assert book.calls["/down"] == 1
    assert run["status"] == "cancelled"
    assert [(s["attempt"], s["status"]) for s in attempts(run, "fetch")] == [
        (1, "failed"),
        (2, "cancelled"),
    ]


async def test_child_with_invalid_inputs_fails_the_step(api: Api) -> None:
    child = await create_workflow(
        api,
        {
            "name": "Needs x",
            "inputs": [{"name": "x", "type": "integer", "required": True}],
            "steps": [transform("t", "{{ inputs.x }}")],
        },
    )
    run = await run_to_end(
        api,
        {
            "name": "Forgets x",
            "steps": [{"id": "call", "type": "workflow", "config": {"workflow_id": child}}],
        },
    )
    assert run["status"] == "failed", run
    error = current(run, "call")["error"]
    assert error.startswith("Child workflow inputs are invalid") and "x" in error
    listed = (await api.client.get(f"/api/workflows/{child}/runs", headers=api.headers)).json()
    assert listed["total"] == 0


async def test_cancelling_a_child_run_fails_its_parent_step(api: Api) -> None:
    child = await create_workflow(api, {"name": "Napping child", "steps": [wait("nap", 3600)]})
    parent = await create_workflow(
        api,
        {
            "name": "Waiting parent",
            "steps": [
                {"id": "call", "type": "workflow", "config": {"workflow_id": child}},
                transform("after", 1, depends_on=["call"]),
                transform("cleanup", 1, depends_on=["call"], trigger_rule="all_done"),
            ],
        },
    )
    run_id = await start_run(api, parent)

    async def child_waiting() -> str | None:
        listed = (await api.client.get(f"/api/workflows/{child}/runs", headers=api.headers)).json()
        found = [r["id"] for r in listed["runs"] if r["status"] == "waiting"]
        return found[0] if found else None

    child_id = await wait_until(child_waiting)
    assert (await get_run(api, run_id))["status"] == "waiting"
    resp = await api.client.post(f"{RUNS}/{child_id}/cancel", headers=api.headers)
    assert resp.status_code == 200
    run = await wait_for_run(api, run_id)
    assert run["status"] == "failed", run
    assert statuses(run) == {"call": "failed", "after": "skipped", "cleanup": "completed"}
    assert child_id in current(run, "call")["error"]


async def test_concurrent_starts_with_one_idempotency_key_make_one_run(api: Api) -> None:
    wf = await create_workflow(api, {"name": "Race", "steps": [transform("t", 1)]})

    async def start() -> str:
        resp = await api.client.post(
            f"/api/workflows/{wf}/run",
            json={},
            headers={**api.headers, "Idempotency-Key": "same"},
        )
        assert resp.status_code == 202, resp.text
        return str(resp.json()["run_id"])

    run_ids = await asyncio.gather(*(start() for _ in range(8)))
    assert len(set(run_ids)) == 1
    await wait_for_run(api, run_ids[0])
    listed = (await api.client.get(f"/api/workflows/{wf}/runs", headers=api.headers)).json()
    assert listed["total"] == 1


async def test_resuming_a_paused_waiting_run_goes_back_to_waiting(api: Api) -> None:
    definition = {"name": "Pause nap", "steps": [wait("nap", 3600)]}
    run_id = await start_run(api, await create_workflow(api, definition))
    await wait_for_run(api, run_id, {"waiting"})
    resp = await api.client.post(f"{RUNS}/{run_id}/pause", headers=api.headers)
    assert resp.json()["run"]["status"] == "paused"
    resp = await api.client.post(f"{RUNS}/{run_id}/resume", headers=api.headers)
    assert resp.status_code == 200, resp.text
    run = await wait_for_run(api, run_id, {"waiting", "running"})
    assert run["status"] == "waiting", run  # nothing executes: it holds no run slot
    assert [(s["attempt"], s["status"]) for s in attempts(run, "nap")] == [(1, "waiting")]
    await api.client.post(f"{RUNS}/{run_id}/cancel", headers=api.headers)
    events = await read_sse(api.client, run_id, api.headers)
    assert [e.event for e in events] == [
        "run_started",
        "step_started",
        "step_waiting",
        "run_paused",
        "run_resumed",
        "run_cancelled",
    ]


async def test_a_loop_of_child_workflows(api: Api) -> None:
    child = await create_workflow(
        api,
        {
            "name": "Square",
            "inputs": [{"name": "x", "type": "integer", "required": True}],
            "steps": [transform("sq", "{{ inputs.x * inputs.x }}")],
            "outputs": [{"name": "sq", "value": "{{ steps.sq.output }}"}],
        },
    )
    body = {
        "type": "workflow",
        "config": {"workflow_id": child, "input_data": {"x": "{{ loop.item }}"}},
    }
    definition = {
        "name": "Squares",
        "steps": [{"id": "each", "type": "loop", "config": {"items": [1, 2, 3], "step": body}}],
    }
    run = await run_to_end(api, definition)
    assert run["status"] == "completed", run
    assert outputs(run)["each"] == [{"sq": 1}, {"sq": 4}, {"sq": 9}]
    listed = (await api.client.get(f"/api/workflows/{child}/runs", headers=api.headers)).json()
    assert listed["total"] == 3
    assert {r["parent_run_id"] for r in listed["runs"]} == {run["id"]}


async def test_a_loop_of_waits(api: Api) -> None:
    body = {"type": "wait", "config": {"seconds": 0.05}}
    definition = {
        "name": "Naps",
        "steps": [
            {"id": "each", "type": "loop", "config": {"items": [1, 2, 3], "step": body}},
            transform("after", "{{ steps.each.output | length }}", depends_on=["each"]),
        ],
    }
    run = await run_to_end(api, definition)
    assert run["status"] == "completed", run
    assert outputs(run)["after"] == 3


async def test_fail_fast_interrupts_running_iterations(api: Api) -> None:
    async with http_peer() as (peer, book):
        book["/item/0"] = Reply(body="slow", delay=30)
        book["/item/1"] = Reply(status=400)
        definition = {
            "name": "Fail fast, parallel",
            "steps": [
                {
                    "id": "each",
                    "type": "loop",
                    "config": {
                        "items": [0, 1],
                        "concurrency": 2,
                        "step": {
                            "type": "http_request",
                            "config": {
                                "url": peer.url("/item/{{ loop.item }}"),
                                "expect_status": [200],
                            },
                        },
                    },
                }
            ],
        }
        run_id = await start_run(api, await create_workflow(api, definition))
        run = await wait_for_run(api, run_id)
        assert run["status"] == "failed", run
        # The slow sibling does not outlive the loop: its request is aborted.
        await asyncio.wait_for(peer.disconnected.wait(), 20)
    assert statuses(run) == {"each": "failed", "each[0]": "cancelled", "each[1]": "failed"}


async def test_fail_fast_cancels_the_child_runs_of_waiting_iterations(api: Api) -> None:
    child = await create_workflow(
        api,
        {
            "name": "Nap or fail",
            "inputs": [{"name": "x", "type": "integer", "required": True}],
            "steps": [
                wait("nap", 3600, when="inputs.x == 0"),
                transform("boom", "{{ [1][5] }}", when="inputs.x == 1"),
            ],
        },
    )
    body = {
        "type": "workflow",
        "config": {"workflow_id": child, "input_data": {"x": "{{ loop.item }}"}},
    }
    definition = {
        "name": "Parallel children",
        "steps": [
            {
                "id": "each",
                "type": "loop",
                "config": {"items": [0, 1], "concurrency": 2, "step": body},
            }
        ],
    }
    run = await run_to_end(api, definition)
    assert run["status"] == "failed", run
    assert statuses(run) == {"each": "failed", "each[0]": "cancelled", "each[1]": "failed"}
    listed = (await api.client.get(f"/api/workflows/{child}/runs", headers=api.headers)).json()
    by_input = {r["input_data"]["x"]: r for r in listed["runs"]}
    assert by_input[1]["status"] == "failed"
    assert (await wait_for_run(api, by_input[0]["id"]))["status"] == "cancelled"
