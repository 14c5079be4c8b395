"""Workflow analytics and related objects through the HTTP API, with exact numbers."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from flowdeck.api.app import create_app
from flowdeck.config import Settings
from flowdeck.domain.clock import FakeClock, SystemClock
from flowdeck.domain.ids import new_id
from flowdeck.domain.records import Run, StepRun
from flowdeck.services.auth import AuthService
from flowdeck.store.store import Store
from flowdeck.store.tables import schedules
from tests.integration.conftest import Api
from tests.integration.runs_helpers import create_workflow, start_run, wait_for_run
from tests.integration.test_workflows_api import assert_problem

NOW = datetime(2026, 3, 18, 12, 0, tzinfo=UTC)  # a Wednesday
NOT_DUE = datetime(2099, 3, 18, 12, 0, tzinfo=UTC)


@pytest.fixture
async def frozen(tmp_path: Path, database_url: str, store: Store) -> AsyncIterator[Api]:
    """The app with its clock stopped at NOW and no worker: runs are inserted as fixtures."""
    settings = Settings(data_dir=tmp_path / "data", database_url=database_url, run_worker=False)
    secret = await AuthService(store, SystemClock()).bootstrap(None)
    assert secret is not None
    app = create_app(settings, store=store, clock=FakeClock(NOW))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://flowdeck.test") as c:
            yield Api(client=c, key=secret, store=store)


DEFINITION = {
    "name": "Pipeline",
    "steps": [
        {"id": "fetch", "type": "http_request", "config": {"url": "https://example.com"}},
        {
            "id": "process",
            "type": "loop",
            "depends_on": ["fetch"],
            "config": {"items": [1, 2], "step": {"type": "transform", "config": {"value": 1}}},
        },
        {"id": "report", "type": "transform", "depends_on": ["process"], "config": {"value": 2}},
    ],
}


class Fixture:
    """Builds runs and step runs with exact timestamps, durations and costs."""

    def __init__(self, workspace_id: str, workflow_id: str) -> None:
        self.workspace_id = workspace_id
        self.workflow_id = workflow_id
        self.runs: list[Run] = []
        self.steps: list[StepRun] = []

    def run(
        self,
        at: datetime,
        status: str,
        seconds: float | None,
        cost: float = 0.0,
        *,
        workflow_id: str | None = None,
    ) -> str:
        run_id = new_id("run")
        self.runs.append(
            Run(
                id=run_id,
                workspace_id=self.workspace_id,
                workflow_id=workflow_id or self.workflow_id,
                workflow_version=1,
                status=status,
                trigger="manual",
                input_data={},
                created_at=at,
                cost=cost,
                started_at=at,
                completed_at=None if seconds is None else at + timedelta(seconds=seconds),
            )
        )
        return run_id

    def step(
        self,
        run_id: str,
        step_id: str,
        step_type: str,
        status: str,
        seconds: float | None = None,
        cost: float = 0.0,
        *,
        attempt: int = 1,
        current: bool = True,
        parent: str | None = None,
    ) -> None:
        start = NOW - timedelta(days=40)
        self.steps.append(
            StepRun(
                id=new_id("sr"),
                run_id=run_id,
                step_id=step_id,
                step_type=step_type,
                attempt=attempt,
                status=status,
                created_at=start,
                is_current=current,
                parent_step_id=parent,
                item_index=int(step_id[-2]) if parent else None,
                cost=cost,
                started_at=None if status in ("pending", "skipped") else start,
                completed_at=None if seconds is None else start + timedelta(seconds=seconds),
            )
        )

    def loop(self, run_id: str, status: str, seconds: float | None, costs: list[float]) -> None:
        self.step(run_id, "process", "loop", status, seconds)
        for i, cost in enumerate(costs):
            self.step(run_id, f"process[{i}]", "transform", "completed", 1, cost, parent="process")

    async def save(self, store: Store) -> None:
        async with store.write() as tx:
            for run in self.runs:
                await tx.insert_run(run)
            await tx.insert_step_runs(self.steps)
            # What the engine does when a run ends: its steps join the per-day statistics.
            for run in self.runs:
                if run.status in ("completed", "failed", "cancelled"):
                    await tx.roll_up_run(run.id)


async def workspace_id(store: Store) -> str:
    async with store.read() as tx:
        ws = await tx.get_workspace_by_slug("default")
        assert ws is not None
        return ws.id


def day(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


async def seed(api: Api) -> str:
    """A workflow with runs whose numbers the tests below check exactly; returns its id."""
    wf_id = await create_workflow(api, DEFINITION)
    other_wf = await create_workflow(api, {**DEFINITION, "name": "Elsewhere"})
    fx = Fixture(await workspace_id(api.store), wf_id)
    r1 = fx.run(day("2026-03-18T10:00:00"), "completed", 10, 1.5)
    fx.step(r1, "fetch", "http_request", "completed", 2)
    fx.loop(r1, "completed", 4, [0.25, 0.25])
    fx.step(r1, "report", "agent_task", "completed", 3, 1.0)
    r2 = fx.run(day("2026-03-17T09:00:00"), "completed", 20, 2.0)
    fx.step(r2, "fetch", "http_request", "failed", 1, attempt=1, current=False)
    fx.step(r2, "fetch", "http_request", "completed", 3, attempt=2)
    fx.loop(r2, "completed", 6, [0.25, 0.25])
    fx.step(r2, "report", "agent_task", "completed", 5, 1.5)
    r3 = fx.run(day("2026-03-17T11:00:00"), "failed", 5)
    fx.step(r3, "fetch", "http_request", "failed", 4)
    fx.step(r3, "process", "loop", "skipped")
    fx.step(r3, "report", "agent_task", "skipped")
    r4 = fx.run(day("2026-03-16T08:00:00"), "completed", 30, 1.0)
    fx.step(r4, "fetch", "http_request", "completed", 2)
    fx.loop(r4, "completed", 4, [0.25, 0.25])
    fx.step(r4, "report", "agent_task", "completed", 1, 0.5)
    r5 = fx.run(day("2026-03-15T08:00:00"), "cancelled", 3)
    fx.step(r5, "fetch", "http_request", "completed", 2)
    fx.step(r5, "process", "loop", "cancelled", 1)
    fx.step(r5, "report", "agent_task", "cancelled")
    r6 = fx.run(day("2026-03-10T08:00:00"), "completed", 40, 3.0)
    fx.step(r6, "fetch", "http_request", "completed", 6)
    fx.loop(r6, "completed", 4, [0.25, 0.25])
    fx.step(r6, "report", "agent_task", "completed", 5, 2.5)
    r7 = fx.run(day("2026-03-01T08:00:00"), "running", None, 0.25)
    fx.step(r7, "fetch", "http_request", "completed", 2)
    fx.step(r7, "process", "loop", "running")
    fx.step(r7, "process[0]", "transform", "completed", 1, 0.25, parent="process")
    fx.step(r7, "process[1]", "transform", "running", parent="process")
    fx.step(r7, "report", "agent_task", "pending")
    # One second before the 30-day window opens (2026-02-17T00:00Z).
    r8 = fx.run(day("2026-02-16T23:59:59"), "completed", 100, 50.0)
    fx.step(r8, "fetch", "http_request", "completed", 100)
    fx.step(r8, "report", "agent_task", "completed", 1, 50.0)
    # Another workflow's run in the window counts nowhere here.
    r9 = fx.run(day("2026-03-18T09:00:00"), "failed", 1, 9.0, workflow_id=other_wf)
    fx.step(r9, "fetch", "http_request", "failed", 1, 9.0)
    await fx.save(api.store)
    return wf_id


async def analytics(api: Api, wf: str, query: str = "", headers: Any = None) -> Any:
    resp = await api.client.get(
        f"/api/workflows/{wf}/analytics{query}", headers=headers or api.headers
    )
    assert resp.status_code == 200, resp.text
    return resp.json()


async def test_kpis_over_the_default_window(frozen: Api) -> None:
    wf = await seed(frozen)
    body = await analytics(frozen, wf)
    assert (body["days"], body["granularity"]) == (30, "daily")
    assert body["since"] == "2026-02-17T00:00:00.000Z"
    assert body["until"] == "2026-03-18T12:00:00.000Z"
    assert body["kpis"] == {
        "total_runs": 7,
        "completed": 4,
        "failed": 1,
        "cancelled": 1,
        "success_rate": 0.8,  # completed / (completed + failed); cancelled counts for neither
        "p50_duration_seconds": 25.0,  # completed runs: 10, 20, 30, 40 (percentile_cont)
        "p95_duration_seconds": 38.5,
        "total_cost": 7.75,
    }


async def test_daily_series_cover_every_day(frozen: Api) -> None:
    wf = await seed(frozen)
    body = await analytics(frozen, wf, "?granularity=daily")
    series = body["runs_over_time"]
    assert len(series) == 30
    assert series[0]["period"] == "2026-02-17" and series[-1]["period"] == "2026-03-18"
    nonzero = {p["period"]: p for p in series if p["total"]}
    assert nonzero == {
        "2026-03-01": {
            "period": "2026-03-01",
            "total": 1,
            "completed": 0,
            "failed": 0,
            "cancelled": 0,
        },
        "2026-03-10": {
            "period": "2026-03-10",
            "total": 1,
            "completed": 1,
            "failed": 0,
            "cancelled": 0,
        },
        "2026-03-15": {
            "period": "2026-03-15",
            "total": 1,
            "completed": 0,
            "failed": 0,
            "cancelled": 1,
        },
        "2026-03-16": {
            "period": "2026-03-16",
            "total": 1,
            "completed": 1,
            "failed": 0,
            "cancelled": 0,
        },
        "2026-03-17": {
            "period": "2026-03-17",
            "total": 2,
            "completed": 1,
            "failed": 1,
            "cancelled": 0,
        },
        "2026-03-18": {
            "period": "2026-03-18",
            "total": 1,
            "completed": 1,
            "failed": 0,
            "cancelled": 0,
        },
    }
    rates = {p["period"]: p["success_rate"] for p in body["success_rate_series"]}
    assert len(rates) == 30
    assert {k: v for k, v in rates.items() if v is not None} == {
        "2026-03-10": 1.0,
        "2026-03-16": 1.0,
        "2026-03-17": 0.5,
        "2026-03-18": 1.0,
    }


async def test_weekly_and_monthly_buckets(frozen: Api) -> None:
    wf = await seed(frozen)
    weekly = await analytics(frozen, wf, "?granularity=weekly")
    # Weeks start on Monday; Sunday 2026-03-15 belongs to the week of 2026-03-09.
    assert [
        (p["period"], p["total"], p["completed"], p["failed"], p["cancelled"])
        for p in weekly["runs_over_time"]
    ] == [
        ("2026-02-16", 0, 0, 0, 0),
        ("2026-02-23", 1, 0, 0, 0),
        ("2026-03-02", 0, 0, 0, 0),
        ("2026-03-09", 2, 1, 0, 1),
        ("2026-03-16", 4, 3, 1, 0),
    ]
    assert [p["success_rate"] for p in weekly["success_rate_series"]] == [
        None,
        None,
        None,
        1.0,
        0.75,
    ]
    monthly = await analytics(frozen, wf, "?granularity=monthly&days=60")
    assert [(p["period"], p["total"], p["completed"]) for p in monthly["runs_over_time"]] == [
        ("2026-01-01", 0, 0),
        ("2026-02-01", 1, 1),
        ("2026-03-01", 7, 4),
    ]
    assert monthly["kpis"]["total_runs"] == 8
    assert monthly["kpis"]["p50_duration_seconds"] == 30.0  # 10, 20, 30, 40, 100
    assert monthly["kpis"]["p95_duration_seconds"] == 88.0
    assert monthly["kpis"]["total_cost"] == 57.75
    today = await analytics(frozen, wf, "?days=1")
    assert today["kpis"]["total_runs"] == 1
    assert today["kpis"]["p50_duration_seconds"] == today["kpis"]["p95_duration_seconds"] == 10.0
    assert [p["period"] for p in today["runs_over_time"]] == ["2026-03-18"]


async def test_cost_breakdown_and_step_stats(frozen: Api) -> None:
    wf = await seed(frozen)
    body = await analytics(frozen, wf)
    assert body["cost_breakdown"] == [
        {"step_type": "agent_task", "cost": 5.5, "step_runs": 7},
        {"step_type": "transform", "cost": 2.25, "step_runs": 10},  # the loop's iterations
        {"step_type": "http_request", "cost": 0.0, "step_runs": 8},
        {"step_type": "loop", "cost": 0.0, "step_runs": 7},
    ]
    assert body["step_stats"] == [
        {
            "step_id": "fetch",
            "step_type": "http_request",
            "runs": 7,
            "attempts": 8,
            "completed": 6,
            "failed": 1,
            "skipped": 0,
            "avg_duration_seconds": 2.833,  # 2, 3, 2, 2, 6, 2
            "total_cost": 0.0,
        },
        {
            "step_id": "process",
            "step_type": "loop",
            "runs": 7,
            "attempts": 7,
            "completed": 4,
            "failed": 0,
            "skipped": 1,
            "avg_duration_seconds": 4.5,  # 4, 6, 4, 4
            "total_cost": 2.25,
        },
        {
            "step_id": "report",
            "step_type": "agent_task",
            "runs": 7,
            "attempts": 7,
            "completed": 4,
            "failed": 0,
            "skipped": 1,
            "avg_duration_seconds": 3.5,  # 3, 5, 1, 5
            "total_cost": 5.5,
        },
    ]


async def test_a_workflow_without_runs(frozen: Api) -> None:
    wf = await create_workflow(frozen, DEFINITION)
    body = await analytics(frozen, wf, "?days=7&granularity=daily")
    assert body["kpis"] == {
        "total_runs": 0,
        "completed": 0,
        "failed": 0,
        "cancelled": 0,
        "success_rate": None,
        "p50_duration_seconds": None,
        "p95_duration_seconds": None,
        "total_cost": 0.0,
    }
    assert len(body["runs_over_time"]) == 7 and all(p["total"] == 0 for p in body["runs_over_time"])
    assert body["cost_breakdown"] == [] and body["step_stats"] == []


async def test_bad_parameters(frozen: Api) -> None:
    wf = await create_workflow(frozen, DEFINITION)
    c, h = frozen.client, frozen.headers
    resp = await c.get(f"/api/workflows/{wf}/analytics?days=0&granularity=hourly", headers=h)
    assert assert_problem(resp, 422)["errors"] == [
        "days must be between 1 and 366; got 0",
        "granularity must be one of daily, weekly, monthly; got 'hourly'",
    ]
    resp = await c.get(f"/api/workflows/{wf}/analytics?days=367", headers=h)
    assert assert_problem(resp, 422)["errors"] == ["days must be between 1 and 366; got 367"]
    assert_problem(await c.get(f"/api/workflows/{wf}/analytics?days=lots", headers=h), 422)
    assert (await c.get(f"/api/workflows/{wf}/analytics?days=366", headers=h)).status_code == 200
    assert_problem(await c.get("/api/workflows/wf_nope/analytics", headers=h), 404)
    assert_problem(await c.get("/api/workflows/wf_nope/related", headers=h), 404)


async def test_by_slug_scopes_and_tenant_isolation(frozen: Api) -> None:
    wf = await seed(frozen)
    c = frozen.client
    by_slug = await analytics(frozen, "pipeline")
    assert by_slug["workflow_id"] == wf and by_slug["kpis"]["total_runs"] == 7
    reader = await frozen.key_with("workflows:read")
    assert (await analytics(frozen, wf, headers=reader))["kpis"]["total_runs"] == 7
    runner = await frozen.key_with("workflows:run")
    for path in ("analytics", "related"):
        assert_problem(await c.get(f"/api/workflows/{wf}/{path}"), 401)
        assert_problem(await c.get(f"/api/workflows/{wf}/{path}", headers=runner), 403)
    other = await frozen.other_workspace()
    for path in ("analytics", "related"):
        assert_problem(await c.get(f"/api/workflows/{wf}/{path}", headers=other), 404)
        assert_problem(await c.get(f"/api/workflows/pipeline/{path}", headers=other), 404)
    # The same slug in the other workspace sees only its own (empty) history.
    mine = await create_workflow(frozen, DEFINITION, headers=other)
    theirs = await analytics(frozen, "pipeline", headers=other)
    assert theirs["workflow_id"] == mine and theirs["kpis"]["total_runs"] == 0


async def test_analytics_of_real_runs(api: Api) -> None:
    definition = {
        "name": "Real",
        "inputs": [{"name": "fail", "type": "boolean", "default": False}],
        "steps": [
            {"id": "a", "type": "transform", "config": {"value": 1}},
            {
                "id": "b",
                "type": "transform",
                "depends_on": ["a"],
                "config": {"value": "{{ [1][5] if inputs.fail else 2 }}"},
            },
        ],
    }
    wf = await create_workflow(api, definition)
    for fail in (False, False, True):
        await wait_for_run(api, await start_run(api, wf, {"fail": fail}))
    body = await analytics(api, wf)
    kpis = body["kpis"]
    assert (kpis["total_runs"], kpis["completed"], kpis["failed"]) == (3, 2, 1)
    assert kpis["success_rate"] == 0.6667 and kpis["p50_duration_seconds"] >= 0
    assert sum(p["total"] for p in body["runs_over_time"]) == 3
    stats = {s["step_id"]: (s["runs"], s["completed"], s["failed"]) for s in body["step_stats"]}
    assert stats == {"a": (3, 3, 0), "b": (3, 2, 1)}
    assert body["cost_breakdown"] == [{"step_type": "transform", "cost": 0.0, "step_runs": 6}]


# -- related ---------------------------------------------------------------------------------


async def related(api: Api, wf: str, headers: Any = None) -> Any:
    resp = await api.client.get(f"/api/workflows/{wf}/related", headers=headers or api.headers)
    assert resp.status_code == 200, resp.text
    return resp.json()


async def test_related_of_a_lone_workflow(api: Api) -> None:
    wf = await create_workflow(api, DEFINITION)
    assert await related(api, wf) == {
        "workflow_id": wf,
        "schedules": [],
        "templates": [],
        "copies": [],
        "forks_elsewhere": 0,
        "source": None,
    }


async def test_related_lists_schedules_templates_copies_and_source(api: Api) -> None:
    c, h = api.client, api.headers
    wf = await create_workflow(api, DEFINITION)
    ws = await workspace_id(api.store)
    sched_id = new_id("sched")
    async with api.store.write() as tx:
        await tx.conn.execute(
            schedules.insert().values(
                id=sched_id,
                workspace_id=ws,
                workflow_id=wf,
                cron_expression="0 9 * * 1-5",
                timezone="Europe/Paris",
                input_data={},
                enabled=True,
                # Not due: the app's scheduler is running and would fire a past slot, moving it.
                next_run_at=NOT_DUE,
                created_at=NOW,
                updated_at=NOW,
            )
        )
    saved = await c.post(
        "/api/workflows/templates", json={"workflow_id": wf, "name": "Mine"}, headers=h
    )
    tpl = saved.json()["id"]
    installed = await c.post(
        f"/api/workflows/templates/{tpl}/install", json={"name": "Copy"}, headers=h
    )
    copy_id = installed.json()["workflow_id"]
    clone = await create_workflow(api, {**DEFINITION, "name": "Clone"})
    other = await api.other_workspace()
    fork = await create_workflow(api, {**DEFINITION, "name": "Fork"}, headers=other)
    async with api.store.write() as tx:
        await tx.set_workflow_source(clone, "clone", wf)
        await tx.set_workflow_source(fork, "fork", wf)
    body = await related(api, wf)
    assert body["schedules"] == [
        {
            "id": sched_id,
            "cron_expression": "0 9 * * 1-5",
            "timezone": "Europe/Paris",
            "enabled": True,
            "next_run_at": "2099-03-18T12:00:00.000Z",
        }
    ]
    assert [(t["id"], t["name"], t["category"]) for t in body["templates"]] == [
        (tpl, "Mine", "custom")
    ]
    assert [(x["id"], x["name"], x["kind"]) for x in body["copies"]] == [(clone, "Clone", "clone")]
    assert body["forks_elsewhere"] == 1 and body["source"] is None
    # Sources: a clone's original, a template, and a fork's (private, then public) origin.
    assert (await related(api, clone))["source"] == {
        "kind": "clone",
        "id": wf,
        "name": "Pipeline",
        "slug": "pipeline",
        "workspace": "default",
        "available": True,
    }
    assert (await related(api, copy_id))["source"] == {
        "kind": "template",
        "id": tpl,
        "name": "Mine",
        "is_builtin": False,
        "available": True,
    }
    gone = {"kind": "fork", "id": wf, "name": None, "available": False}
    assert (await related(api, fork, headers=other))["source"] == gone
    resp = await c.put(f"/api/workflows/{wf}", json={"visibility": "public"}, headers=h)
    assert resp.status_code == 200, resp.text
    assert (await related(api, fork, headers=other))["source"]["available"] is True
    # A deleted template leaves the link, marked unavailable.
    assert (await c.delete(f"/api/workflows/templates/{tpl}", headers=h)).status_code == 204
    assert (await related(api, copy_id))["source"] == {
        "kind": "template",
        "id": tpl,
        "name": None,
        "available": False,
    }
    assert (await related(api, wf))["templates"] == []


async def test_installing_a_builtin_records_it_as_the_source(api: Api) -> None:
    resp = await api.client.post(
        "/api/workflows/templates/tpl_etl_with_loop/install", json={}, headers=api.headers
    )
    wf = resp.json()["workflow_id"]
    assert (await related(api, wf))["source"] == {
        "kind": "template",
        "id": "tpl_etl_with_loop",
        "name": "ETL with a loop",
        "is_builtin": True,
        "available": True,
    }


def percentile_cont(values: list[float], fraction: float) -> float:
    """PostgreSQL's percentile_cont, for reference."""
    ordered = sorted(values)
    position = fraction * (len(ordered) - 1)
    lower = int(position)
    upper = min(lower + 1, len(ordered) - 1)
    return ordered[lower] + (ordered[upper] - ordered[lower]) * (position - lower)


