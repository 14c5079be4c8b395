"""A definition file's metadata (slug, tags, trigger_type, visibility, schedules) through the
API: applied to the workflow, kept out of its stored definition, schedules reconciled; and
GET /api/schedules, GET /api/schema/workflow.json."""

from __future__ import annotations

from typing import Any

import jsonschema
import yaml

from flowdeck.definition import (
    ApprovalStep,
    TransformConfig,
    TransformStep,
    Workflow,
    workflow_json_schema,
)
from tests.integration.conftest import Api

FILE = """
name: Nightly report
slug: nightly
tags: [reports, nightly]
trigger_type: schedule
visibility: public
schedules:
  - {cron: "0 2 * * *", timezone: Europe/Paris}
  - {cron: "30 6 * * 1-5", input_data: {x: 1}}
steps:
  - {id: a, type: transform, config: {value: 1}}
"""


def _problem(resp: Any, status: int) -> dict[str, Any]:
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"].startswith("application/problem+json")
    return dict(resp.json())


async def _schedules(api: Api, workflow: str) -> list[dict[str, Any]]:
    resp = await api.client.get(f"/api/workflows/{workflow}/schedules", headers=api.headers)
    assert resp.status_code == 200, resp.text
    return sorted(resp.json()["schedules"], key=lambda s: s["cron_expression"])


async def test_metadata_in_a_yaml_definition_applies_to_the_workflow(api: Api) -> None:
    resp = await api.client.post("/api/workflows", json={"definition": FILE}, headers=api.headers)
    assert resp.status_code == 201, resp.text
    wf = resp.json()["workflow"]
    assert (wf["slug"], wf["trigger_type"], wf["visibility"]) == ("nightly", "schedule", "public")
    assert wf["tags"] == ["reports", "nightly"]
    assert set(wf["definition"]) == {"name", "steps"}  # stored without its metadata
    found = await _schedules(api, "nightly")
    assert [(s["cron_expression"], s["timezone"], s["input_data"]) for s in found] == [
        ("0 2 * * *", "Europe/Paris", {}),
        ("30 6 * * 1-5", "UTC", {"x": 1}),
    ]


async def test_an_explicit_field_wins_over_the_files(api: Api) -> None:
    body = {"definition": FILE, "trigger_type": "manual", "slug": "chosen"}
    resp = await api.client.post("/api/workflows", json=body, headers=api.headers)
    assert resp.status_code == 201, resp.text
    wf = resp.json()["workflow"]
    assert (wf["slug"], wf["trigger_type"], wf["visibility"]) == ("chosen", "manual", "public")


async def test_update_reconciles_schedules_by_cron_and_zone(api: Api) -> None:
    created = await api.client.post(
        "/api/workflows", json={"definition": FILE}, headers=api.headers
    )
    assert created.status_code == 201, created.text
    before = {s["cron_expression"]: s for s in await _schedules(api, "nightly")}
    changed = yaml.safe_load(FILE)
    changed["schedules"] = [
        {"cron": "0 2 * * *", "timezone": "Europe/Paris", "enabled": False},  # updated
        {"cron": "15 * * * *"},  # created; "30 6 * * 1-5" is deleted
    ]
    changed["tags"] = ["reports"]
    resp = await api.client.put(
        "/api/workflows/nightly", json={"definition": changed}, headers=api.headers
    )
    assert resp.status_code == 200, resp.text
    assert resp.json()["tags"] == ["reports"]
    assert resp.json()["version"] == 1  # the definition itself did not change
    after = {s["cron_expression"]: s for s in await _schedules(api, "nightly")}
    assert set(after) == {"0 2 * * *", "15 * * * *"}
    assert after["0 2 * * *"]["id"] == before["0 2 * * *"]["id"]
    assert after["0 2 * * *"]["enabled"] is False
    # Without `schedules` the schedules are left alone.
    changed.pop("schedules")
    resp = await api.client.put(
        "/api/workflows/nightly", json={"definition": changed}, headers=api.headers
    )
    assert resp.status_code == 200, resp.text
    assert len(await _schedules(api, "nightly")) == 2


async def test_a_new_slug_in_the_file_renames_the_slug(api: Api) -> None:
    await api.client.post("/api/workflows", json={"definition": FILE}, headers=api.headers)
    changed = {**yaml.safe_load(FILE), "slug": "nightly-report"}
    resp = await api.client.put(
        "/api/workflows/nightly", json={"definition": changed}, headers=api.headers
    )
    assert resp.status_code == 200, resp.text
    assert resp.json()["slug"] == "nightly-report"
    other = {"definition": {"name": "Other", "slug": "nightly-report", "steps": []}}
    assert (
        "slug 'nightly-report'"
        in _problem(await api.client.post("/api/workflows", json=other, headers=api.headers), 409)[
            "detail"
        ]
    )


