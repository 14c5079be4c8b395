"""Seed 003 verbatim: `/api/v2/w/{workspace_uuid}/workflows/{workflow_id}` with an integer id or
a UUID, the WorkflowResponse in camelCase, permanent delete with cascade, and the bad paths."""

from __future__ import annotations

from typing import Any

from tests.integration.conftest import Api
from tests.integration.runs_helpers import wait_for_run


def _definition(name: str) -> dict[str, Any]:
    return {
        "name": name,
        "description": "Two tasks",
        "steps": [
            {"id": "first", "type": "transform", "name": "First", "config": {"value": 1}},
            {
                "id": "second",
                "type": "transform",
                "config": {"value": 2},
                "depends_on": ["first"],
            },
        ],
    }


async def _base(api: Api, headers: dict[str, str] | None = None) -> str:
    r = await api.client.get("/api/v2/w", headers=headers or api.headers)
    assert r.status_code == 200, r.text
    uuid: str = r.json()["workspaces"][0]["uuid"]
    return f"/api/v2/w/{uuid}/workflows"


async def _create(api: Api, name: str = "Onboarding") -> dict[str, Any]:
    r = await api.client.post(
        "/api/workflows", headers=api.headers, json={"definition": _definition(name)}
    )
    assert r.status_code == 201, r.text
    base = await _base(api)
    listed = await api.client.get(base, headers=api.headers)
    found: dict[str, Any] = next(w for w in listed.json()["workflows"] if w["name"] == name)
    return found


async def test_get_by_integer_id_and_uuid(api: Api) -> None:
    base = await _base(api)
    wf = await _create(api)
    assert isinstance(wf["id"], int) and len(wf["uuid"]) == 36
    for ref in (wf["id"], wf["uuid"]):
        r = await api.client.get(f"{base}/{ref}", headers=api.headers)
        assert r.status_code == 200
        body = r.json()
        assert body == wf
    me = (await api.client.get("/api/v2/w", headers=api.headers)).json()["member"]
    assert isinstance(body["ownerId"], int) and body["ownerId"] == me["id"]
    assert [t["name"] for t in body["tasks"]] == ["First", "second"]
    assert body["startTaskId"] == 1
    assert body["permissions"] == {"use": True, "edit": True}
    assert body["createdAt"].endswith("Z") and body["description"] == "Two tasks"


async def test_put_every_field(api: Api) -> None:
    base = await _base(api)
    wf = await _create(api)
    agent = await api.client.post(
        "/api/agents", headers=api.headers, json={"name": "Helper", "model": "m"}
    )
    colleague = await api.key_with("workflows:read", "workflows:write")
    owner = (await api.client.get("/api/v2/w", headers=colleague)).json()["member"]["id"]
    change = {
        "name": "Onboarding v2",
        "description": "Updated",
        "prompt": "Be kind",
        "ownerId": owner,
        "agentId": agent.json()["agent"]["id"],
        "startTaskId": 2,
        "defaultPhoneNumberId": 7,
        "defaultInboxId": None,
        "posX": 10.5,
        "posY": -3,
        "abilities": [{"name": "email"}],
        "eventRules": [{"on": "created"}],
        "memberRoleAccess": [{"role": "viewer", "access": "use"}],
    }
    r = await api.client.put(f"{base}/{wf['id']}", headers=api.headers, json=change)
    assert r.status_code == 200, r.text
    body = r.json()
    for field, value in change.items():
        assert body[field] == value, field
    assert body["updatedAt"] >= wf["updatedAt"]
    again = await api.client.get(f"{base}/{wf['uuid']}", headers=api.headers)
    assert again.json() == body
    bad = await api.client.put(f"{base}/{wf['id']}", headers=api.headers, json={"startTaskId": 9})
    assert bad.status_code == 400 and "startTaskId" in bad.text
    bad = await api.client.put(f"{base}/{wf['id']}", headers=api.headers, json={"posX": "left"})
    assert bad.status_code == 400
    bad = await api.client.put(f"{base}/{wf['id']}", headers=api.headers, json={"ownerId": 999})
    assert bad.status_code == 400 and "ownerId" in bad.text
    writer = await api.key_with("workflows:read", "workflows:write")
    r = await api.client.put(f"{base}/{wf['id']}", headers=writer, json={"memberRoleAccess": []})
    assert r.status_code == 403