async def test_percentiles_match_percentile_cont_for_every_size(frozen: Api) -> None:
    rng = random.Random(7)
    ws = await workspace_id(frozen.store)
    fractions = (0.0, 0.1, 0.5, 0.95, 0.99, 1.0)
    for size in range(1, 12):
        wf = await create_workflow(frozen, {**DEFINITION, "name": f"P{size}"})
        fx = Fixture(ws, wf)
        durations = [float(rng.randint(1, 500)) for _ in range(size)]
        for i, seconds in enumerate(durations):
            fx.run(NOW - timedelta(hours=i + 1), "completed", seconds)
        fx.run(NOW - timedelta(hours=1), "failed", 9999)  # not a completed run: ignored
        await fx.save(frozen.store)
        async with frozen.store.read() as tx:
            found = await tx.analytics_run_percentiles(
                wf, NOW - timedelta(days=2), fractions, count=size
            )
        expected = [percentile_cont(durations, f) for f in fractions]
        assert found == pytest.approx(expected, abs=1e-3), (size, durations)


async def test_step_stats_follow_resume_and_delete(api: Api) -> None:
    """A resumed run is counted once, with its latest attempts; a deleted run not at all."""
    from tests.integration.runs_helpers import run_to_end, wait_for_run

    definition = {
        "name": "Flaky once",
        "steps": [
            {
                "id": "gate",
                "type": "script",
                "config": {
                    "language": "bash",
                    "code": "test \"$(python3 -c 'import json,sys; print(json.load(sys.stdin)"
                    '["run"]["attempt"])\')" -ge 2',
                },
            }
        ],
    }
    run = await run_to_end(api, definition)
    assert run["status"] == "failed"
    path = f"/api/workflows/{run['workflow_id']}/analytics"

    async def gate_stats() -> dict[str, object]:
        body = (await api.client.get(path, headers=api.headers)).json()
        return next(s for s in body["step_stats"] if s["step_id"] == "gate")

    first = await gate_stats()
    assert (first["runs"], first["failed"], first["completed"]) == (1, 1, 0)
    resumed = await api.client.post(
        f"/api/workflows/runs/{run['id']}/resume", json={}, headers=api.headers
    )
    assert resumed.status_code == 200
    done = await wait_for_run(api, run["id"])
    assert done["status"] == "completed"
    again = await gate_stats()
    assert (again["runs"], again["failed"], again["completed"], again["attempts"]) == (1, 0, 1, 2)
    deleted = await api.client.delete(f"/api/workflows/runs/{run['id']}", headers=api.headers)
    assert deleted.status_code == 204
    body = (await api.client.get(path, headers=api.headers)).json()
    assert body["step_stats"] == []
