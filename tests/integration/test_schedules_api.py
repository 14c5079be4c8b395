"""Schedules through the API: CRUD, validation, scopes, tenants, firing, DST, downtime, scale-out.

Time is a fake clock handed to the app; the firing loop is stopped in most tests so that the
test decides when due schedules fire (`fire_due`), which keeps them deterministic.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from flowdeck.api.app import create_app
from flowdeck.config import Settings
from flowdeck.domain.clock import FakeClock, SystemClock
from flowdeck.services.auth import AuthService
from flowdeck.services.container import Services
from flowdeck.services.schedules import ScheduleService
from flowdeck.store.store import Store
from tests.integration.conftest import Api
from tests.integration.runs_helpers import create_workflow, settings_for, wait_for_run, wait_until

NY = "America/New_York"
START = datetime(2025, 1, 6, 12, 0, tzinfo=UTC)  # a Monday, 07:00 in New York


@dataclass
class Env:
    """The API on a fake clock, plus the services behind it."""

    api: Api
    clock: FakeClock
    services: Services

    @property
    def schedules(self) -> ScheduleService:
        return self.services.schedules


@contextlib.asynccontextmanager
async def serve_at(
    settings: Settings,
    store: Store,
    clock: FakeClock,
    *,
    key: str | None = None,
    loop: bool = False,
) -> AsyncIterator[Env]:
    """The app on `store` with a fake clock; the firing loop runs only when `loop` is set."""
    if key is None:
        key = await AuthService(store, SystemClock()).bootstrap(None)
        assert key is not None
    app = create_app(settings, store=store, clock=clock)
    async with app.router.lifespan_context(app):
        services: Services = app.state.services
        if not loop:
            await services.schedules.stop()
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://flowdeck.test") as c:
            yield Env(Api(client=c, key=key, store=store), clock, services)


@pytest.fixture
async def env(settings: Settings, store: Store) -> AsyncIterator[Env]:
    async with serve_at(settings, store, FakeClock(START)) as e:
        yield e


def definition(name: str = "Nightly export") -> dict[str, Any]:
    return {
        "name": name,
        "inputs": [{"name": "dataset", "type": "string", "required": True}],
        "steps": [{"id": "echo", "type": "transform", "config": {"value": "{{ inputs.dataset }}"}}],
    }


async def create_schedule(
    api: Api,
    workflow_id: str,
    cron: str,
    timezone: str = "UTC",
    *,
    input_data: dict[str, Any] | None = None,
    enabled: bool = True,
    headers: dict[str, str] | None = None,
) -> dict[str, Any]:
    body = {
        "cron_expression": cron,
        "timezone": timezone,
        "input_data": {"dataset": "daily"} if input_data is None else input_data,
        "enabled": enabled,
    }
    resp = await api.client.post(
        f"/api/workflows/{workflow_id}/schedules", json=body, headers=headers or api.headers
    )
    assert resp.status_code == 201, resp.text
    out: dict[str, Any] = resp.json()
    return out


async def get_schedule(api: Api, schedule_id: str) -> dict[str, Any]:
    resp = await api.client.get(f"/api/workflows/schedules/{schedule_id}", headers=api.headers)
    assert resp.status_code == 200, resp.text
    out: dict[str, Any] = resp.json()["schedule"]
    return out


async def schedule_runs(api: Api, workflow_id: str) -> list[dict[str, Any]]:
    """The workflow's runs started by schedules, oldest first."""
    resp = await api.client.get(
        f"/api/workflows/{workflow_id}/runs", params={"limit": 200}, headers=api.headers
    )
    assert resp.status_code == 200, resp.text
    runs = [r for r in resp.json()["runs"] if r["trigger"] == "schedule"]
    return sorted(runs, key=lambda r: (r["created_at"], r["id"]))


async def fire_through(env: Env, until: datetime, step: timedelta) -> list[str]:
    """Move the clock to `until` in steps, firing due schedules at each step."""
    started: list[str] = []
    while env.clock.now() < until:
        env.clock.advance(step)
        started += await env.schedules.fire_due()
    return started


# -- create, read, list ----------------------------------------------------------------------


