"""Templates through the HTTP API: built-in and workspace templates, good and bad paths."""

from __future__ import annotations

from typing import Any

from tests.integration.conftest import Api
from tests.integration.runs_helpers import create_workflow, transform
from tests.integration.test_workflows_api import assert_problem

T = "/api/workflows/templates"
BUILTIN_IDS = [
    "tpl_approval_gate",
    "tpl_etl_with_loop",
    "tpl_fetch_and_notify",
    "tpl_route_by_threshold",
    "tpl_scheduled_health_check",
    "tpl_webhook_relay",
]


def small(name: str = "Small") -> dict[str, Any]:
    """A two-step definition."""
    return {
        "name": name,
        "description": "two transforms",
        "steps": [transform("a", 1), transform("b", "{{ steps.a.output + 1 }}", depends_on=["a"])],
    }


async def save(
    api: Api, workflow_id: str, headers: dict[str, str] | None = None, **extra: Any
) -> Any:
    resp = await api.client.post(
        T, json={"workflow_id": workflow_id, **extra}, headers=headers or api.headers
    )
    assert resp.status_code == 201, resp.text
    return resp.json()


async def list_all(api: Api, query: str, headers: dict[str, str] | None = None) -> list[str]:
    """Every template id, walking the pages with cursors."""
    ids: list[str] = []
    cursor = None
    while True:
        suffix = f"&cursor={cursor}" if cursor else ""
        resp = await api.client.get(f"{T}?{query}{suffix}", headers=headers or api.headers)
        assert resp.status_code == 200, resp.text
        body = resp.json()
        ids += [t["id"] for t in body["templates"]]
        cursor = body["next_cursor"]
        if cursor is None:
            return ids


async def test_list_builtin_templates(api: Api) -> None:
    resp = await api.client.get(T, headers=api.headers)
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["total"] == len(BUILTIN_IDS) and body["next_cursor"] is None
    assert [t["id"] for t in body["templates"]] == BUILTIN_IDS
    for t in body["templates"]:
        assert t["is_builtin"] is True
        assert t["name"] and t["category"] and t["description"]
        assert t["step_count"] >= 2 and "definition" not in t
    gate = next(t for t in body["templates"] if t["id"] == "tpl_approval_gate")
    assert "Needs approvals" in gate["description"]
    data = (await api.client.get(f"{T}?category=data", headers=api.headers)).json()
    assert [t["id"] for t in data["templates"]] == ["tpl_etl_with_loop"] and data["total"] == 1
    none = (await api.client.get(f"{T}?is_builtin=false", headers=api.headers)).json()
    assert none == {"templates": [], "total": 0, "next_cursor": None}


async def test_get_template_with_definition(api: Api) -> None:
    resp = await api.client.get(f"{T}/tpl_etl_with_loop", headers=api.headers)
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["name"] == "ETL with a loop" and body["category"] == "data"
    assert [s["id"] for s in body["definition"]["steps"]] == ["extract", "transform_items", "load"]
    assert_problem(await api.client.get(f"{T}/tpl_nope", headers=api.headers), 404)


async def test_install_builtin_template(api: Api) -> None:
    resp = await api.client.post(
        f"{T}/tpl_route_by_threshold/install", json={"name": "My router"}, headers=api.headers
    )
    assert resp.status_code == 201, resp.text
    wf_id = resp.json()["workflow_id"]
    assert wf_id.startswith("wf_") and resp.headers["location"] == f"/api/workflows/{wf_id}"
    wf = (await api.client.get(f"/api/workflows/{wf_id}", headers=api.headers)).json()
    assert wf["name"] == "My router" and wf["definition"]["name"] == "My router"
    assert wf["trigger_type"] == "api" and wf["version"] == 1
    assert wf["definition"]["steps"][0]["id"] == "check"
    # Without a name the template's own is used; a second install then collides.
    first = await api.client.post(f"{T}/tpl_route_by_threshold/install", headers=api.headers)
    assert first.status_code == 201, first.text
    assert (
        await api.client.get(f"/api/workflows/{first.json()['workflow_id']}", headers=api.headers)
    ).json()["name"] == "Route by threshold"
    again = await api.client.post(
        f"{T}/tpl_route_by_threshold/install", json={}, headers=api.headers
    )
    assert "already exists" in assert_problem(again, 409)["detail"]
    # The built-in stays untouched by installs.
    tpl = (await api.client.get(f"{T}/tpl_route_by_threshold", headers=api.headers)).json()
    assert tpl["definition"]["name"] == "Route by threshold"


