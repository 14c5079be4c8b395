"""Workflow management through the HTTP API, good and bad paths."""

from __future__ import annotations

import copy
from typing import Any

from tests.integration.conftest import Api
from tests.integration.seeds import cycle, fetch_and_notify, missing_dependency

MISSING_DEP = "Step 'notify' depends on 'fetch' which doesn't exist"
CYCLE = "Cycle detected: step_a → step_b → step_a"


async def create(
    api: Api, definition: dict[str, Any] | None = None, **extra: Any
) -> dict[str, Any]:
    body = {"definition": definition or fetch_and_notify(), **extra}
    resp = await api.client.post("/api/workflows", json=body, headers=api.headers)
    assert resp.status_code == 201, resp.text
    return dict(resp.json())


def assert_problem(resp: Any, status: int) -> dict[str, Any]:
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"].startswith("application/problem+json")
    body = resp.json()
    assert body["status"] == status
    assert {"type", "title", "detail"} <= set(body)
    return dict(body)


async def test_create_seed_example(api: Api) -> None:
    body = await create(api, trigger_type="manual", tags=["notifications"])
    wf = body["workflow"]
    assert body["id"].startswith("wf_") and wf["id"] == body["id"]
    assert wf["name"] == "Fetch and notify"
    assert wf["slug"] == "fetch-and-notify"
    assert wf["version"] == 1
    assert wf["tags"] == ["notifications"]
    assert wf["trigger_type"] == "manual"
    assert wf["permissions"] == {"use": True, "edit": True}
    assert wf["definition"]["steps"][1]["depends_on"] == ["fetch"]
    assert wf["created_at"].endswith("Z")


async def test_create_invalid_definition_lists_every_error(api: Api) -> None:
    broken = missing_dependency()
    broken["steps"].append({"id": "bad", "type": "nope", "config": {}})
    resp = await api.client.post("/api/workflows", json={"definition": broken}, headers=api.headers)
    body = assert_problem(resp, 422)
    assert MISSING_DEP in body["errors"]
    assert any("nope" in e for e in body["errors"])
    listed = await api.client.get("/api/workflows", headers=api.headers)
    assert listed.json()["total"] == 0  # nothing half-written


async def test_create_checks_metadata_fields_all_at_once(api: Api) -> None:
    resp = await api.client.post(
        "/api/workflows",
        json={
            "definition": fetch_and_notify(),
            "trigger_type": "carrier-pigeon",
            "status": "sleeping",
            "slug": "Not A Slug",
        },
        headers=api.headers,
    )
    body = assert_problem(resp, 422)
    assert len(body["errors"]) == 3


async def test_create_schema_errors_and_unknown_fields(api: Api) -> None:
    resp = await api.client.post(
        "/api/workflows", json={"definiton": {}, "tags": "x"}, headers=api.headers
    )
    body = assert_problem(resp, 422)
    joined = " | ".join(body["errors"])
    assert "definition: Field required" in joined
    assert "definiton: Unknown field" in joined
    assert "tags" in joined


async def test_create_accepts_yaml_text(api: Api) -> None:
    text = "name: From YAML\nsteps:\n  - id: a\n    type: transform\n    config: {value: 1}\n"
    resp = await api.client.post("/api/workflows", json={"definition": text}, headers=api.headers)
    assert resp.status_code == 201, resp.text
    assert resp.json()["workflow"]["definition"]["steps"][0]["id"] == "a"


async def test_duplicate_name_or_slug_conflicts(api: Api) -> None:
    await create(api)
    resp = await api.client.post(
        "/api/workflows", json={"definition": fetch_and_notify()}, headers=api.headers
    )
    assert "already exists" in assert_problem(resp, 409)["detail"]
    other = fetch_and_notify()
    other["name"] = "Another"
    resp = await api.client.post(
        "/api/workflows",
        json={"definition": other, "slug": "fetch-and-notify"},
        headers=api.headers,
    )
    assert "slug" in assert_problem(resp, 409)["detail"]


async def test_validate_reports_exact_sentences(api: Api) -> None:
    for definition, sentence in ((missing_dependency(), MISSING_DEP), (cycle(), CYCLE)):
        resp = await api.client.post(
            "/api/workflows/validate", json={"definition": definition}, headers=api.headers
        )
        assert resp.status_code == 200
        body = resp.json()
        assert body["valid"] is False
        assert sentence in body["errors"]
    ok = await api.client.post(
        "/api/workflows/validate", json={"definition": fetch_and_notify()}, headers=api.headers
    )
    assert ok.json() == {"valid": True, "errors": [], "warnings": ok.json()["warnings"]}