async def test_create_returns_the_id_and_the_next_run_in_utc(env: Env) -> None:
    wf = await create_workflow(env.api, definition())
    body = await create_schedule(env.api, wf, "0 9 * * 1-5", NY)
    assert body["schedule_id"].startswith("sched_")
    assert body["next_run_at"] == "2025-01-06T14:00:00.000Z"  # 09:00 EST, today
    assert body["schedule"] == {
        "id": body["schedule_id"],
        "workflow_id": wf,
        "cron_expression": "0 9 * * 1-5",
        "timezone": NY,
        "input_data": {"dataset": "daily"},
        "enabled": True,
        "next_run_at": "2025-01-06T14:00:00.000Z",
        "last_run_at": None,
        "last_run_id": None,
        "created_at": "2025-01-06T12:00:00.000Z",
        "updated_at": "2025-01-06T12:00:00.000Z",
    }
    assert await get_schedule(env.api, body["schedule_id"]) == body["schedule"]


async def test_six_fields_put_seconds_last_and_the_zone_defaults_to_utc(env: Env) -> None:
    wf = await create_workflow(env.api, definition())
    resp = await env.api.client.post(
        f"/api/workflows/{wf}/schedules",
        json={"cron_expression": "0 13 * * * 30", "input_data": {"dataset": "x"}},
        headers=env.api.headers,
    )
    assert resp.status_code == 201, resp.text
    assert resp.json()["next_run_at"] == "2025-01-06T13:00:30.000Z"
    assert resp.json()["schedule"]["timezone"] == "UTC"


async def test_list_pages_newest_first_and_is_per_workflow(env: Env) -> None:
    wf = await create_workflow(env.api, definition())
    other = await create_workflow(env.api, definition("Other"))
    ids = [(await create_schedule(env.api, wf, f"{m} * * * *"))["schedule_id"] for m in range(5)]
    await create_schedule(env.api, other, "0 0 * * *")
    url = f"/api/workflows/{wf}/schedules"
    first = (await env.api.client.get(url, params={"limit": 2}, headers=env.api.headers)).json()
    assert first["total"] == 5
    assert [s["id"] for s in first["schedules"]] == ids[::-1][:2]
    cursor = first["next_cursor"]
    rest = await env.api.client.get(
        url, params={"limit": 10, "cursor": cursor}, headers=env.api.headers
    )
    assert [s["id"] for s in rest.json()["schedules"]] == ids[::-1][2:]
    assert rest.json()["next_cursor"] is None
    by_offset = await env.api.client.get(
        url, params={"limit": 2, "offset": 4}, headers=env.api.headers
    )
    assert [s["id"] for s in by_offset.json()["schedules"]] == [ids[0]]
    by_slug = await env.api.client.get(
        "/api/workflows/nightly-export/schedules", headers=env.api.headers
    )
    assert by_slug.status_code == 200 and by_slug.json()["total"] == 5


# -- validation --------------------------------------------------------------------------------


async def test_bad_cron_and_zone_are_422_with_every_reason(env: Env) -> None:
    wf = await create_workflow(env.api, definition())
    resp = await env.api.client.post(
        f"/api/workflows/{wf}/schedules",
        json={"cron_expression": "0 25 * * *", "timezone": "Mars/Olympus"},
        headers=env.api.headers,
    )
    assert resp.status_code == 422, resp.text
    assert resp.headers["content-type"].startswith("application/problem+json")
    errors = resp.json()["errors"]
    assert errors[:2] == [
        "Field 2 (hour) of cron_expression is '25': it accepts 0-23, '*', lists (1,2), "
        "ranges (1-5) and steps (*/15)",
        "timezone 'Mars/Olympus' is not an IANA time zone (for example 'Europe/Berlin' or 'UTC')",
    ]
    # and the missing required input, in the words of the run-input checks
    assert len(errors) == 3 and "'dataset'" in errors[2]


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({"cron_expression": "* * * *"}, "has 4 fields; it needs 5"),
        ({"cron_expression": "0 0 1 1 * 0 2030"}, "has 7 fields"),
        ({"cron_expression": "0 0 30 2 *"}, "never fires"),
        ({"cron_expression": "H * * * *"}, "Field 1 (minute)"),
        ({"cron_expression": "0 9 * * *", "timezone": "america/new_york"}, "did you mean"),
        ({"cron_expression": "0 9 * * *", "timezone": "localtime"}, "not an IANA time zone"),
        ({"cron_expression": "0 9 * * *", "cadence": "daily"}, "cadence: Unknown field"),
        ({"timezone": "UTC"}, "cron_expression: Field required"),
        ({"cron_expression": 5}, "cron_expression: Input should be a valid string"),
        ({"cron_expression": "0 9 * * *", "input_data": [1]}, "input_data"),
        ({"cron_expression": "0 9 * * *", "enabled": "sometimes"}, "enabled"),
    ],
)
async def test_invalid_bodies_are_422(env: Env, body: dict[str, Any], fragment: str) -> None:
    wf = await create_workflow(env.api, definition())
    body = {"input_data": {"dataset": "d"}, **body}
    resp = await env.api.client.post(
        f"/api/workflows/{wf}/schedules", json=body, headers=env.api.headers
    )
    assert resp.status_code == 422, resp.text
    assert any(fragment in e for e in resp.json()["errors"]), resp.json()


