"""The Run dialog, the run page (live), run controls, and the workspace's runs list."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request
from starlette.responses import Response

from flowdeck.api.sse import run_events_response
from flowdeck.domain.records import WorkflowFilter
from flowdeck.domain.states import RUN_TERMINAL
from flowdeck.errors import InvalidInput
from flowdeck.services.views import run_detail
from flowdeck.ui.graph import layout
from flowdeck.ui.render import Page, PageDep, UiRoute
from flowdeck.ui.run_form import read_inputs

router = APIRouter(route_class=UiRoute, include_in_schema=False)
RUNS_PAGE = 50


@router.get("/ui/workflows/{workflow_id}/run")
async def run_dialog(page: PageDep, workflow_id: str) -> Response:
    """A form generated from the workflow's inputs, with a dry-run panel."""
    wf = await page.services.workflows.get(page.principal, workflow_id)
    page.principal.require("workflows:run")
    return page.render("run_dialog.html", wf=wf, inputs=wf.definition.get("inputs") or [])


@router.post("/ui/workflows/{workflow_id}/plan")
async def dry_run(page: PageDep, workflow_id: str) -> Response:
    """The dry-run panel: levels, estimated cost and duration; nothing runs."""
    wf = await page.services.workflows.get(page.principal, workflow_id)
    try:
        inputs = read_inputs(wf.definition, await page.form())
    except InvalidInput as exc:
        return page.render("_plan.html", plan=None, errors=exc.errors)
    plan = await page.services.runs.plan(page.principal, wf.id, input_data=inputs)
    return page.render("_plan.html", plan=plan, errors=plan.errors)


@router.post("/ui/workflows/{workflow_id}/run")
async def start_run(page: PageDep, workflow_id: str) -> Response:
    """Start a run and open its page."""
    wf = await page.services.workflows.get(page.principal, workflow_id)
    form = await page.form()
    inputs = read_inputs(wf.definition, form)
    run, _ = await page.services.runs.start(
        page.principal,
        wf.id,
        input_data=inputs,
        idempotency_key=(form.get("idempotency_key") or "").strip()[:200] or None,
    )
    return page.redirect(f"/ui/runs/{run.id}")


async def _run_context(page: Page, run_id: str) -> dict[str, Any]:
    run, steps = await page.services.runs.get(page.principal, run_id)
    wf = await page.services.workflows.get(page.principal, run.workflow_id)
    version = await page.services.workflows.version(page.principal, wf.id, run.workflow_version)
    detail = run_detail(run, steps)
    current = [s for s in detail["step_runs"] if s["current"] and s["loop_step_id"] is None]
    iterations: dict[str, list[dict[str, object]]] = {}
    for s in detail["step_runs"]:
        if s["loop_step_id"] is not None and s["current"]:
            iterations.setdefault(str(s["loop_step_id"]), []).append(s)
    statuses = {str(s["step_id"]): str(s["status"]) for s in current}
    messages = {
        s.step_id: str(s.state.get("message") or "")
        for s in steps
        if s.is_current and s.state and s.status == "waiting"
    }
    children = {
        s.step_id: str(s.state["child_run_id"])
        for s in steps
        if s.is_current and s.state and s.state.get("child_run_id")
    }
    waiting = [
        s["step_id"] for s in current if s["status"] == "waiting" and s["type"] == "approval"
    ]
    return dict(
        run=detail,
        wf=wf,
        graph=layout(version.definition, statuses),
        steps=current,
        iterations=iterations,
        children=children,
        messages=messages,
        attempts=_attempts(detail["step_runs"]),
        waiting=waiting,
        terminal=run.status in RUN_TERMINAL,
        step_ids=[s["step_id"] for s in current],
    )