async def test_archive_unarchive_and_archived_list(api: Api) -> None:
    base = await _base(api)
    wf = await _create(api)
    r = await api.client.post(f"{base}/{wf['id']}/archive", headers=api.headers)
    assert r.status_code == 200 and r.json() == {"status": "success"}
    default = await api.client.get(base, headers=api.headers)
    assert default.json()["workflows"] == []
    archived = await api.client.get(base, headers=api.headers, params={"archived": "true"})
    assert [w["id"] for w in archived.json()["workflows"]] == [wf["id"]]
    assert archived.json()["workflows"][0]["archived"] is True
    r = await api.client.post(f"{base}/{wf['uuid']}/unarchive", headers=api.headers)
    assert r.status_code == 200 and r.json() == {"status": "success"}
    assert [
        w["id"] for w in (await api.client.get(base, headers=api.headers)).json()["workflows"]
    ] == [wf["id"]]


async def test_clone_is_owned_by_the_cloner_and_409_on_a_taken_name(api: Api) -> None:
    base = await _base(api)
    wf = await _create(api)
    cloner = await api.key_with("workflows:read", "workflows:write")
    r = await api.client.post(f"{base}/{wf['id']}/clone", headers=cloner, json={"name": "Copy"})
    assert r.status_code == 200, r.text
    clone = r.json()
    assert clone["id"] != wf["id"] and clone["uuid"] != wf["uuid"]
    assert len(clone["tasks"]) == 2 and clone["ownerId"] != wf["ownerId"]
    taken = await api.client.post(
        f"{base}/{wf['id']}/clone", headers=api.headers, json={"name": "Copy"}
    )
    assert taken.status_code == 409


async def test_deletion_preview_and_permanent_delete_with_cascade(api: Api) -> None:
    base = await _base(api)
    wf = await _create(api)
    run = await api.client.post("/api/workflows/onboarding/run", headers=api.headers, json={})
    assert run.status_code == 202, run.text
    await wait_for_run(api, run.json()["run_id"])
    r = await api.client.get(f"{base}/{wf['id']}/deletion-preview", headers=api.headers)
    assert r.status_code == 200
    assert r.json() == {
        "taskCount": 2,
        "tasks": [
            {"id": 1, "name": "First", "description": None},
            {"id": 2, "name": "second", "description": None},
        ],
        "hasAssignments": True,
    }
    refused = await api.client.delete(f"{base}/{wf['id']}", headers=api.headers)
    assert refused.status_code == 400
    r = await api.client.delete(
        f"{base}/{wf['id']}", headers=api.headers, params={"cascade": "true"}
    )
    assert r.status_code == 200 and r.json() == {"status": "success", "deletedTaskCount": 2}
    assert (await api.client.get(f"{base}/{wf['id']}", headers=api.headers)).status_code == 404
    r = await api.client.get(f"/api/workflows/runs/{run.json()['run_id']}", headers=api.headers)
    assert r.status_code == 404


async def test_bad_paths(api: Api) -> None:
    base = await _base(api)
    wf = await _create(api)
    # No key: 401. Another workspace's UUID in the path, or its workflow: 404.
    assert (await api.client.get(f"{base}/{wf['id']}")).status_code == 401
    other = await api.other_workspace()
    other_base = await _base(api, other)
    assert (
        await api.client.get(f"{other_base}/{wf['id']}", headers=api.headers)
    ).status_code == 404
    assert (await api.client.get(f"{base}/{wf['id']}", headers=other)).status_code == 404
    assert (await api.client.get(f"{other_base}/{wf['id']}", headers=other)).status_code == 404
    assert (await api.client.get(f"{base}/999999", headers=api.headers)).status_code == 404
    # Without edit authority: 403 for every change.
    reader = await api.key_with("workflows:read")
    for method, path in (
        ("PUT", f"{base}/{wf['id']}"),
        ("POST", f"{base}/{wf['id']}/archive"),
        ("POST", f"{base}/{wf['id']}/unarchive"),
        ("POST", f"{base}/{wf['id']}/clone"),
        ("GET", f"{base}/{wf['id']}/deletion-preview"),
        ("DELETE", f"{base}/{wf['id']}"),
    ):
        body = {"name": "x"} if method != "GET" and method != "DELETE" else None
        r = await api.client.request(method, path, headers=reader, json=body)
        assert r.status_code == 403, (method, path, r.text)
    writer = await api.key_with("workflows:read", "workflows:write")
    r = await api.client.delete(f"{base}/{wf['id']}", headers=writer, params={"cascade": "true"})
    assert r.status_code == 403
    # The seed's 400: a delete of a workflow with tasks and no cascade.
    r = await api.client.delete(f"{base}/{wf['uuid']}", headers=api.headers)
    assert r.status_code == 400 and "cascade" in r.text