async def test_bad_metadata_is_a_422_naming_each_problem(api: Api) -> None:
    bad = yaml.safe_load(FILE)
    bad["trigger_type"] = "sometimes"
    bad["slug"] = "Not A Slug"
    bad["schedules"] = [{"cron": "every day"}, {"cron": "0 2 * * *", "timezone": "Mars/Olympus"}]
    resp = await api.client.post("/api/workflows", json={"definition": bad}, headers=api.headers)
    errors = _problem(resp, 422)["errors"]
    text = "\n".join(errors)
    assert "trigger_type" in text and "slug 'Not A Slug'" in text, errors
    resp = await api.client.post(
        "/api/workflows",
        json={"definition": {**yaml.safe_load(FILE), "schedules": bad["schedules"]}},
        headers=api.headers,
    )
    errors = _problem(resp, 422)["errors"]
    assert any(e.startswith("schedules[0]") for e in errors), errors
    assert any(e.startswith("schedules[1]") and "Mars/Olympus" in e for e in errors), errors
    listed = await api.client.get("/api/workflows", headers=api.headers)
    assert listed.json()["total"] == 0  # nothing was written


async def test_validate_accepts_metadata(api: Api) -> None:
    resp = await api.client.post(
        "/api/workflows/validate", json={"definition": FILE}, headers=api.headers
    )
    assert resp.json() == {"valid": True, "errors": [], "warnings": []}


async def test_workflows_as_code_build_what_the_server_accepts(api: Api) -> None:
    wf = Workflow(
        name="As code",
        slug="as-code",
        tags=["py"],
        steps=[
            TransformStep(id="a", config=TransformConfig(value="{{ 1 + 1 }}")),
            ApprovalStep(id="ok", depends_on=["a"]),
        ],
    )
    definition = wf.to_definition()
    jsonschema.validate(definition, workflow_json_schema())
    resp = await api.client.post(
        "/api/workflows", json={"definition": definition}, headers=api.headers
    )
    assert resp.status_code == 201, resp.text
    stored = resp.json()["workflow"]
    assert (stored["slug"], stored["tags"]) == ("as-code", ["py"])
    assert [s["type"] for s in stored["definition"]["steps"]] == ["transform", "approval"]


async def test_workspace_schedules_list(api: Api) -> None:
    await api.client.post("/api/workflows", json={"definition": FILE}, headers=api.headers)
    second = {**yaml.safe_load(FILE), "name": "Other", "slug": "other"}
    second["schedules"] = [{"cron": "0 0 1 * *"}]
    await api.client.post("/api/workflows", json={"definition": second}, headers=api.headers)
    resp = await api.client.get("/api/schedules", headers=api.headers, params={"limit": 2})
    assert resp.status_code == 200, resp.text
    page = resp.json()
    assert page["total"] == 3 and len(page["schedules"]) == 2 and page["next_cursor"]
    rest = await api.client.get(
        "/api/schedules", headers=api.headers, params={"cursor": page["next_cursor"]}
    )
    ids = {s["id"] for s in page["schedules"]} | {s["id"] for s in rest.json()["schedules"]}
    assert len(ids) == 3
    only = await api.client.get(
        "/api/schedules", headers=api.headers, params={"workflow_id": "other"}
    )
    assert [s["cron_expression"] for s in only.json()["schedules"]] == ["0 0 1 * *"]
    other_ws = await api.other_workspace()
    assert (await api.client.get("/api/schedules", headers=other_ws)).json()["total"] == 0
    _problem(
        await api.client.get("/api/schedules", params={"workflow_id": "nope"}, headers=api.headers),
        404,
    )
    _problem(await api.client.get("/api/schedules"), 401)
    trashed = await api.client.delete("/api/workflows/other", headers=api.headers)
    assert trashed.status_code == 200
    assert (await api.client.get("/api/schedules", headers=api.headers)).json()["total"] == 2


async def test_schema_route_serves_the_definition_schema(api: Api) -> None:
    resp = await api.client.get("/api/schema/workflow.json")
    assert resp.status_code == 200
    schema = resp.json()
    assert schema == workflow_json_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    jsonschema.validate(yaml.safe_load(FILE), schema)
    step = {"id": "x", "type": "http_request", "config": {"url": "u", "methd": "GET"}}
    errors = list(
        jsonschema.Draft202012Validator(schema).iter_errors({"name": "n", "steps": [step]})
    )
    assert errors  # a typo in a step's config is caught by the editor too


async def test_put_changes_the_slug_and_refuses_a_taken_one(api: Api) -> None:
    for name in ("One", "Two"):
        body = {"definition": {"name": name, "steps": []}}
        assert (await api.client.post("/api/workflows", json=body, headers=api.headers)).is_success
    resp = await api.client.put("/api/workflows/one", json={"slug": "uno"}, headers=api.headers)
    assert resp.status_code == 200 and resp.json()["slug"] == "uno"
    assert (await api.client.get("/api/workflows/uno", headers=api.headers)).status_code == 200
    taken = await api.client.put("/api/workflows/uno", json={"slug": "two"}, headers=api.headers)
    _problem(taken, 409)
    bad = await api.client.put("/api/workflows/uno", json={"slug": "runs"}, headers=api.headers)
    assert "reserved" in _problem(bad, 422)["errors"][0]
