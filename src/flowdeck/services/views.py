"""Plain-dict views of records, shared by the REST API, the CLI and MCP."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flowdeck.domain.clock import isoformat
from flowdeck.domain.credentials import credential_warnings, mask_credentials
from flowdeck.domain.records import ApiKey, Run, StepRun, Workflow, WorkflowVersion, Workspace
from flowdeck.services.auth import Principal


def permissions(principal: Principal | None) -> dict[str, bool]:
    """What the caller may do with a workflow: `use` (start runs) and `edit`."""
    return {
        "use": principal is not None and principal.allows("workflows:run"),
        "edit": principal is not None
        and principal.workflow_id is None
        and principal.allows("workflows:write"),
    }


def workflow_summary(wf: Workflow, principal: Principal | None = None) -> dict[str, Any]:
    """A workflow as it appears in lists, with the caller's permissions."""
    data = {
        "id": wf.id,
        "slug": wf.slug,
        "name": wf.name,
        "description": wf.description,
        "version": wf.version,
        "status": wf.status,
        "trigger_type": wf.trigger_type,
        "visibility": wf.visibility,
        "tags": list(wf.tags),
        "project_id": wf.project_id,
        "step_count": len(wf.definition.get("steps") or []),
        "created_at": isoformat(wf.created_at),
        "updated_at": isoformat(wf.updated_at),
        "permissions": permissions(principal),
    }
    if wf.deleted_at is not None:
        data["deleted_at"] = isoformat(wf.deleted_at)
    return data


def workflow_detail(
    wf: Workflow, principal: Principal | None, *, webhook_secret: str | None = None
) -> dict[str, Any]:
    """The full workflow, with what the caller may do with it.

    `webhook_secret` (plaintext) is shown only to editors; read-only callers, workflow tokens
    and public readers never see the key at all. `warnings` name the literal credentials the
    definition holds (where, never what).
    """
    data = workflow_summary(wf, principal)
    data["definition"] = wf.definition
    data["warnings"] = credential_warnings(wf.definition)
    data["legacy_webhook_signature"] = wf.legacy_webhook_signature
    data["created_by"] = wf.created_by
    data["source"] = (
        {"workflow_id": wf.source_workflow_id, "kind": wf.source_kind}
        if wf.source_workflow_id
        else None
    )
    if permissions(principal)["edit"]:
        data["webhook_secret"] = webhook_secret
    return data


def public_workflow_view(wf: Workflow, workspace_slug: str) -> dict[str, Any]:
    """A public workflow as anyone may read it: no secrets (literal credentials in the
    definition are masked), no author, nothing to do."""
    data = workflow_detail(wf, None)
    del data["created_by"], data["source"], data["warnings"], data["legacy_webhook_signature"]
    data["definition"] = mask_credentials(wf.definition)
    data["workspace"] = workspace_slug
    return data


def version_summary(v: WorkflowVersion) -> dict[str, Any]:
    """A version as it appears in the version list."""
    return {
        "version": v.version,
        "change_summary": v.change_summary,
        "created_at": isoformat(v.created_at),
        "created_by": v.created_by,
    }


def version_detail(v: WorkflowVersion) -> dict[str, Any]:
    """A version with its full definition."""
    return {**version_summary(v), "workflow_id": v.workflow_id, "definition": v.definition}


def api_key_view(key: ApiKey) -> dict[str, Any]:
    """A key's metadata; never its secret."""
    return {
        "id": key.id,
        "name": key.name,
        "prefix": key.prefix,
        "scopes": list(key.scopes),
        "created_at": isoformat(key.created_at),
        "last_used_at": isoformat(key.last_used_at),
        "revoked_at": isoformat(key.revoked_at),
    }


def workspace_view(ws: Workspace) -> dict[str, Any]:
    """A workspace."""
    return {"id": ws.id, "slug": ws.slug, "name": ws.name, "created_at": isoformat(ws.created_at)}


def _seconds(start: datetime | None, end: datetime | None) -> float | None:
    if start is None or end is None:
        return None
    return round((end - start).total_seconds(), 3)


def step_run_view(s: StepRun) -> dict[str, Any]:
    """One attempt of one step."""
    return {
        "id": s.id,
        "step_id": s.step_id,
        "type": s.step_type,
        "status": s.status,
        "attempt": s.attempt,
        "current": s.is_current,
        "loop_step_id": s.parent_step_id,
        "item_index": s.item_index,
        "output": s.output,
        "error": s.error,
        "cost": s.cost,
        "started_at": isoformat(s.started_at),
        "completed_at": isoformat(s.completed_at),
        "duration_seconds": _seconds(s.started_at, s.completed_at),
    }


def run_summary(r: Run) -> dict[str, Any]:
    """A run as it appears in lists."""
    return {
        "id": r.id,
        "workflow_id": r.workflow_id,
        "workflow_version": r.workflow_version,
        "status": r.status,
        "trigger": r.trigger,
        "input_data": r.input_data,
        "output": r.output,
        "error": r.error,
        "cost": r.cost,
        "parent_run_id": r.parent_run_id,
        "created_at": isoformat(r.created_at),
        "started_at": isoformat(r.started_at),
        "completed_at": isoformat(r.completed_at),
        "duration_seconds": _seconds(r.started_at, r.completed_at),
    }


def run_detail(r: Run, steps: list[StepRun]) -> dict[str, Any]:
    """A run with every attempt of every step."""
    return {**run_summary(r), "step_runs": [step_run_view(s) for s in steps]}
