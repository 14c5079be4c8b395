"""Inbound webhooks: POST /api/hooks/{workflow_id_or_slug}, authenticated by Standard Webhooks
signatures with the workflow's `whsec_` secret, or by a workflow token."""

from __future__ import annotations

import base64
import json
from datetime import timedelta
from typing import Any

from tests.integration.conftest import Api
from tests.integration.hooks_helpers import (
    HOOKS,
    WF,
    echo,
    legacy,
    run_count,
    standard,
    token_for,
    webhook_workflow,
)
from tests.integration.runs_helpers import transform, wait_for_run
from tests.integration.test_workflows_api import assert_problem


async def test_signed_hook_starts_a_run_with_the_body_as_input(api: Api) -> None:
    wf_id, secret = await webhook_workflow(api)
    # Standard Webhooks: `whsec_` and the standard base64 of the key.
    assert secret.startswith("whsec_")
    assert len(base64.b64decode(secret.removeprefix("whsec_"), validate=True)) == 32
    body = json.dumps({"order": {"id": 7, "items": ["a", "b"]}}).encode()
    resp = await api.client.post(f"{HOOKS}/{wf_id}", content=body, headers=standard(secret, body))
    assert resp.status_code == 202, resp.text
    assert resp.json()["status"] in ("queued", "running")
    run = await wait_for_run(api, resp.json()["run_id"])
    assert run["status"] == "completed", run
    assert run["trigger"] == "webhook" and run["workflow_id"] == wf_id
    assert run["input_data"] == {"order": {"id": 7, "items": ["a", "b"]}}
    assert run["step_runs"][0]["output"] == {"id": 7, "items": ["a", "b"]}
    # A sender mid-rotation sends several signatures; one matching is enough.
    headers = standard(secret, body)
    headers["webhook-signature"] = (
        f"v1,{base64.b64encode(b'x' * 32).decode()} " + (headers["webhook-signature"])
    )
    assert (await api.client.post(f"{HOOKS}/{wf_id}", content=body, headers=headers)).is_success


async def test_a_repeated_webhook_id_is_refused_and_starts_no_second_run(api: Api) -> None:
    wf_id, secret = await webhook_workflow(api)
    body = b'{"order": {"n": 1}}'
    headers = standard(secret, body, msg_id="msg_2Lq1")
    first = await api.client.post(f"{HOOKS}/{wf_id}", content=body, headers=headers)
    assert first.status_code == 202, first.text
    for _ in range(2):  # the captured request, replayed as is
        again = assert_problem(
            await api.client.post(f"{HOOKS}/{wf_id}", content=body, headers=headers), 409
        )
        assert "msg_2Lq1" in again["detail"] and first.json()["run_id"] in again["detail"]
    # Signed afresh with the same id (a sender's retry): still the same delivery.
    fresh = standard(secret, body, msg_id="msg_2Lq1", age=timedelta(seconds=30))
    assert_problem(await api.client.post(f"{HOOKS}/{wf_id}", content=body, headers=fresh), 409)
    assert await run_count(api, wf_id) == 1
    new = await api.client.post(f"{HOOKS}/{wf_id}", content=body, headers=standard(secret, body))
    assert new.status_code == 202
    assert await run_count(api, wf_id) == 2


async def test_stale_and_future_timestamps_are_refused(api: Api) -> None:
    wf_id, secret = await webhook_workflow(api)
    body = b'{"order": {}}'
    old = standard(secret, body, age=timedelta(minutes=6))
    resp = assert_problem(await api.client.post(f"{HOOKS}/{wf_id}", content=body, headers=old), 400)
    assert "webhook-timestamp" in resp["detail"] and "old" in resp["detail"]
    ahead = standard(secret, body, age=-timedelta(minutes=6))
    resp = assert_problem(
        await api.client.post(f"{HOOKS}/{wf_id}", content=body, headers=ahead), 400
    )
    assert "future" in resp["detail"]
    assert await run_count(api, wf_id) == 0
    recent = standard(secret, body, age=timedelta(minutes=3))
    assert (await api.client.post(f"{HOOKS}/{wf_id}", content=body, headers=recent)).is_success