async def test_input_data_is_checked_against_the_workflow_inputs(env: Env) -> None:
    wf = await create_workflow(env.api, definition())
    resp = await env.api.client.post(
        f"/api/workflows/{wf}/schedules",
        json={"cron_expression": "0 9 * * *", "input_data": {"dataset": 3, "extra": 1}},
        headers=env.api.headers,
    )
    assert resp.status_code == 422, resp.text
    assert len(resp.json()["errors"]) == 2


async def test_malformed_json_is_400(env: Env) -> None:
    wf = await create_workflow(env.api, definition())
    resp = await env.api.client.post(
        f"/api/workflows/{wf}/schedules",
        content=b'{"cron_expression": ',
        headers={**env.api.headers, "content-type": "application/json"},
    )
    assert resp.status_code == 400, resp.text


# -- patch and delete --------------------------------------------------------------------------


async def test_patch_changes_fields_and_recomputes_the_next_run(env: Env) -> None:
    wf = await create_workflow(env.api, definition())
    sid = (await create_schedule(env.api, wf, "0 9 * * *", NY))["schedule_id"]
    url = f"/api/workflows/schedules/{sid}"
    env.clock.advance(timedelta(minutes=5))

    resp = await env.api.client.patch(
        url, json={"input_data": {"dataset": "weekly"}}, headers=env.api.headers
    )
    assert resp.status_code == 200, resp.text
    assert resp.json()["schedule"]["input_data"] == {"dataset": "weekly"}
    assert resp.json()["next_run_at"] == "2025-01-06T14:00:00.000Z"  # unchanged

    resp = await env.api.client.patch(
        url,
        json={"cron_expression": "30 8 * * *", "timezone": "Europe/Berlin"},
        headers=env.api.headers,
    )
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["schedule_id"] == sid
    assert body["next_run_at"] == "2025-01-07T07:30:00.000Z"
    assert body["schedule"]["updated_at"] == "2025-01-06T12:05:00.000Z"
    assert body["schedule"]["input_data"] == {"dataset": "weekly"}

    resp = await env.api.client.patch(url, json={"enabled": False}, headers=env.api.headers)
    assert resp.json()["schedule"]["enabled"] is False
    assert resp.json()["next_run_at"] is None

    env.clock.set(datetime(2025, 1, 9, 12, tzinfo=UTC))
    resp = await env.api.client.patch(url, json={"enabled": True}, headers=env.api.headers)
    assert resp.json()["next_run_at"] == "2025-01-10T07:30:00.000Z"  # from now, not a backlog

    resp = await env.api.client.patch(url, json={}, headers=env.api.headers)
    assert resp.status_code == 200 and resp.json()["schedule"]["cron_expression"] == "30 8 * * *"


async def test_patch_with_bad_values_is_422_and_changes_nothing(env: Env) -> None:
    wf = await create_workflow(env.api, definition())
    created = await create_schedule(env.api, wf, "0 9 * * *", NY)
    url = f"/api/workflows/schedules/{created['schedule_id']}"
    for body, fragment in [
        ({"cron_expression": "0 9 * *", "timezone": "Nowhere/City"}, "has 4 fields"),
        ({"timezone": "Nowhere/City"}, "Nowhere/City"),
        ({"cron_expression": None}, "cron_expression"),
        ({"enabled": None}, "enabled"),
        ({"input_data": {}}, "dataset"),
        ({"every": "day"}, "every: Unknown field"),
    ]:
        resp = await env.api.client.patch(url, json=body, headers=env.api.headers)
        assert resp.status_code == 422, (body, resp.text)
        assert any(fragment in e for e in resp.json()["errors"]), (body, resp.json())
    assert await get_schedule(env.api, created["schedule_id"]) == created["schedule"]


