"""Access through the HTTP API: public reads, forks, workflow tokens, permissions, secrets."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from flowdeck.config import Settings
from flowdeck.crypto import SecretBox
from flowdeck.domain.records import ApiKey
from flowdeck.services.auth import WorkflowTokenClaims, sign_workflow_token
from flowdeck.store.tables import workflows
from tests.integration.conftest import Api
from tests.integration.runs_helpers import RUNS, create_workflow, transform, wait_for_run
from tests.integration.seeds import fetch_and_notify
from tests.integration.test_workflows_api import assert_problem, create

WF = "/api/workflows"


def quick(name: str = "Quick") -> dict[str, Any]:
    return {"name": name, "steps": [transform("only", "{{ inputs.word | default('none') }}")]}


async def workspace_slug(api: Api, headers: dict[str, str]) -> str:
    """The slug of the workspace a key belongs to."""
    wf_id = await create_workflow(api, quick("Probe"), headers=headers)
    async with api.store.read() as tx:
        wf = await tx.get_workflow_by_id(wf_id)
        assert wf is not None
        ws = await tx.get_workspace(wf.workspace_id)
    assert ws is not None
    await api.client.delete(f"{WF}/{wf_id}?permanent=true", headers=headers)
    return ws.slug


async def token_for(api: Api, wf_id: str, headers: dict[str, str] | None = None) -> str:
    resp = await api.client.post(f"{WF}/{wf_id}/token", json={}, headers=headers or api.headers)
    assert resp.status_code == 200, resp.text
    return str(resp.json()["token"])


async def key_named(api: Api, name: str) -> ApiKey:
    """The default workspace's key with this name."""
    async with api.store.read() as tx:
        ws = await tx.get_workspace_by_slug("default")
        assert ws is not None
        return next(k for k in await tx.list_api_keys(ws.id) if k.name == name)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


# -- public reads ----------------------------------------------------------------------------


async def test_public_workflow_is_readable_without_a_key(api: Api) -> None:
    h = api.headers
    slug = await workspace_slug(api, h)
    body = await create(api, visibility="public", trigger_type="webhook", tags=["demo"])
    wf_id = body["id"]
    resp = await api.client.get(f"/api/public/{slug}/workflows/fetch-and-notify")
    assert resp.status_code == 200, resp.text
    public = resp.json()
    assert public["id"] == wf_id and public["workspace"] == slug
    assert public["definition"] == body["workflow"]["definition"]
    assert public["tags"] == ["demo"] and public["visibility"] == "public"
    assert public["permissions"] == {"use": False, "edit": False}
    for hidden in ("webhook_secret", "created_by", "source"):
        assert hidden not in public
    by_id = await api.client.get(f"/api/public/{slug}/workflows/{wf_id}")
    assert by_id.json()["id"] == wf_id

    await api.client.put(f"{WF}/{wf_id}", json={"visibility": "private"}, headers=h)
    assert_problem(await api.client.get(f"/api/public/{slug}/workflows/fetch-and-notify"), 404)
    await api.client.put(f"{WF}/{wf_id}", json={"visibility": "public"}, headers=h)
    await api.client.delete(f"{WF}/{wf_id}", headers=h)
    assert_problem(await api.client.get(f"/api/public/{slug}/workflows/fetch-and-notify"), 404)


async def test_public_read_needs_the_owning_workspace(api: Api) -> None:
    await create(api, visibility="public")
    other = await api.other_workspace()
    other_slug = await workspace_slug(api, other)
    slug = await workspace_slug(api, api.headers)
    get = api.client.get
    assert_problem(await get(f"/api/public/{other_slug}/workflows/fetch-and-notify"), 404)
    assert_problem(await get("/api/public/no-such-space/workflows/fetch-and-notify"), 404)
    assert_problem(await get(f"/api/public/{slug}/workflows/nothing"), 404)
    # a private workflow is 404 here even to its own admin key
    await create_workflow(api, quick("Private"))
    assert_problem(await get(f"/api/public/{slug}/workflows/private", headers=api.headers), 404)


