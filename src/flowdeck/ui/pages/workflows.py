"""The Workflows screen: list with search and filters, per-row actions, bulk delete, Trash."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from starlette.responses import Response

from flowdeck.domain.records import Run, WorkflowFilter
from flowdeck.errors import InvalidInput
from flowdeck.ui.render import Offset, Page, PageDep, UiRoute

router = APIRouter(route_class=UiRoute, include_in_schema=False)
PAGE_SIZE = 25


async def _last_runs(page: Page, workflow_ids: list[str]) -> dict[str, Run]:
    """Each listed workflow's newest run (one indexed read per row, at most a page of them)."""
    last: dict[str, Run] = {}
    for wf_id in workflow_ids:
        found = await page.services.runs.list_workspace_runs(
            page.principal, workflow_id=wf_id, limit=1
        )
        if found.items:
            last[wf_id] = found.items[0]
    return last


@router.get("/ui/")
@router.get("/ui/workflows")
async def workflows_list(
    page: PageDep,
    q: str | None = None,
    status: str | None = None,
    tag: str | None = None,
    archived: str | None = None,
    offset: Offset = 0,
    partial: str | None = None,
) -> Response:
    """The workspace's workflows."""
    flt = WorkflowFilter(
        status=status or None,
        tag=tag or None,
        q=q or None,
        include_archived=archived == "include",
        only_archived=archived == "only",
    )
    listed = await page.services.workflows.list_workflows(
        page.principal, flt, limit=PAGE_SIZE, offset=offset
    )
    last = await _last_runs(page, [wf.id for wf in listed.items])
    context: dict[str, Any] = dict(
        workflows=listed.items,
        total=listed.total,
        last=last,
        q=q or "",
        status=status or "",
        tag=tag or "",
        archived=archived or "",
        offset=offset,
        page_size=PAGE_SIZE,
    )
    name = "workflows_rows.html" if partial else "workflows.html"
    return page.render(name, **context)


@router.post("/ui/workflows/{workflow_id}/duplicate")
async def duplicate(page: PageDep, workflow_id: str) -> Response:
    """Copy a workflow under a new name."""
    source = await page.services.workflows.get(page.principal, workflow_id)
    copy = await page.services.lifecycle.clone(page.principal, source.id, f"{source.name} (copy)")
    return page.redirect(f"/ui/workflows/{copy.id}")


@router.post("/ui/workflows/{workflow_id}/archive")
async def archive(page: PageDep, workflow_id: str) -> Response:
    """Archive (or, when archived, unarchive) a workflow."""
    wf = await page.services.workflows.get(page.principal, workflow_id)
    if wf.status == "archived":
        await page.services.lifecycle.unarchive(page.principal, wf.id)
    else:
        await page.services.lifecycle.archive(page.principal, wf.id)
    return page.redirect("/ui/workflows")


@router.post("/ui/workflows/{workflow_id}/delete")
async def delete(page: PageDep, workflow_id: str) -> Response:
    """Move a workflow to the trash."""
    await page.services.lifecycle.trash(page.principal, workflow_id)
    return page.redirect("/ui/workflows")


@router.post("/ui/workflows/bulk-delete")
async def bulk_delete(page: PageDep) -> Response:
    """Move every checked workflow to the trash."""
    ids = await page.form_lists("ids")
    if not ids:
        raise InvalidInput("Nothing selected", errors=["Tick at least one workflow to delete"])
    outcomes = await page.services.lifecycle.bulk_delete(
        page.principal, ids, permanent=False, cascade=False
    )
    failed = [o for o in outcomes if o.result == "error"]
    if failed:
        raise InvalidInput(
            "Some workflows were not deleted", errors=[f"{o.id}: {o.detail}" for o in failed]
        )
    return page.redirect("/ui/workflows")


@router.get("/ui/trash")
async def trash(page: PageDep, offset: Offset = 0) -> Response:
    """Workflows in the trash, with restore."""
    listed = await page.services.lifecycle.list_trash(
        page.principal, limit=PAGE_SIZE, offset=offset
    )
    return page.render(
        "trash.html",
        workflows=listed.items,
        total=listed.total,
        offset=offset,
        page_size=PAGE_SIZE,
    )


@router.post("/ui/workflows/{workflow_id}/restore")
async def restore(page: PageDep, workflow_id: str) -> Response:
    """Bring a workflow back from the trash."""
    await page.services.lifecycle.restore(page.principal, workflow_id)
    return page.redirect("/ui/trash")