async def test_delete_removes_the_schedule(env: Env) -> None:
    wf = await create_workflow(env.api, definition())
    sid = (await create_schedule(env.api, wf, "0 9 * * *"))["schedule_id"]
    url = f"/api/workflows/schedules/{sid}"
    resp = await env.api.client.delete(url, headers=env.api.headers)
    assert resp.status_code == 204, resp.text
    assert (await env.api.client.get(url, headers=env.api.headers)).status_code == 404
    patch = await env.api.client.patch(url, json={"enabled": False}, headers=env.api.headers)
    assert patch.status_code == 404
    assert (await env.api.client.delete(url, headers=env.api.headers)).status_code == 404
    listed = await env.api.client.get(f"/api/workflows/{wf}/schedules", headers=env.api.headers)
    assert listed.json()["total"] == 0
    env.clock.advance(timedelta(days=2))
    assert await env.schedules.fire_due() == []


# -- auth, scopes, tenants ---------------------------------------------------------------------


async def test_scopes(env: Env) -> None:
    api = env.api
    wf = await create_workflow(api, definition())
    sid = (await create_schedule(api, wf, "0 9 * * *"))["schedule_id"]
    read = await api.key_with("workflows:read")
    run_only = await api.key_with("workflows:run")
    write = await api.key_with("workflows:write")
    lst, one = f"/api/workflows/{wf}/schedules", f"/api/workflows/schedules/{sid}"
    body = {"cron_expression": "0 9 * * *", "input_data": {"dataset": "d"}}

    assert (await api.client.get(lst, headers=read)).status_code == 200
    assert (await api.client.get(one, headers=read)).status_code == 200
    assert (await api.client.post(lst, json=body, headers=read)).status_code == 403
    assert (await api.client.patch(one, json={"enabled": False}, headers=read)).status_code == 403
    assert (await api.client.delete(one, headers=read)).status_code == 403
    assert (await api.client.get(lst, headers=run_only)).status_code == 403
    denied = await api.client.post(lst, json=body, headers=read)
    assert "workflows:write" in denied.json()["detail"]

    assert (await api.client.post(lst, json=body, headers=write)).status_code == 201
    assert (await api.client.patch(one, json={"enabled": False}, headers=write)).status_code == 200
    assert (await api.client.delete(one, headers=write)).status_code == 204

    assert (await api.client.get(lst)).status_code == 401
    assert (await api.client.get(lst, headers={"X-API-Key": "fdk_nope"})).status_code == 401


async def test_another_workspace_sees_404_everywhere(env: Env) -> None:
    api = env.api
    wf = await create_workflow(api, definition())
    sid = (await create_schedule(api, wf, "0 9 * * *"))["schedule_id"]
    other = await api.other_workspace()
    body = {"cron_expression": "0 9 * * *", "input_data": {"dataset": "d"}}
    lst, one = f"/api/workflows/{wf}/schedules", f"/api/workflows/schedules/{sid}"

    responses = [
        await api.client.get(lst, headers=other),
        await api.client.post(lst, json=body, headers=other),
        await api.client.get(one, headers=other),
        await api.client.patch(one, json={"enabled": False}, headers=other),
        await api.client.delete(one, headers=other),
    ]
    assert [r.status_code for r in responses] == [404] * 5
    # and nothing changed
    assert (await get_schedule(api, sid))["enabled"] is True

    # their own workflow with the same slug is theirs alone
    their_wf = await create_workflow(api, definition(), headers=other)
    theirs = await create_schedule(api, their_wf, "0 10 * * *", headers=other)
    mine = await api.client.get(
        f"/api/workflows/schedules/{theirs['schedule_id']}", headers=api.headers
    )
    assert mine.status_code == 404


