"""The run endpoints: start, inputs, outputs, idempotency, dry runs, tenancy, deletion."""

from __future__ import annotations

from typing import Any

from tests.integration.conftest import Api
from tests.integration.runs_helpers import (
    RUNS,
    create_workflow,
    current,
    failing,
    get_run,
    outputs,
    start_run,
    transform,
    wait,
    wait_for_run,
)

INPUTS = [
    {"name": "name", "type": "string", "required": True},
    {"name": "count", "type": "integer", "default": 2},
    {"name": "ratio", "type": "number", "default": 0.5},
    {"name": "tags", "type": "array", "required": True},
]


def with_inputs() -> dict[str, Any]:
    return {
        "name": "With inputs",
        "inputs": INPUTS,
        "steps": [
            transform("repeat", "{{ inputs.name * inputs.count }}", cost=1.5),
            transform("tagged", "{{ inputs.tags | join(',') }}", depends_on=["repeat"], cost=2),
        ],
        "outputs": [
            {"name": "text", "value": "{{ steps.repeat.output }}"},
            {"name": "tags", "value": "{{ steps.tagged.output }}"},
            {"name": "ratio", "value": "{{ inputs.ratio }}"},
            {"name": "run", "value": "{{ run.id }}"},
        ],
    }


def assert_problem(resp: Any, status: int) -> dict[str, Any]:
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"].startswith("application/problem+json")
    body = dict(resp.json())
    assert body["status"] == status
    return body


async def test_run_applies_defaults_and_renders_outputs(api: Api) -> None:
    wf = await create_workflow(api, with_inputs())
    resp = await api.client.post(
        f"/api/workflows/{wf}/run",
        json={"input_data": {"name": "ab", "tags": ["x", "y"]}, "trigger": "api"},
        headers=api.headers,
    )
    assert resp.status_code == 202, resp.text
    assert resp.json()["status"] in ("queued", "running")
    run_id = resp.json()["run_id"]
    run = await wait_for_run(api, run_id)
    assert run["status"] == "completed", run
    assert run["trigger"] == "api"
    assert run["workflow_id"] == wf and run["workflow_version"] == 1
    assert run["input_data"] == {"name": "ab", "tags": ["x", "y"], "count": 2, "ratio": 0.5}
    assert run["output"] == {"text": "abab", "tags": "x,y", "ratio": 0.5, "run": run_id}
    assert outputs(run) == {"repeat": "abab", "tagged": "x,y"}
    assert run["error"] is None
    assert run["started_at"].endswith("Z") and run["completed_at"].endswith("Z")
    assert run["duration_seconds"] is not None
    for step in run["step_runs"]:
        assert step["status"] == "completed" and step["attempt"] == 1
        assert step["started_at"] and step["completed_at"]
        assert step["duration_seconds"] is not None


async def test_invalid_inputs_are_rejected_with_every_problem(api: Api) -> None:
    wf = await create_workflow(api, with_inputs())
    resp = await api.client.post(
        f"/api/workflows/{wf}/run",
        json={"input_data": {"count": "three", "ratio": True}},
        headers=api.headers,
    )
    body = assert_problem(resp, 422)
    joined = " | ".join(body["errors"])
    assert len(body["errors"]) == 4, body["errors"]
    for name in ("name", "tags", "count", "ratio"):
        assert name in joined
    listed = await api.client.get(f"/api/workflows/{wf}/runs", headers=api.headers)
    assert listed.json()["total"] == 0


async def test_paused_archived_and_unknown_workflows(api: Api) -> None:
    wf = await create_workflow(api, {"name": "Steered", "steps": [transform("t", 1)]})
    for status in ("paused", "archived"):
        resp = await api.client.patch(
            f"/api/workflows/{wf}/status", json={"status": status}, headers=api.headers
        )
        assert resp.status_code == 200, resp.text
        resp = await api.client.post(f"/api/workflows/{wf}/run", json={}, headers=api.headers)
        body = assert_problem(resp, 409)
        assert status in body["detail"]
    resp = await api.client.post("/api/workflows/wf_nope/run", json={}, headers=api.headers)
    assert_problem(resp, 404)
    resp = await api.client.get(f"{RUNS}/run_nope", headers=api.headers)
    assert_problem(resp, 404)