async def test_bad_or_missing_credentials_are_401(api: Api) -> None:
    wf_id, secret = await webhook_workflow(api)
    other_id, other_secret = await webhook_workflow(api, echo("Other"))
    body = b'{"order": {}}'
    post = api.client.post
    good = standard(secret, body)
    wrong_key = "whsec_" + base64.b64encode(b"k" * 32).decode()
    for headers in (
        {},
        standard(wrong_key, body),
        standard(other_secret, body),  # another workflow's secret
        standard(secret, b'{"order": {"forged": true}}'),  # a signature of another body
        {**good, "webhook-id": "msg_other"},  # the id is signed too
        {**good, "webhook-signature": "v2," + good["webhook-signature"][3:]},
        {**good, "webhook-signature": "v1,not base64!"},
        {**good, "webhook-signature": "garbage"},
        {**good, "webhook-timestamp": "soon"},
        {k: v for k, v in good.items() if k != "webhook-timestamp"},
        {"Authorization": f"Bearer {api.key}"},  # an API key is not a hook credential
        {"Authorization": "Bearer fdt_forged.token"},
    ):
        assert_problem(await post(f"{HOOKS}/{wf_id}", content=body, headers=headers), 401)
    partial = {k: v for k, v in good.items() if k != "webhook-timestamp"}
    detail = assert_problem(await post(f"{HOOKS}/{wf_id}", content=body, headers=partial), 401)
    assert "missing: webhook-timestamp" in detail["detail"]
    keyed = await post(f"{HOOKS}/{wf_id}", content=body, headers=api.headers)
    assert "do not take API keys" in assert_problem(keyed, 401)["detail"]
    # an unknown workflow gives the same answer as a bad signature
    resp = await post(f"{HOOKS}/wf_nope", content=body, headers=standard(secret, body))
    assert "does not match" in assert_problem(resp, 401)["detail"]
    # a valid signature wins over an unrelated Authorization header, and is never 401
    also = {**good, "Authorization": f"Bearer {api.key}"}
    assert (await post(f"{HOOKS}/{wf_id}", content=body, headers=also)).status_code == 202
    assert await run_count(api, wf_id) == 1 and await run_count(api, other_id) == 0


async def test_hooks_resolve_the_workflow_by_slug(api: Api) -> None:
    wf_id, secret = await webhook_workflow(api, echo("Orders In"))
    body = b'{"order": {"via": "slug"}}'
    resp = await api.client.post(f"{HOOKS}/orders-in", content=body, headers=standard(secret, body))
    assert resp.status_code == 202, resp.text
    run = await wait_for_run(api, resp.json()["run_id"])
    assert run["workflow_id"] == wf_id and run["input_data"] == {"order": {"via": "slug"}}
    # The same slug in another workspace: each secret reaches its own workflow only.
    other = await api.other_workspace()
    theirs, their_secret = await webhook_workflow(api, echo("Orders In"), headers=other)
    resp = await api.client.post(
        f"{HOOKS}/orders-in", content=body, headers=standard(their_secret, body)
    )
    assert resp.status_code == 202, resp.text
    assert await run_count(api, theirs, other) == 1 and await run_count(api, wf_id) == 1
    # A workflow token names its workspace, so the slug resolves there.
    token = await token_for(api, wf_id)
    resp = await api.client.post(f"{HOOKS}/orders-in?token={token}", content=body)
    assert resp.status_code == 202, resp.text
    assert await run_count(api, wf_id) == 2
    resp = await api.client.post(
        f"{HOOKS}/no-such-slug", content=body, headers=standard(secret, body)
    )
    assert_problem(resp, 401)