async def test_unknown_ids_are_404(env: Env) -> None:
    api = env.api
    body = {"cron_expression": "0 9 * * *"}
    assert (
        await api.client.get("/api/workflows/wf_nope/schedules", headers=api.headers)
    ).status_code == 404
    assert (
        await api.client.post("/api/workflows/wf_nope/schedules", json=body, headers=api.headers)
    ).status_code == 404
    for method in ("GET", "PATCH", "DELETE"):
        resp = await api.client.request(
            method,
            "/api/workflows/schedules/sched_nope",
            json={"enabled": True} if method == "PATCH" else None,
            headers=api.headers,
        )
        assert resp.status_code == 404, (method, resp.text)


# -- firing ------------------------------------------------------------------------------------


async def test_a_due_schedule_fires_one_run_with_its_inputs(env: Env) -> None:
    wf = await create_workflow(env.api, definition())
    sid = (await create_schedule(env.api, wf, "0 13 * * *"))["schedule_id"]
    assert await env.schedules.fire_due() == []  # not yet

    env.clock.set(datetime(2025, 1, 6, 13, 0, tzinfo=UTC))
    started = await env.schedules.fire_due()
    assert len(started) == 1
    assert await env.schedules.fire_due() == []  # the slot is taken

    run = await wait_for_run(env.api, started[0])
    assert run["status"] == "completed", run
    assert run["trigger"] == "schedule"
    assert run["input_data"] == {"dataset": "daily"}
    assert run["step_runs"][0]["output"] == "daily"
    schedule = await get_schedule(env.api, sid)
    assert schedule["last_run_id"] == started[0]
    assert schedule["last_run_at"] == "2025-01-06T13:00:00.000Z"
    assert schedule["next_run_at"] == "2025-01-07T13:00:00.000Z"


async def test_after_downtime_a_missed_schedule_fires_once(
    settings: Settings, store: Store, tmp_path: Path, database_url: str
) -> None:
    clock = FakeClock(START)
    async with serve_at(settings, store, clock) as env:
        key = env.api.key
        wf = await create_workflow(env.api, definition())
        sid = (await create_schedule(env.api, wf, "0 * * * *"))["schedule_id"]  # hourly

    clock.advance(timedelta(days=2, minutes=30))  # the server was down: 48 slots passed
    restarted = settings_for(database_url, tmp_path, schedule_poll_seconds=0.02)
    async with serve_at(restarted, store, clock, key=key, loop=True) as env:
        # The firing loop of the restarted server catches up on its own.
        runs = await wait_until(lambda: schedule_runs(env.api, wf))
        await env.schedules.stop()
        assert await env.schedules.fire_due() == []
        assert len(await schedule_runs(env.api, wf)) == 1
        assert runs[0]["created_at"] == "2025-01-08T12:30:00.000Z"
        schedule = await get_schedule(env.api, sid)
        assert schedule["next_run_at"] == "2025-01-08T13:00:00.000Z"  # back on the hour

        await fire_through(env, datetime(2025, 1, 8, 15, 0, tzinfo=UTC), timedelta(minutes=15))
        assert [r["created_at"] for r in await schedule_runs(env.api, wf)] == [
            "2025-01-08T12:30:00.000Z",
            "2025-01-08T13:00:00.000Z",
            "2025-01-08T14:00:00.000Z",
            "2025-01-08T15:00:00.000Z",
        ]


async def test_the_loop_fires_and_is_woken_by_a_new_schedule(
    settings: Settings, store: Store, tmp_path: Path, database_url: str
) -> None:
    clock = FakeClock(START)
    fast = settings_for(database_url, tmp_path, schedule_poll_seconds=0.02)
    async with serve_at(fast, store, clock, loop=True) as env:
        wf = await create_workflow(env.api, definition())
        await create_schedule(env.api, wf, "0 12 * * * 30")
        clock.set(datetime(2025, 1, 6, 12, 0, 30, tzinfo=UTC))
        runs = await wait_until(lambda: schedule_runs(env.api, wf))
        await wait_for_run(env.api, runs[0]["id"])
        await env.schedules.stop()
        assert len(await schedule_runs(env.api, wf)) == 1


