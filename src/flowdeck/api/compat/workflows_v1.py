"""Seed 002: the RPC-style workflow API (`/api/v1/workflows/*`, `/api/v1/runs/start`,
`/api/v1/files/upload-url`), camelCase, ids in the query (`id`) or the body (`workflowId`).

The workflow document is stored as given beside a Flowdeck definition that runs it (see
`pipeline`); versions, trash, runs and analytics are Flowdeck's own services."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from flowdeck.api.compat.common import CompatDep, FieldsDep, iso_z
from flowdeck.api.compat.pipeline import (
    AGENT_INSTRUCTIONS,
    DOC_FIELDS,
    NO_STEPS,
    agent_name,
    camel,
    definition_of,
    document,
    document_problems,
    pipeline,
    stored_doc,
    version_id,
    version_number,
)
from flowdeck.api.deps import PrincipalDep, ServicesDep
from flowdeck.api.retry import RetryingRoute
from flowdeck.domain.records import Workflow, WorkflowFilter
from flowdeck.errors import Conflict, InvalidInput, NotFound
from flowdeck.models.compat_002 import (
    V1Analytics,
    V1BulkDeleted,
    V1PermanentlyDeleted,
    V1Related,
    V1RunList,
    V1VersionList,
    V1Workflow,
    V1WorkflowChanged,
    V1WorkflowList,
)
from flowdeck.services.auth import Principal
from flowdeck.services.compat import CompatService
from flowdeck.services.container import Services

router = APIRouter(route_class=RetryingRoute, prefix="/api/v1", tags=["seed 002: workflows v1"])
PageLimit = Annotated[int, Query(ge=1, le=100)]
MAX_COPIES = 100


# -- translations ----------------------------------------------------------------------------


def _text(fields: dict[str, Any], name: str) -> str:
    value = fields.get(name)
    if not isinstance(value, str) or not value:
        raise InvalidInput(f"{name} is required", errors=[f"{name}: required (a string)"])
    return value


async def _view(compat: CompatService, wf: Workflow) -> dict[str, Any]:
    return document(wf, (await compat.ref(wf)).extras)


async def _ensure_agents(services: Services, principal: Principal, doc: dict[str, Any]) -> None:
    """An agent for every model the pipeline names (made on first use)."""
    for step in pipeline(doc):
        name = agent_name(step)
        try:
            await services.agents.get(principal, name)
        except NotFound:
            model = str(step.get("model") or step.get("cliId") or name)
            try:
                values = {"name": name, "model": model, "instructions": AGENT_INSTRUCTIONS}
                await services.agents.create(principal, values)
            except Conflict:
                pass  # made meanwhile by another request


async def _save_doc(
    compat: CompatService, principal: Principal, wf: Workflow, doc: dict[str, Any]
) -> dict[str, Any]:
    """Keep the document as the current one and as this version's snapshot."""
    ref = await compat.ref(wf)
    snapshots = dict(ref.extras.get("v1_versions") or {})
    snapshots[str(wf.version)] = doc
    saved = await compat.merge_extras(principal, wf, {"v1": doc, "v1_versions": snapshots})
    return document(wf, saved.extras)


async def _workflow(compat: CompatService, principal: Principal, ref: str) -> Workflow:
    return await compat.resolve(principal, ref)


# -- reads ------------------------------------------------------------------------------------


@router.get("/workflows/list", response_model=V1WorkflowList, response_model_exclude_unset=True)
async def list_workflows(
    principal: PrincipalDep,
    services: ServicesDep,
    compat: CompatDep,
    limit: PageLimit = 50,
    cursor: str | None = None,
) -> dict[str, Any]:
    """Non-deleted workflows, newest first (GET /api/workflows)."""
    page = await services.workflows.list_workflows(
        principal, WorkflowFilter(), limit=limit, cursor=cursor
    )
    refs = await compat.refs(page.items)
    return {
        "workflows": [document(w, refs[w.id].extras if w.id in refs else {}) for w in page.items],
        "total": page.total,
        "nextCursor": page.next_cursor,
    }


