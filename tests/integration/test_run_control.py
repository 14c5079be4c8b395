"""Cancel, pause and resume through the API."""

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
    start_run,
    statuses,
    transform,
    wait,
    wait_for_run,
    wait_for_step,
    wait_until,
)
from tests.unit.step_helpers import Reply, processes_with, unique_sleep_seconds


async def post(api: Api, run_id: str, action: str, body: object = None) -> dict[str, object]:
    resp = await api.client.post(f"{RUNS}/{run_id}/{action}", json=body, headers=api.headers)
    assert resp.status_code == 200, resp.text
    return dict(resp.json()["run"])


# -- cancel ----------------------------------------------------------------------------------


async def test_cancel_kills_a_running_script(api: Api) -> None:
    marker = unique_sleep_seconds()
    definition = {
        "name": "Sleeper",
        "steps": [
            {
                "id": "sleep",
                "type": "script",
                "config": {"language": "bash", "code": f"sleep {marker}"},
            },
            transform("after", 1, depends_on=["sleep"]),
        ],
    }
    run_id = await start_run(api, await create_workflow(api, definition))
    await wait_until(lambda: _running(marker))
    cancelled = await post(api, run_id, "cancel")
    assert cancelled["status"] == "cancelled"
    await wait_until(lambda: _gone(marker))
    run = await get_run(api, run_id)
    assert run["status"] == "cancelled"
    assert statuses(run) == {"sleep": "cancelled", "after": "cancelled"}
    assert run["completed_at"] is not None
    resp = await api.client.post(f"{RUNS}/{run_id}/cancel", headers=api.headers)
    assert resp.status_code == 409  # only an active run can be cancelled


async def _running(marker: str) -> bool:
    return bool(await asyncio.to_thread(processes_with, marker))


async def _gone(marker: str) -> bool:
    return not await asyncio.to_thread(processes_with, marker)


async def test_cancel_aborts_a_slow_http_request(api: Api) -> None:
    async with http_peer() as (peer, book):
        book["/slow"] = Reply(body="late", delay=30)
        definition = {"name": "Slow call", "steps": [http_get("fetch", peer.url("/slow"))]}
        run_id = await start_run(api, await create_workflow(api, definition))
        await asyncio.wait_for(peer.received.wait(), 20)
        await post(api, run_id, "cancel")
        await asyncio.wait_for(peer.disconnected.wait(), 20)
    run = await wait_for_run(api, run_id)
    assert run["status"] == "cancelled"
    [fetch] = attempts(run, "fetch")
    assert fetch["status"] == "cancelled"


async def test_cancel_a_queued_run_and_a_waiting_one(api: Api) -> None:
    wf = await create_workflow(api, {"name": "Napper", "steps": [wait("nap", 3600)]})
    run_id = await start_run(api, wf)
    await wait_for_run(api, run_id, {"waiting"})
    await post(api, run_id, "cancel")
    run = await wait_for_run(api, run_id)
    assert run["status"] == "cancelled"
    assert statuses(run) == {"nap": "cancelled"}


async def test_cancelling_a_parent_cancels_its_child_run(api: Api) -> None:
    child = await create_workflow(api, {"name": "Slow child", "steps": [wait("nap", 3600)]})
    parent = await create_workflow(
        api,
        {
            "name": "Parent",
            "steps": [{"id": "call", "type": "workflow", "config": {"workflow_id": child}}],
        },
    )
    run_id = await start_run(api, parent)
    await wait_for_run(api, run_id, {"waiting"})

    async def child_run() -> object:
        listed = (await api.client.get(f"/api/workflows/{child}/runs", headers=api.headers)).json()
        runs = [r for r in listed["runs"] if r["status"] == "waiting"]
        return runs[0] if runs else None

    child_id = (await wait_until(child_run))["id"]
    await post(api, run_id, "cancel")
    assert (await wait_for_run(api, child_id))["status"] == "cancelled"
    assert (await get_run(api, run_id))["status"] == "cancelled"


# -- pause -----------------------------------------------------------------------------------