async def test_spring_forward_a_daily_0230_fires_once_at_0300(env: Env) -> None:
    # 2025-03-09 in New York: 02:00 EST becomes 03:00 EDT, so 02:30 does not happen.
    env.clock.set(datetime(2025, 3, 8, 0, 0, tzinfo=UTC))
    wf = await create_workflow(env.api, definition())
    await create_schedule(env.api, wf, "30 2 * * *", NY)
    await fire_through(env, datetime(2025, 3, 11, 0, 0, tzinfo=UTC), timedelta(minutes=10))
    assert [r["created_at"] for r in await schedule_runs(env.api, wf)] == [
        "2025-03-08T07:30:00.000Z",  # 02:30 EST
        "2025-03-09T07:00:00.000Z",  # 03:00 EDT: the first instant after the gap
        "2025-03-10T06:30:00.000Z",  # 02:30 EDT
    ]


async def test_fall_back_a_daily_0130_fires_once_at_its_first_occurrence(env: Env) -> None:
    # 2025-11-02 in New York: 02:00 EDT becomes 01:00 EST, so 01:30 happens twice.
    env.clock.set(datetime(2025, 11, 1, 0, 0, tzinfo=UTC))
    wf = await create_workflow(env.api, definition())
    await create_schedule(env.api, wf, "30 1 * * *", NY)
    await fire_through(env, datetime(2025, 11, 4, 0, 0, tzinfo=UTC), timedelta(minutes=10))
    assert [r["created_at"] for r in await schedule_runs(env.api, wf)] == [
        "2025-11-01T05:30:00.000Z",  # 01:30 EDT
        "2025-11-02T05:30:00.000Z",  # 01:30 EDT, not again at 01:30 EST
        "2025-11-03T06:30:00.000Z",  # 01:30 EST
    ]


async def test_paused_workflows_skip_their_slots_and_reactivation_starts_no_burst(
    env: Env,
) -> None:
    api = env.api
    wf = await create_workflow(api, definition())
    sid = (await create_schedule(api, wf, "0 * * * *"))["schedule_id"]  # hourly
    status = f"/api/workflows/{wf}/status"
    assert (
        await api.client.patch(status, json={"status": "paused"}, headers=api.headers)
    ).status_code == 200

    await fire_through(env, datetime(2025, 1, 6, 17, 30, tzinfo=UTC), timedelta(minutes=30))
    assert await schedule_runs(api, wf) == []
    assert (await get_schedule(api, sid))["next_run_at"] == "2025-01-06T18:00:00.000Z"

    assert (
        await api.client.patch(status, json={"status": "active"}, headers=api.headers)
    ).status_code == 200
    assert await env.schedules.fire_due() == []  # no catch-up for slots skipped while paused
    await fire_through(env, datetime(2025, 1, 6, 19, 0, tzinfo=UTC), timedelta(minutes=30))
    assert [r["created_at"] for r in await schedule_runs(api, wf)] == [
        "2025-01-06T18:00:00.000Z",
        "2025-01-06T19:00:00.000Z",
    ]


async def test_draft_workflows_and_disabled_schedules_do_not_fire(env: Env) -> None:
    api = env.api
    draft = await create_workflow(api, definition("Draft"))
    await api.client.patch(
        f"/api/workflows/{draft}/status", json={"status": "draft"}, headers=api.headers
    )
    await create_schedule(api, draft, "*/10 * * * *")
    live = await create_workflow(api, definition("Live"))
    off = await create_schedule(api, live, "*/10 * * * *", enabled=False)
    assert off["next_run_at"] is None

    started = await fire_through(env, datetime(2025, 1, 6, 14, 0, tzinfo=UTC), timedelta(minutes=5))
    assert started == []
    assert await schedule_runs(api, draft) == [] and await schedule_runs(api, live) == []


async def test_a_slot_whose_inputs_no_longer_fit_is_skipped(env: Env) -> None:
    api = env.api
    wf = await create_workflow(api, definition())
    sid = (await create_schedule(api, wf, "0 13 * * *"))["schedule_id"]
    changed = definition()
    changed["inputs"].append({"name": "region", "type": "string", "required": True})
    resp = await api.client.put(
        f"/api/workflows/{wf}", json={"definition": changed}, headers=api.headers
    )
    assert resp.status_code == 200, resp.text

    env.clock.set(datetime(2025, 1, 6, 13, 0, tzinfo=UTC))
    assert await env.schedules.fire_due() == []
    assert (await get_schedule(api, sid))["next_run_at"] == "2025-01-07T13:00:00.000Z"
    assert await schedule_runs(api, wf) == []


