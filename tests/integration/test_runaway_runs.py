"""Runaway runs: a workflow that starts itself, nesting depth, and fairness across workspaces."""

from __future__ import annotations

from pathlib import Path

from flowdeck.store.store import Store
from tests.integration.conftest import Api
from tests.integration.runs_helpers import (
    RUNS,
    create_workflow,
    get_run,
    http_get,
    http_peer,
    serve,
    settings_for,
    start_run,
    transform,
    wait_for_run,
)
from tests.unit.step_helpers import Reply


def _calls(step_id: str, target: str) -> dict[str, object]:
    return {"id": step_id, "type": "workflow", "config": {"workflow_id": target}}


async def test_a_workflow_step_that_starts_its_own_workflow_is_refused(api: Api) -> None:
    resp = await api.client.post(
        "/api/workflows",
        json={"definition": {"name": "Forever", "steps": [_calls("again", "forever")]}},
        headers=api.headers,
    )
    assert resp.status_code == 422, resp.text
    assert (
        "Step 'again' runs this workflow itself ('forever'), which would never end"
        in resp.json()["errors"]
    )

    wf = await create_workflow(api, {"name": "Once", "steps": [transform("t", 1)]})
    looped = {
        "id": "each",
        "type": "loop",
        "config": {
            "items": "{{ [1, 2] }}",
            "step": {"type": "workflow", "config": {"workflow_id": wf}},
        },
    }
    resp = await api.client.put(
        f"/api/workflows/{wf}",
        json={"definition": {"name": "Once", "steps": [looped]}},
        headers=api.headers,
    )
    assert resp.status_code == 422, resp.text
    assert any("Step 'each' runs this workflow itself" in e for e in resp.json()["errors"])


async def test_mutual_recursion_stops_at_the_depth_limit(
    database_url: str, tmp_path: Path, store: Store
) -> None:
    settings = settings_for(database_url, tmp_path, max_run_depth=3)
    async with serve(settings, store) as api:
        ping = await create_workflow(api, {"name": "Ping", "steps": [transform("t", 1)]})
        pong = await create_workflow(api, {"name": "Pong", "steps": [_calls("back", ping)]})
        resp = await api.client.put(
            f"/api/workflows/{ping}",
            json={"definition": {"name": "Ping", "steps": [_calls("over", pong)]}},
            headers=api.headers,
        )
        assert resp.status_code == 200, resp.text
        top = await wait_for_run(api, await start_run(api, ping))
        runs = []
        for wf in (ping, pong):
            resp = await api.client.get(f"/api/workflows/{wf}/runs", headers=api.headers)
            runs += resp.json()["runs"]
    assert top["status"] == "failed"
    # The top run plus three nested ones; the fourth child was never created.
    assert len(runs) == 4, runs
    assert {r["status"] for r in runs} == {"failed"}
    deepest = next(r for r in runs if r["error"] and "nest at most 3 deep" in r["error"])
    assert "this run is already 3 deep" in deepest["error"]


async def test_one_workspace_backlog_does_not_hold_back_another(
    database_url: str, tmp_path: Path, store: Store
) -> None:
    settings = settings_for(database_url, tmp_path, max_concurrent_runs=1)
    async with http_peer() as (peer, book), serve(settings, store) as api:
        book.then("/work", Reply(body="slow", delay=30), Reply(body="fast"))
        blocker_wf = await create_workflow(
            api, {"name": "Blocker", "steps": [http_get("s", peer.url("/work"))]}
        )
        busy_wf = await create_workflow(api, {"name": "Busy", "steps": [transform("t", 1)]})
        other = await api.other_workspace()
        quiet_wf = await create_workflow(
            api, {"name": "Quiet", "steps": [transform("t", 1)]}, headers=other
        )
        blocker = await start_run(api, blocker_wf)
        await wait_for_run(api, blocker, {"running"})
        # More than one admission batch of the busy workspace's runs, all queued first.
        backlog = [await start_run(api, busy_wf) for _ in range(120)]
        quiet = await start_run(api, quiet_wf, headers=other)
        await api.client.post(f"{RUNS}/{blocker}/cancel", headers=api.headers)
        quiet_run = await wait_for_run(api, quiet, headers=other)
        first_two = [await get_run(api, r) for r in backlog[:2]]
        for run_id in backlog:
            await wait_for_run(api, run_id)
    assert quiet_run["status"] == "completed"
    # The quiet workspace's run is admitted at the latest right after the busy one's oldest:
    # when it ended, the busy workspace's second run had not started, or started after it.
    second = first_two[1]["started_at"]
    assert second is None or quiet_run["started_at"] <= second, (quiet_run, first_two)
