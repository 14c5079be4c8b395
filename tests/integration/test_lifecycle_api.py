"""Workflow lifecycle through the HTTP API: archive, trash, delete, preview, bulk, clone, purge."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from flowdeck.api.app import create_app
from flowdeck.config import Settings
from flowdeck.domain.clock import FakeClock
from flowdeck.domain.ids import new_id
from flowdeck.services.auth import AuthService
from flowdeck.services.lifecycle import LifecycleService
from flowdeck.store.store import Store
from flowdeck.store.tables import schedules
from tests.integration.conftest import Api
from tests.integration.runs_helpers import (
    RUNS,
    create_workflow,
    start_run,
    transform,
    wait,
    wait_for_run,
)
from tests.integration.seeds import fetch_and_notify
from tests.integration.test_workflows_api import assert_problem, create

WF = "/api/workflows"


def quick(name: str = "Quick") -> dict[str, Any]:
    """A one-step workflow whose runs end at once."""
    return {"name": name, "steps": [transform("only", 1)]}


def slow(name: str = "Slow") -> dict[str, Any]:
    """A workflow whose runs wait an hour (active the whole test)."""
    return {"name": name, "steps": [wait("hold", 3600)]}


async def finished_runs(api: Api, wf_id: str, n: int) -> list[str]:
    ids = [await start_run(api, wf_id) for _ in range(n)]
    for run_id in ids:
        await wait_for_run(api, run_id)
    return ids


async def add_schedule(store: Store, wf_id: str, workspace_id: str) -> None:
    """A schedule row for the workflow, written straight to the table."""
    now = datetime.now(UTC)
    async with store.write() as tx:
        await tx.conn.execute(
            schedules.insert().values(
                id=new_id("sched"),
                workspace_id=workspace_id,
                workflow_id=wf_id,
                cron_expression="0 * * * *",
                timezone="UTC",
                input_data={},
                enabled=True,
                next_run_at=now + timedelta(hours=1),
                created_at=now,
                updated_at=now,
            )
        )


async def listed(api: Api, url: str, headers: dict[str, str] | None = None) -> list[str]:
    resp = await api.client.get(url, headers=headers or api.headers)
    assert resp.status_code == 200, resp.text
    return [w["id"] for w in resp.json()["workflows"]]


# -- archive ---------------------------------------------------------------------------------


async def test_archive_hides_blocks_runs_keeps_runs_readable_and_unarchive_restores(
    api: Api,
) -> None:
    h = api.headers
    wf_id = await create_workflow(api, quick())
    run_id = (await finished_runs(api, wf_id, 1))[0]
    await api.client.patch(f"{WF}/{wf_id}/status", json={"status": "paused"}, headers=h)

    resp = await api.client.post(f"{WF}/{wf_id}/archive", headers=h)
    assert resp.status_code == 200, resp.text
    assert resp.json()["status"] == "success"
    assert resp.json()["workflow"]["status"] == "archived"
    assert await listed(api, WF) == []
    assert await listed(api, f"{WF}?archived=true") == [wf_id]
    assert await listed(api, f"{WF}?status=archived") == [wf_id]

    started = await api.client.post(f"{WF}/{wf_id}/run", json={}, headers=h)
    assert "archived" in assert_problem(started, 409)["detail"]
    assert (await api.client.get(f"{RUNS}/{run_id}", headers=h)).status_code == 200
    runs = (await api.client.get(f"{WF}/{wf_id}/runs", headers=h)).json()
    assert [r["id"] for r in runs["runs"]] == [run_id]
    assert (await api.client.get(f"{WF}/{wf_id}", headers=h)).json()["status"] == "archived"

    again = await api.client.post(f"{WF}/{wf_id}/archive", headers=h)  # idempotent
    assert again.json()["workflow"]["status"] == "archived"
    back = await api.client.post(f"{WF}/{wf_id}/unarchive", headers=h)
    assert back.status_code == 200
    assert back.json()["workflow"]["status"] == "paused"  # the status it had before
    assert await listed(api, WF) == [wf_id]
    assert await listed(api, f"{WF}?archived=true") == []
    same = await api.client.post(f"{WF}/{wf_id}/unarchive", headers=h)
    assert same.json()["workflow"]["status"] == "paused"


async def test_status_patch_to_archived_also_remembers_the_prior_status(api: Api) -> None:
    h = api.headers
    wf_id = (await create(api, status="draft"))["id"]
    await api.client.patch(f"{WF}/{wf_id}/status", json={"status": "archived"}, headers=h)
    back = await api.client.post(f"{WF}/{wf_id}/unarchive", headers=h)
    assert back.json()["workflow"]["status"] == "draft"
    # archived then moved by PATCH: nothing stale is remembered
    await api.client.post(f"{WF}/{wf_id}/archive", headers=h)
    await api.client.patch(f"{WF}/{wf_id}/status", json={"status": "paused"}, headers=h)
    await api.client.patch(f"{WF}/{wf_id}/status", json={"status": "archived"}, headers=h)
    back = await api.client.post(f"{WF}/{wf_id}/unarchive", headers=h)
    assert back.json()["workflow"]["status"] == "paused"


async def test_archive_needs_write_and_a_live_workflow(api: Api) -> None:
    wf_id = (await create(api))["id"]
    reader = await api.key_with("workflows:read", "workflows:run")
    for action in ("archive", "unarchive"):
        resp = await api.client.post(f"{WF}/{wf_id}/{action}", headers=reader)
        assert "workflows:write" in assert_problem(resp, 403)["detail"]
        assert_problem(await api.client.post(f"{WF}/wf_nope/{action}", headers=api.headers), 404)
    await api.client.delete(f"{WF}/{wf_id}", headers=api.headers)
    assert_problem(await api.client.post(f"{WF}/{wf_id}/archive", headers=api.headers), 404)


# -- trash and restore -----------------------------------------------------------------------


async def test_soft_delete_moves_to_trash_and_restore_brings_it_back(api: Api) -> None:
    h = api.headers
    body = await create(api, tags=["etl"])
    wf_id = body["id"]
    resp = await api.client.delete(f"{WF}/{wf_id}", headers=h)
    assert resp.status_code == 200, resp.text
    gone = resp.json()
    assert gone["status"] == "success" and gone["id"] == wf_id
    deleted_at = datetime.fromisoformat(gone["deleted_at"])
    assert datetime.fromisoformat(gone["purge_at"]) - deleted_at == timedelta(days=30)

    # 404 everywhere but the trash, restore, permanent delete and the deletion preview
    for resp in (
        await api.client.get(f"{WF}/{wf_id}", headers=h),
        await api.client.get(f"{WF}/fetch-and-notify", headers=h),
        await api.client.put(f"{WF}/{wf_id}", json={"tags": ["x"]}, headers=h),
        await api.client.post(f"{WF}/{wf_id}/run", json={}, headers=h),
        await api.client.get(f"{WF}/{wf_id}/versions", headers=h),
        await api.client.get(f"{WF}/{wf_id}/runs", headers=h),
        await api.client.post(f"{WF}/{wf_id}/clone", json={"name": "Copy"}, headers=h),
        await api.client.post(f"{WF}/{wf_id}/token", json={}, headers=h),
        await api.client.delete(f"{WF}/{wf_id}", headers=h),
    ):
        assert_problem(resp, 404)
    assert await listed(api, WF) == []
    assert await listed(api, f"{WF}?archived=true") == []
    trash = (await api.client.get("/api/trash", headers=h)).json()
    assert trash["total"] == 1 and trash["retention_days"] == 30
    item = trash["workflows"][0]
    assert item["id"] == wf_id and item["tags"] == ["etl"]
    assert item["deleted_at"] == gone["deleted_at"] and item["purge_at"] == gone["purge_at"]

    # the name stays taken while the workflow is in the trash, so restoring never collides
    dup = await api.client.post(WF, json={"definition": fetch_and_notify()}, headers=h)
    assert "already exists" in assert_problem(dup, 409)["detail"]

    restored = await api.client.post(f"{WF}/{wf_id}/restore", headers=h)
    assert restored.status_code == 200, restored.text
    assert restored.json()["id"] == wf_id and "deleted_at" not in restored.json()
    assert await listed(api, WF) == [wf_id]
    assert (await api.client.get("/api/trash", headers=h)).json()["total"] == 0
    again = await api.client.post(f"{WF}/{wf_id}/restore", headers=h)
    assert "not in the trash" in assert_problem(again, 409)["detail"]


async def test_trash_keeps_archived_status_and_runs_finish(api: Api) -> None:
    h = api.headers
    wf_id = await create_workflow(api, quick())
    run_id = (await finished_runs(api, wf_id, 1))[0]
    await api.client.post(f"{WF}/{wf_id}/archive", headers=h)
    await api.client.delete(f"{WF}/{wf_id}", headers=h)
    trash = (await api.client.get("/api/trash", headers=h)).json()
    assert [w["status"] for w in trash["workflows"]] == ["archived"]
    assert (await api.client.get(f"{RUNS}/{run_id}", headers=h)).status_code == 200
    restored = await api.client.post(f"{WF}/{wf_id}/restore", headers=h)
    assert restored.json()["status"] == "archived"


async def test_trash_pages_by_offset_and_cursor(api: Api) -> None:
    h = api.headers
    ids = []
    for i in range(5):
        ids.append(await create_workflow(api, quick(f"Flow {i}")))
        await api.client.delete(f"{WF}/{ids[-1]}", headers=h)
    newest_first = list(reversed(ids))
    page = (await api.client.get("/api/trash?limit=2&offset=1", headers=h)).json()
    assert page["total"] == 5 and [w["id"] for w in page["workflows"]] == newest_first[1:3]
    seen: list[str] = []
    cursor = None
    while True:
        url = "/api/trash?limit=2" + (f"&cursor={cursor}" if cursor else "")
        body = (await api.client.get(url, headers=h)).json()
        seen += [w["id"] for w in body["workflows"]]
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert seen == newest_first
    assert_problem(await api.client.get("/api/trash?cursor=bogus", headers=h), 422)
    assert_problem(await api.client.get("/api/trash?limit=0", headers=h), 422)
    assert_problem(await api.client.get("/api/trash"), 401)
    reader = await api.key_with("workflows:read")
    assert (await api.client.get("/api/trash", headers=reader)).json()["total"] == 5
    runner = await api.key_with("workflows:run")
    assert_problem(await api.client.get("/api/trash", headers=runner), 403)


async def test_soft_delete_and_restore_need_write(api: Api) -> None:
    wf_id = (await create(api))["id"]
    reader = await api.key_with("workflows:read", "workflows:run")
    assert_problem(await api.client.delete(f"{WF}/{wf_id}", headers=reader), 403)
    await api.client.delete(f"{WF}/{wf_id}", headers=api.headers)
    assert_problem(await api.client.post(f"{WF}/{wf_id}/restore", headers=reader), 403)
    assert_problem(await api.client.post(f"{WF}/wf_nope/restore", headers=api.headers), 404)
    resp = await api.client.delete(f"{WF}/{wf_id}?cascade=true", headers=api.headers)
    assert "permanent" in assert_problem(resp, 422)["errors"][0]


# -- permanent delete ------------------------------------------------------------------------


async def test_permanent_delete_needs_cascade_for_runs_and_reports_the_count(api: Api) -> None:
    h = api.headers
    wf_id = await create_workflow(api, quick())
    run_ids = await finished_runs(api, wf_id, 2)
    resp = await api.client.delete(f"{WF}/{wf_id}?permanent=true", headers=h)
    detail = assert_problem(resp, 409)["detail"]
    assert "2 runs" in detail and "cascade=true" in detail
    assert (await api.client.get(f"{WF}/{wf_id}", headers=h)).status_code == 200

    resp = await api.client.delete(f"{WF}/{wf_id}?permanent=true&cascade=true", headers=h)
    assert resp.status_code == 200, resp.text
    assert resp.json() == {"status": "success", "id": wf_id, "deleted_run_count": 2}
    assert_problem(await api.client.get(f"{WF}/{wf_id}", headers=h), 404)
    for run_id in run_ids:
        assert_problem(await api.client.get(f"{RUNS}/{run_id}", headers=h), 404)
    assert (await api.client.get("/api/trash", headers=h)).json()["total"] == 0
    # the name is free again
    assert await create_workflow(api, quick())
    again = await api.client.delete(f"{WF}/{wf_id}?permanent=true&cascade=true", headers=h)
    assert_problem(again, 404)


async def test_permanent_delete_without_runs_from_live_or_trash(api: Api) -> None:
    h = api.headers
    live = (await create(api))["id"]
    resp = await api.client.delete(f"{WF}/{live}?permanent=true", headers=h)
    assert resp.json() == {"status": "success", "id": live, "deleted_run_count": 0}
    trashed = await create_workflow(api, quick())
    await api.client.delete(f"{WF}/{trashed}", headers=h)
    resp = await api.client.delete(f"{WF}/{trashed}?permanent=true", headers=h)
    assert resp.json()["deleted_run_count"] == 0
    assert (await api.client.get("/api/trash", headers=h)).json()["total"] == 0


async def test_permanent_delete_refuses_active_runs_even_with_cascade(api: Api) -> None:
    h = api.headers
    wf_id = await create_workflow(api, slow())
    run_id = await start_run(api, wf_id)
    await wait_for_run(api, run_id, {"waiting"})
    resp = await api.client.delete(f"{WF}/{wf_id}?permanent=true&cascade=true", headers=h)
    detail = assert_problem(resp, 409)["detail"]
    assert "1 active run" in detail and "cancel" in detail
    await api.client.post(f"{RUNS}/{run_id}/cancel", headers=h)
    resp = await api.client.delete(f"{WF}/{wf_id}?permanent=true&cascade=true", headers=h)
    assert resp.json()["deleted_run_count"] == 1


async def test_permanent_delete_needs_admin(api: Api) -> None:
    wf_id = (await create(api))["id"]
    writer = await api.key_with("workflows:read", "workflows:write", "workflows:run")
    resp = await api.client.delete(f"{WF}/{wf_id}?permanent=true", headers=writer)
    assert "workflows:admin" in assert_problem(resp, 403)["detail"]
    assert (await api.client.get(f"{WF}/{wf_id}", headers=api.headers)).status_code == 200


# -- deletion preview ------------------------------------------------------------------------


async def test_deletion_preview_counts_runs_schedules_and_lists_twenty(api: Api) -> None:
    h = api.headers
    wf_id = await create_workflow(api, quick())
    done = await finished_runs(api, wf_id, 21)
    slow_id = await create_workflow(api, slow())
    active = await start_run(api, slow_id)
    await wait_for_run(api, active, {"waiting"})
    async with api.store.read() as tx:
        wf = await tx.get_workflow_by_id(wf_id)
    assert wf is not None
    await add_schedule(api.store, wf_id, wf.workspace_id)
    await add_schedule(api.store, wf_id, wf.workspace_id)

    body = (await api.client.get(f"{WF}/{wf_id}/deletion-preview", headers=h)).json()
    assert body["workflow_id"] == wf_id and body["in_trash"] is False
    assert body["run_count"] == 21 and body["active_run_count"] == 0
    assert body["schedule_count"] == 2 and body["has_active_runs"] is False
    assert [r["id"] for r in body["runs"]] == list(reversed(done))[:20]

    other = (await api.client.get(f"{WF}/{slow_id}/deletion-preview", headers=h)).json()
    assert other["run_count"] == 1 and other["active_run_count"] == 1
    assert other["has_active_runs"] is True and other["schedule_count"] == 0
    assert other["runs"][0]["status"] == "waiting"

    # also for a workflow in the trash: it previews the permanent delete
    await api.client.delete(f"{WF}/{slow_id}", headers=h)
    trashed = (await api.client.get(f"{WF}/{slow_id}/deletion-preview", headers=h)).json()
    assert trashed["in_trash"] is True and trashed["active_run_count"] == 1
    await api.client.post(f"{RUNS}/{active}/cancel", headers=h)

    reader = await api.key_with("workflows:read")
    assert_problem(await api.client.get(f"{WF}/{wf_id}/deletion-preview", headers=reader), 403)
    assert_problem(await api.client.get(f"{WF}/wf_nope/deletion-preview", headers=h), 404)


# -- bulk delete -----------------------------------------------------------------------------


async def test_bulk_delete_reports_per_id(api: Api) -> None:
    h = api.headers
    a = await create_workflow(api, quick("A"))
    b = await create_workflow(api, quick("B"))
    other = await api.other_workspace()
    theirs = await create_workflow(api, quick("Theirs"), headers=other)
    resp = await api.client.post(
        f"{WF}/bulk-delete", json={"ids": [a, "wf_nope", b, theirs, a]}, headers=h
    )
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert [(r["id"], r["status"], r["result"]) for r in body["results"]] == [
        (a, 200, "trashed"),
        ("wf_nope", 404, "error"),
        (b, 200, "trashed"),
        (theirs, 404, "error"),
    ]
    assert "not found" in body["results"][1]["detail"]
    assert body["succeeded"] == 2 and body["failed"] == 2
    assert (await api.client.get("/api/trash", headers=h)).json()["total"] == 2
    assert (await api.client.get(f"{WF}/{theirs}", headers=other)).status_code == 200


async def test_bulk_permanent_delete_with_and_without_cascade(api: Api) -> None:
    h = api.headers
    with_runs = await create_workflow(api, quick("Runs"))
    await finished_runs(api, with_runs, 1)
    empty = await create_workflow(api, quick("Empty"))
    body = {"ids": [with_runs, empty], "permanent": True}
    resp = (await api.client.post(f"{WF}/bulk-delete", json=body, headers=h)).json()
    assert [(r["status"], r["result"]) for r in resp["results"]] == [
        (409, "error"),
        (200, "deleted"),
    ]
    assert "1 run" in resp["results"][0]["detail"]
    assert resp["results"][1]["deleted_run_count"] == 0
    body = {"ids": [with_runs], "permanent": True, "cascade": True}
    resp = (await api.client.post(f"{WF}/bulk-delete", json=body, headers=h)).json()
    assert resp["results"] == [
        {"id": with_runs, "status": 200, "result": "deleted", "deleted_run_count": 1}
    ]


async def test_bulk_delete_bad_requests(api: Api) -> None:
    h = api.headers
    post = api.client.post
    assert_problem(await post(f"{WF}/bulk-delete", json={"ids": []}, headers=h), 422)
    too_many = {"ids": [f"wf_{i}" for i in range(101)]}
    assert_problem(await post(f"{WF}/bulk-delete", json=too_many, headers=h), 422)
    assert_problem(await post(f"{WF}/bulk-delete", json={"ids": "wf_x"}, headers=h), 422)
    resp = await post(f"{WF}/bulk-delete", json={"ids": ["wf_x"], "cascade": True}, headers=h)
    assert_problem(resp, 422)
    wf_id = (await create(api))["id"]
    writer = await api.key_with("workflows:read", "workflows:write")
    resp = await post(f"{WF}/bulk-delete", json={"ids": [wf_id], "permanent": True}, headers=writer)
    assert_problem(resp, 403)
    reader = await api.key_with("workflows:read")
    assert_problem(await post(f"{WF}/bulk-delete", json={"ids": [wf_id]}, headers=reader), 403)
    assert (await api.client.get(f"{WF}/{wf_id}", headers=h)).status_code == 200


# -- clone and rename ------------------------------------------------------------------------


async def test_clone_copies_definition_tags_description_not_runs_or_schedules(api: Api) -> None:
    h = api.headers
    source = fetch_and_notify()
    source["description"] = "Nightly fetch"
    body = await create(api, definition=source, tags=["etl", "nightly"], trigger_type="api")
    src_id = body["id"]
    await api.client.put(f"{WF}/{src_id}", json={"visibility": "public"}, headers=h)
    async with api.store.read() as tx:
        src = await tx.get_workflow_by_id(src_id)
    assert src is not None
    await add_schedule(api.store, src_id, src.workspace_id)

    resp = await api.client.post(f"{WF}/{src_id}/clone", json={"name": "My copy"}, headers=h)
    assert resp.status_code == 201, resp.text
    clone = resp.json()["workflow"]
    assert resp.json()["id"] == clone["id"] != src_id
    assert clone["name"] == "My copy" and clone["slug"] == "my-copy"
    assert clone["definition"] == {**body["workflow"]["definition"], "name": "My copy"}
    assert clone["tags"] == ["etl", "nightly"] and clone["description"] == "Nightly fetch"
    assert clone["trigger_type"] == "api" and clone["version"] == 1
    assert clone["visibility"] == "private" and clone["status"] == "active"
    assert clone["source"] == {"workflow_id": src_id, "kind": "clone"}
    versions = (await api.client.get(f"{WF}/{clone['id']}/versions", headers=h)).json()
    assert versions["versions"][0]["change_summary"] == "Cloned from 'fetch-and-notify' version 1"
    preview = (await api.client.get(f"{WF}/{clone['id']}/deletion-preview", headers=h)).json()
    assert preview["run_count"] == 0 and preview["schedule_count"] == 0

    by_slug = await api.client.post(
        f"{WF}/fetch-and-notify/clone", json={"name": "Second", "slug": "second-copy"}, headers=h
    )
    assert by_slug.json()["workflow"]["slug"] == "second-copy"


async def test_clone_bad_paths(api: Api) -> None:
    h = api.headers
    src_id = (await create(api))["id"]
    post = api.client.post
    taken = await post(f"{WF}/{src_id}/clone", json={"name": "Fetch and notify"}, headers=h)
    assert "already exists" in assert_problem(taken, 409)["detail"]
    trashed = await create_workflow(api, quick("In the trash"))
    await api.client.delete(f"{WF}/{trashed}", headers=h)
    taken = await post(f"{WF}/{src_id}/clone", json={"name": "In the trash"}, headers=h)
    assert_problem(taken, 409)
    taken = await post(
        f"{WF}/{src_id}/clone", json={"name": "Fresh", "slug": "fetch-and-notify"}, headers=h
    )
    assert "slug" in assert_problem(taken, 409)["detail"]
    assert_problem(await post(f"{WF}/{src_id}/clone", json={}, headers=h), 422)
    assert_problem(await post(f"{WF}/{src_id}/clone", json={"name": ""}, headers=h), 422)
    assert_problem(await post(f"{WF}/{src_id}/clone", json={"name": "  "}, headers=h), 422)
    bad_slug = {"name": "Fine", "slug": "Not A Slug"}
    assert_problem(await post(f"{WF}/{src_id}/clone", json=bad_slug, headers=h), 422)
    reserved = {"name": "Fine", "slug": "trash"}
    assert_problem(await post(f"{WF}/{src_id}/clone", json=reserved, headers=h), 422)
    assert_problem(await post(f"{WF}/wf_nope/clone", json={"name": "X"}, headers=h), 404)
    reader = await api.key_with("workflows:read")
    assert_problem(await post(f"{WF}/{src_id}/clone", json={"name": "X"}, headers=reader), 403)
    assert (await api.client.get(WF, headers=h)).json()["total"] == 1  # nothing half-made


async def test_rename_through_put_keeps_slug_and_checks_the_trash(api: Api) -> None:
    h = api.headers
    wf_id = (await create(api))["id"]
    trashed = await create_workflow(api, quick("Old name"))
    await api.client.delete(f"{WF}/{trashed}", headers=h)
    resp = await api.client.put(f"{WF}/{wf_id}", json={"name": "Old name"}, headers=h)
    assert_problem(resp, 409)
    resp = await api.client.put(f"{WF}/{wf_id}", json={"name": "Renamed"}, headers=h)
    assert resp.status_code == 200
    assert resp.json()["name"] == "Renamed" and resp.json()["slug"] == "fetch-and-notify"
    assert resp.json()["definition"]["name"] == "Renamed"


# -- tenant isolation ------------------------------------------------------------------------


async def test_another_workspace_gets_404_from_every_lifecycle_endpoint(api: Api) -> None:
    wf_id = (await create(api))["id"]
    trashed = await create_workflow(api, quick())
    await api.client.delete(f"{WF}/{trashed}", headers=api.headers)
    other = await api.other_workspace()
    c = api.client
    for target in (wf_id, trashed, "fetch-and-notify"):
        for resp in (
            await c.post(f"{WF}/{target}/archive", headers=other),
            await c.post(f"{WF}/{target}/unarchive", headers=other),
            await c.delete(f"{WF}/{target}", headers=other),
            await c.delete(f"{WF}/{target}?permanent=true&cascade=true", headers=other),
            await c.get(f"{WF}/{target}/deletion-preview", headers=other),
            await c.post(f"{WF}/{target}/restore", headers=other),
            await c.post(f"{WF}/{target}/clone", json={"name": "Mine"}, headers=other),
            await c.post(f"{WF}/{target}/token", json={}, headers=other),
            await c.post(f"{WF}/{target}/webhook-secret", headers=other),
        ):
            assert_problem(resp, 404)
    assert (await c.get("/api/trash", headers=other)).json()["total"] == 0
    resp = await c.post(f"{WF}/bulk-delete", json={"ids": [wf_id, trashed]}, headers=other)
    assert [r["status"] for r in resp.json()["results"]] == [404, 404]
    # nothing changed for the owner
    assert (await c.get(f"{WF}/{wf_id}", headers=api.headers)).json()["status"] == "active"
    assert (await c.get("/api/trash", headers=api.headers)).json()["total"] == 1


# -- purge -----------------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def app_with_clock(
    settings: Settings, store: Store, clock: FakeClock
) -> AsyncIterator[tuple[Api, LifecycleService]]:
    key = await AuthService(store, clock).bootstrap(None)
    assert key is not None
    app = create_app(settings, store=store, clock=clock)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://flowdeck.test") as c:
            yield Api(client=c, key=key, store=store), app.state.services.lifecycle


def purge_settings(database_url: str, tmp_path: Path, **overrides: Any) -> Settings:
    # No worker: runs stay active however far the fake clock jumps.
    return Settings(
        data_dir=tmp_path / "data", database_url=database_url, run_worker=False, **overrides
    )


async def test_purge_deletes_only_what_outlived_the_retention(
    database_url: str, tmp_path: Path, store: Store
) -> None:
    clock = FakeClock()
    settings = purge_settings(database_url, tmp_path, trash_retention_days=7)
    async with app_with_clock(settings, store, clock) as (api, lifecycle):
        h = api.headers
        old = await create_workflow(api, quick("Old"))
        await api.client.delete(f"{WF}/{old}", headers=h)
        clock.advance(days=3)
        young = await create_workflow(api, quick("Young"))
        await api.client.delete(f"{WF}/{young}", headers=h)
        restored = await create_workflow(api, quick("Restored"))
        await api.client.delete(f"{WF}/{restored}", headers=h)
        await api.client.post(f"{WF}/{restored}/restore", headers=h)
        live = await create_workflow(api, quick("Live"))
        trash = (await api.client.get("/api/trash", headers=h)).json()
        purge_at = {w["id"]: w["purge_at"] for w in trash["workflows"]}
        assert trash["retention_days"] == 7
        assert datetime.fromisoformat(purge_at[old]) == datetime.fromisoformat(
            purge_at[young]
        ) - timedelta(days=3)

        clock.advance(days=3, hours=23)  # old has been in the trash 6 days 23 hours
        assert await lifecycle.purge_trash() == 0
        clock.advance(hours=2)  # 7 days 1 hour
        assert await lifecycle.purge_trash() == 1
        assert await lifecycle.purge_trash() == 0  # idempotent
        assert [
            w["id"] for w in (await api.client.get("/api/trash", headers=h)).json()["workflows"]
        ] == [young]
        resp = await api.client.delete(f"{WF}/{old}?permanent=true", headers=h)
        assert_problem(resp, 404)
        clock.advance(days=3)
        assert await lifecycle.purge_trash() == 1
        assert (await api.client.get("/api/trash", headers=h)).json()["total"] == 0
        assert set(await listed(api, WF)) == {restored, live}


async def test_purge_cancels_active_runs_then_deletes_on_the_next_sweep(
    database_url: str, tmp_path: Path, store: Store
) -> None:
    clock = FakeClock()
    settings = purge_settings(database_url, tmp_path)
    async with app_with_clock(settings, store, clock) as (api, lifecycle):
        h = api.headers
        wf_id = await create_workflow(api, quick())
        run_id = await start_run(api, wf_id)
        await api.client.delete(f"{WF}/{wf_id}", headers=h)
        clock.advance(days=31)
        assert await lifecycle.purge_trash() == 0
        run = (await api.client.get(f"{RUNS}/{run_id}", headers=h)).json()["run"]
        assert run["status"] == "cancelled"
        assert await lifecycle.purge_trash() == 1
        assert_problem(await api.client.get(f"{RUNS}/{run_id}", headers=h), 404)


async def test_concurrent_purges_delete_each_workflow_once(
    database_url: str, tmp_path: Path, store: Store
) -> None:
    clock = FakeClock()
    settings = purge_settings(database_url, tmp_path)
    async with app_with_clock(settings, store, clock) as (api, lifecycle):
        ids = [await create_workflow(api, quick(f"Flow {i}")) for i in range(6)]
        for wf_id in ids:
            await api.client.delete(f"{WF}/{wf_id}", headers=api.headers)
        clock.advance(days=30, seconds=1)
        others = [
            LifecycleService(store, clock, lifecycle.runtime, lifecycle.box, settings)
            for _ in range(3)
        ]
        counts = await asyncio.gather(lifecycle.purge_trash(), *(o.purge_trash() for o in others))
        assert sum(counts) == 6
        assert (await api.client.get("/api/trash", headers=api.headers)).json()["total"] == 0
