"""Inbound webhooks: POST /api/hooks/{workflow_id}, signed with the workflow's secret or a token."""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

from tests.integration.conftest import Api
from tests.integration.runs_helpers import transform, wait_for_run
from tests.integration.test_workflows_api import assert_problem

WF = "/api/workflows"
HOOKS = "/api/hooks"


def echo(name: str = "Echo") -> dict[str, Any]:
    """A workflow whose output is its `order` input."""
    return {
        "name": name,
        "inputs": [{"name": "order", "type": "object", "required": True}],
        "steps": [transform("echo", "{{ inputs.order }}")],
    }


def signed(secret: str, body: bytes) -> dict[str, str]:
    digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return {"X-Flowdeck-Signature": f"sha256={digest}", "Content-Type": "application/json"}


async def webhook_workflow(
    api: Api, definition: dict[str, Any] | None = None, *, headers: dict[str, str] | None = None
) -> tuple[str, str]:
    """Create a webhook workflow; returns its id and webhook secret."""
    resp = await api.client.post(
        WF,
        json={"definition": definition or echo(), "trigger_type": "webhook"},
        headers=headers or api.headers,
    )
    assert resp.status_code == 201, resp.text
    return resp.json()["id"], resp.json()["workflow"]["webhook_secret"]


async def token_for(api: Api, wf_id: str, headers: dict[str, str] | None = None) -> str:
    resp = await api.client.post(f"{WF}/{wf_id}/token", json={}, headers=headers or api.headers)
    assert resp.status_code == 200, resp.text
    return str(resp.json()["token"])


async def test_signed_hook_starts_a_run_with_the_body_as_input(api: Api) -> None:
    wf_id, secret = await webhook_workflow(api)
    body = json.dumps({"order": {"id": 7, "items": ["a", "b"]}}).encode()
    resp = await api.client.post(f"{HOOKS}/{wf_id}", content=body, headers=signed(secret, body))
    assert resp.status_code == 202, resp.text
    assert resp.json()["status"] in ("queued", "running")
    run = await wait_for_run(api, resp.json()["run_id"])
    assert run["status"] == "completed", run
    assert run["trigger"] == "webhook" and run["workflow_id"] == wf_id
    assert run["input_data"] == {"order": {"id": 7, "items": ["a", "b"]}}
    assert run["step_runs"][0]["output"] == {"id": 7, "items": ["a", "b"]}
    upper = signed(secret, body)
    upper["X-Flowdeck-Signature"] = "sha256=" + upper["X-Flowdeck-Signature"][7:].upper()
    again = await api.client.post(f"{HOOKS}/{wf_id}", content=body, headers=upper)
    assert again.status_code == 202


async def test_bad_or_missing_credentials_are_401(api: Api) -> None:
    wf_id, secret = await webhook_workflow(api)
    body = b'{"order": {}}'
    post = api.client.post
    other_body = b'{"order": {"forged": true}}'
    for headers in (
        {},
        signed("whsec_wrong", body),
        signed(secret, other_body),  # a signature of another body
        {"X-Flowdeck-Signature": "sha256="},
        {"X-Flowdeck-Signature": "md5=abc"},
        {"X-Flowdeck-Signature": hmac.new(secret.encode(), body, "sha256").hexdigest()},
        {"Authorization": f"Bearer {api.key}"},  # an API key is not a hook credential
        {"Authorization": "Bearer fdt_forged.token"},
    ):
        assert_problem(await post(f"{HOOKS}/{wf_id}", content=body, headers=headers), 401)
    keyed = await post(f"{HOOKS}/{wf_id}", content=body, headers=api.headers)
    assert "do not take API keys" in assert_problem(keyed, 401)["detail"]
    # a valid signature wins over an unrelated Authorization header
    also = {**signed(secret, body), "Authorization": f"Bearer {api.key}"}
    assert (await post(f"{HOOKS}/{wf_id}", content=body, headers=also)).status_code == 202
    # an unknown workflow gives the same answer as a bad signature
    resp = await post(f"{HOOKS}/wf_nope", content=body, headers=signed(secret, body))
    assert "does not match" in assert_problem(resp, 401)["detail"]
    runs = (await api.client.get(f"{WF}/{wf_id}/runs", headers=api.headers)).json()
    assert runs["total"] == 1  # only the one with a valid signature


async def test_rotating_the_secret_retires_the_old_one(api: Api) -> None:
    wf_id, old = await webhook_workflow(api)
    rotated = await api.client.post(f"{WF}/{wf_id}/webhook-secret", headers=api.headers)
    new = rotated.json()["webhook_secret"]
    body = b'{"order": {"n": 1}}'
    assert_problem(
        await api.client.post(f"{HOOKS}/{wf_id}", content=body, headers=signed(old, body)), 401
    )
    resp = await api.client.post(f"{HOOKS}/{wf_id}", content=body, headers=signed(new, body))
    assert resp.status_code == 202