# -- fork ------------------------------------------------------------------------------------


async def test_fork_copies_a_public_workflow_from_another_workspace(api: Api) -> None:
    other = await api.other_workspace()
    other_slug = await workspace_slug(api, other)
    source = fetch_and_notify()
    source["description"] = "Shared"
    resp = await api.client.post(
        WF,
        json={"definition": source, "visibility": "public", "tags": ["shared"]},
        headers=other,
    )
    src = resp.json()["workflow"]
    body = {"source_workspace": other_slug, "source_workflow": "fetch-and-notify"}
    resp = await api.client.post(f"{WF}/fork", json=body, headers=api.headers)
    assert resp.status_code == 201, resp.text
    fork = resp.json()["workflow"]
    assert fork["name"] == "Fetch and notify" and fork["slug"] == "fetch-and-notify"
    assert fork["definition"] == src["definition"]
    assert fork["tags"] == ["shared"] and fork["description"] == "Shared"
    assert fork["visibility"] == "private" and fork["version"] == 1
    assert fork["source"] == {"workflow_id": src["id"], "kind": "fork"}
    assert (await api.client.get(f"{WF}/{fork['id']}", headers=api.headers)).status_code == 200
    assert_problem(await api.client.get(f"{WF}/{fork['id']}", headers=other), 404)

    named = {**body, "name": "My fork", "url": "my-fork"}  # seed 000 spells the slug `url`
    resp = await api.client.post(f"{WF}/fork", json=named, headers=api.headers)
    assert resp.json()["workflow"]["slug"] == "my-fork"
    assert resp.json()["workflow"]["definition"]["name"] == "My fork"
    taken = await api.client.post(f"{WF}/fork", json=body, headers=api.headers)
    assert "already exists" in assert_problem(taken, 409)["detail"]


async def test_fork_bad_paths(api: Api) -> None:
    other = await api.other_workspace()
    other_slug = await workspace_slug(api, other)
    mine = await workspace_slug(api, api.headers)
    await create_workflow(api, quick("Private one"), headers=other)
    public = await api.client.post(
        WF, json={"definition": quick("Public one"), "visibility": "public"}, headers=other
    )
    public_id = public.json()["id"]
    post = api.client.post
    h = api.headers

    def fork(workspace: str, workflow: str, **extra: Any) -> dict[str, Any]:
        return {"source_workspace": workspace, "source_workflow": workflow, **extra}

    resp = await post(f"{WF}/fork", json=fork(other_slug, "private-one"), headers=h)
    assert "No public workflow" in assert_problem(resp, 404)["detail"]
    assert_problem(await post(f"{WF}/fork", json=fork("nowhere", "public-one"), headers=h), 404)
    assert_problem(await post(f"{WF}/fork", json=fork(other_slug, "missing"), headers=h), 404)
    await create(api, visibility="public")
    resp = await post(f"{WF}/fork", json=fork(mine, "fetch-and-notify"), headers=h)
    assert "clone" in assert_problem(resp, 422)["errors"][0]
    assert_problem(await post(f"{WF}/fork", json={"source_workspace": other_slug}, headers=h), 422)
    bad = fork(other_slug, "public-one", slug="Bad Slug")
    assert_problem(await post(f"{WF}/fork", json=bad, headers=h), 422)
    reader = await api.key_with("workflows:read")
    assert_problem(
        await post(f"{WF}/fork", json=fork(other_slug, "public-one"), headers=reader), 403
    )
    await api.client.delete(f"{WF}/{public_id}", headers=other)
    assert_problem(await post(f"{WF}/fork", json=fork(other_slug, "public-one"), headers=h), 404)
    assert (await api.client.get(WF, headers=h)).json()["total"] == 1  # only the own one


# -- workflow tokens -------------------------------------------------------------------------


