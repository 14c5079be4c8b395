"""Seed 002's run button and reference images: `POST /api/v1/runs/start` and
`POST /api/v1/files/upload-url` (whose URL takes the bytes by PUT, no key: the URL's token)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request

from flowdeck.api.compat.common import CompatDep, FieldsDep, iso_z
from flowdeck.api.deps import PrincipalDep, ServicesDep, get_services
from flowdeck.api.retry import RetryingRoute
from flowdeck.errors import InvalidInput
from flowdeck.models.compat_002 import (
    V1RunStarted,
    V1Uploaded,
    V1UploadUrl,
)
from flowdeck.services.container import Services
from flowdeck.services.files import FileService

router = APIRouter(route_class=RetryingRoute, prefix="/api/v1", tags=["seed 002: runs v1"])
# The upload URL itself: no API key (its token authorises one PUT), counted per address.
upload_router = APIRouter(route_class=RetryingRoute, prefix="/api/v1", tags=["seed 002: runs v1"])
_STRINGS = ("githubRepoUrl", "branchName")


def file_service(services: Annotated[Services, Depends(get_services)]) -> FileService:
    """Uploaded files, capped at the request body limit."""
    return FileService(services.store, services.clock, max_bytes=services.settings.max_body_bytes)


FilesDep = Annotated[FileService, Depends(file_service)]


def _run_input(fields: dict[str, Any]) -> dict[str, Any]:
    errors = []
    prompt = fields.get("prompt")
    if not isinstance(prompt, str) or not prompt.strip():
        errors.append("prompt: required (a string)")
    for name in _STRINGS:
        if fields.get(name) is not None and not isinstance(fields[name], str):
            errors.append(f"{name}: must be a string")
    if fields.get("config") is not None and not isinstance(fields["config"], dict):
        errors.append("config: must be an object")
    images = fields.get("referenceImageIds")
    if images is not None and (
        not isinstance(images, list) or not all(isinstance(i, str) for i in images)
    ):
        errors.append("referenceImageIds: must be a list of storage ids")
    if errors:
        raise InvalidInput("The run request is invalid", errors=errors)
    given = {k: fields.get(k) for k in ("prompt", *_STRINGS, "config", "referenceImageIds")}
    return {k: v for k, v in given.items() if v is not None}


@router.post("/runs/start", response_model=V1RunStarted, response_model_exclude_unset=True)
async def start_run(
    fields: FieldsDep,
    principal: PrincipalDep,
    services: ServicesDep,
    compat: CompatDep,
    files: FilesDep,
) -> dict[str, Any]:
    """Start a run of a workflow with the prompt, repository, branch, config and uploaded
    images as its input (POST /api/workflows/{id}/run); the run gets the workflow's next
    number."""
    workflow_ref = fields.get("workflowId")
    if not isinstance(workflow_ref, str) or not workflow_ref:
        raise InvalidInput("workflowId is required", errors=["workflowId: required"])
    input_data = _run_input(fields)
    wf = await compat.resolve(principal, workflow_ref)
    if input_data.get("referenceImageIds"):
        loaded = await files.load(principal, input_data["referenceImageIds"])
        input_data["referenceImages"] = [f.as_input() for f in loaded]
    run, _ = await services.runs.start(
        principal, wf.id, input_data=input_data, trigger="api", record=compat.number_run
    )
    number = (await compat.run_numbers(principal, wf, [run])).get(run.id)
    return {
        "runId": run.id,
        "workflowId": wf.id,
        "runNumber": number,
        "displayId": f"#{number}" if number is not None else None,
        "status": run.status,
        "createdAt": iso_z(run.created_at),
    }


@router.post("/files/upload-url", response_model=V1UploadUrl, response_model_exclude_unset=True)
async def upload_url(request: Request, principal: PrincipalDep, files: FilesDep) -> dict[str, Any]:
    """A URL to PUT one file's bytes to, and the `storageId` that names the file."""
    file, token = await files.announce(principal)
    url = request.url_for("upload_file", storage_id=file.id).include_query_params(token=token)
    return {
        "uploadUrl": str(url),
        "storageId": file.id,
        "method": "PUT",
        "maxBytes": files.max_bytes,
    }


@upload_router.put(
    "/files/upload/{storage_id}",
    name="upload_file",
    response_model=V1Uploaded,
    response_model_exclude_unset=True,
)
async def upload_file(
    storage_id: str,
    request: Request,
    files: FilesDep,
    token: Annotated[str | None, Query()] = None,
) -> dict[str, Any]:
    """Store the bytes of an announced file (once)."""
    data = await request.body()
    stored = await files.upload(storage_id, token, data, request.headers.get("content-type"))
    return {
        "storageId": stored.id,
        "size": stored.size,
        "contentType": stored.content_type,
        "uploadedAt": iso_z(stored.uploaded_at),
    }
