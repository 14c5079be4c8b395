"""No input stalls or crashes the server: YAML alias bombs, over-deep nesting, integers past
the database's columns and NUL characters are refused with a 4xx naming the field."""

from __future__ import annotations

import asyncio
import time
from itertools import pairwise
from typing import Any

import httpx
import pytest

from flowdeck.domain.clock import SystemClock
from tests.integration.conftest import Api
from tests.integration.hooks_helpers import standard, token_for, webhook_workflow
from tests.integration.runs_helpers import RUNS, transform, wait_for_run

WF = "/api/workflows"

# "Billion laughs": under 500 bytes of YAML whose step config expands to 10^9 strings, all
# of which a validator that follows the aliases would visit.
YAML_BOMB = (
    "name: lol\nsteps:\n- id: s\n  type: transform\n  config:\n    value:\n"
    f"      a: &a [{','.join(['lol'] * 10)}]\n"
    + "".join(f"      {n}: &{n} [{','.join([f'*{p}'] * 10)}]\n" for p, n in pairwise("abcdefgh"))
    + f"      i: [{','.join(['*h'] * 10)}]\n"
)


def nested_json(depth: int) -> str:
    """`{"a": {"a": … 1 …}}`, `depth` objects deep (as text: json.dumps would recurse)."""
    return '{"a": ' * depth + "1" + "}" * depth


def problem_text(resp: httpx.Response) -> str:
    """Detail and errors of a 4xx problem+json, as one string to search."""
    assert 400 <= resp.status_code < 500, resp.text
    assert resp.headers["content-type"].startswith("application/problem+json"), resp.text
    body = resp.json()
    return " ".join([body["detail"], *body.get("errors", [])])


async def test_yaml_bomb_is_refused_at_once_and_the_server_stays_responsive(api: Api) -> None:
    assert len(YAML_BOMB.encode()) < 500
    reader = await api.key_with("workflows:read")
    validate = f"{WF}/validate"
    warm = await api.client.post(
        validate, json={"definition": "name: x\nsteps: []"}, headers=reader
    )
    assert warm.status_code == 200, warm.text

    async def bomb() -> tuple[httpx.Response, float]:
        start = time.perf_counter()
        resp = await api.client.post(validate, json={"definition": YAML_BOMB}, headers=reader)
        return resp, time.perf_counter() - start

    fastest = float("inf")
    for _ in range(3):  # a loaded machine may stall one attempt; the bomb must never
        refusal = asyncio.create_task(bomb())
        health_start = time.perf_counter()
        health = await api.client.get("/healthz")
        health_seconds = time.perf_counter() - health_start
        resp, seconds = await refusal
        assert health.status_code == 200 and health_seconds < 1.0
        assert resp.status_code == 200, resp.text
        body = resp.json()
        assert body["valid"] is False
        assert any("YAML anchors and aliases are not supported" in e for e in body["errors"])
        fastest = min(fastest, seconds)
        if fastest < 0.1:
            break
    assert fastest < 0.1

    created = await api.client.post(WF, json={"definition": YAML_BOMB}, headers=api.headers)
    assert "YAML anchors and aliases are not supported" in problem_text(created)


async def test_yaml_and_definitions_over_the_nesting_cap_are_refused(api: Api) -> None:
    deep_yaml = "name: deep\nsteps: []\nx: " + "[" * 65 + "]" * 65 + "\n"
    resp = await api.client.post(
        f"{WF}/validate", json={"definition": deep_yaml}, headers=api.headers
    )
    assert resp.json()["valid"] is False
    assert "nested more than 64 levels deep" in resp.json()["errors"][0]
    config: Any = 1
    for _ in range(64):
        config = {"a": config}
    definition = {"name": "Deep", "steps": [transform("a", config)]}
    resp = await api.client.post(WF, json={"definition": definition}, headers=api.headers)
    text = problem_text(resp)
    assert resp.status_code == 422
    assert "definition.steps[0].config…: nested more than 64 levels deep" in text


@pytest.mark.parametrize("depth", [300, 900])
@pytest.mark.parametrize("route", ["run", "run with a workflow token", "signed hook", "hook token"])
async def test_over_deep_input_data_is_refused(api: Api, route: str, depth: int) -> None:
    wf_id, secret = await webhook_workflow(api, {"name": "Any input", "steps": [transform("a", 1)]})
    inner = nested_json(depth)
    if route.startswith("run"):
        body = f'{{"input_data": {{"order": {inner}}}}}'.encode()
        token = await token_for(api, wf_id) if "token" in route else api.key
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        url = f"{WF}/{wf_id}/run"
    else:
        body = f'{{"order": {inner}}}'.encode()
        if route == "signed hook":
            headers = standard(secret, body)
        else:
            token = await token_for(api, wf_id)
            headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        url = f"/api/hooks/{wf_id}"
    resp = await api.client.post(url, content=body, headers=headers)
    assert resp.status_code == 422, resp.text
    text = problem_text(resp)
    assert "input_data" in text and "nested more than 64 levels deep" in text
    runs = await api.client.get(f"{WF}/{wf_id}/runs", headers=api.headers)
    assert runs.status_code == 200, runs.text
    assert runs.json()["total"] == 0