async def test_validate_needs_a_definition(api: Api) -> None:
    resp = await api.client.post("/api/workflows/validate", json={}, headers=api.headers)
    assert_problem(resp, 422)


async def test_get_by_id_and_slug(api: Api) -> None:
    wf_id = (await create(api))["id"]
    by_id = await api.client.get(f"/api/workflows/{wf_id}", headers=api.headers)
    by_slug = await api.client.get("/api/workflows/fetch-and-notify", headers=api.headers)
    assert by_id.status_code == by_slug.status_code == 200
    assert by_id.json()["id"] == by_slug.json()["id"] == wf_id
    assert by_id.headers["etag"] == '"1"'
    missing = await api.client.get("/api/workflows/wf_nope", headers=api.headers)
    assert "wf_nope" in assert_problem(missing, 404)["detail"]


async def test_list_filters_paging_and_total(api: Api) -> None:
    for i in range(5):
        d = fetch_and_notify()
        d["name"] = f"Flow {i}"
        d["description"] = "nightly etl" if i % 2 else "report"
        await create(
            api,
            definition=d,
            tags=["etl"] if i % 2 else ["report"],
            trigger_type="schedule" if i == 4 else "manual",
            status="paused" if i == 3 else "active",
        )
    h = api.headers
    get = api.client.get
    assert (await get("/api/workflows", headers=h)).json()["total"] == 5
    assert (await get("/api/workflows?tag=etl", headers=h)).json()["total"] == 2
    assert (await get("/api/workflows?status=paused", headers=h)).json()["total"] == 1
    assert (await get("/api/workflows?trigger_type=schedule", headers=h)).json()["total"] == 1
    assert (await get("/api/workflows?q=NIGHTLY", headers=h)).json()["total"] == 2
    assert (await get("/api/workflows?q=flow%203", headers=h)).json()["total"] == 1
    page = (await get("/api/workflows?limit=2&offset=1", headers=h)).json()
    assert page["total"] == 5 and len(page["workflows"]) == 2
    newest_first = [w["name"] for w in (await get("/api/workflows", headers=h)).json()["workflows"]]
    assert newest_first == [f"Flow {i}" for i in reversed(range(5))]
    seen, cursor = [], None
    while True:
        url = "/api/workflows?limit=2" + (f"&cursor={cursor}" if cursor else "")
        body = (await get(url, headers=h)).json()
        seen += [w["name"] for w in body["workflows"]]
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert seen == newest_first


async def test_list_rejects_bad_parameters(api: Api) -> None:
    h = api.headers
    assert_problem(await api.client.get("/api/workflows?limit=201", headers=h), 422)
    assert_problem(await api.client.get("/api/workflows?offset=-1", headers=h), 422)
    assert_problem(await api.client.get("/api/workflows?status=sleeping", headers=h), 422)
    assert_problem(await api.client.get("/api/workflows?limit=abc", headers=h), 422)


async def test_update_versions_diff_rollback(api: Api) -> None:
    wf_id = (await create(api))["id"]
    h = api.headers
    v2 = fetch_and_notify()
    v2["steps"][0]["config"]["url"] = "https://new-url.com"
    v2["steps"].append(
        {"id": "log", "type": "transform", "config": {"value": "done"}, "depends_on": ["notify"]}
    )
    resp = await api.client.put(
        f"/api/workflows/{wf_id}",
        json={"definition": v2, "change_summary": "Fixed URL"},
        headers=h,
    )
    assert resp.status_code == 200, resp.text
    assert resp.json()["version"] == 2
    versions = (await api.client.get(f"/api/workflows/{wf_id}/versions", headers=h)).json()
    assert [(v["version"], v["change_summary"]) for v in versions["versions"]] == [
        (2, "Fixed URL"),
        (1, "Initial version"),
    ]
    v1 = (await api.client.get(f"/api/workflows/{wf_id}/versions/1", headers=h)).json()
    assert v1["definition"] == fetch_and_notify()
    diff = (await api.client.get(f"/api/workflows/{wf_id}/diff?v1=1&v2=2", headers=h)).json()
    assert diff["v1"] == 1 and diff["v2"] == 2
    assert diff["summary"] == "Added 1 step, modified 1 step"
    assert {"op": "replace", "path": "/steps/0/config/url", "value": "https://new-url.com"} in diff[
        "diff"
    ]
    assert any(op["op"] == "add" and op["path"] == "/steps/2" for op in diff["diff"])
    rolled = await api.client.post(
        f"/api/workflows/{wf_id}/rollback", json={"version": 1}, headers=h
    )
    assert rolled.status_code == 200
    assert rolled.json()["version"] == 3
    assert rolled.json()["definition"] == fetch_and_notify()
    versions = (await api.client.get(f"/api/workflows/{wf_id}/versions", headers=h)).json()
    assert versions["versions"][0]["change_summary"] == "Rolled back to version 1"


