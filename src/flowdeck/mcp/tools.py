"""The tools: `manage_workflows` exactly as seed 004 describes it, and `get_workflow_run`."""

from __future__ import annotations

import asyncio
import json
from typing import Any, Literal

from flowdeck.errors import FlowdeckError, InvalidInput, NotFound
from flowdeck.mcp.backend import Backend

Action = Literal["list", "get", "create", "update", "delete", "run", "approve", "reject"]
ResponseFormat = Literal["json", "markdown"]

MANAGE_DESCRIPTION = """CRUD and execution for Flowdeck workflows. Actions: list, get, create, \
update, delete, run, approve, reject.
Args:
- action: required operation (see above)
- workflow_id: required for get, update, delete, run, approve, reject (an id or a slug)
- name, description, definition: used for create or update (definition: the workflow \
definition object, or YAML/JSON text)
- inputs, dry_run: used for run (dry_run estimates cost and duration without running)
- workflow_job_id, node_id: required for approve and reject (the run id and the approval \
step id); comment optional
- team_id: a team is a workspace; when given it must name the API key's workspace (id or slug)
- project_id: a project of the workspace (its id): list shows only its workflows, create puts \
the new workflow in it, run runs only its workflows (the workspace's id or slug: no project)
Returns: workflow metadata for CRUD calls, {"workflow": {"id", "status", "jobId"}} for run \
(the status once the run is admitted: "running"), and approval results for approve/reject.
Examples:
- "List workflows" -> action="list"
- "Run this workflow" -> action="run", workflow_id="wf_xxx", inputs={...}
- "Approve this workflow node" -> action="approve", workflow_id="wf_xxx", \
workflow_job_id="run_xxx", node_id="review"
Follow a run with get_workflow_run(run_id=jobId)."""

RUN_DESCRIPTION = """Read a workflow run: its status, error, cost, outputs and every step's \
status and output (run_id is the jobId that manage_workflows action="run" returned)."""

NEEDS_WORKFLOW = ("get", "update", "delete", "run", "approve", "reject")
ADMISSION_WAIT = 5.0
ADMISSION_POLL = 0.05


def error_text(exc: FlowdeckError) -> str:
    """The REST API's sentences for an error: the detail, then each problem on its own line."""
    return "\n".join([exc.detail, *(f"- {e}" for e in exc.errors)])


async def project_scope(
    backend: Backend, team_id: str | None, project_id: str | None
) -> str | None:
    """The project the call is scoped to, or None for the whole workspace. `team_id` must
    name the key's workspace (a team is a workspace); a `project_id` naming the workspace
    itself scopes to all of it."""
    if not team_id and not project_id:
        return None
    ws = (await backend.whoami())["workspace"]
    names = (ws["id"], ws["slug"])
    if team_id and team_id not in names:
        raise NotFound(
            f"Team '{team_id}' is not the workspace this API key belongs to: "
            f"'{ws['slug']}' ({ws['id']}); in Flowdeck a team is a workspace"
        )
    if not project_id or project_id in names:
        return None
    return project_id


async def admitted_status(backend: Backend, run_id: str) -> str:
    """The run's status once a worker admits it (waits up to ADMISSION_WAIT seconds)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + ADMISSION_WAIT
    while True:
        status = str((await backend.get_run(run_id))["run"]["status"])
        if status != "queued" or loop.time() >= deadline:
            return status
        await asyncio.sleep(ADMISSION_POLL)


async def manage_workflows(
    backend: Backend,
    action: str,
    *,
    workflow_id: str | None = None,
    name: str | None = None,
    description: str | None = None,
    definition: Any = None,
    inputs: dict[str, Any] | None = None,
    dry_run: bool | None = None,
    workflow_job_id: str | None = None,
    node_id: str | None = None,
    comment: str | None = None,
    project_id: str | None = None,
    team_id: str | None = None,
) -> dict[str, Any]:
    """Do one action and return its result in seed 004's shapes."""
    missing = []
    if action in NEEDS_WORKFLOW and not workflow_id:
        missing.append(f"workflow_id is required for action '{action}'")
    if action in ("approve", "reject"):
        if not workflow_job_id:
            missing.append(f"workflow_job_id (the run id) is required for action '{action}'")
        if not node_id:
            missing.append(f"node_id (the approval step id) is required for action '{action}'")
    if action == "create" and definition is None:
        missing.append("definition is required for action 'create'")
    if action == "update" and definition is None and name is None and description is None:
        missing.append("update needs at least one of definition, name, description")
    if missing:
        raise InvalidInput("The tool arguments are incomplete", errors=missing)
    project = await project_scope(backend, team_id, project_id)
    wf_id = workflow_id or ""
    if action == "list":
        listed = await backend.list_workflows()
        if project is None:
            return listed
        mine = [w for w in listed["workflows"] if w.get("project_id") == project]
        return {**listed, "workflows": mine, "total": len(mine)}
    if action == "get":
        return {"workflow": await backend.get_workflow(wf_id)}
    if action == "create":
        body: dict[str, Any] = {"definition": _with_metadata(definition, name, description)}
        if description is not None:
            body["description"] = description
        if project is not None:
            body["project_id"] = project
        created = await backend.create_workflow(body)
        return {"workflow": created["workflow"]}
    if action == "update":
        changes: dict[str, Any] = {}
        if definition is not None:
            changes["definition"] = _with_metadata(definition, name, description)
        if name is not None:
            changes["name"] = name
        if description is not None:
            changes["description"] = description
        return {"workflow": await backend.update_workflow(wf_id, changes)}
    if action == "delete":
        deleted = await backend.delete_workflow(wf_id)
        return {
            "workflow": {
                "id": deleted["id"],
                "status": "deleted",
                "deleted_at": deleted.get("deleted_at"),
                "purge_at": deleted.get("purge_at"),
            }
        }
    if action == "run":
        if project is not None:
            scoped = await backend.get_workflow(wf_id)
            if scoped.get("project_id") != project:
                raise NotFound(f"Workflow '{wf_id}' not found in project '{project}'")
        result = await backend.run_workflow(wf_id, dict(inputs or {}), bool(dry_run))
        if dry_run:
            workflow = await backend.get_workflow(wf_id)
            return {"workflow": {"id": workflow["id"], "status": "dry_run", **result}}
        return {
            "workflow": {
                "id": result["workflow_id"],
                "status": await admitted_status(backend, result["run_id"]),
                "jobId": result["run_id"],
            }
        }
    if action in ("approve", "reject"):
        decided = await backend.decide(
            wf_id, workflow_job_id or "", node_id or "", action == "approve", comment
        )
        return {
            "workflow": {
                "id": decided["workflow_id"],
                "status": decided["run_status"],
                "jobId": decided["run_id"],
            },
            "approval": {
                "node_id": decided["step_id"],
                "approved": decided["approved"],
                "by": decided["by"],
                "comment": decided["comment"],
                "decided_at": decided["decided_at"],
                "node_status": decided["step_status"],
            },
        }
    raise InvalidInput(
        "Unknown action",
        errors=[
            f"action must be one of list, get, create, update, delete, run, approve, reject; "
            f"got '{action}'"
        ],
    )


