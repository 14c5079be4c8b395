"""Seed 000 verbatim: every request its document shows, in its own form (workspace in the path,
`api_key` in the query or the body), and the bad paths."""

from __future__ import annotations

import json
import re

import pytest

from tests.integration.conftest import Api

SPEC = {"version": "1.0", "inputs": [], "steps": [], "outputs": []}
ISO_Z = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


def _secret(headers: dict[str, str]) -> str:
    return headers["Authorization"].removeprefix("Bearer ")


async def _create(api: Api, key: str, name: str, url: str, workspace: str = "default") -> str:
    # The seed's `curl -X POST --get --data-urlencode …`: every field in the query, no body.
    r = await api.client.post(
        f"/{workspace}/createWorkflow",
        params={
            "api_key": key,
            "name": name,
            "url": url,
            "config": json.dumps({"specification": SPEC}),
            "template": "{}",
        },
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body == {"workflows": {"id": body["workflows"]["id"], "url": url}, "status": "ok"}
    return str(body["workflows"]["id"])


async def test_create_list_get_versions_update_delete(api: Api) -> None:
    wf_id = await _create(api, api.key, "My Workflow", "my-workflow")

    r = await api.client.get("/default/workflows", params={"api_key": api.key})
    assert r.status_code == 200
    listed = r.json()
    assert listed["status"] == "ok"
    (item,) = listed["workflows"]
    assert set(item) == {"id", "name", "url", "createdAt"}
    assert (item["id"], item["name"], item["url"]) == (wf_id, "My Workflow", "my-workflow")
    assert ISO_Z.match(item["createdAt"])

    r = await api.client.get("/default/workflows/my-workflow", params={"api_key": api.key})
    assert r.status_code == 200
    got = r.json()["workflow"]
    assert json.loads(got["config"])["specification"]["steps"] == []
    assert got["template"] == "{}" and got["authorized"] is True

    # The seed's update: JSON body, api_key in the query; the url changes.
    r = await api.client.post(
        "/default/updateWorkflow",
        params={"api_key": api.key},
        json={
            "id": wf_id,
            "name": "My Workflow",
            "url": "renamed-workflow",
            "config": json.dumps({"specification": {"version": "1.0", "steps": []}}),
        },
    )
    assert r.status_code == 200, r.text
    assert r.json() == {"workflows": {"id": wf_id, "url": "renamed-workflow"}, "status": "ok"}
    old = await api.client.get("/default/workflows/my-workflow", params={"api_key": api.key})
    assert old.status_code == 404
    r = await api.client.get(
        "/default/workflows/renamed-workflow/versions", params={"api_key": api.key}
    )
    assert r.status_code == 200
    versions = r.json()["versions"]
    assert [v["version"] for v in versions] == [2, 1]
    assert "inputs" not in json.loads(versions[0]["config"])["specification"]

    r = await api.client.delete("/default/workflows/renamed-workflow", params={"api_key": api.key})
    assert r.status_code == 200
    assert r.json()["workflows"]["id"] == wf_id and r.json()["status"] == "ok"
    gone = await api.client.get("/default/workflows/renamed-workflow", params={"api_key": api.key})
    assert gone.status_code == 404
    trash = await api.client.get("/api/trash", headers=api.headers)
    assert [w["id"] for w in trash.json()["workflows"]] == [wf_id]


async def test_create_takes_a_json_body_with_api_key_and_a_bare_specification(api: Api) -> None:
    r = await api.client.post(
        "/default/createWorkflow",
        json={
            "api_key": api.key,
            "name": "Bare",
            "config": json.dumps(SPEC),
            "template": json.dumps({"kind": "demo"}),
        },
    )
    assert r.status_code == 200, r.text
    assert r.json()["workflows"]["url"] == "bare"
    r = await api.client.get("/default/workflows/bare", params={"api_key": api.key})
    assert json.loads(r.json()["workflow"]["template"]) == {"kind": "demo"}


async def test_public_workflows_read_without_a_key_and_fork(api: Api) -> None:
    other = await api.other_workspace()
    async with api.store.read() as tx:
        workspaces = await tx.list_workspaces()
    other_slug = next(w.slug for w in workspaces if w.slug != "default")
    await _create(api, _secret(other), "Their Workflow", "their-workflow", other_slug)
    await api.client.put(
        "/api/workflows/their-workflow", headers=other, json={"visibility": "public"}
    )
    await _create(api, _secret(other), "Hidden", "hidden", other_slug)

    public = await api.client.get(f"/{other_slug}/workflows/their-workflow")
    assert public.status_code == 200
    assert public.json()["workflow"]["public"] is True
    assert public.json()["workflow"]["authorized"] is False
    assert (await api.client.get(f"/{other_slug}/workflows/hidden")).status_code == 404

    r = await api.client.post(
        "/default/forkWorkflow",
        params={"api_key": api.key},
        json={
            "source_workspace": other_slug,
            "source_workflow": "their-workflow",
            "name": "My Fork",
            "url": "my-fork",
        },
    )
    assert r.status_code == 200, r.text
    assert r.json()["workflows"]["url"] == "my-fork"
    listed = await api.client.get("/default/workflows", params={"api_key": api.key})
    assert [w["name"] for w in listed.json()["workflows"]] == ["My Fork"]


async def test_workflow_token_reads_and_runs_every_workflow_but_writes_nothing(api: Api) -> None:
    wf_id = await _create(api, api.key, "Tokened", "tokened")
    r = await api.client.post("/default/workflowToken", params={"api_key": api.key})
    assert r.status_code == 200, r.text
    token = r.json()["token"]
    assert ISO_Z.match(r.json()["expiresAt"])
    bearer = {"Authorization": f"Bearer {token}"}
    assert (await api.client.get(f"/api/workflows/{wf_id}", headers=bearer)).status_code == 200
    listed = await api.client.get("/api/workflows", headers=bearer)
    assert [w["id"] for w in listed.json()["workflows"]] == [wf_id]
    run = await api.client.post(f"/api/workflows/{wf_id}/run", headers=bearer, json={})
    assert run.status_code == 202, run.text
    write = await api.client.put(f"/api/workflows/{wf_id}", headers=bearer, json={"tags": ["x"]})
    assert write.status_code == 403
    again = await api.client.post("/default/workflowToken", params={"api_key": token})
    assert again.status_code == 403


async def test_seed_scope_names_are_accepted_for_keys(api: Api) -> None:
    r = await api.client.post(
        "/api/keys",
        headers=api.headers,
        json={"name": "seed", "scopes": ["workflow:read", "workflow:create", "workflow:update"]},
    )
    assert r.status_code == 201, r.text
    assert sorted(r.json()["key"]["scopes"]) == ["workflows:read", "workflows:write"]
    key = r.json()["secret"]
    await _create(api, key, "Scoped", "scoped")


async def test_bad_paths(api: Api) -> None:
    await _create(api, api.key, "Mine", "mine")
    other = await api.other_workspace()
    # Another workspace in the path: 404, never 403.
    async with api.store.read() as tx:
        other_slug = next(w.slug for w in await tx.list_workspaces() if w.slug != "default")
    for method, path in (
        ("GET", f"/{other_slug}/workflows"),
        ("GET", f"/{other_slug}/workflows/mine/versions"),
        ("POST", f"/{other_slug}/workflowToken"),
        ("DELETE", f"/{other_slug}/workflows/mine"),
    ):
        r = await api.client.request(method, path, params={"api_key": api.key})
        assert r.status_code == 404, (method, path, r.text)
    assert (
        await api.client.get(f"/{other_slug}/workflows", params={"api_key": _secret(other)})
    ).status_code == 200
    # No key: 401 (a private workflow without a key is simply not public: 404).
    assert (await api.client.get("/default/workflows")).status_code == 401
    assert (
        await api.client.post("/default/createWorkflow", params={"name": "x"})
    ).status_code == 401
    assert (await api.client.get("/default/workflows/mine")).status_code == 404
    # A read-only key may not create: 403.
    reader = _secret(await api.key_with("workflows:read"))
    r = await api.client.post(
        "/default/createWorkflow",
        params={"api_key": reader, "name": "No", "config": json.dumps({"specification": SPEC})},
    )
    assert r.status_code == 403
    # Missing config, or config that is not JSON: 4xx naming it.
    r = await api.client.post("/default/createWorkflow", params={"api_key": api.key, "name": "x"})
    assert r.status_code == 422 and "config" in r.text
    r = await api.client.post(
        "/default/createWorkflow", params={"api_key": api.key, "name": "x", "config": "{nope"}
    )
    assert r.status_code == 400 and "config" in r.text


@pytest.mark.parametrize("slug", ["api", "ui", "docs", "openapi.json", "metrics", "mcp"])
async def test_workspace_slugs_may_not_shadow_flowdecks_paths(api: Api, slug: str) -> None:
    r = await api.client.post(
        "/api/workspaces", headers=api.headers, json={"slug": slug, "name": "Shadow"}
    )
    assert r.status_code == 422
    # Flowdeck's own paths still answer as before, and seed 000's routes never take them:
    # `/ui/workflows` is not a workspace's list (no 401 asking for a key), whatever is
    # mounted after.
    assert (await api.client.get("/api/workflows", headers=api.headers)).status_code == 200
    if slug not in ("api", "openapi.json"):  # /api/workflows is Flowdeck's own list
        # Flowdeck's own answer: the UI's workflows page sends a visitor to its login, the
        # other paths have no such page; never seed 000's 401 asking for a key.
        answer = await api.client.get(f"/{slug}/workflows")
        assert answer.status_code == (303 if slug == "ui" else 404)
        if slug == "ui":
            assert answer.headers["location"].startswith("/ui/login")
