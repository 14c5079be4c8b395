"""Every HTTP call the client makes, each path written once; the sync and async clients send
the same `Call`s and read the answers the same way."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote


@dataclass(frozen=True)
class Call:
    """One request: method, path, query, JSON body and extra headers."""

    method: str
    path: str
    params: dict[str, Any] = field(default_factory=dict)
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


def seg(value: str) -> str:
    """`value` as one URL path segment (ids and slugs never reach another route)."""
    return quote(value, safe="")


def _query(**values: Any) -> dict[str, Any]:
    return {k: v for k, v in values.items() if v is not None}


def list_workflows(
    *, status: str | None, tag: str | None, q: str | None, cursor: str | None, limit: int
) -> Call:
    return Call(
        "GET", "/api/workflows", _query(status=status, tag=tag, q=q, cursor=cursor, limit=limit)
    )


def get_workflow(workflow: str) -> Call:
    return Call("GET", f"/api/workflows/{seg(workflow)}")


def create_workflow(body: dict[str, Any]) -> Call:
    return Call("POST", "/api/workflows", body=body)


def update_workflow(workflow: str, body: dict[str, Any]) -> Call:
    return Call("PUT", f"/api/workflows/{seg(workflow)}", body=body)


def delete_workflow(workflow: str, *, permanent: bool, cascade: bool) -> Call:
    params = {"permanent": "true", "cascade": str(cascade).lower()} if permanent else {}
    return Call("DELETE", f"/api/workflows/{seg(workflow)}", params)


def start_run(
    workflow: str,
    input_data: dict[str, Any],
    *,
    trigger: str,
    idempotency_key: str | None,
    dry_run: bool = False,
) -> Call:
    headers = {"Idempotency-Key": idempotency_key} if idempotency_key else {}
    body: dict[str, Any] = {"input_data": input_data, "trigger": trigger}
    if dry_run:
        body["dry_run"] = True
    return Call("POST", f"/api/workflows/{seg(workflow)}/run", body=body, headers=headers)


def get_run(run_id: str) -> Call:
    return Call("GET", f"/api/workflows/runs/{seg(run_id)}")


def list_workflow_runs(
    workflow: str, *, status: str | None, cursor: str | None, limit: int
) -> Call:
    params = _query(status=status, cursor=cursor, limit=limit)
    return Call("GET", f"/api/workflows/{seg(workflow)}/runs", params)


def list_runs(
    *,
    workflow: str | None,
    status: str | None,
    trigger: str | None,
    since: str | None,
    until: str | None,
    cursor: str | None,
    limit: int,
) -> Call:
    params = _query(
        workflow_id=workflow,
        status=status,
        trigger=trigger,
        since=since,
        until=until,
        cursor=cursor,
        limit=limit,
    )
    return Call("GET", "/api/runs", params)


def cancel_run(run_id: str) -> Call:
    return Call("POST", f"/api/workflows/runs/{seg(run_id)}/cancel")


def resume_run(run_id: str, *, from_step: str | None, version: int | str | None) -> Call:
    body = _query(from_step=from_step, version=version)
    return Call("POST", f"/api/workflows/runs/{seg(run_id)}/resume", body=body)


def run_stream(run_id: str) -> Call:
    return Call("GET", f"/api/workflows/runs/{seg(run_id)}/stream")


def list_approvals(*, workflow: str | None, cursor: str | None, limit: int) -> Call:
    return Call("GET", "/api/approvals", _query(workflow_id=workflow, cursor=cursor, limit=limit))


def decide(run_id: str, step_id: str, *, approve: bool, comment: str | None) -> Call:
    verb = "approve" if approve else "reject"
    path = f"/api/workflows/runs/{seg(run_id)}/steps/{seg(step_id)}/{verb}"
    return Call("POST", path, body={"comment": comment})


def list_schedules(workflow: str | None, *, cursor: str | None, limit: int) -> Call:
    params = _query(cursor=cursor, limit=limit)
    if workflow is None:
        return Call("GET", "/api/schedules", params)
    return Call("GET", f"/api/workflows/{seg(workflow)}/schedules", params)


def whoami() -> Call:
    return Call("GET", "/api/me")