def _with_metadata(definition: Any, name: str | None, description: str | None) -> Any:
    """The definition with `name` and `description` from the tool arguments filled in."""
    if not isinstance(definition, dict):
        return definition
    out = dict(definition)
    if name is not None:
        out["name"] = name
    if description is not None and "description" not in out:
        out["description"] = description
    return out


# -- markdown ------------------------------------------------------------------------------


def _cell(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return text.replace("|", "\\|").replace("\n", " ")


def _short(value: Any, limit: int = 200) -> str:
    text = _cell(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def workflows_markdown(result: dict[str, Any]) -> str:
    """A list (or one workflow, or a run/approval result) as readable text."""
    if "workflows" in result:
        rows = result["workflows"]
        lines = [f"**{result.get('total', len(rows))} workflow(s)**", ""]
        if rows:
            lines += ["| id | name | status | version | trigger |", "|---|---|---|---|---|"]
            lines += [
                f"| {w['id']} | {_cell(w['name'])} | {w['status']} | {w['version']} | "
                f"{w['trigger_type']} |"
                for w in rows
            ]
        return "\n".join(lines)
    wf = result.get("workflow", {})
    lines = []
    if "approval" in result:
        a = result["approval"]
        verdict = "approved" if a["approved"] else "rejected"
        lines.append(f"Step **{a['node_id']}** {verdict} by {a['by']} at {a['decided_at']}.")
        if a.get("comment"):
            lines.append(f"Comment: {a['comment']}")
        lines.append(f"Run {wf.get('jobId')} is now **{wf.get('status')}**.")
        return "\n".join(lines)
    if "jobId" in wf:
        return (
            f"Started run **{wf['jobId']}** of workflow {wf['id']} (status: {wf['status']}).\n"
            f'Follow it with get_workflow_run(run_id="{wf["jobId"]}").'
        )
    if wf.get("status") == "dry_run":
        lines.append(f"**Dry run of {wf['id']}**: valid = {wf.get('valid')}")
        lines += [f"- error: {e}" for e in wf.get("errors", [])]
        lines.append(f"Estimated cost: {wf.get('estimated_cost')} credits")
        lines.append(f"Estimated duration: {wf.get('estimated_duration_seconds')} s")
        lines.append(f"Basis: {wf.get('estimate_basis')}")
        for level, ids in enumerate(wf.get("plan", [])):
            lines.append(f"- level {level}: {', '.join(ids)}")
        return "\n".join(lines)
    if wf.get("status") == "deleted":
        return f"Workflow {wf['id']} moved to the trash (purged at {wf.get('purge_at')})."
    lines.append(f"## {wf.get('name')} ({wf.get('id')})")
    for key in ("slug", "status", "version", "trigger_type", "description"):
        if wf.get(key) is not None:
            lines.append(f"- {key}: {_cell(wf[key])}")
    steps = (wf.get("definition") or {}).get("steps") or []
    if steps:
        lines += ["", "| step | type | depends on |", "|---|---|---|"]
        lines += [
            f"| {s.get('id')} | {s.get('type')} | {', '.join(s.get('depends_on') or [])} |"
            for s in steps
        ]
    return "\n".join(lines)


def run_markdown(result: dict[str, Any]) -> str:
    """A run with its steps as readable text."""
    run = result["run"]
    lines = [
        f"## Run {run['id']}: **{run['status']}**",
        f"- workflow: {run['workflow_id']} (version {run['workflow_version']})",
        f"- cost: {run['cost']}",
        f"- started: {run['started_at']}, completed: {run['completed_at']}",
    ]
    if run.get("error"):
        lines.append(f"- error: {run['error']}")
    if run.get("output") is not None:
        lines.append(f"- output: {_short(run['output'], 1000)}")
    lines += ["", "| step | status | attempt | output / error |", "|---|---|---|---|"]
    for s in run["step_runs"]:
        if not s.get("current", True):
            continue
        detail = s["error"] if s.get("error") else s.get("output")
        lines.append(f"| {s['step_id']} | {s['status']} | {s['attempt']} | {_short(detail)} |")
    return "\n".join(lines)