# -- exactly once ------------------------------------------------------------------------------


async def test_concurrent_firing_in_one_process_fires_each_slot_once(env: Env) -> None:
    wf = await create_workflow(env.api, definition())
    for minute in range(0, 60, 10):
        await create_schedule(env.api, wf, f"{minute} * * * *")
    started: list[str] = []
    for _ in range(6):
        env.clock.advance(timedelta(minutes=10))
        results = await asyncio.gather(*(env.schedules.fire_due() for _ in range(5)))
        started += [run_id for ids in results for run_id in ids]
    assert len(started) == len(set(started)) == 6
    assert len(await schedule_runs(env.api, wf)) == 6


async def test_two_schedulers_on_one_postgres_fire_each_slot_exactly_once(
    settings: Settings, store: Store, database_url: str, is_postgres: bool
) -> None:
    if not is_postgres:
        pytest.skip("SQLite is single-node: several schedulers need PostgreSQL")
    schedules_per_minute, rounds = 12, 8
    clock = FakeClock(START)
    quiet = settings.model_copy(update={"run_worker": False})
    async with serve_at(quiet, store, clock) as env:
        wf = await create_workflow(env.api, definition())
        ids = [
            (await create_schedule(env.api, wf, "* * * * *", input_data={"dataset": str(i)}))[
                "schedule_id"
            ]
            for i in range(schedules_per_minute)
        ]

        # Two servers in this event loop, each with its own store (connection pool)...
        stores = [Store.from_url(database_url, pool_size=4) for _ in range(2)]
        servers = [Services.build(quiet, s, clock) for s in stores]
        # ...and two more in threads, each with its own event loop.
        barrier = threading.Barrier(3, timeout=60)
        from_threads: list[str] = []
        failures: list[BaseException] = []
        threads = [
            threading.Thread(
                target=_fire_in_thread,
                args=(quiet, database_url, clock, rounds, barrier, from_threads, failures),
            )
            for _ in range(2)
        ]
        for t in threads:
            t.start()
        started: list[str] = []
        try:
            for _ in range(rounds):
                clock.advance(timedelta(minutes=1))
                await asyncio.to_thread(barrier.wait)  # let the threads fire
                results = await asyncio.gather(
                    *(server.schedules.fire_due() for server in servers for _ in range(3))
                )
                started += [run_id for ids_ in results for run_id in ids_]
                await asyncio.to_thread(barrier.wait)  # the threads are done with this round
        except BaseException:
            barrier.abort()  # free the threads: this side failed mid-round
            raise
        finally:
            for t in threads:
                await asyncio.to_thread(t.join, 60)
            for server, s in zip(servers, stores, strict=True):
                await server.runtime.close()
                await s.close()

        assert failures == []
        everything = started + from_threads
        assert len(everything) == len(set(everything)) == schedules_per_minute * rounds
        runs = await schedule_runs(env.api, wf)
        assert len(runs) == schedules_per_minute * rounds
        assert {r["id"] for r in runs} == set(everything)
        per_input = Counter(r["input_data"]["dataset"] for r in runs)
        assert per_input == {str(i): rounds for i in range(schedules_per_minute)}
        per_minute = Counter(r["created_at"][:16] for r in runs)
        assert set(per_minute.values()) == {schedules_per_minute}
        assert len(ids) == schedules_per_minute


def _fire_in_thread(
    settings: Settings,
    url: str,
    clock: FakeClock,
    rounds: int,
    barrier: threading.Barrier,
    out: list[str],
    failures: list[BaseException],
) -> None:
    """A scheduler in its own thread and event loop: fires when the main side says so."""

    async def main() -> None:
        store = Store.from_url(url, pool_size=2)
        services = Services.build(settings, store, clock)
        try:
            for _ in range(rounds):
                await asyncio.to_thread(barrier.wait)
                results = await asyncio.gather(*(services.schedules.fire_due() for _ in range(2)))
                out.extend(run_id for ids in results for run_id in ids)
                await asyncio.to_thread(barrier.wait)
        finally:
            await services.runtime.close()
            await store.close()

    try:
        asyncio.run(main())
    except BaseException as exc:  # reported by the test, not by the thread hook
        failures.append(exc)