async def test_install_bad_requests(api: Api) -> None:
    c, h = api.client, api.headers
    assert_problem(await c.post(f"{T}/tpl_nope/install", json={}, headers=h), 404)
    blank = await c.post(f"{T}/tpl_etl_with_loop/install", json={"name": "  "}, headers=h)
    assert assert_problem(blank, 422)["errors"] == ["name must be 1 to 200 characters"]
    extra = await c.post(f"{T}/tpl_etl_with_loop/install", json={"nme": "x"}, headers=h)
    assert "nme" in assert_problem(extra, 422)["errors"][0]
    malformed = await c.post(
        f"{T}/tpl_etl_with_loop/install",
        content=b'{"name": ',
        headers={**h, "Content-Type": "application/json"},
    )
    assert_problem(malformed, 400)


async def test_save_get_install_and_delete_workspace_template(api: Api) -> None:
    wf_id = await create_workflow(api, small())
    saved = await save(api, wf_id, name="Two steps", category="examples")
    assert saved["id"].startswith("tpl_") and saved["is_builtin"] is False
    assert saved["source_workflow_id"] == wf_id and saved["category"] == "examples"
    assert saved["description"] == "two transforms"
    assert saved["definition"]["steps"][1]["id"] == "b" and saved["created_at"].endswith("Z")
    got = (await api.client.get(f"{T}/{saved['id']}", headers=api.headers)).json()
    assert got == saved
    ws_only = (await api.client.get(f"{T}?is_builtin=false", headers=api.headers)).json()
    assert [t["id"] for t in ws_only["templates"]] == [saved["id"]] and ws_only["total"] == 1
    examples = (await api.client.get(f"{T}?category=examples", headers=api.headers)).json()
    assert [t["id"] for t in examples["templates"]] == [saved["id"]]
    installed = await api.client.post(
        f"{T}/{saved['id']}/install", json={"name": "Copy of small"}, headers=api.headers
    )
    assert installed.status_code == 201, installed.text
    wf = (
        await api.client.get(
            f"/api/workflows/{installed.json()['workflow_id']}", headers=api.headers
        )
    ).json()
    assert wf["name"] == "Copy of small" and len(wf["definition"]["steps"]) == 2
    # defaults: the workflow's name and description, category "custom"
    other_wf = await create_workflow(api, small("Other"))
    default = await save(api, other_wf)
    assert (default["name"], default["category"]) == ("Other", "custom")

    resp = await api.client.delete(f"{T}/{saved['id']}", headers=api.headers)
    assert resp.status_code == 204
    assert_problem(await api.client.get(f"{T}/{saved['id']}", headers=api.headers), 404)
    assert_problem(await api.client.delete(f"{T}/{saved['id']}", headers=api.headers), 404)
    # the workflow it came from is not touched
    assert (await api.client.get(f"/api/workflows/{wf_id}", headers=api.headers)).status_code == 200


async def test_save_bad_requests(api: Api) -> None:
    c, h = api.client, api.headers
    wf_id = await create_workflow(api, small())
    await save(api, wf_id, name="Taken")
    dup = await c.post(T, json={"workflow_id": wf_id, "name": "Taken"}, headers=h)
    assert "already exists" in assert_problem(dup, 409)["detail"]
    builtin_name = await c.post(T, json={"workflow_id": wf_id, "name": "Webhook relay"}, headers=h)
    assert "built-in" in assert_problem(builtin_name, 409)["detail"]
    missing = await c.post(T, json={"workflow_id": "wf_nope"}, headers=h)
    assert "wf_nope" in assert_problem(missing, 404)["detail"]
    bad = await c.post(T, json={"workflow_id": wf_id, "name": "", "category": "x" * 65}, headers=h)
    assert assert_problem(bad, 422)["errors"] == [
        "name must be 1 to 200 characters",
        "category must be 1 to 64 characters",
    ]
    assert_problem(await c.post(T, json={}, headers=h), 422)