def _attempts(step_runs: list[dict[str, object]]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for s in step_runs:
        if s["loop_step_id"] is None:
            counts[str(s["step_id"])] = counts.get(str(s["step_id"]), 0) + 1
    return counts


@router.get("/ui/runs/{run_id}")
async def run_page(page: PageDep, run_id: str) -> Response:
    """The run: live graph, steps, timeline, controls."""
    # Events first, then the run: the stream starts after the last event read here, so
    # whatever happens after this read (the run ending while the page renders) is replayed,
    # never lost between a stale status and a later event list.
    _, events = await page.services.runs.events(page.principal, run_id, 0)
    context = await _run_context(page, run_id)
    return page.render("run.html", events=events[-200:], **context)


@router.get("/ui/runs/{run_id}/live")
async def run_live(page: PageDep, run_id: str) -> Response:
    """The run page's live part (graph, controls, steps), re-rendered as events arrive."""
    return page.render("_run_live.html", **await _run_context(page, run_id))


@router.get("/ui/runs/{run_id}/stream")
async def run_stream(
    page: PageDep,
    request: Request,
    run_id: str,
    last_event_id: Annotated[int | None, Header(ge=0, le=2**31 - 1)] = None,
    after: Annotated[int, Query(ge=0, le=2**31 - 1)] = 0,
) -> Response:
    """The run's events as SSE for the page's session (the API's stream, authenticated by
    the session cookie): replays after Last-Event-ID (or `after`, the last event the page
    already shows), then follows."""
    after = max(last_event_id or 0, after)
    await page.services.runs.events(page.principal, run_id, after)  # 404 before streaming
    return run_events_response(request, page.services, page.principal, run_id, after)


@router.post("/ui/runs/{run_id}/{action}")
async def steer(page: PageDep, run_id: str, action: str) -> Response:
    """Cancel, pause, resume, or resume from one step."""
    runs = page.services.runs
    if action == "cancel":
        await runs.cancel(page.principal, run_id)
    elif action == "pause":
        await runs.pause(page.principal, run_id)
    elif action == "resume":
        from_step = (await page.form()).get("from_step") or None
        await runs.resume(page.principal, run_id, from_step)
    else:
        raise InvalidInput("Unknown action", errors=[f"'{action}' is not a run action"])
    return page.redirect(f"/ui/runs/{run_id}")


@router.post("/ui/runs/{run_id}/steps/{step_id}/decide")
async def decide(page: PageDep, run_id: str, step_id: str) -> Response:
    """Approve or reject a waiting approval step."""
    form = await page.form()
    decision = form.get("decision")
    if decision not in ("approve", "reject"):
        raise InvalidInput("Invalid decision", errors=["decision must be approve or reject"])
    await page.services.approvals.decide(
        page.principal,
        run_id,
        step_id,
        approve=decision == "approve",
        comment=(form.get("comment") or "").strip()[:2000] or None,
    )
    back = form.get("back") or ""
    return page.redirect(back if back == "/ui/approvals" else f"/ui/runs/{run_id}")


@router.get("/ui/runs")
async def runs_list(
    page: PageDep,
    status: str | None = None,
    workflow_id: str | None = None,
    since: str | None = None,
    until: str | None = None,
    cursor: str | None = None,
    partial: str | None = None,
) -> Response:
    """Every run in the workspace, filtered by status, workflow and time."""
    moments = {}
    for name, text in (("since", since), ("until", until)):
        try:
            moments[name] = datetime.fromisoformat(text) if text else None
        except ValueError:
            raise InvalidInput("Invalid filter", errors=[f"{name} must be a date"]) from None
    listed = await page.services.runs.list_workspace_runs(
        page.principal,
        status=status or None,
        workflow_id=workflow_id or None,
        since=moments["since"],
        until=moments["until"],
        limit=RUNS_PAGE,
        cursor=cursor or None,
    )
    workflows = await page.services.workflows.list_workflows(
        page.principal, WorkflowFilter(include_archived=True), limit=200
    )
    names = {wf.id: wf.name for wf in workflows.items}
    context: dict[str, Any] = dict(
        runs=listed.items,
        next_cursor=listed.next_cursor,
        names=names,
        show_workflow=True,
        workflows=workflows.items,
        status=status or "",
        workflow_id=workflow_id or "",
        since=since or "",
        until=until or "",
        cursor=cursor or "",
    )
    return page.render("_runs_table.html" if partial else "runs.html", **context)
