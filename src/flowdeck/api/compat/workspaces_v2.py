"""Seed 003: the workspace workflow API, `/api/v2/w/{workspace_uuid}/workflows/{workflow_id}`
(an integer id or a UUID), camelCase WorkflowResponse objects whose `tasks` are the steps.

Deleting is permanent, as the seed says: a workflow with tasks needs `cascade=true` (else
400), and Flowdeck's own rules apply beside (runs go with cascade, active runs refuse)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from flowdeck.api.compat.common import CompatDep, FieldsDep, iso_z
from flowdeck.api.deps import PrincipalDep, ServicesDep
from flowdeck.api.retry import RetryingRoute
from flowdeck.domain.compat import WorkflowRef
from flowdeck.domain.records import Workflow, WorkflowFilter
from flowdeck.errors import BadRequest, NotFound
from flowdeck.models.compat_003 import (
    V2DeletionPreview,
    V2MyWorkspace,
    V2Status,
    V2Workflow,
    V2WorkflowList,
)
from flowdeck.services.auth import Principal
from flowdeck.services.compat import CompatService
from flowdeck.services.container import Services
from flowdeck.services.views import permissions

router = APIRouter(
    route_class=RetryingRoute,
    prefix="/api/v2/w/{workspace_uuid}/workflows",
    tags=["seed 003: workspace workflows v2"],
)
# Where a caller finds its workspace's UUID (not a seed endpoint: the seed assumes it known).
workspace_router = APIRouter(route_class=RetryingRoute, tags=["seed 003: workspace workflows v2"])
LIST_LIMIT = 1000
# PUT fields stored as given (beside Flowdeck's name and description), with their JSON types.
_NUMBER = (int, float, type(None))
_STORED: dict[str, tuple[type, ...]] = {
    "prompt": (str, type(None)),
    "agentId": (str, type(None)),
    "startTaskId": (int, type(None)),
    "defaultPhoneNumberId": (int, type(None)),
    "defaultInboxId": (int, type(None)),
    "posX": _NUMBER,
    "posY": _NUMBER,
    "abilities": (list,),
    "eventRules": (list,),
    "memberRoleAccess": (list,),
}


def _tasks(wf: Workflow) -> list[dict[str, Any]]:
    """The workflow's steps as TaskResponse objects (`id` the step's position, from 1)."""
    return [
        {
            "id": index,
            "stepId": step.get("id"),
            "name": step.get("name") or step.get("id"),
            "description": (step.get("config") or {}).get("goal"),
            "type": step.get("type"),
            "dependsOn": list(step.get("depends_on") or []),
        }
        for index, step in enumerate(wf.definition.get("steps") or [], start=1)
    ]


def workflow_response(
    wf: Workflow, ref: WorkflowRef, principal: Principal, owners: dict[str, int]
) -> dict[str, Any]:
    """The seed's WorkflowResponse (`owners`: the owning keys' integer ids)."""
    stored = ref.extras.get("v2") or {}
    tasks = _tasks(wf)
    start = stored.get("startTaskId", tasks[0]["id"] if tasks else None)
    return {
        "id": ref.number,
        "uuid": ref.uuid,
        "name": wf.name,
        "description": wf.description,
        "ownerId": owners.get(ref.owner_key_id or ""),
        "agentId": stored.get("agentId"),
        "startTaskId": start,
        "tasks": tasks,
        "permissions": permissions(principal),
        "prompt": stored.get("prompt"),
        "posX": stored.get("posX"),
        "posY": stored.get("posY"),
        "abilities": stored.get("abilities", []),
        "eventRules": stored.get("eventRules", []),
        "defaultPhoneNumberId": stored.get("defaultPhoneNumberId"),
        "defaultInboxId": stored.get("defaultInboxId"),
        "memberRoleAccess": stored.get("memberRoleAccess", []),
        "archived": wf.status == "archived",
        "createdAt": iso_z(wf.created_at),
        "updatedAt": iso_z(wf.updated_at),
    }


async def _load(
    compat: CompatService, principal: Principal, workspace_uuid: str, workflow_id: str
) -> Workflow:
    await compat.check_workspace_uuid(principal, workspace_uuid)
    return await compat.resolve(principal, workflow_id)


async def _respond(compat: CompatService, principal: Principal, wf: Workflow) -> dict[str, Any]:
    ref = await compat.ref(wf)
    return workflow_response(wf, ref, principal, await compat.key_numbers([ref]))


@workspace_router.get("/api/v2/w", response_model=V2MyWorkspace, response_model_exclude_unset=True)
async def my_workspace(
    principal: PrincipalDep, services: ServicesDep, compat: CompatDep
) -> dict[str, Any]:
    """The caller's workspace with the UUID seed 003's paths name it by, and the caller's
    member id (its key's integer id, what `ownerId` holds)."""
    ws = await services.admin.current_workspace(principal)
    uuid = await compat.workspace_uuid(principal)
    member = await compat.member_id(principal)
    return {
        "workspaces": [{"uuid": uuid, "slug": ws.slug, "name": ws.name}],
        "member": {"id": member, "name": principal.name},
    }


@router.get("", response_model=V2WorkflowList, response_model_exclude_unset=True)
async def list_workflows(
    workspace_uuid: str,
    principal: PrincipalDep,
    services: ServicesDep,
    compat: CompatDep,
    archived: bool = False,
) -> dict[str, Any]:
    """The workspace's workflows; `archived=true` lists the archived ones
    (GET /api/workflows?archived=true)."""
    await compat.check_workspace_uuid(principal, workspace_uuid)
    page = await services.workflows.list_workflows(
        principal, WorkflowFilter(only_archived=archived), limit=LIST_LIMIT
    )
    refs = await compat.refs(page.items)
    owners = await compat.key_numbers(list(refs.values()))
    return {
        "workflows": [
            workflow_response(w, refs[w.id], principal, owners) for w in page.items if w.id in refs
        ],
        "total": page.total,
    }


@router.get("/{workflow_id}", response_model=V2Workflow, response_model_exclude_unset=True)
async def get_workflow(
    workspace_uuid: str, workflow_id: str, principal: PrincipalDep, compat: CompatDep
) -> dict[str, Any]:
    """One workflow by integer id or UUID (GET /api/workflows/{id})."""
    principal.require("workflows:read")
    wf = await _load(compat, principal, workspace_uuid, workflow_id)
    return await _respond(compat, principal, wf)


def _stored_changes(fields: dict[str, Any], wf: Workflow, principal: Principal) -> dict[str, Any]:
    errors = []
    changes = {}
    for name, kinds in _STORED.items():
        if name not in fields:
            continue
        value = fields[name]
        if not isinstance(value, kinds) or isinstance(value, bool):
            errors.append(f"{name}: has the wrong type")
        changes[name] = value
    start = changes.get("startTaskId")
    steps = len(wf.definition.get("steps") or [])
    if isinstance(start, int) and not 1 <= start <= steps:
        errors.append(f"startTaskId: {start} is not a task of this workflow (1 to {steps})")
    for name in ("name", "description"):
        if name in fields and not isinstance(fields[name], str):
            errors.append(f"{name}: must be a string")
    owner = fields.get("ownerId")
    if "ownerId" in fields and (not isinstance(owner, int) or isinstance(owner, bool)):
        errors.append("ownerId: must be an integer (a key's id)")
    if errors:
        raise BadRequest("The update is invalid", errors=errors)
    if "memberRoleAccess" in changes:
        principal.require("workflows:admin")
    return changes


async def _check_agent(services: Services, principal: Principal, agent_id: Any) -> None:
    if isinstance(agent_id, str):
        try:
            await services.agents.get(principal, agent_id)
        except NotFound:
            raise BadRequest(
                "The update is invalid", errors=[f"agentId: no agent '{agent_id}' here"]
            ) from None


@router.put("/{workflow_id}", response_model=V2Workflow, response_model_exclude_unset=True)
async def update_workflow(
    workspace_uuid: str,
    workflow_id: str,
    fields: FieldsDep,
    principal: PrincipalDep,
    services: ServicesDep,
    compat: CompatDep,
) -> dict[str, Any]:
    """Change any field the seed lists: name and description as Flowdeck's (PUT
    /api/workflows/{id}), the others stored and returned as given; `ownerId` hands it to
    another key; `memberRoleAccess` needs admin."""
    principal.require("workflows:write")
    wf = await _load(compat, principal, workspace_uuid, workflow_id)
    stored = _stored_changes(fields, wf, principal)
    await _check_agent(services, principal, stored.get("agentId"))
    renamed: dict[str, Any] = {k: fields[k] for k in ("name", "description") if k in fields}
    if renamed:
        wf = await services.workflows.update(principal, wf.id, renamed)
    if isinstance(fields.get("ownerId"), int):
        await compat.set_owner(principal, wf, fields["ownerId"])
    if stored:
        current = (await compat.ref(wf)).extras.get("v2") or {}
        await compat.merge_extras(principal, wf, {"v2": {**current, **stored}})
    return await _respond(compat, principal, wf)


@router.delete("/{workflow_id}", response_model=V2Status, response_model_exclude_unset=True)
async def delete_workflow(
    workspace_uuid: str,
    workflow_id: str,
    principal: PrincipalDep,
    services: ServicesDep,
    compat: CompatDep,
    cascade: bool = False,
) -> dict[str, Any]:
    """Delete for good; a workflow with tasks needs `cascade=true`
    (DELETE /api/workflows/{id}?permanent=true&cascade=…)."""
    principal.require("workflows:admin")
    wf = await _load(compat, principal, workspace_uuid, workflow_id)
    tasks = len(wf.definition.get("steps") or [])
    if tasks and not cascade:
        raise BadRequest(
            f"Workflow '{wf.name}' has {tasks} task{'s' * (tasks != 1)}; "
            "pass cascade=true to delete them with it"
        )
    await services.lifecycle.delete_permanently(principal, wf.id, cascade=cascade)
    if cascade:
        return {"status": "success", "deletedTaskCount": tasks}
    return {"status": "success"}


@router.get(
    "/{workflow_id}/deletion-preview",
    response_model=V2DeletionPreview,
    response_model_exclude_unset=True,
)
async def deletion_preview(
    workspace_uuid: str,
    workflow_id: str,
    principal: PrincipalDep,
    services: ServicesDep,
    compat: CompatDep,
) -> dict[str, Any]:
    """The tasks a delete would take and whether the workflow has runs
    (GET /api/workflows/{id}/deletion-preview)."""
    wf = await _load(compat, principal, workspace_uuid, workflow_id)
    preview = await services.lifecycle.preview_deletion(principal, wf.id)
    tasks = [
        {"id": t["id"], "name": t["name"], "description": t["description"]} for t in _tasks(wf)
    ]
    return {"taskCount": len(tasks), "tasks": tasks, "hasAssignments": preview.run_count > 0}


@router.post("/{workflow_id}/archive", response_model=V2Status, response_model_exclude_unset=True)
async def archive_workflow(
    workspace_uuid: str,
    workflow_id: str,
    principal: PrincipalDep,
    services: ServicesDep,
    compat: CompatDep,
) -> dict[str, Any]:
    """Hide from the default list; no new runs (POST /api/workflows/{id}/archive)."""
    wf = await _load(compat, principal, workspace_uuid, workflow_id)
    await services.lifecycle.archive(principal, wf.id)
    return {"status": "success"}


@router.post("/{workflow_id}/unarchive", response_model=V2Status, response_model_exclude_unset=True)
async def unarchive_workflow(
    workspace_uuid: str,
    workflow_id: str,
    principal: PrincipalDep,
    services: ServicesDep,
    compat: CompatDep,
) -> dict[str, Any]:
    """Back to the status it had (POST /api/workflows/{id}/unarchive)."""
    wf = await _load(compat, principal, workspace_uuid, workflow_id)
    await services.lifecycle.unarchive(principal, wf.id)
    return {"status": "success"}


@router.post("/{workflow_id}/clone", response_model=V2Workflow, response_model_exclude_unset=True)
async def clone_workflow(
    workspace_uuid: str,
    workflow_id: str,
    fields: FieldsDep,
    principal: PrincipalDep,
    services: ServicesDep,
    compat: CompatDep,
) -> dict[str, Any]:
    """A copy with every task, owned by the caller; a taken name is 409
    (POST /api/workflows/{id}/clone)."""
    wf = await _load(compat, principal, workspace_uuid, workflow_id)
    name = fields.get("name")
    if not isinstance(name, str) or not name.strip():
        raise BadRequest("name is required", errors=["name: required (a string)"])
    copy = await services.lifecycle.clone(principal, wf.id, name)
    stored = (await compat.ref(wf)).extras.get("v2")
    if stored:
        await compat.merge_extras(principal, copy, {"v2": stored})
    return await _respond(compat, principal, copy)