async def test_rotating_the_secret_retires_the_old_one(api: Api) -> None:
    wf_id, old = await webhook_workflow(api)
    rotated = await api.client.post(f"{WF}/{wf_id}/webhook-secret", headers=api.headers)
    new = rotated.json()["webhook_secret"]
    assert new.startswith("whsec_") and new != old
    base64.b64decode(new.removeprefix("whsec_"), validate=True)
    body = b'{"order": {"n": 1}}'
    assert_problem(
        await api.client.post(f"{HOOKS}/{wf_id}", content=body, headers=standard(old, body)), 401
    )
    resp = await api.client.post(f"{HOOKS}/{wf_id}", content=body, headers=standard(new, body))
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

    async def hook(body: bytes, msg_id: str | None = None) -> Any:
        headers = standard(secret, body, msg_id=msg_id)
        return await post(f"{HOOKS}/{wf_id}", content=body, headers=headers)

    resp = assert_problem(await hook(b"[1, 2]"), 422)
    assert "JSON object" in resp["detail"] and "an array" in resp["errors"][0]
    assert "a string" in assert_problem(await hook(b'"text"'), 422)["errors"][0]
    assert "null" in assert_problem(await hook(b"null"), 422)["errors"][0]
    assert "not valid JSON" in assert_problem(await hook(b'{"order": '), 400)["detail"]
    resp = await hook(b'{"wrong": 1}')  # the workflow's inputs are checked
    assert any("order" in e for e in assert_problem(resp, 422)["errors"])

    await api.client.patch(f"{WF}/{wf_id}/status", json={"status": "paused"}, headers=h)
    assert "paused" in assert_problem(await hook(b'{"order": {}}', "msg_p"), 409)["detail"]
    await api.client.patch(f"{WF}/{wf_id}/status", json={"status": "active"}, headers=h)
    # A refused delivery was not recorded: the sender's retry of it goes through.
    assert (await hook(b'{"order": {}}', "msg_p")).status_code == 202
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
    headers = {**standard(secret, b""), "Idempotency-Key": "delivery-1"}
    first = await api.client.post(f"{HOOKS}/{wf_id}", content=b"", headers=headers)
    assert first.status_code == 202, first.text
    second = await api.client.post(f"{HOOKS}/{wf_id}", content=b"", headers=headers)
    assert second.json()["run_id"] == first.json()["run_id"]
    run = await wait_for_run(api, first.json()["run_id"])
    assert run["input_data"] == {}
    assert await run_count(api, wf_id) == 1


async def test_another_workspaces_hook_needs_that_workspaces_credentials(api: Api) -> None:
    other = await api.other_workspace()
    theirs, their_secret = await webhook_workflow(api, headers=other)
    mine, my_secret = await webhook_workflow(api)
    my_token = await token_for(api, mine)
    body = b'{"order": {}}'
    post = api.client.post
    assert_problem(
        await post(f"{HOOKS}/{theirs}", content=body, headers=standard(my_secret, body)), 401
    )
    resp = await post(f"{HOOKS}/{theirs}?token={my_token}", content=body)
    assert_problem(resp, 404)
    resp = await post(f"{HOOKS}/{theirs}", content=body, headers=standard(their_secret, body))
    assert resp.status_code == 202
    run = await wait_for_run(api, resp.json()["run_id"], headers=other)
    assert run["workflow_id"] == theirs
    assert_problem(await api.client.get(f"{WF}/runs/{run['id']}", headers=api.headers), 404)
    # Their legacy opt-in is theirs to set: my key cannot reach their workflow at all.
    change = {"legacy_webhook_signature": True}
    assert_problem(await api.client.put(f"{WF}/{theirs}", json=change, headers=api.headers), 404)
    legacy_try = await post(f"{HOOKS}/{theirs}", content=body, headers=legacy(their_secret, body))
    assert_problem(legacy_try, 403)


async def test_non_ascii_signatures_and_tokens_are_refused_not_crashed(api: Api) -> None:
    wf_id, _ = await webhook_workflow(api, legacy_webhook_signature=True)
    body = b'{"order": {"id": 1}}'
    bad_signature = {"X-Flowdeck-Signature": b"sha256=\xb2", "Content-Type": "application/json"}
    resp = await api.client.post(f"{HOOKS}/{wf_id}", content=body, headers=bad_signature)
    assert resp.status_code == 401, resp.text
    token = await token_for(api, wf_id)
    forged = token.rsplit(".", 1)[0].encode() + b".\xb2\xb2"
    resp = await api.client.post(
        f"{HOOKS}/{wf_id}", content=body, headers={"Authorization": b"Bearer " + forged}
    )
    assert resp.status_code == 401, resp.text
