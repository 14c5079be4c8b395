"""The Approvals inbox: every pending approval of the workspace."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.responses import Response

from flowdeck.services.approvals import approval_view
from flowdeck.ui.render import Offset, PageDep, UiRoute

router = APIRouter(route_class=UiRoute, include_in_schema=False)


@router.get("/ui/approvals")
async def inbox(page: PageDep, offset: Offset = 0, partial: str | None = None) -> Response:
    """Pending approvals, oldest first."""
    pending = await page.services.approvals.pending(page.principal, limit=50, offset=offset)
    items = [approval_view(item) for item in pending.items]
    name = "_approvals.html" if partial else "approvals.html"
    return page.render(name, items=items, total=pending.total, offset=offset)