async def test_token_reads_and_runs_only_its_workflow(api: Api) -> None:
    h = api.headers
    wf_id = await create_workflow(api, quick("Mine"))
    other_wf = await create_workflow(api, quick("Other"))
    other_run = await api.client.post(f"{WF}/{other_wf}/run", json={}, headers=h)
    resp = await api.client.post(f"{WF}/{wf_id}/token", json={"expires_in": 600}, headers=h)
    assert resp.status_code == 200, resp.text
    issued = resp.json()
    token = issued["token"]
    assert token.startswith("fdt_") and len(token) < 300
    assert issued["workflow_id"] == wf_id and issued["expires_in"] == 600
    assert issued["scopes"] == ["workflows:read", "workflows:run"]
    expires = datetime.fromisoformat(issued["expires_at"])
    assert timedelta(seconds=590) < expires - datetime.now(UTC) <= timedelta(seconds=600)
    t = bearer(token)

    got = await api.client.get(f"{WF}/{wf_id}", headers=t)
    assert got.status_code == 200 and got.json()["permissions"] == {"use": True, "edit": False}
    assert "webhook_secret" not in got.json()
    assert (await api.client.get(f"{WF}/mine", headers=t)).json()["id"] == wf_id
    listing = (await api.client.get(WF, headers=t)).json()
    assert [w["id"] for w in listing["workflows"]] == [wf_id] and listing["total"] == 1
    assert (await api.client.get(f"{WF}?q=other", headers=t)).json()["total"] == 0
    assert (await api.client.get(f"{WF}?q=MINE", headers=t)).json()["total"] == 1
    assert (await api.client.get(f"{WF}?archived=true", headers=t)).json()["total"] == 0
    assert (await api.client.get(f"{WF}/{wf_id}/versions", headers=t)).status_code == 200

    started = await api.client.post(
        f"{WF}/{wf_id}/run", json={"input_data": {"word": "hi"}}, headers=t
    )
    assert started.status_code == 202, started.text
    run = await wait_for_run(api, started.json()["run_id"], headers=t)
    assert run["status"] == "completed" and run["input_data"] == {"word": "hi"}
    runs = (await api.client.get(f"{WF}/{wf_id}/runs", headers=t)).json()
    assert runs["total"] == 1

    for resp in (
        await api.client.get(f"{WF}/{other_wf}", headers=t),
        await api.client.get(f"{WF}/other", headers=t),
        await api.client.post(f"{WF}/{other_wf}/run", json={}, headers=t),
        await api.client.get(f"{WF}/{other_wf}/runs", headers=t),
        await api.client.get(f"{RUNS}/{other_run.json()['run_id']}", headers=t),
    ):
        assert_problem(resp, 404)


async def test_token_cannot_write_or_reach_workspace_wide_endpoints(api: Api) -> None:
    h = api.headers
    wf_id = await create_workflow(api, quick("Mine"))
    t = bearer(await token_for(api, wf_id))
    c = api.client
    for resp in (
        await c.put(f"{WF}/{wf_id}", json={"tags": ["x"]}, headers=t),
        await c.patch(f"{WF}/{wf_id}/status", json={"status": "paused"}, headers=t),
        await c.delete(f"{WF}/{wf_id}", headers=t),
        await c.post(f"{WF}/{wf_id}/archive", headers=t),
        await c.post(f"{WF}/{wf_id}/clone", json={"name": "Copy"}, headers=t),
        await c.post(f"{WF}/{wf_id}/token", json={}, headers=t),
        await c.post(f"{WF}/{wf_id}/webhook-secret", headers=t),
        await c.get(f"{WF}/{wf_id}/deletion-preview", headers=t),
        await c.post(WF, json={"definition": quick("New")}, headers=t),
        await c.post(f"{WF}/validate", json={"definition": quick()}, headers=t),
        await c.get("/api/trash", headers=t),
        await c.get("/api/keys", headers=t),
        await c.get("/api/secrets", headers=t),
        await c.get(f"{WF}/templates", headers=t),
        await c.post(f"{WF}/bulk-delete", json={"ids": [wf_id]}, headers=t),
    ):
        assert_problem(resp, 403)
    assert (await c.get(f"{WF}/{wf_id}", headers=h)).json()["tags"] == []


