"""GET /api/runs: every run of the workspace, filtered and paged by a cursor."""

from __future__ import annotations

from tests.integration.conftest import Api
from tests.integration.runs_helpers import create_workflow, start_run, transform, wait_for_run


def _definition(name: str) -> dict[str, object]:
    return {"name": name, "steps": [transform("a", 1)]}


async def test_lists_runs_across_workflows_newest_first_with_cursor(api: Api) -> None:
    first = await create_workflow(api, _definition("first"))
    second = await create_workflow(api, _definition("second"))
    ids = [await start_run(api, wf) for wf in (first, second, first)]
    for run_id in ids:
        await wait_for_run(api, run_id)

    resp = await api.client.get("/api/runs", params={"limit": 2}, headers=api.headers)
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert [r["id"] for r in body["runs"]] == [ids[2], ids[1]]
    nxt = await api.client.get(
        "/api/runs", params={"limit": 2, "cursor": body["next_cursor"]}, headers=api.headers
    )
    assert [r["id"] for r in nxt.json()["runs"]] == [ids[0]]
    assert nxt.json()["next_cursor"] is None

    by_wf = await api.client.get("/api/runs", params={"workflow_id": second}, headers=api.headers)
    assert [r["id"] for r in by_wf.json()["runs"]] == [ids[1]]
    done = await api.client.get(
        "/api/runs", params={"status": "failed", "trigger": "manual"}, headers=api.headers
    )
    assert done.json()["runs"] == []
    later = await api.client.get(
        "/api/runs", params={"since": "2999-01-01T00:00:00"}, headers=api.headers
    )
    assert later.json()["runs"] == []


async def test_bad_filters_are_422_and_other_workspaces_see_nothing(api: Api) -> None:
    wf = await create_workflow(api, _definition("mine"))
    await start_run(api, wf)
    for params in (
        {"status": "done"},
        {"limit": 500},
        {"cursor": "nope"},
        {"trigger": "x"},
        {"since": "0001-01-01T00:00:00+14:00"},
        {"until": "9999-12-31T23:59:59-14:00"},
        {"since": "2020-01-02", "until": "2020-01-01"},
    ):
        resp = await api.client.get("/api/runs", params=params, headers=api.headers)
        assert resp.status_code == 422, (params, resp.text)
    other = await api.other_workspace()
    resp = await api.client.get("/api/runs", headers=other)
    assert resp.status_code == 200
    assert resp.json()["runs"] == []
    missing = await api.client.get("/api/runs", params={"workflow_id": wf}, headers=other)
    assert missing.status_code == 404
    reader = await api.key_with("workflows:read")
    assert (await api.client.get("/api/runs", headers=reader)).status_code == 200
    assert (await api.client.get("/api/runs")).status_code == 401