@router.get("/workflows/get", response_model=V1Workflow, response_model_exclude_unset=True)
async def get_workflow(id: str, principal: PrincipalDep, compat: CompatDep) -> dict[str, Any]:
    """The full workflow document (GET /api/workflows/{id})."""
    principal.require("workflows:read")
    return await _view(compat, await _workflow(compat, principal, id))


@router.get("/workflows/runs", response_model=V1RunList, response_model_exclude_unset=True)
async def workflow_runs(
    id: str,
    principal: PrincipalDep,
    services: ServicesDep,
    compat: CompatDep,
    limit: PageLimit = 50,
    cursor: str | None = None,
) -> dict[str, Any]:
    """The Runs tab: status, run number and display id, branch, PR URL, timestamps
    (GET /api/workflows/{id}/runs)."""
    wf = await _workflow(compat, principal, id)
    page = await services.runs.list_runs(
        principal, wf.id, status=None, limit=limit, offset=0, cursor=cursor
    )
    numbers = await compat.run_numbers(principal, wf, page.items)
    runs = []
    for run in page.items:
        number = numbers.get(run.id)
        inputs = run.input_data if isinstance(run.input_data, dict) else {}
        output = run.output if isinstance(run.output, dict) else {}
        runs.append(
            {
                "id": run.id,
                "workflowId": run.workflow_id,
                "runNumber": number,
                "displayId": f"#{number}" if number is not None else None,
                "status": run.status,
                "prompt": inputs.get("prompt"),
                "branchName": inputs.get("branchName"),
                "githubRepoUrl": inputs.get("githubRepoUrl"),
                "prUrl": output.get("pr_url"),
                "error": run.error,
                "cost": run.cost,
                "createdAt": iso_z(run.created_at),
                "startedAt": iso_z(run.started_at),
                "completedAt": iso_z(run.completed_at),
            }
        )
    return {"runs": runs, "total": page.total, "nextCursor": page.next_cursor}


@router.get("/workflows/analytics", response_model=V1Analytics, response_model_exclude_unset=True)
async def workflow_analytics(
    id: str,
    principal: PrincipalDep,
    services: ServicesDep,
    compat: CompatDep,
    days: int = 30,
    granularity: str = "daily",
) -> dict[str, Any]:
    """The Analytics tab (GET /api/workflows/{id}/analytics, in camelCase)."""
    wf = await _workflow(compat, principal, id)
    data = await services.analytics.analytics(principal, wf.id, days=days, granularity=granularity)
    result: dict[str, Any] = camel(data)
    return result


@router.get("/workflows/related", response_model=V1Related, response_model_exclude_unset=True)
async def workflow_related(
    id: str, principal: PrincipalDep, services: ServicesDep, compat: CompatDep
) -> dict[str, Any]:
    """The Related tab: the pipeline's roles as personas; Flowdeck has no issues nor learning
    versions (empty lists); Flowdeck's own related data beside (GET …/{id}/related)."""
    wf = await _workflow(compat, principal, id)
    own = camel(await services.analytics.related(principal, wf.id))
    doc = stored_doc((await compat.ref(wf)).extras, wf)
    personas = [
        {"name": s.get("type"), "model": s.get("model"), "cliId": s.get("cliId")}
        for s in pipeline(doc)
    ]
    return {**own, "personas": personas, "issues": [], "learningVersions": []}


@router.get("/workflows/versions", response_model=V1VersionList, response_model_exclude_unset=True)
async def workflow_versions(
    id: str, principal: PrincipalDep, services: ServicesDep, compat: CompatDep
) -> dict[str, Any]:
    """The Versions tab: the current version and every snapshot (GET …/{id}/versions)."""
    wf = await _workflow(compat, principal, id)
    versions = await services.workflows.versions(principal, wf.id)
    return {
        "workflowId": wf.id,
        "currentVersion": wf.version,
        "versions": [
            {
                "versionId": version_id(wf, v.version),
                "version": v.version,
                "changeSummary": v.change_summary,
                "createdBy": v.created_by,
                "createdAt": iso_z(v.created_at),
                "isCurrent": v.version == wf.version,
            }
            for v in versions
        ],
    }


