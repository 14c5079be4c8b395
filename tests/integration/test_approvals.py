"""Approvals through the API: the pending list, the decision endpoints' answers and status
codes, who may decide, paging. What a decision does to the run is tested in tests/engine/."""

from __future__ import annotations

from typing import Any

from tests.integration.conftest import Api
from tests.integration.runs_helpers import (
    create_workflow,
    current,
    start_run,
    transform,
    wait_for_run,
    wait_for_step,
)

RUNS = "/api/workflows/runs"


def _gate(**config: Any) -> dict[str, Any]:
    return {
        "name": "Gated release",
        "inputs": [{"name": "version", "type": "string", "default": "1.2"}],
        "steps": [
            transform("build", "built {{ inputs.version }}"),
            {
                "id": "review",
                "type": "approval",
                "config": {"message": "Ship {{ inputs.version }}?", **config},
                "depends_on": ["build"],
            },
            transform("ship", "shipped", depends_on=["review"]),
            transform("notify", "done", depends_on=["ship"]),
        ],
        "outputs": [{"name": "result", "value": "{{ steps.ship.output }}"}],
    }


async def _waiting_run(api: Api, **config: Any) -> tuple[str, str]:
    wf = await create_workflow(api, _gate(**config))
    run_id = await start_run(api, wf)
    await wait_for_run(api, run_id, ["waiting"])
    return wf, run_id


async def _decide(
    api: Api, run_id: str, verb: str, comment: str | None = None, step: str = "review"
) -> Any:
    body = {"comment": comment} if comment is not None else None
    return await api.client.post(
        f"{RUNS}/{run_id}/steps/{step}/{verb}", json=body, headers=api.headers
    )


async def test_approve_lets_the_run_finish(api: Api) -> None:
    wf, run_id = await _waiting_run(api)
    run = await wait_for_step(api, run_id, "review", ["waiting"])
    assert run["status"] == "waiting"
    assert current(run, "review")["output"] is None
    listed = (await api.client.get("/api/approvals", headers=api.headers)).json()
    assert listed["total"] == 1
    item = listed["approvals"][0]
    assert item["run_id"] == run_id and item["step_id"] == "review"
    assert item["workflow_id"] == wf and item["message"] == "Ship 1.2?"
    assert item["expires_at"] is None and item["approve_url"].endswith("/review/approve")

    resp = await _decide(api, run_id, "approve", "looks good")
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["approved"] is True and body["by"] == "admin" and body["comment"] == "looks good"
    assert body["step_status"] == "completed"
    run = await wait_for_run(api, run_id)
    assert run["status"] == "completed"
    assert run["output"] == {"result": "shipped"}
    review = current(run, "review")["output"]
    assert review == {
        "approved": True,
        "by": "admin",
        "comment": "looks good",
        "decided_at": body["decided_at"],
    }
    assert (await api.client.get("/api/approvals", headers=api.headers)).json()["total"] == 0

    again = await _decide(api, run_id, "approve")
    assert again.status_code == 409
    assert again.json()["detail"] == (
        f"Step 'review' of run '{run_id}' was already decided (approved)"
    )
    assert (await _decide(api, run_id, "reject")).status_code == 409


async def test_reject_answers_with_the_decision_and_fails_the_run(api: Api) -> None:
    _, run_id = await _waiting_run(api)
    resp = await _decide(api, run_id, "reject", "not today")
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["approved"] is False and body["by"] == "admin" and body["comment"] == "not today"
    assert body["step_status"] == "failed"
    run = await wait_for_run(api, run_id)
    assert run["status"] == "failed"
    assert current(run, "review")["error"] == "Rejected by admin: not today"
    for verb in ("approve", "reject"):
        again = await _decide(api, run_id, verb)
        assert again.status_code == 409
        assert again.json()["detail"].endswith("was already decided (rejected)")


async def test_deciding_needs_a_waiting_approval_step_in_your_workspace(api: Api) -> None:
    _, run_id = await _waiting_run(api, timeout_seconds=3600)
    listed = (await api.client.get("/api/approvals", headers=api.headers)).json()
    assert listed["approvals"][0]["expires_at"] is not None
    assert listed["approvals"][0]["on_timeout"] == "reject"

    not_gate = await _decide(api, run_id, "approve", step="build")
    assert not_gate.status_code == 409
    assert "not an approval" in not_gate.json()["detail"]
    unknown = await _decide(api, run_id, "approve", step="nope")
    assert unknown.status_code == 404
    assert unknown.json()["detail"] == f"Step 'nope' not found in run '{run_id}'"

    other = await api.other_workspace()
    hidden = await api.client.post(f"{RUNS}/{run_id}/steps/review/approve", headers=other)
    assert hidden.status_code == 404
    assert (await api.client.get("/api/approvals", headers=other)).json()["total"] == 0

    reader = await api.key_with("workflows:read")
    refused = await api.client.post(f"{RUNS}/{run_id}/steps/review/approve", headers=reader)
    assert refused.status_code == 403

    runner = await api.key_with("workflows:read", "workflows:run")
    ok = await api.client.post(
        f"{RUNS}/{run_id}/steps/review/approve", json={"comment": "ok"}, headers=runner
    )
    assert ok.status_code == 200
    assert ok.json()["by"] == "key-workflows:read-workflows:run"  # the key's name
    run = await wait_for_run(api, run_id)
    assert run["status"] == "completed"


async def test_pending_approvals_page_by_cursor(api: Api) -> None:
    wf = await create_workflow(api, _gate())
    run_ids = [await start_run(api, wf) for _ in range(3)]
    for run_id in run_ids:
        await wait_for_run(api, run_id, ["waiting"])
    seen: list[str] = []
    cursor = None
    while True:
        url = "/api/approvals?limit=2" + (f"&cursor={cursor}" if cursor else "")
        body = (await api.client.get(url, headers=api.headers)).json()
        assert body["total"] == 3
        seen += [a["run_id"] for a in body["approvals"]]
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert sorted(seen) == sorted(run_ids) and len(seen) == 3