async def test_pause_lets_the_running_step_finish_and_dispatches_nothing_new(api: Api) -> None:
    async with http_peer() as (peer, book):
        book["/slow"] = Reply(body={"n": 1}, delay=30)  # held until released
        definition = {
            "name": "Pausable",
            "steps": [
                http_get("first", peer.url("/slow")),
                transform("second", "{{ steps.first.output.body.n + 1 }}", depends_on=["first"]),
                transform("third", "{{ steps.second.output + 1 }}", depends_on=["second"]),
            ],
        }
        run_id = await start_run(api, await create_workflow(api, definition))
        await asyncio.wait_for(peer.received.wait(), 20)
        paused = await post(api, run_id, "pause")
        assert paused["status"] == "paused"
        assert statuses(await get_run(api, run_id))["first"] == "running"
        peer.release()
        run = await wait_for_step(api, run_id, "first", {"completed"})
    assert run["status"] == "paused"
    # Give a wrongly dispatched step every chance to show up.
    await asyncio.sleep(0.3)
    run = await get_run(api, run_id)
    assert run["status"] == "paused", run
    assert statuses(run) == {"first": "completed", "second": "ready", "third": "pending"}
    assert current(run, "second")["started_at"] is None

    resumed = await post(api, run_id, "resume", {})
    assert resumed["status"] in ("queued", "running")
    run = await wait_for_run(api, run_id)
    assert run["status"] == "completed", run
    assert outputs(run)["second"] == 2 and outputs(run)["third"] == 3
    assert [s["attempt"] for s in run["step_runs"]] == [1, 1, 1]


async def test_pause_holds_a_wait_past_its_deadline(api: Api) -> None:
    definition = {
        "name": "Pause wait",
        "steps": [wait("nap", 0.5), transform("after", 1, depends_on=["nap"])],
    }
    run_id = await start_run(api, await create_workflow(api, definition))
    await wait_for_run(api, run_id, {"waiting"})
    await post(api, run_id, "pause")
    # The timer fires while paused: the step becomes ready, but nothing runs it.
    await wait_for_step(api, run_id, "nap", {"ready"})
    await asyncio.sleep(0.2)
    run = await get_run(api, run_id)
    assert run["status"] == "paused"
    assert statuses(run) == {"nap": "ready", "after": "pending"}
    await post(api, run_id, "resume")
    run = await wait_for_run(api, run_id)
    assert run["status"] == "completed", run
    assert [s["attempt"] for s in attempts(run, "nap")] == [1]


async def test_pause_requires_an_active_run(api: Api) -> None:
    wf = await create_workflow(api, {"name": "Quick", "steps": [transform("t", 1)]})
    run_id = await start_run(api, wf)
    await wait_for_run(api, run_id)
    resp = await api.client.post(f"{RUNS}/{run_id}/pause", headers=api.headers)
    assert resp.status_code == 409


async def test_on_failure_pause_pauses_the_run_for_resume(api: Api) -> None:
    async with http_peer() as (peer, book):
        book.then("/once", Reply(status=400), Reply(body="ok"))
        definition = {
            "name": "Pause on failure",
            "on_failure": "pause",
            "steps": [
                http_get("fetch", peer.url("/once")),
                transform("after", "{{ steps.fetch.output.body }}", depends_on=["fetch"]),
            ],
        }
        run_id = await start_run(api, await create_workflow(api, definition))
        run = await wait_for_run(api, run_id, {"paused", "failed", "completed"})
        assert run["status"] == "paused", run
        assert statuses(run)["fetch"] == "failed"
        await post(api, run_id, "resume")
        run = await wait_for_run(api, run_id)
    assert run["status"] == "completed", run
    assert outputs(run)["after"] == "ok"
    assert run["error"] is None


# -- resume ----------------------------------------------------------------------------------


async def test_resume_reruns_only_what_did_not_complete(api: Api) -> None:
    async with http_peer() as (peer, book):
        book["/a"] = Reply(body="A")
        book.then("/b", Reply(status=400, body="no"), Reply(body="B"))
        definition = {
            "name": "Checkpoint",
            "steps": [
                http_get("a", peer.url("/a")),
                http_get("b", peer.url("/b"), depends_on=["a"]),
                transform(
                    "c", "{{ steps.a.output.body }}{{ steps.b.output.body }}", depends_on=["b"]
                ),
                transform("side", "{{ steps.a.output.body }}!", depends_on=["a"]),
            ],
        }
        run_id = await start_run(api, await create_workflow(api, definition))
        failed = await wait_for_run(api, run_id)
        assert failed["status"] == "failed", failed
        assert statuses(failed) == {
            "a": "completed",
            "b": "failed",
            "c": "skipped",
            "side": "completed",
        }
        await post(api, run_id, "resume")
        run = await wait_for_run(api, run_id)
        assert book.calls == {"/a": 1, "/b": 2}
    assert run["status"] == "completed", run
    assert run["error"] is None
    assert outputs(run)["c"] == "AB"
    assert [(s["attempt"], s["status"]) for s in attempts(run, "a")] == [(1, "completed")]
    assert [(s["attempt"], s["status"]) for s in attempts(run, "side")] == [(1, "completed")]
    assert [(s["attempt"], s["status"]) for s in attempts(run, "b")] == [
        (1, "failed"),
        (2, "completed"),
    ]
    assert [(s["attempt"], s["status"]) for s in attempts(run, "c")] == [
        (1, "skipped"),
        (2, "completed"),
    ]


