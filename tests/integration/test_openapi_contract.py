"""The OpenAPI document is a contract a client can be generated from.

Walks /openapi.json: every JSON answer has a typed schema (never a bare object), every error a
route can answer is documented as problem+json, operation ids are short function names (the
seed-compatible ones after their API's prefix, `v1_list_workflows`), the stream is
text/event-stream, creates link to the routes taking the new id. Then checks that
what the server sends matches what the document says for errors.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from flowdeck.api.app import create_app
from flowdeck.config import Settings
from tests.integration.conftest import Api

Op = tuple[str, str, dict[str, Any]]


@pytest.fixture(scope="module")
def spec() -> dict[str, Any]:
    return create_app(Settings()).openapi()


def _operations(spec: dict[str, Any]) -> list[Op]:
    return [(m.upper(), p, op) for p, item in spec["paths"].items() for m, op in item.items()]


def _resolve(spec: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = spec["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
    return schema


def _untyped(spec: dict[str, Any], schema: dict[str, Any]) -> bool:
    """A bare `{}` or `object` without properties: a client learns nothing from it."""
    schema = _resolve(spec, schema)
    if "anyOf" in schema or "oneOf" in schema:
        return any(_untyped(spec, s) for s in schema.get("anyOf", schema.get("oneOf", [])))
    if schema.get("type") == "array":
        return _untyped(spec, schema.get("items", {}))
    return not schema or (schema.get("type") == "object" and not schema.get("properties"))


def _keyed(op: dict[str, Any]) -> bool:
    return any("APIKeyHeader" in req for req in op.get("security", []))


def test_every_json_answer_has_a_typed_schema(spec: dict[str, Any]) -> None:
    bad = []
    for method, path, op in _operations(spec):
        for code, response in op["responses"].items():
            for media, body in response.get("content", {}).items():
                if media.endswith("json") and _untyped(spec, body.get("schema", {})):
                    bad.append(f"{method} {path} {code} {media}")
        ok = [c for c in op["responses"] if c.startswith("2")]
        assert ok, f"{method} {path} documents no success"
    assert bad == []


def test_every_error_a_route_can_answer_is_documented_as_a_problem(spec: dict[str, Any]) -> None:
    missing, wrong = [], []
    for method, path, op in _operations(spec):
        needed = set()
        if op.get("security"):
            needed.add("401")
        if _keyed(op):
            needed |= {"403", "429"}
        if "{" in path:
            needed.add("404")
        if op.get("parameters") or op.get("requestBody"):
            needed.add("422")
        if op.get("requestBody"):
            needed |= {"400", "413"}
        missing += [f"{method} {path} {c}" for c in sorted(needed - set(op["responses"]))]
        for code, response in op["responses"].items():
            if code.startswith(("4", "5")):
                content = response.get("content", {})
                schema = content.get("application/problem+json", {}).get("schema")
                if list(content) != ["application/problem+json"] or schema != {
                    "$ref": "#/components/schemas/Problem"
                }:
                    wrong.append(f"{method} {path} {code}: {list(content)}")
    assert missing == []
    assert wrong == []
    assert "HTTPValidationError" not in spec["components"]["schemas"]
    problem = spec["components"]["schemas"]["Problem"]
    assert {"type", "title", "status", "detail", "errors"} <= set(problem["properties"])


def test_operation_ids_are_short_function_names(spec: dict[str, Any]) -> None:
    ids = [op["operationId"] for _, _, op in _operations(spec)]
    assert len(ids) == len(set(ids))
    long = [i for i in ids if not re.fullmatch(r"[a-z][a-z0-9_]{2,31}", i)]
    assert long == []
    assert {"get_run", "start_run", "create_workflow", "list_schedules"} <= set(ids)
    # The seed-compatible routes: their function after their API's prefix.
    assert {"seed000_create_workflow", "v1_list_workflows", "v2_get_workflow"} <= set(ids)


def test_closed_sets_are_enums(spec: dict[str, Any]) -> None:
    schemas = spec["components"]["schemas"]
    run = schemas["RunSummary"]["properties"]
    assert _resolve(spec, run["status"])["enum"] == [
        "queued",
        "running",
        "waiting",
        "paused",
        "completed",
        "failed",
        "cancelled",
    ]
    wf = schemas["WorkflowSummary"]["properties"]
    for field in ("status", "trigger_type", "visibility"):
        assert "enum" in _resolve(spec, wf[field]), field
    scopes = schemas["ApiKeyView"]["properties"]["scopes"]["items"]
    assert "workflows:admin" in _resolve(spec, scopes)["enum"]
    steps = schemas["WorkflowDetail"]["properties"]["definition"]["properties"]["steps"]
    assert steps["items"]["discriminator"]["propertyName"] == "type"


def test_stream_is_an_event_stream_and_creates_link_onwards(spec: dict[str, Any]) -> None:
    stream = spec["paths"]["/api/workflows/runs/{run_id}/stream"]["get"]["responses"]["200"]
    assert list(stream["content"]) == ["text/event-stream"]
    created = spec["paths"]["/api/workflows"]["post"]["responses"]["201"]["links"]
    assert {"get_workflow", "start_run", "list_versions"} <= set(created)
    assert created["start_run"]["parameters"] == {"workflow_id": "$response.body#/id"}
    started = spec["paths"]["/api/workflows/{workflow_id}/run"]["post"]["responses"]["202"]
    assert {"get_run", "stream_run", "cancel_run"} <= set(started["links"])
    ids = {op["operationId"] for _, _, op in _operations(spec)}
    for response in (spec["paths"]["/api/workflows"]["post"]["responses"]["201"], started):
        assert {link["operationId"] for link in response["links"].values()} <= ids


async def test_answers_match_the_documented_problems(api: Api) -> None:
    """What the server sends on each family of error is what the document promises."""
    spec = (await api.client.get("/openapi.json")).json()
    problem_fields = set(spec["components"]["schemas"]["Problem"]["properties"])
    cases = [
        ("GET", "/api/workflows", None, None, 401),
        ("GET", "/api/workflows/nope", api.headers, None, 404),
        ("POST", "/api/workflows", api.headers, {"definition": {"name": "x"}}, 422),
        ("GET", "/api/workflows", api.headers | {"x": "a\x00"}, None, 422),
    ]
    for method, path, headers, body, status in cases:
        resp = await api.client.request(method, path, headers=headers, json=body)
        assert resp.status_code == status, resp.text
        assert resp.headers["content-type"] == "application/problem+json"
        assert set(resp.json()) <= problem_fields
        op = spec["paths"]["/api/workflows/{workflow_id}" if "nope" in path else path]
        assert str(status) in op[method.lower()]["responses"]
    bad = await api.client.post(
        "/api/workflows",
        content=b"{not json",
        headers=api.headers | {"content-type": "application/json"},
    )
    assert bad.status_code == 400 and "400" in spec["paths"]["/api/workflows"]["post"]["responses"]