async def test_update_bad_paths(api: Api) -> None:
    wf_id = (await create(api))["id"]
    h = api.headers
    put = api.client.put
    resp = await put(
        f"/api/workflows/{wf_id}", json={"definition": missing_dependency()}, headers=h
    )
    assert MISSING_DEP in assert_problem(resp, 422)["errors"]
    assert_problem(await put(f"/api/workflows/{wf_id}", json={"colour": "red"}, headers=h), 422)
    resp = await api.client.get(f"/api/workflows/{wf_id}/versions/9", headers=h)
    assert_problem(resp, 404)
    resp = await api.client.post(f"/api/workflows/{wf_id}/rollback", json={"version": 9}, headers=h)
    assert_problem(resp, 404)
    resp = await api.client.get(f"/api/workflows/{wf_id}/diff?v1=1", headers=h)
    assert_problem(resp, 422)
    wf = (await api.client.get(f"/api/workflows/{wf_id}", headers=h)).json()
    assert wf["version"] == 1  # nothing changed by the failed updates


async def test_metadata_update_keeps_version_and_no_op_definition(api: Api) -> None:
    wf_id = (await create(api))["id"]
    h = api.headers
    resp = await api.client.put(
        f"/api/workflows/{wf_id}", json={"tags": ["a", "b"], "visibility": "public"}, headers=h
    )
    assert resp.json()["version"] == 1 and resp.json()["tags"] == ["a", "b"]
    same = await api.client.put(
        f"/api/workflows/{wf_id}", json={"definition": fetch_and_notify()}, headers=h
    )
    assert same.json()["version"] == 1


async def test_rename_makes_a_version_and_checks_uniqueness(api: Api) -> None:
    wf_id = (await create(api))["id"]
    other = fetch_and_notify()
    other["name"] = "Taken"
    await create(api, definition=other)
    h = api.headers
    resp = await api.client.put(f"/api/workflows/{wf_id}", json={"name": "Taken"}, headers=h)
    assert_problem(resp, 409)
    resp = await api.client.put(f"/api/workflows/{wf_id}", json={"name": "Renamed"}, headers=h)
    assert resp.json()["name"] == "Renamed" and resp.json()["version"] == 2
    assert resp.json()["definition"]["name"] == "Renamed"


async def test_if_match(api: Api) -> None:
    wf_id = (await create(api))["id"]
    h = api.headers
    d = fetch_and_notify()
    d["description"] = "v2"
    ok = await api.client.put(
        f"/api/workflows/{wf_id}", json={"definition": d}, headers={**h, "If-Match": '"1"'}
    )
    assert ok.status_code == 200 and ok.headers["etag"] == '"2"'
    d["description"] = "v3"
    stale = await api.client.put(
        f"/api/workflows/{wf_id}", json={"definition": d}, headers={**h, "If-Match": '"1"'}
    )
    assert_problem(stale, 412)
    bad = await api.client.put(
        f"/api/workflows/{wf_id}", json={"definition": d}, headers={**h, "If-Match": "soon"}
    )
    assert_problem(bad, 400)


async def test_status_changes_and_archived_listing(api: Api) -> None:
    wf_id = (await create(api))["id"]
    h = api.headers
    resp = await api.client.patch(
        f"/api/workflows/{wf_id}/status", json={"status": "archived"}, headers=h
    )
    assert resp.status_code == 200 and resp.json()["status"] == "archived"
    assert (await api.client.get("/api/workflows", headers=h)).json()["total"] == 0
    archived = (await api.client.get("/api/workflows?archived=true", headers=h)).json()
    assert archived["total"] == 1
    bad = await api.client.patch(
        f"/api/workflows/{wf_id}/status", json={"status": "sleeping"}, headers=h
    )
    assert "status must be one of" in assert_problem(bad, 422)["errors"][0]


