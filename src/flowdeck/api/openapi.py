"""The OpenAPI document: FastAPI's, plus every error a route can answer, as problem+json.

What a route can answer is read from the route itself: a key dependency means 401/403/429 (seed
000's too: `api_key` in the query or the body, optional on public reads), a path parameter 404,
a body 400/413 (seed routes read theirs from the request: `request_fields`), and every route is
checked for NUL bytes and bounds (422). The few statuses that depend on what a use case does
(409, 412, a seed's 400 or 404 for an id outside the path) are declared in CONFLICTS,
PRECONDITIONS, BAD_REQUESTS and BODY_IDS by operation id; a route may also declare its own in
`responses=`, and those keep their descriptions. FastAPI's `HTTPValidationError` is replaced by
`Problem`, which is what the server sends.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute, iter_route_contexts

from flowdeck.api.compat.common import optional_principal, request_fields
from flowdeck.api.deps import counted_principal
from flowdeck.api.problems import PROBLEM_JSON
from flowdeck.api.ratelimit import EXEMPT_PATHS, limit_by_address
from flowdeck.models import Problem

PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}
RETRY_AFTER = {
    "Retry-After": {
        "description": "Seconds to wait before trying again",
        "schema": {"type": "integer"},
    }
}
DESCRIPTIONS = {
    400: "Malformed JSON, or a malformed header",
    401: "No API key, or one that is invalid or revoked",
    403: "The key lacks the scope this needs",
    404: "No such object in the caller's workspace",
    409: "Conflicts with the current state (a name taken, a run in another status…)",
    412: "If-Match names a version that is no longer the current one",
    413: "The body is over the size limit",
    422: "The request does not match the schema; `errors` lists every problem",
    429: "Over the rate limit; retry after `Retry-After` seconds",
    503: "The database is busy or unavailable; retry after `Retry-After` seconds",
}
# Operations whose use case may answer 409 (on top of what their routes declare).
CONFLICTS = frozenset(
    {
        "create_workflow",
        "update_workflow",
        "set_workflow_status",
        "rollback_workflow",
        "delete_workflow",
        "restore_workflow",
        "archive_workflow",
        "unarchive_workflow",
        "clone_workflow",
        "fork_workflow",
        "start_run",
        "cancel_run",
        "pause_run",
        "resume_run",
        "delete_run",
        "approve_step",
        "reject_step",
        "install_template",
        "save_template",
        "create_schedule",
        "update_schedule",
        "create_agent",
        "update_agent",
        "put_agent",
        "create_key",
        "create_workspace",
        "bulk_delete_workflows",
        # The seed-compatible APIs, on the same use cases.
        "seed000_create_workflow",
        "seed000_update_workflow",
        "seed000_fork_workflow",
        "seed000_delete_workflow",
        "v1_create_workflow",
        "v1_update_workflow",
        "v1_revert_version",
        "v1_duplicate_workflow",
        "v1_delete_workflow",
        "v1_restore_workflow",
        "v1_permanently_delete_workflow",
        "v1_rename_workflow",
        "v1_start_run",
        "v1_upload_file",
        "v2_update_workflow",
        "v2_delete_workflow",
        "v2_archive_workflow",
        "v2_unarchive_workflow",
        "v2_clone_workflow",
    }
)
PRECONDITIONS = frozenset({"update_workflow"})
# Operations that take an id in the body or a filter (not the path) which may name nothing.
BODY_IDS = frozenset(
    {
        "save_template",
        "fork_workflow",
        "list_approvals",
        "list_schedules",
        "list_workflows",  # `project`: a project by id or name
        "create_workflow",  # `project_id`
        # Seed 002 names its workflow by `id` in the query or `workflowId` in the body.
        "v1_get_workflow",
        "v1_workflow_runs",
        "v1_workflow_analytics",
        "v1_workflow_related",
        "v1_workflow_versions",
        "v1_update_workflow",
        "v1_revert_version",
        "v1_duplicate_workflow",
        "v1_delete_workflow",
        "v1_restore_workflow",
        "v1_permanently_delete_workflow",
        "v1_rename_workflow",
        "v1_start_run",
    }
)
# Operations that refuse a request by its values with 400 (not 422), beside a bad body.
BAD_REQUESTS = frozenset({"v2_delete_workflow"})
# Routes with a bearer token of their own (not an API key).
OWN_TOKENS = frozenset({"get_metrics"})


def _calls(dependant: Dependant) -> Iterator[Any]:
    for dep in dependant.dependencies:
        yield dep.call
        yield from _calls(dep)


def error_statuses(route: Any, operation_id: str) -> set[int]:
    """Every error status `route` (an APIRoute as included in the app) can answer."""
    calls = set(_calls(route.dependant))
    keyed = counted_principal in calls or optional_principal in calls
    statuses = {422}
    if route.path not in ("/healthz",):
        statuses.add(503)
    if keyed:
        statuses |= {401, 403, 429}
    if limit_by_address in calls or route.path not in EXEMPT_PATHS:
        # An address over its allowance of failed authentications gets 429 on any path
        # (AuthFailureGuard), whether or not the route itself takes a key.
        statuses.add(429)
    if operation_id in OWN_TOKENS:
        statuses.add(401)
    if route.dependant.path_params or operation_id in BODY_IDS:
        statuses.add(404)
    body = route.body_field is not None or "requestBody" in (route.openapi_extra or {})
    reads_body = request_fields in calls and not route.methods <= {"GET", "HEAD"}
    if body or reads_body:
        statuses |= {400, 413}
    if operation_id in BAD_REQUESTS:
        statuses.add(400)
    if operation_id in CONFLICTS:
        statuses.add(409)
    if operation_id in PRECONDITIONS:
        statuses |= {400, 412}
    return statuses


def _problem_response(status: int, existing: dict[str, Any] | None) -> dict[str, Any]:
    own = (existing or {}).get("description")
    if own in (None, "Validation Error"):  # FastAPI's default 422 says nothing of ours
        own = DESCRIPTIONS.get(status, "Error")
    response: dict[str, Any] = {
        "description": own,
        "content": {PROBLEM_JSON: {"schema": PROBLEM_REF}},
    }
    if status in (429, 503):
        response["headers"] = RETRY_AFTER
    return response


def _document_errors(spec: dict[str, Any], app: FastAPI) -> None:
    operations = {
        op["operationId"]: op
        for item in spec.get("paths", {}).values()
        for op in item.values()
        if isinstance(op, dict) and "operationId" in op
    }
    for route in iter_route_contexts(app.routes):
        if not isinstance(route.original_route, APIRoute) or not route.include_in_schema:
            continue
        op_id = route.unique_id
        op = operations.get(op_id)
        if op is None:
            continue
        responses = op.setdefault("responses", {})
        declared = {int(code) for code in responses if code.isdigit() and int(code) >= 400}
        for status in sorted(error_statuses(route, op_id) | declared):
            responses[str(status)] = _problem_response(status, responses.get(str(status)))


def build_openapi(app: FastAPI) -> dict[str, Any]:
    """The app's OpenAPI document with problem+json errors (built once, then cached)."""
    if app.openapi_schema is not None:
        return app.openapi_schema
    spec = get_openapi(
        title=app.title,
        version=app.version,
        description=app.description,
        routes=app.routes,
    )
    schemas = spec.setdefault("components", {}).setdefault("schemas", {})
    schemas["Problem"] = Problem.model_json_schema(ref_template="#/components/schemas/{model}")
    _document_errors(spec, app)
    for unused in ("HTTPValidationError", "ValidationError"):
        schemas.pop(unused, None)
    app.openapi_schema = spec
    return spec