async def test_token_in_every_credential_position(api: Api) -> None:
    wf_id = await create_workflow(api, quick())
    token = await token_for(api, wf_id)
    c = api.client
    assert (await c.get(f"{WF}/{wf_id}", headers={"X-API-Key": token})).status_code == 200
    assert (await c.get(f"{WF}/{wf_id}?api_key={token}")).status_code == 200
    resp = await c.post(f"{WF}/{wf_id}/run", json={"api_key": token})
    assert resp.status_code == 202, resp.text


async def test_token_request_checks(api: Api) -> None:
    wf_id = await create_workflow(api, quick())
    post = api.client.post
    h = api.headers
    for bad in (0, -5, 86401, "soon"):
        resp = await post(f"{WF}/{wf_id}/token", json={"expires_in": bad}, headers=h)
        assert_problem(resp, 422)
    day = await post(f"{WF}/{wf_id}/token", json={"expires_in": 86400}, headers=h)
    assert day.json()["expires_in"] == 86400
    default = await post(f"{WF}/{wf_id}/token", headers=h)
    assert default.status_code == 200 and default.json()["expires_in"] == 3600
    reader = await api.key_with("workflows:read")
    assert (
        "workflows:run"
        in assert_problem(await post(f"{WF}/{wf_id}/token", json={}, headers=reader), 403)["detail"]
    )
    runner = await api.key_with("workflows:run")
    assert_problem(await post(f"{WF}/{wf_id}/token", json={}, headers=runner), 403)
    both = await api.key_with("workflows:read", "workflows:run")
    assert (await post(f"{WF}/{wf_id}/token", json={}, headers=both)).status_code == 200
    assert_problem(await post(f"{WF}/wf_nope/token", json={}, headers=h), 404)


async def test_forged_expired_revoked_and_orphaned_tokens_are_refused(
    api: Api, settings: Settings
) -> None:
    h = api.headers
    wf_id = await create_workflow(api, quick())
    token = await token_for(api, wf_id)
    get = api.client.get
    payload, _, signature = token.partition(".")
    flipped = signature[:-2] + ("AA" if not signature.endswith("AA") else "BB")
    for forged in (payload + "." + flipped, payload + ".", "fdt_garbage", token + "x"):
        resp = await get(f"{WF}/{wf_id}", headers=bearer(forged))
        assert "invalid" in assert_problem(resp, 401)["detail"]

    # a token signed with the instance's key, but already expired
    box = SecretBox.from_data_dir(settings.data_dir)
    admin = (await key_named(api, "admin")).id
    past = WorkflowTokenClaims(
        workspace_id=(await key_named(api, "admin")).workspace_id,
        workflow_id=wf_id,
        key_id=admin,
        expires_at=datetime.now(UTC) - timedelta(seconds=1),
    )
    expired = sign_workflow_token(box.signing_key("workflow-token"), past)
    resp = await get(f"{WF}/{wf_id}", headers=bearer(expired))
    assert "expired" in assert_problem(resp, 401)["detail"]
    # the same claims, unexpired, work: the check above was about time alone
    fresh = sign_workflow_token(
        box.signing_key("workflow-token"),
        WorkflowTokenClaims(
            past.workspace_id, wf_id, past.key_id, datetime.now(UTC) + timedelta(minutes=5)
        ),
    )
    assert (await get(f"{WF}/{wf_id}", headers=bearer(fresh))).status_code == 200

    # a token dies with the key that issued it
    minter = await api.key_with("workflows:read", "workflows:run")
    minted = await token_for(api, wf_id, minter)
    assert (await get(f"{WF}/{wf_id}", headers=bearer(minted))).status_code == 200
    minter_key = await key_named(api, "key-workflows:read-workflows:run")
    await api.client.delete(f"/api/keys/{minter_key.id}", headers=h)
    resp = await get(f"{WF}/{wf_id}", headers=bearer(minted))
    assert "revoked" in assert_problem(resp, 401)["detail"]

    # and a trashed workflow is gone for its tokens too
    await api.client.delete(f"{WF}/{wf_id}", headers=h)
    assert_problem(await get(f"{WF}/{wf_id}", headers=bearer(token)), 404)
    assert (await get(WF, headers=bearer(token))).json()["total"] == 0