# -- writes -----------------------------------------------------------------------------------


def _doc_fields(fields: dict[str, Any], *, creating: bool) -> dict[str, Any]:
    doc = {k: fields[k] for k in DOC_FIELDS if k in fields}
    errors = document_problems(doc, creating=creating)
    if errors:
        raise InvalidInput(
            NO_STEPS if NO_STEPS in errors else "The workflow is invalid", errors=errors
        )
    return doc


@router.post("/workflows/create", response_model=V1Workflow, response_model_exclude_unset=True)
async def create_workflow(
    fields: FieldsDep, principal: PrincipalDep, services: ServicesDep, compat: CompatDep
) -> dict[str, Any]:
    """Create a workflow blueprint; its pipeline becomes the steps (POST /api/workflows)."""
    principal.require("workflows:write")
    doc = _doc_fields(fields, creating=True)
    await _ensure_agents(services, principal, doc)
    wf = await services.workflows.create(principal, definition_of(doc))
    return await _save_doc(compat, principal, wf, doc)


@router.post("/workflows/update", response_model=V1Workflow, response_model_exclude_unset=True)
async def update_workflow(
    fields: FieldsDep, principal: PrincipalDep, services: ServicesDep, compat: CompatDep
) -> dict[str, Any]:
    """Update any subset of the document; the previous state stays in the version history
    (PUT /api/workflows/{id}: a new version every time)."""
    principal.require("workflows:write")
    wf = await _workflow(compat, principal, _text(fields, "workflowId"))
    changes = _doc_fields(fields, creating=False)
    doc = {**stored_doc((await compat.ref(wf)).extras, wf), **changes}
    if ("pipelineSteps" in changes or "personaPipelineSteps" in changes) and not pipeline(doc):
        raise InvalidInput(NO_STEPS, errors=[NO_STEPS])
    if pipeline(doc):
        await _ensure_agents(services, principal, doc)
        wf = await services.workflows.update(
            principal,
            wf.id,
            {"definition": definition_of(doc)},
            snapshot=True,
        )
    else:  # a workflow made elsewhere: its own steps stay; name and description change
        renamed: dict[str, Any] = {k: changes[k] for k in ("name", "description") if k in changes}
        wf = await services.workflows.update(principal, wf.id, renamed)
    return await _save_doc(compat, principal, wf, doc)


@router.post(
    "/workflows/versions/revert", response_model=V1Workflow, response_model_exclude_unset=True
)
async def revert_version(
    fields: FieldsDep, principal: PrincipalDep, services: ServicesDep, compat: CompatDep
) -> dict[str, Any]:
    """Revert to a version; the current state is kept as a version first
    (POST /api/workflows/{id}/rollback)."""
    wf = await _workflow(compat, principal, _text(fields, "workflowId"))
    number = version_number(wf, _text(fields, "versionId"))
    extras = (await compat.ref(wf)).extras
    reverted = await services.workflows.rollback(principal, wf.id, number)
    snapshot = (extras.get("v1_versions") or {}).get(str(number))
    doc = dict(snapshot) if isinstance(snapshot, dict) else stored_doc(extras, wf)
    return await _save_doc(compat, principal, reverted, {**doc, "name": reverted.name})


@router.post("/workflows/duplicate", response_model=V1Workflow, response_model_exclude_unset=True)
async def duplicate_workflow(
    fields: FieldsDep, principal: PrincipalDep, services: ServicesDep, compat: CompatDep
) -> dict[str, Any]:
    """A copy with its steps, pipeline and graph, named "<name> (copy)", "<name> (copy 2)", …
    unless a name is given (POST /api/workflows/{id}/clone)."""
    wf = await _workflow(compat, principal, _text(fields, "workflowId"))
    given = fields.get("name")
    names = (
        [given]
        if isinstance(given, str) and given
        else [
            f"{wf.name} (copy)" if n == 1 else f"{wf.name} (copy {n})" for n in range(1, MAX_COPIES)
        ]
    )
    for name in names:
        try:
            copy = await services.lifecycle.clone(principal, wf.id, name)
        except Conflict:
            if name == names[-1]:
                raise
            continue
        doc = {**stored_doc((await compat.ref(wf)).extras, wf), "name": copy.name}
        return await _save_doc(compat, principal, copy, doc)
    raise Conflict(f"Too many copies of '{wf.name}'")  # pragma: no cover - the loop returns