async def test_authentication_methods(api: Api) -> None:
    get = api.client.get
    assert_problem(await get("/api/workflows"), 401)
    assert_problem(await get("/api/workflows", headers={"Authorization": "Bearer nope"}), 401)
    assert (await get("/api/workflows", headers={"X-API-Key": api.key})).status_code == 200
    assert (await get(f"/api/workflows?api_key={api.key}")).status_code == 200
    resp = await api.client.post(
        "/api/workflows", json={"definition": fetch_and_notify(), "api_key": api.key}
    )
    assert resp.status_code == 201, resp.text


async def test_scopes_are_enforced(api: Api) -> None:
    reader = await api.key_with("workflows:read")
    resp = await api.client.post(
        "/api/workflows", json={"definition": fetch_and_notify()}, headers=reader
    )
    assert "workflows:write" in assert_problem(resp, 403)["detail"]
    wf_id = (await create(api))["id"]
    got = await api.client.get(f"/api/workflows/{wf_id}", headers=reader)
    assert got.json()["permissions"] == {"use": False, "edit": False}
    runner = await api.key_with("workflows:run")
    assert_problem(await api.client.get("/api/workflows", headers=runner), 403)
    writer = await api.key_with("workflows:write", "workflows:read")
    resp = await api.client.put(f"/api/workflows/{wf_id}", json={"tags": ["x"]}, headers=writer)
    assert resp.status_code == 200


async def test_other_workspace_sees_404_everywhere(api: Api) -> None:
    wf_id = (await create(api))["id"]
    other = await api.other_workspace()
    c = api.client
    for resp in (
        await c.get(f"/api/workflows/{wf_id}", headers=other),
        await c.get("/api/workflows/fetch-and-notify", headers=other),
        await c.put(f"/api/workflows/{wf_id}", json={"tags": ["x"]}, headers=other),
        await c.patch(f"/api/workflows/{wf_id}/status", json={"status": "paused"}, headers=other),
        await c.get(f"/api/workflows/{wf_id}/versions", headers=other),
        await c.get(f"/api/workflows/{wf_id}/versions/1", headers=other),
        await c.get(f"/api/workflows/{wf_id}/diff?v1=1&v2=1", headers=other),
        await c.post(f"/api/workflows/{wf_id}/rollback", json={"version": 1}, headers=other),
    ):
        assert_problem(resp, 404)
    assert (await c.get("/api/workflows", headers=other)).json()["total"] == 0
    # the same name is free in the other workspace
    resp = await c.post("/api/workflows", json={"definition": fetch_and_notify()}, headers=other)
    assert resp.status_code == 201


async def test_malformed_json_oversized_body_and_unknown_routes(api: Api) -> None:
    h = {**api.headers, "Content-Type": "application/json"}
    resp = await api.client.post("/api/workflows", content=b'{"definition": ', headers=h)
    assert "not valid JSON" in assert_problem(resp, 400)["detail"]
    big = {"definition": fetch_and_notify(), "description": "x" * (1024 * 1024 + 10)}
    assert_problem(await api.client.post("/api/workflows", json=big, headers=api.headers), 413)
    assert_problem(await api.client.get("/api/nothing-here", headers=api.headers), 404)
    assert_problem(await api.client.patch("/api/workflows/validate", headers=api.headers), 405)


async def test_deeply_nested_or_odd_definitions_never_500(api: Api) -> None:
    odd: list[Any] = [
        [],
        "just text",
        42,
        {"name": "x", "steps": "not a list"},
        {"name": "x", "steps": [None, 1, "a"]},
        {"name": "x", "steps": [{"id": "a", "type": "transform", "config": None}]},
    ]
    nested: Any = {"value": 1}
    for _ in range(200):
        nested = {"value": nested}
    odd.append({"name": "deep", "steps": [{"id": "a", "type": "transform", "config": nested}]})
    for definition in odd:
        resp = await api.client.post(
            "/api/workflows", json={"definition": copy.deepcopy(definition)}, headers=api.headers
        )
        assert resp.status_code in (201, 422), (definition, resp.text)


async def test_health_and_docs(api: Api) -> None:
    assert (await api.client.get("/healthz")).json()["status"] == "ok"
    assert (await api.client.get("/readyz")).json()["status"] == "ready"
    spec = (await api.client.get("/openapi.json")).json()
    assert "/api/workflows" in spec["paths"]
    assert (await api.client.get("/docs")).status_code == 200