async def test_resume_from_a_step_reruns_it_and_its_descendants(api: Api) -> None:
    async with http_peer() as (peer, book):
        book["/a"] = Reply(body="A")
        book.then("/b", Reply(body="B1"), Reply(body="B2"))
        book.then("/c", Reply(status=400), Reply(body="C"))
        definition = {
            "name": "From step",
            "steps": [
                http_get("a", peer.url("/a")),
                http_get("b", peer.url("/b?from={{ steps.a.output.body }}"), depends_on=["a"]),
                http_get("c", peer.url("/c"), depends_on=["b"]),
                transform(
                    "d", "{{ steps.b.output.body }}-{{ steps.c.output.body }}", depends_on=["c"]
                ),
            ],
            "outputs": [{"name": "d", "value": "{{ steps.d.output }}"}],
        }
        run_id = await start_run(api, await create_workflow(api, definition))
        assert (await wait_for_run(api, run_id))["status"] == "failed"
        await post(api, run_id, "resume", {"from_step": "b"})
        run = await wait_for_run(api, run_id)
        assert book.calls == {"/a": 1, "/b": 2, "/c": 2}
        assert [r.query for r in peer.requests if r.path == "/b"] == [[("from", "A")]] * 2
    assert run["status"] == "completed", run
    assert run["output"] == {"d": "B2-C"}
    assert [s["attempt"] for s in attempts(run, "a")] == [1]
    assert [(s["attempt"], s["status"], s["current"]) for s in attempts(run, "b")] == [
        (1, "completed", False),
        (2, "completed", True),
    ]
    assert [s["attempt"] for s in attempts(run, "c")] == [1, 2]
    assert [s["attempt"] for s in attempts(run, "d")] == [1, 2]


async def test_resume_a_cancelled_run(api: Api) -> None:
    definition = {
        "name": "Cancel then resume",
        "steps": [transform("a", 1), wait("nap", 3600, depends_on=["a"])],
    }
    run_id = await start_run(api, await create_workflow(api, definition))
    await wait_for_run(api, run_id, {"waiting"})
    await post(api, run_id, "cancel")
    await post(api, run_id, "resume")
    run = await wait_for_run(api, run_id, {"waiting"})
    assert [s["attempt"] for s in attempts(run, "a")] == [1]
    assert [(s["attempt"], s["status"]) for s in attempts(run, "nap")] == [
        (1, "cancelled"),
        (2, "waiting"),
    ]
    await post(api, run_id, "cancel")


async def test_resume_refuses_a_completed_run_and_an_unknown_step(api: Api) -> None:
    wf = await create_workflow(
        api, {"name": "Finished", "steps": [transform("a", 1), failing_step()]}
    )
    run_id = await start_run(api, wf)
    run = await wait_for_run(api, run_id)
    assert run["status"] == "failed"
    resp = await api.client.post(
        f"{RUNS}/{run_id}/resume", json={"from_step": "nope"}, headers=api.headers
    )
    assert resp.status_code == 422, resp.text
    assert "nope" in " ".join(resp.json()["errors"])

    ok_wf = await create_workflow(api, {"name": "Fine", "steps": [transform("a", 1)]})
    ok = await start_run(api, ok_wf)
    assert (await wait_for_run(api, ok))["status"] == "completed"
    resp = await api.client.post(f"{RUNS}/{ok}/resume", json={}, headers=api.headers)
    assert resp.status_code == 409, resp.text
    resp = await api.client.post(
        f"{RUNS}/{ok}/resume", json={"from_step": "a"}, headers=api.headers
    )
    assert resp.status_code == 409, resp.text


def failing_step() -> dict[str, object]:
    return transform("b", "{{ [1][5] }}", depends_on=["a"])