async def test_another_workspace_cannot_see_or_steer_a_run(api: Api) -> None:
    wf = await create_workflow(api, {"name": "Private", "steps": [wait("nap", 3600)]})
    run_id = await start_run(api, wf)
    await wait_for_run(api, run_id, {"waiting"})
    other = await api.other_workspace()
    assert_problem(await api.client.get(f"{RUNS}/{run_id}", headers=other), 404)
    for action in ("cancel", "pause", "resume"):
        resp = await api.client.post(f"{RUNS}/{run_id}/{action}", json={}, headers=other)
        assert_problem(resp, 404)
    assert_problem(await api.client.delete(f"{RUNS}/{run_id}", headers=other), 404)
    assert_problem(await api.client.get(f"{RUNS}/{run_id}/stream", headers=other), 404)
    assert_problem(await api.client.get(f"/api/workflows/{wf}/runs", headers=other), 404)
    assert_problem(await api.client.post(f"/api/workflows/{wf}/run", json={}, headers=other), 404)
    # Untouched by all of that.
    assert (await get_run(api, run_id))["status"] == "waiting"
    resp = await api.client.post(f"{RUNS}/{run_id}/cancel", headers=api.headers)
    assert resp.status_code == 200, resp.text


async def test_scopes_guard_the_run_endpoints(api: Api) -> None:
    wf = await create_workflow(api, {"name": "Scoped", "steps": [transform("t", 1)]})
    reader = await api.key_with("workflows:read")
    resp = await api.client.post(f"/api/workflows/{wf}/run", json={}, headers=reader)
    assert_problem(resp, 403)
    runner = await api.key_with("workflows:run", "workflows:read")
    run_id = await start_run(api, wf, headers=runner)
    run = await wait_for_run(api, run_id, headers=reader)
    assert run["status"] == "completed"
    assert_problem(await api.client.delete(f"{RUNS}/{run_id}", headers=runner), 403)
    resp = await api.client.get(f"{RUNS}/{run_id}")
    assert_problem(resp, 401)


async def test_idempotency_key_returns_the_same_run(api: Api) -> None:
    wf = await create_workflow(api, {"name": "Once", "steps": [transform("t", 1)]})

    async def start(key: str) -> str:
        resp = await api.client.post(
            f"/api/workflows/{wf}/run",
            json={"input_data": {}},
            headers={**api.headers, "Idempotency-Key": key},
        )
        assert resp.status_code == 202, resp.text
        return str(resp.json()["run_id"])

    first = await start("order-1")
    assert await start("order-1") == first
    await wait_for_run(api, first)
    assert await start("order-1") == first  # also once the run has finished
    second = await start("order-2")
    assert second != first
    await wait_for_run(api, second)
    listed = await api.client.get(f"/api/workflows/{wf}/runs", headers=api.headers)
    assert listed.json()["total"] == 2


async def test_dry_run_plans_without_running(api: Api) -> None:
    definition = with_inputs()
    definition["steps"].append(
        transform("side", "{{ inputs.name }}", cost=0.25),
    )
    wf = await create_workflow(api, definition)

    async def dry(input_data: dict[str, Any]) -> dict[str, Any]:
        resp = await api.client.post(
            f"/api/workflows/{wf}/run",
            json={"input_data": input_data, "dry_run": True},
            headers=api.headers,
        )
        assert resp.status_code == 200, resp.text
        return dict(resp.json())

    plan = await dry({"name": "a", "tags": []})
    assert plan["valid"] is True and plan["errors"] == []
    assert [sorted(level) for level in plan["plan"]] == [["repeat", "side"], ["tagged"]]
    assert plan["estimated_cost"] == 3.75
    assert plan["estimated_duration_seconds"] is None
    assert {s["id"]: s["level"] for s in plan["steps"]} == {"repeat": 0, "tagged": 1, "side": 0}
    listed = await api.client.get(f"/api/workflows/{wf}/runs", headers=api.headers)
    assert listed.json()["total"] == 0

    bad = await dry({"count": "x"})
    assert bad["valid"] is False
    assert len(bad["errors"]) == 3, bad["errors"]

    run = await wait_for_run(api, await start_run(api, wf, {"name": "a", "tags": ["t"]}))
    assert run["status"] == "completed"
    plan = await dry({"name": "a", "tags": []})
    assert isinstance(plan["estimated_duration_seconds"], int | float)
    assert plan["estimated_duration_seconds"] >= 0
    listed = await api.client.get(f"/api/workflows/{wf}/runs", headers=api.headers)
    assert listed.json()["total"] == 1