async def test_workflow_token_authenticates_a_hook(api: Api) -> None:
    wf_id, _ = await webhook_workflow(api)
    token = await token_for(api, wf_id)
    body = {"order": {"via": "token"}}
    resp = await api.client.post(
        f"{HOOKS}/{wf_id}", json=body, headers={"Authorization": f"Bearer {token}"}
    )
    assert resp.status_code == 202, resp.text
    run = await wait_for_run(api, resp.json()["run_id"])
    assert run["input_data"] == body and run["trigger"] == "webhook"
    resp = await api.client.post(f"{HOOKS}/{wf_id}?token={token}", json=body)
    assert resp.status_code == 202, resp.text

    other_id, _ = await webhook_workflow(api, echo("Other"))
    resp = await api.client.post(
        f"{HOOKS}/{other_id}", json=body, headers={"Authorization": f"Bearer {token}"}
    )
    assert_problem(resp, 404)  # the token knows only its own workflow


async def test_hook_checks_the_workflow_and_the_body(api: Api) -> None:
    h = api.headers
    wf_id, secret = await webhook_workflow(api)
    post = api.client.post

    async def hook(body: bytes) -> Any:
        return await post(f"{HOOKS}/{wf_id}", content=body, headers=signed(secret, body))

    resp = assert_problem(await hook(b"[1, 2]"), 422)
    assert "JSON object" in resp["detail"] and "an array" in resp["errors"][0]
    assert "a string" in assert_problem(await hook(b'"text"'), 422)["errors"][0]
    assert "null" in assert_problem(await hook(b"null"), 422)["errors"][0]
    assert "not valid JSON" in assert_problem(await hook(b'{"order": '), 400)["detail"]
    resp = await hook(b'{"wrong": 1}')  # the workflow's inputs are checked
    assert any("order" in e for e in assert_problem(resp, 422)["errors"])

    await api.client.patch(f"{WF}/{wf_id}/status", json={"status": "paused"}, headers=h)
    assert "paused" in assert_problem(await hook(b'{"order": {}}'), 409)["detail"]
    await api.client.patch(f"{WF}/{wf_id}/status", json={"status": "active"}, headers=h)
    await api.client.post(f"{WF}/{wf_id}/archive", headers=h)
    assert "archived" in assert_problem(await hook(b'{"order": {}}'), 409)["detail"]
    await api.client.post(f"{WF}/{wf_id}/unarchive", headers=h)
    assert (await hook(b'{"order": {}}')).status_code == 202

    await api.client.put(f"{WF}/{wf_id}", json={"trigger_type": "manual"}, headers=h)
    assert "not 'webhook'" in assert_problem(await hook(b'{"order": {}}'), 409)["detail"]
    await api.client.put(f"{WF}/{wf_id}", json={"trigger_type": "webhook"}, headers=h)
    await api.client.delete(f"{WF}/{wf_id}", headers=h)
    assert_problem(await hook(b'{"order": {}}'), 401)  # in the trash: no such hook
    runs = (await api.client.get("/api/trash", headers=h)).json()
    assert runs["total"] == 1


async def test_hook_on_a_manual_workflow_with_a_token_is_409(api: Api) -> None:
    resp = await api.client.post(
        WF, json={"definition": echo(), "trigger_type": "manual"}, headers=api.headers
    )
    wf_id = resp.json()["id"]
    token = await token_for(api, wf_id)
    resp = await api.client.post(f"{HOOKS}/{wf_id}?token={token}", json={"order": {}})
    assert_problem(resp, 409)


async def test_empty_body_is_an_empty_input_and_idempotency_key_dedupes(api: Api) -> None:
    definition = {"name": "No inputs", "steps": [transform("t", 1)]}
    wf_id, secret = await webhook_workflow(api, definition)
    headers = {**signed(secret, b""), "Idempotency-Key": "delivery-1"}
    first = await api.client.post(f"{HOOKS}/{wf_id}", content=b"", headers=headers)
    assert first.status_code == 202, first.text
    second = await api.client.post(f"{HOOKS}/{wf_id}", content=b"", headers=headers)
    assert second.json()["run_id"] == first.json()["run_id"]
    run = await wait_for_run(api, first.json()["run_id"])
    assert run["input_data"] == {}
    runs = (await api.client.get(f"{WF}/{wf_id}/runs", headers=api.headers)).json()
    assert runs["total"] == 1


async def test_another_workspaces_hook_needs_that_workspaces_credentials(api: Api) -> None:
    other = await api.other_workspace()
    theirs, their_secret = await webhook_workflow(api, headers=other)
    mine, my_secret = await webhook_workflow(api)
    my_token = await token_for(api, mine)
    body = b'{"order": {}}'
    post = api.client.post
    assert_problem(
        await post(f"{HOOKS}/{theirs}", content=body, headers=signed(my_secret, body)), 401
    )
    resp = await post(f"{HOOKS}/{theirs}?token={my_token}", content=body)
    assert_problem(resp, 404)
    resp = await post(f"{HOOKS}/{theirs}", content=body, headers=signed(their_secret, body))
    assert resp.status_code == 202
    run = await wait_for_run(api, resp.json()["run_id"], headers=other)
    assert run["workflow_id"] == theirs
    assert_problem(await api.client.get(f"{WF}/runs/{run['id']}", headers=api.headers), 404)
