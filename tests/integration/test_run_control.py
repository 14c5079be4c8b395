"""Cancel, pause and resume through the API: a cancel reaching a request in flight in the
app's own worker, and the status codes of steering a run that cannot be steered that way.
What the engine does on each command is tested in tests/engine/."""

from __future__ import annotations

import asyncio

from tests.integration.conftest import Api
from tests.integration.runs_helpers import (
    RUNS,
    attempts,
    create_workflow,
    http_get,
    start_run,
    transform,
    wait_for_run,
)
from tests.support.peer import Reply, running_peer


async def post(api: Api, run_id: str, action: str, body: object = None) -> dict[str, object]:
    resp = await api.client.post(f"{RUNS}/{run_id}/{action}", json=body, headers=api.headers)
    assert resp.status_code == 200, resp.text
    return dict(resp.json()["run"])


async def test_cancel_aborts_a_slow_http_request(api: Api) -> None:
    async with running_peer() as peer:
        peer.replies["/slow"] = Reply(body="late", delay=30)
        definition = {"name": "Slow call", "steps": [http_get("fetch", peer.url("/slow"))]}
        run_id = await start_run(api, await create_workflow(api, definition))
        await asyncio.wait_for(peer.received.wait(), 20)
        cancelled = await post(api, run_id, "cancel")
        assert cancelled["status"] == "cancelled"
        await asyncio.wait_for(peer.disconnected.wait(), 20)
    run = await wait_for_run(api, run_id)
    assert run["status"] == "cancelled"
    assert run["completed_at"] is not None
    [fetch] = attempts(run, "fetch")
    assert fetch["status"] == "cancelled"
    resp = await api.client.post(f"{RUNS}/{run_id}/cancel", headers=api.headers)
    assert resp.status_code == 409  # only an active run can be cancelled


async def test_pause_requires_an_active_run(api: Api) -> None:
    wf = await create_workflow(api, {"name": "Quick", "steps": [transform("t", 1)]})
    run_id = await start_run(api, wf)
    await wait_for_run(api, run_id)
    resp = await api.client.post(f"{RUNS}/{run_id}/pause", headers=api.headers)
    assert resp.status_code == 409


async def test_resume_refuses_a_completed_run_and_an_unknown_step(api: Api) -> None:
    wf = await create_workflow(
        api,
        {
            "name": "Finished",
            "steps": [transform("a", 1), transform("b", "{{ [1][5] }}", depends_on=["a"])],
        },
    )
    run_id = await start_run(api, wf)
    run = await wait_for_run(api, run_id)
    assert run["status"] == "failed"
    resp = await api.client.post(
        f"{RUNS}/{run_id}/resume", json={"from_step": "nope"}, headers=api.headers
    )
    assert resp.status_code == 422, resp.text
    assert "nope" in " ".join(resp.json()["errors"])
    resumed = await post(api, run_id, "resume", {})
    assert resumed["status"] in ("queued", "running")
    assert (await wait_for_run(api, run_id))["status"] == "failed"

    ok_wf = await create_workflow(api, {"name": "Fine", "steps": [transform("a", 1)]})
    ok = await start_run(api, ok_wf)
    assert (await wait_for_run(api, ok))["status"] == "completed"
    resp = await api.client.post(f"{RUNS}/{ok}/resume", json={}, headers=api.headers)
    assert resp.status_code == 409, resp.text
    resp = await api.client.post(
        f"{RUNS}/{ok}/resume", json={"from_step": "a"}, headers=api.headers
    )
    assert resp.status_code == 409, resp.text
