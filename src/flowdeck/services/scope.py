"""What a caller may see: another workspace's object, or one outside a token's workflow, is
simply not there (404, never 403)."""

from __future__ import annotations

from flowdeck.domain.compat import Project
from flowdeck.domain.records import Workflow
from flowdeck.errors import NotFound
from flowdeck.services.auth import Principal
from flowdeck.services.ports import TxPort


async def load_workflow(
    tx: TxPort, principal: Principal, id_or_slug: str, *, include_deleted: bool = False
) -> Workflow:
    """The caller's workflow by id or slug, or NotFound."""
    wf = await tx.get_workflow(principal.workspace_id, id_or_slug, include_deleted=include_deleted)
    if wf is None or (principal.workflow_id is not None and wf.id != principal.workflow_id):
        raise NotFound(f"Workflow '{id_or_slug}' not found")
    return wf


async def load_project(tx: TxPort, principal: Principal, id_or_name: str) -> Project:
    """The caller's project by id or name, or NotFound."""
    project = await tx.get_project(principal.workspace_id, id_or_name)
    if project is None:
        raise NotFound(f"Project '{id_or_name}' not found")
    return project