@router.post(
    "/workflows/delete", response_model=V1WorkflowChanged, response_model_exclude_unset=True
)
async def delete_workflow(
    fields: FieldsDep, principal: PrincipalDep, services: ServicesDep, compat: CompatDep
) -> dict[str, Any]:
    """Soft-delete: move to the trash (DELETE /api/workflows/{id})."""
    wf = await _workflow(compat, principal, _text(fields, "workflowId"))
    trashed = await services.lifecycle.trash(principal, wf.id)
    return {"success": True, "workflow": await _view(compat, trashed)}


@router.post(
    "/workflows/restore", response_model=V1WorkflowChanged, response_model_exclude_unset=True
)
async def restore_workflow(
    fields: FieldsDep, principal: PrincipalDep, services: ServicesDep, compat: CompatDep
) -> dict[str, Any]:
    """Take out of the trash (POST /api/workflows/{id}/restore)."""
    wf = await compat.resolve(principal, _text(fields, "workflowId"), include_deleted=True)
    restored = await services.lifecycle.restore(principal, wf.id)
    return {"success": True, "workflow": await _view(compat, restored)}


@router.post(
    "/workflows/permanent-delete",
    response_model=V1PermanentlyDeleted,
    response_model_exclude_unset=True,
)
async def permanently_delete_workflow(
    fields: FieldsDep, principal: PrincipalDep, services: ServicesDep, compat: CompatDep
) -> dict[str, Any]:
    """Delete for good; runs go only with `cascade: true`
    (DELETE /api/workflows/{id}?permanent=true)."""
    wf = await compat.resolve(principal, _text(fields, "workflowId"), include_deleted=True)
    _, runs = await services.lifecycle.delete_permanently(
        principal, wf.id, cascade=fields.get("cascade") is True
    )
    return {"success": True, "workflowId": wf.id, "deletedRunCount": runs}


@router.post("/workflows/rename", response_model=V1Workflow, response_model_exclude_unset=True)
async def rename_workflow(
    fields: FieldsDep, principal: PrincipalDep, services: ServicesDep, compat: CompatDep
) -> dict[str, Any]:
    """Rename (PUT /api/workflows/{id} with a name)."""
    wf = await _workflow(compat, principal, _text(fields, "workflowId"))
    name = _text(fields, "name")
    renamed = await services.workflows.update(principal, wf.id, {"name": name})
    doc = {**stored_doc((await compat.ref(wf)).extras, wf), "name": renamed.name}
    return await _save_doc(compat, principal, renamed, doc)


@router.post(
    "/workflows/bulk-delete", response_model=V1BulkDeleted, response_model_exclude_unset=True
)
async def bulk_delete(
    fields: FieldsDep, principal: PrincipalDep, services: ServicesDep, compat: CompatDep
) -> dict[str, Any]:
    """Soft-delete several, each on its own (POST /api/workflows/bulk-delete)."""
    ids = fields.get("workflowIds")
    if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
        raise InvalidInput("workflowIds is required", errors=["workflowIds: a list of ids"])
    outcomes = await services.lifecycle.bulk_delete(principal, ids, permanent=False, cascade=False)
    results = [
        {"workflowId": o.id, "status": o.status, "result": o.result, "detail": o.detail}
        for o in outcomes
    ]
    deleted = sum(1 for o in outcomes if o.result == "trashed")
    return {"success": deleted == len(outcomes), "deletedCount": deleted, "results": results}