async def test_delete_a_finished_run_but_not_an_active_one(api: Api) -> None:
    done_wf = await create_workflow(api, {"name": "Done", "steps": [transform("t", 1)]})
    done = await start_run(api, done_wf)
    await wait_for_run(api, done)
    busy_wf = await create_workflow(api, {"name": "Busy", "steps": [wait("nap", 3600)]})
    busy = await start_run(api, busy_wf)
    await wait_for_run(api, busy, {"waiting"})

    resp = await api.client.delete(f"{RUNS}/{busy}", headers=api.headers)
    assert_problem(resp, 409)
    resp = await api.client.delete(f"{RUNS}/{done}", headers=api.headers)
    assert resp.status_code == 204, resp.text
    assert_problem(await api.client.get(f"{RUNS}/{done}", headers=api.headers), 404)
    assert_problem(await api.client.delete(f"{RUNS}/{done}", headers=api.headers), 404)
    listed = await api.client.get(f"/api/workflows/{done_wf}/runs", headers=api.headers)
    assert listed.json()["total"] == 0

    resp = await api.client.post(f"{RUNS}/{busy}/cancel", headers=api.headers)
    assert resp.status_code == 200
    resp = await api.client.delete(f"{RUNS}/{busy}", headers=api.headers)
    assert resp.status_code == 204, resp.text


async def test_list_runs_filters_by_status(api: Api) -> None:
    wf = await create_workflow(
        api,
        {
            "name": "Mixed",
            "inputs": [{"name": "fail", "type": "boolean", "default": False}],
            "steps": [transform("t", "{{ [1][5] if inputs.fail else 1 }}")],
        },
    )
    ok = await start_run(api, wf)
    bad = await start_run(api, wf, {"fail": True})
    await wait_for_run(api, ok)
    await wait_for_run(api, bad)
    listed = (await api.client.get(f"/api/workflows/{wf}/runs", headers=api.headers)).json()
    assert listed["total"] == 2
    assert [r["id"] for r in listed["runs"]] == [bad, ok]  # newest first
    failed = (
        await api.client.get(f"/api/workflows/{wf}/runs?status=failed", headers=api.headers)
    ).json()
    assert [r["id"] for r in failed["runs"]] == [bad]
    resp = await api.client.get(f"/api/workflows/{wf}/runs?status=bogus", headers=api.headers)
    assert_problem(resp, 422)


async def test_resume_on_the_latest_version_through_the_api(api: Api) -> None:
    wf = await create_workflow(api, {"name": "Fix me", "steps": [failing("a")]})
    run_id = await start_run(api, wf)
    assert (await wait_for_run(api, run_id))["status"] == "failed"
    fixed = {"name": "Fix me", "steps": [transform("a", "fixed")]}
    resp = await api.client.put(
        f"/api/workflows/{wf}", json={"definition": fixed}, headers=api.headers
    )
    assert resp.status_code == 200, resp.text
    for bad, problem in (("newest", "version"), (99, "no version 99")):
        resp = await api.client.post(
            f"{RUNS}/{run_id}/resume", json={"version": bad}, headers=api.headers
        )
        assert resp.status_code == 422, resp.text
        assert problem in resp.text
    resp = await api.client.post(
        f"{RUNS}/{run_id}/resume", json={"version": "latest"}, headers=api.headers
    )
    assert resp.status_code == 200, resp.text
    assert resp.json()["run"]["workflow_version"] == 2
    run = await wait_for_run(api, run_id)
    assert run["status"] == "completed"
    assert current(run, "a")["output"] == "fixed"
