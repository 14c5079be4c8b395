"""The workflow page: Graph, Runs, Analytics, Versions, Schedules and Related tabs."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from fastapi import APIRouter
from starlette.responses import Response

from flowdeck.domain.records import Workflow
from flowdeck.domain.schedules import next_fire, normalise_cron, schedule_problems
from flowdeck.errors import InvalidInput
from flowdeck.services.schedules import ScheduleChanges
from flowdeck.ui import charts
from flowdeck.ui.diffs import Change, readable
from flowdeck.ui.graph import layout
from flowdeck.ui.render import Page, PageDep, UiRoute, VersionNumber

router = APIRouter(route_class=UiRoute, include_in_schema=False)
TABS = ("graph", "runs", "analytics", "versions", "schedules", "definition", "related")
RUNS_PAGE = 25


async def tab(page: Page, wf: Workflow, name: str, **context: Any) -> Response:
    """Render one tab of the workflow page."""
    return page.render(f"workflow_{name}.html", wf=wf, tab=name, tabs=TABS, **context)


@router.get("/ui/workflows/{workflow_id}")
async def graph_tab(page: PageDep, workflow_id: str) -> Response:
    """The workflow's DAG."""
    wf = await page.services.workflows.get(page.principal, workflow_id)
    return await tab(page, wf, "graph", graph=layout(wf.definition))


@router.get("/ui/workflows/{workflow_id}/runs")
async def runs_tab(
    page: PageDep,
    workflow_id: str,
    status: str | None = None,
    cursor: str | None = None,
    partial: str | None = None,
) -> Response:
    """The workflow's runs, newest first, by a cursor."""
    wf = await page.services.workflows.get(page.principal, workflow_id)
    listed = await page.services.runs.list_workspace_runs(
        page.principal,
        workflow_id=wf.id,
        status=status or None,
        limit=RUNS_PAGE,
        cursor=cursor or None,
    )
    context: dict[str, Any] = dict(
        runs=listed.items,
        next_cursor=listed.next_cursor,
        status=status or "",
        cursor=cursor or "",
        names={wf.id: wf.name},
        show_workflow=False,
    )
    if partial:
        return page.render("_runs_table.html", **context)
    return await tab(page, wf, "runs", **context)


@router.get("/ui/workflows/{workflow_id}/analytics")
async def analytics_tab(page: PageDep, workflow_id: str, days: int = 30) -> Response:
    """KPIs and small charts."""
    wf = await page.services.workflows.get(page.principal, workflow_id)
    data = await page.services.analytics.analytics(page.principal, wf.id, days=days)
    over_time = data["runs_over_time"]
    costs = data["cost_breakdown"]
    return await tab(
        page,
        wf,
        "analytics",
        data=data,
        days=days,
        run_bars=charts.bars([p["period"] for p in over_time], [p["total"] for p in over_time]),
        success_line=charts.line([p["success_rate"] for p in data["success_rate_series"]]),
        cost_bars=charts.bars([c["step_type"] for c in costs], [c["cost"] for c in costs]),
        chart=charts,
    )


@router.get("/ui/workflows/{workflow_id}/versions")
async def versions_tab(
    page: PageDep,
    workflow_id: str,
    a: VersionNumber | None = None,
    b: VersionNumber | None = None,
) -> Response:
    """Versions, and the diff of two of them."""
    wf = await page.services.workflows.get(page.principal, workflow_id)
    versions = await page.services.workflows.versions(page.principal, wf.id)
    changes: list[Change] = []
    summary = None
    if a is not None and b is not None:
        ops, summary = await page.services.workflows.diff(page.principal, wf.id, a, b)
        by_number = {v.version: v.definition for v in versions}
        changes = readable(ops, by_number.get(a, {}))
    return await tab(
        page,
        wf,
        "versions",
        versions=sorted(versions, key=lambda v: -v.version),
        changes=changes,
        summary=summary,
        a=a,
        b=b,
    )