async def test_builtin_templates_cannot_be_deleted(api: Api) -> None:
    resp = await api.client.delete(f"{T}/tpl_webhook_relay", headers=api.headers)
    body = assert_problem(resp, 409)
    assert body["detail"] == (
        "Template 'tpl_webhook_relay' is built in and cannot be deleted; "
        "only templates saved in this workspace can"
    )
    assert (await api.client.get(f"{T}/tpl_webhook_relay", headers=api.headers)).status_code == 200


async def test_paging_mixes_builtin_and_workspace_templates(api: Api) -> None:
    wf_id = await create_workflow(api, small())
    mine = [(await save(api, wf_id, name=f"Mine {i}"))["id"] for i in range(3)]
    expected = BUILTIN_IDS + mine[::-1]  # built-ins by id, then the workspace's newest first
    for limit in (1, 2, 4, 6, 7, 50):
        assert await list_all(api, f"limit={limit}") == expected, limit
    by_offset = []
    for offset in range(0, 10, 4):
        page = (await api.client.get(f"{T}?limit=4&offset={offset}", headers=api.headers)).json()
        assert page["total"] == 9
        by_offset += [t["id"] for t in page["templates"]]
    assert by_offset == expected
    assert await list_all(api, "limit=2&is_builtin=false") == mine[::-1]
    assert await list_all(api, "limit=4&is_builtin=true") == BUILTIN_IDS
    assert await list_all(api, "limit=1&category=custom") == mine[::-1]
    assert_problem(await api.client.get(f"{T}?limit=0", headers=api.headers), 422)
    assert_problem(await api.client.get(f"{T}?limit=201", headers=api.headers), 422)
    assert_problem(await api.client.get(f"{T}?is_builtin=maybe", headers=api.headers), 422)


async def test_scopes(api: Api) -> None:
    c = api.client
    wf_id = await create_workflow(api, small())
    tpl = (await save(api, wf_id))["id"]
    assert_problem(await c.get(T), 401)
    reader = await api.key_with("workflows:read")
    assert (await c.get(T, headers=reader)).status_code == 200
    assert (await c.get(f"{T}/{tpl}", headers=reader)).status_code == 200
    for resp in (
        await c.post(f"{T}/tpl_etl_with_loop/install", json={}, headers=reader),
        await c.post(T, json={"workflow_id": wf_id, "name": "R"}, headers=reader),
        await c.delete(f"{T}/{tpl}", headers=reader),
    ):
        assert "workflows:write" in assert_problem(resp, 403)["detail"]
    runner = await api.key_with("workflows:run")
    assert_problem(await c.get(T, headers=runner), 403)


async def test_other_workspace_sees_404_for_workspace_templates(api: Api) -> None:
    c = api.client
    wf_id = await create_workflow(api, small())
    tpl = (await save(api, wf_id, name="Private"))["id"]
    other = await api.other_workspace()
    for resp in (
        await c.get(f"{T}/{tpl}", headers=other),
        await c.post(f"{T}/{tpl}/install", json={"name": "Stolen"}, headers=other),
        await c.delete(f"{T}/{tpl}", headers=other),
        await c.post(T, json={"workflow_id": wf_id, "name": "Stolen"}, headers=other),
    ):
        assert_problem(resp, 404)
    assert await list_all(api, "limit=50", headers=other) == BUILTIN_IDS
    # The name is free in the other workspace, and built-ins install there too.
    other_wf = await create_workflow(api, small(), headers=other)
    assert (await save(api, other_wf, headers=other, name="Private"))["name"] == "Private"
    installed = await c.post(f"{T}/tpl_etl_with_loop/install", json={}, headers=other)
    assert installed.status_code == 201, installed.text
    assert (await c.get(f"{T}/{tpl}", headers=api.headers)).status_code == 200
