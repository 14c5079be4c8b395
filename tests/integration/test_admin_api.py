"""Keys, secrets and workspaces through the API: scopes, isolation, secrets never returned."""

from __future__ import annotations

import sqlalchemy as sa

from flowdeck.store.tables import secrets
from tests.integration.conftest import Api
from tests.integration.test_workflows_api import assert_problem


async def test_keys_create_list_use_revoke(api: Api) -> None:
    c, h = api.client, api.headers
    resp = await c.post("/api/keys", json={"name": "ci", "scopes": ["workflows:read"]}, headers=h)
    assert resp.status_code == 201
    secret = resp.json()["secret"]
    key_id = resp.json()["key"]["id"]
    assert resp.json()["key"]["scopes"] == ["workflows:read"]
    listed = (await c.get("/api/keys", headers=h)).json()["keys"]
    assert {k["id"] for k in listed} >= {key_id}
    assert all("secret" not in k and secret not in str(k) for k in listed)
    new = {"Authorization": f"Bearer {secret}"}
    assert (await c.get("/api/workflows", headers=new)).status_code == 200
    assert_problem(await c.get("/api/keys", headers=new), 403)
    assert (await c.delete(f"/api/keys/{key_id}", headers=h)).status_code == 204
    assert_problem(await c.get("/api/workflows", headers=new), 401)
    assert_problem(await c.delete(f"/api/keys/{key_id}", headers=h), 404)


async def test_key_validation(api: Api) -> None:
    c, h = api.client, api.headers
    resp = await c.post(
        "/api/keys", json={"name": "x", "scopes": ["root", "workflows:read"]}, headers=h
    )
    assert "Unknown scope 'root'" in assert_problem(resp, 422)["errors"][0]
    assert_problem(await c.post("/api/keys", json={"name": "", "scopes": []}, headers=h), 422)


async def test_secrets_are_encrypted_and_never_returned(api: Api) -> None:
    c, h = api.client, api.headers
    value = "s3cr3t-value-123"
    first = await c.put("/api/secrets/API_TOKEN", json={"value": value}, headers=h)
    assert first.status_code == 201 and first.json() == {"name": "API_TOKEN", "created": True}
    again = await c.put("/api/secrets/API_TOKEN", json={"value": value + "x"}, headers=h)
    assert again.status_code == 200 and again.json()["created"] is False
    posted = await c.post("/api/secrets", json={"name": "OTHER", "value": "v"}, headers=h)
    assert posted.status_code == 201
    listed = await c.get("/api/secrets", headers=h)
    assert [s["name"] for s in listed.json()["secrets"]] == ["API_TOKEN", "OTHER"]
    assert value not in listed.text
    async with api.store.read() as tx:
        rows = list(await tx.conn.execute(sa.select(secrets.c.ciphertext)))
    assert rows and all(value not in r.ciphertext for r in rows)
    assert (await c.delete("/api/secrets/OTHER", headers=h)).status_code == 204
    assert_problem(await c.delete("/api/secrets/OTHER", headers=h), 404)


async def test_secret_validation_and_scopes(api: Api) -> None:
    c, h = api.client, api.headers
    bad = await c.put("/api/secrets/9-bad name", json={"value": ""}, headers=h)
    assert len(assert_problem(bad, 422)["errors"]) == 2
    writer = await api.key_with("workflows:write", "workflows:read")
    assert_problem(await c.put("/api/secrets/X", json={"value": "v"}, headers=writer), 403)
    assert_problem(await c.get("/api/secrets", headers=writer), 403)


async def test_secrets_and_keys_are_per_workspace(api: Api) -> None:
    c, h = api.client, api.headers
    await c.put("/api/secrets/MINE", json={"value": "v"}, headers=h)
    other = await api.other_workspace()
    assert (await c.get("/api/secrets", headers=other)).json()["secrets"] == []
    assert_problem(await c.delete("/api/secrets/MINE", headers=other), 404)
    mine = (await c.get("/api/keys", headers=h)).json()["keys"][0]["id"]
    assert_problem(await c.delete(f"/api/keys/{mine}", headers=other), 404)


async def test_workspaces_for_instance_admins_only(api: Api) -> None:
    c, h = api.client, api.headers
    listed = (await c.get("/api/workspaces", headers=h)).json()["workspaces"]
    assert [w["slug"] for w in listed] == ["default"]
    made = await c.post("/api/workspaces", json={"slug": "team-b", "name": "Team B"}, headers=h)
    assert made.status_code == 201
    team_b = {"Authorization": f"Bearer {made.json()['secret']}"}
    assert (await c.get("/api/workflows", headers=team_b)).json()["total"] == 0
    assert_problem(await c.get("/api/workspaces", headers=team_b), 403)  # workspace admin only
    assert_problem(await c.post("/api/workspaces", json={"slug": "team-b"}, headers=h), 409)
    assert_problem(await c.post("/api/workspaces", json={"slug": "Bad Slug"}, headers=h), 422)


async def test_admin_lists_page_by_limit_offset_and_cursor(api: Api) -> None:
    c, h = api.client, api.headers
    for name in ("A", "B", "C", "D", "E"):
        await c.put(f"/api/secrets/{name}", json={"value": "v"}, headers=h)
        await c.post("/api/keys", json={"name": name, "scopes": ["workflows:read"]}, headers=h)
    first = (await c.get("/api/secrets?limit=2", headers=h)).json()
    assert [s["name"] for s in first["secrets"]] == ["A", "B"] and first["total"] == 5
    rest = (await c.get(f"/api/secrets?limit=10&cursor={first['next_cursor']}", headers=h)).json()
    assert [s["name"] for s in rest["secrets"]] == ["C", "D", "E"] and rest["next_cursor"] is None
    assert [
        s["name"] for s in (await c.get("/api/secrets?offset=4", headers=h)).json()["secrets"]
    ] == ["E"]
    seen, cursor = [], None
    while True:
        url = "/api/keys?limit=2" + (f"&cursor={cursor}" if cursor else "")
        body = (await c.get(url, headers=h)).json()
        seen += [k["name"] for k in body["keys"]]
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert seen == ["E", "D", "C", "B", "A", "admin"]  # newest first
    assert_problem(await c.get("/api/keys?cursor=key_nope", headers=h), 422)
    assert_problem(await c.get("/api/secrets?limit=0", headers=h), 422)
    ws = (await c.get("/api/workspaces?limit=1", headers=h)).json()
    assert ws["total"] == 1 and ws["next_cursor"] is None