# -- permissions -----------------------------------------------------------------------------


async def test_permissions_follow_the_callers_scopes_on_every_read(api: Api) -> None:
    wf_id = (await create(api))["id"]
    cases = {
        ("workflows:read",): {"use": False, "edit": False},
        ("workflows:read", "workflows:run"): {"use": True, "edit": False},
        ("workflows:read", "workflows:write"): {"use": False, "edit": True},
        ("workflows:admin",): {"use": True, "edit": True},
    }
    for scopes, expected in cases.items():
        h = await api.key_with(*scopes)
        assert (await api.client.get(f"{WF}/{wf_id}", headers=h)).json()["permissions"] == expected
        listed = (await api.client.get(WF, headers=h)).json()["workflows"]
        assert listed[0]["permissions"] == expected


# -- webhook secrets -------------------------------------------------------------------------


async def test_webhook_secret_shown_to_editors_only_stored_encrypted_and_rotatable(
    api: Api, settings: Settings
) -> None:
    h = api.headers
    created = await create(api, trigger_type="webhook")
    wf_id = created["id"]
    secret = created["workflow"]["webhook_secret"]
    assert secret.startswith("whsec_") and len(secret) > 30
    assert (await api.client.get(f"{WF}/{wf_id}", headers=h)).json()["webhook_secret"] == secret
    writer = await api.key_with("workflows:read", "workflows:write")
    assert (await api.client.get(f"{WF}/{wf_id}", headers=writer)).json()[
        "webhook_secret"
    ] == secret
    reader = await api.key_with("workflows:read", "workflows:run")
    assert "webhook_secret" not in (await api.client.get(f"{WF}/{wf_id}", headers=reader)).json()
    assert "webhook_secret" not in (await api.client.get(WF, headers=h)).json()["workflows"][0]

    async with api.store.read() as tx:
        stored = (
            await tx.conn.execute(
                sa.select(workflows.c.webhook_secret).where(workflows.c.id == wf_id)
            )
        ).scalar_one()
    assert secret not in stored
    assert SecretBox.from_data_dir(settings.data_dir).decrypt(stored) == secret

    rotated = await api.client.post(f"{WF}/{wf_id}/webhook-secret", headers=writer)
    assert rotated.status_code == 200
    new = rotated.json()["webhook_secret"]
    assert new.startswith("whsec_") and new != secret
    assert (await api.client.get(f"{WF}/{wf_id}", headers=h)).json()["webhook_secret"] == new
    resp = await api.client.post(f"{WF}/{wf_id}/webhook-secret", headers=reader)
    assert_problem(resp, 403)


async def test_webhook_secret_only_for_webhook_workflows(api: Api) -> None:
    h = api.headers
    created = await create(api)  # trigger_type manual
    wf_id = created["id"]
    assert created["workflow"]["webhook_secret"] is None
    resp = await api.client.post(f"{WF}/{wf_id}/webhook-secret", headers=h)
    assert "webhook" in assert_problem(resp, 409)["detail"]
    # switching to webhook makes one on first need
    updated = await api.client.put(f"{WF}/{wf_id}", json={"trigger_type": "webhook"}, headers=h)
    secret = updated.json()["webhook_secret"]
    assert secret.startswith("whsec_")
    assert (await api.client.get(f"{WF}/{wf_id}", headers=h)).json()["webhook_secret"] == secret