async def test_input_data_at_the_cap_is_accepted(api: Api) -> None:
    wf_id, _ = await webhook_workflow(api, {"name": "Any input", "steps": [transform("a", 1)]})
    # The body is one object, input_data a second and `order` a third: 61 more fit.
    body = f'{{"input_data": {{"order": {nested_json(61)}}}}}'
    headers = {**api.headers, "Content-Type": "application/json"}
    resp = await api.client.post(f"{WF}/{wf_id}/run", content=body, headers=headers)
    assert resp.status_code == 202, resp.text
    run = await wait_for_run(api, resp.json()["run_id"])
    assert run["status"] == "completed"
    assert (await api.client.get(f"{WF}/{wf_id}/runs", headers=api.headers)).status_code == 200


LIST_ROUTES = [
    "/api/workflows",
    "/api/workflows/{wf}/runs",
    "/api/workflows/{wf}/schedules",
    "/api/workflows/templates",
    "/api/agents",
    "/api/keys",
    "/api/secrets",
    "/api/workspaces",
    "/api/trash",
    "/api/approvals",
]
BIG = 2**64
# (method, path, JSON body, extra headers, authenticated, the field the answer must name)
CASES: list[tuple[str, str, Any, dict[str, str], bool, str]] = [
    *[("GET", f"{p}?offset=9223372036854775808", None, {}, True, "offset") for p in LIST_ROUTES],
    ("GET", "/api/workflows/{wf}/versions/99999999999999999999", None, {}, True, "version"),
    ("GET", f"/api/workflows/{{wf}}/diff?v1={BIG}&v2=1", None, {}, True, "v1"),
    ("POST", "/api/workflows/{wf}/rollback", {"version": BIG}, {}, True, "version"),
    ("POST", "/api/agents", {"name": "a", "model": "m", "max_tokens": BIG}, {}, True, "max_tokens"),
    ("GET", f"{RUNS}/{{run}}/stream", None, {"Last-Event-ID": str(BIG)}, True, "last-event-id"),
    (
        "POST",
        "/api/workflows",
        {"definition": {"name": "a\x00b", "steps": [transform("a", 1)]}},
        {},
        True,
        "definition.name",
    ),
    ("POST", "/api/workflows/{wf}/run", {"input_data": {"x": "a\x00b"}}, {}, True, "input_data.x"),
    ("GET", "/api/workflows/%00", None, {}, True, "workflow_id"),
    ("GET", "/api/workflows?q=%00", None, {}, True, "q"),
    ("GET", "/api/workflows?tag=a%00", None, {}, True, "tag"),
    ("GET", "/api/public/%00/workflows/x", None, {}, False, "workspace_slug"),
    ("POST", "/api/hooks/%00", {}, {}, False, "workflow_id"),
]


@pytest.mark.parametrize(
    ("method", "path", "body", "headers", "authenticated", "field"),
    CASES,
    ids=[f"{c[0]} {c[1]} {c[5]}" for c in CASES],
)
async def test_out_of_range_and_nul_inputs_are_422_naming_the_field(
    api: Api,
    method: str,
    path: str,
    body: Any,
    headers: dict[str, str],
    authenticated: bool,
    field: str,
) -> None:
    wf_id, _ = await webhook_workflow(api, {"name": "Target", "steps": [transform("a", 1)]})
    started = await api.client.post(f"{WF}/{wf_id}/run", json={}, headers=api.headers)
    run_id = started.json()["run_id"]
    await wait_for_run(api, run_id)
    url = path.replace("{wf}", wf_id).replace("{run}", run_id)
    sent = {**(api.headers if authenticated else {}), **headers}
    resp = await api.client.request(method, url, json=body, headers=sent)
    assert resp.status_code == 422, resp.text
    assert field in problem_text(resp)
    assert (await api.client.get(f"{WF}/{wf_id}/runs", headers=api.headers)).status_code == 200


async def test_text_the_database_cannot_store_is_invalid_input_from_any_caller(
    api: Api, is_postgres: bool
) -> None:
    # A caller that skips the API's checks (MCP, the CLI on the database) still gets a clear
    # refusal, never a driver error: PostgreSQL cannot store NUL in text.
    from flowdeck.errors import InvalidInput
    from flowdeck.services.auth import AuthService

    principal = await AuthService(api.store, SystemClock()).authenticate(api.key)
    services = api.client._transport.app.state.services  # type: ignore[attr-defined]
    definition = {"name": "Nul", "steps": [transform("a", 1)]}
    if not is_postgres:
        await services.workflows.create(principal, definition, tags=["a\x00b"])  # as it is
        return
    with pytest.raises(InvalidInput) as refused:
        await services.workflows.create(principal, definition, tags=["a\x00b"])
    assert refused.value.errors == ["Text may not contain NUL characters (\\u0000)"]