@router.post("/ui/workflows/{workflow_id}/rollback")
async def rollback(page: PageDep, workflow_id: str) -> Response:
    """Make a new version from an old one."""
    form = await page.form()
    number = _int(form.get("version"), "version")
    wf = await page.services.workflows.rollback(page.principal, workflow_id, number)
    return page.redirect(f"/ui/workflows/{wf.id}/versions")


def _int(value: str | None, field: str) -> int:
    try:
        number = int(value or "")
    except ValueError:
        number = 0
    if not 1 <= number < 2**31:
        raise InvalidInput("Invalid form", errors=[f"{field} must be a version number"])
    return number


def next_firings(cron: str, timezone: str, now: datetime, count: int = 5) -> list[datetime]:
    """The next `count` moments a schedule would fire."""
    out: list[datetime] = []
    moment = now
    for _ in range(count):
        moment = next_fire(cron, timezone, moment)
        out.append(moment)
    return out


@router.get("/ui/workflows/{workflow_id}/schedules")
async def schedules_tab(page: PageDep, workflow_id: str) -> Response:
    """The workflow's schedules and a form to add one."""
    wf = await page.services.workflows.get(page.principal, workflow_id)
    listed = await page.services.schedules.list_schedules(page.principal, wf.id, limit=200)
    return await tab(page, wf, "schedules", schedules=listed.items)


@router.get("/ui/schedules/preview")
async def schedule_preview(
    page: PageDep, cron_expression: str = "", timezone: str = "UTC"
) -> Response:
    """The next five firings of a cron expression, as the user types it."""
    now = page.services.clock.now()
    cron = normalise_cron(cron_expression)
    problems = schedule_problems(cron, timezone, now) if cron else ["Type a cron expression"]
    firings = [] if problems else next_firings(cron, timezone, now)
    return page.render("_firings.html", problems=problems, firings=firings, timezone=timezone)


@router.post("/ui/workflows/{workflow_id}/schedules")
async def create_schedule(page: PageDep, workflow_id: str) -> Response:
    """Add a schedule."""
    form = await page.form()
    try:
        input_data = json.loads(form.get("input_data") or "{}")
    except ValueError:
        raise InvalidInput("Invalid form", errors=["input_data must be a JSON object"]) from None
    if not isinstance(input_data, dict):
        raise InvalidInput("Invalid form", errors=["input_data must be a JSON object"])
    await page.services.schedules.create(
        page.principal,
        workflow_id,
        cron_expression=form.get("cron_expression", ""),
        timezone=form.get("timezone") or "UTC",
        input_data=input_data,
    )
    return page.redirect(f"/ui/workflows/{workflow_id}/schedules")


@router.post("/ui/schedules/{schedule_id}/toggle")
async def toggle_schedule(page: PageDep, schedule_id: str) -> Response:
    """Enable or disable a schedule."""
    schedule = await page.services.schedules.get(page.principal, schedule_id)
    changes = ScheduleChanges(enabled=not schedule.enabled)
    await page.services.schedules.update(page.principal, schedule_id, changes)
    return page.redirect(f"/ui/workflows/{schedule.workflow_id}/schedules")


@router.post("/ui/schedules/{schedule_id}/delete")
async def delete_schedule(page: PageDep, schedule_id: str) -> Response:
    """Delete a schedule."""
    schedule = await page.services.schedules.get(page.principal, schedule_id)
    await page.services.schedules.delete(page.principal, schedule_id)
    return page.redirect(f"/ui/workflows/{schedule.workflow_id}/schedules")


@router.get("/ui/workflows/{workflow_id}/related")
async def related_tab(page: PageDep, workflow_id: str) -> Response:
    """Schedules, templates, copies and the source of this workflow."""
    wf = await page.services.workflows.get(page.principal, workflow_id)
    related = await page.services.analytics.related(page.principal, wf.id)
    return await tab(page, wf, "related", related=related)
