"""Run admission: the global and per-workflow limits, first in first out."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from pathlib import Path
from typing import Any

from flowdeck.store.store import Store
from tests.integration.conftest import Api
from tests.integration.runs_helpers import (
    RUNS,
    create_workflow,
    get_run,
    http_get,
    http_peer,
    serve,
    settings_for,
    start_run,
    transform,
    wait,
    wait_for_run,
    wait_until,
)
from tests.unit.step_helpers import Reply


class RunningSampler:
    """Samples a workflow's run list while runs execute: the most seen running at once.

    Each list request reads one snapshot, so every sample is exact.
    """

    def __init__(self, api: Api, workflow_id: str) -> None:
        self.api = api
        self.workflow_id = workflow_id
        self.max_running = 0
        self.samples = 0
        self.saw_queued = False
        self._task: asyncio.Task[None] | None = None

    async def _sample(self) -> None:
        while True:
            resp = await self.api.client.get(
                f"/api/workflows/{self.workflow_id}/runs", headers=self.api.headers
            )
            runs = resp.json()["runs"]
            running = sum(1 for r in runs if r["status"] == "running")
            self.saw_queued |= any(r["status"] == "queued" for r in runs)
            self.max_running = max(self.max_running, running)
            self.samples += 1
            await asyncio.sleep(0.02)

    async def __aenter__(self) -> RunningSampler:
        self._task = asyncio.create_task(self._sample())
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task


def assert_fifo(runs: list[dict[str, Any]]) -> None:
    """Runs (in creation order) started in that order, each after the one before ended."""
    for before, after in itertools.pairwise(runs):
        assert before["started_at"] <= after["started_at"], (before, after)
        assert before["completed_at"] <= after["started_at"], (before, after)


async def test_global_limit_queues_runs_and_starts_them_in_order(
    database_url: str, tmp_path: Path, store: Store
) -> None:
    settings = settings_for(database_url, tmp_path, max_concurrent_runs=1)
    async with http_peer() as (peer, book), serve(settings, store) as api:
        book["/work"] = Reply(body="done", delay=0.15)
        wf = await create_workflow(api, {"name": "A", "steps": [http_get("s", peer.url("/work"))]})
        async with RunningSampler(api, wf) as sampler:
            run_ids = [await start_run(api, wf) for _ in range(4)]
            runs = [await wait_for_run(api, r) for r in run_ids]
        assert [r["status"] for r in runs] == ["completed"] * 4
        assert sampler.samples > 0 and sampler.saw_queued
        assert sampler.max_running == 1
        assert_fifo(runs)


async def test_workflow_concurrency_limits_only_that_workflow(api: Api) -> None:
    async with http_peer() as (peer, book):
        # The first call hangs until cancelled; later ones answer at once.
        book.then("/work", Reply(body="slow", delay=30), Reply(body="fast"))
        limited = await create_workflow(
            api,
            {"name": "Limited", "concurrency": 1, "steps": [http_get("s", peer.url("/work"))]},
        )
        free = await create_workflow(api, {"name": "Free", "steps": [transform("t", 1)]})
        run_ids = [await start_run(api, limited) for _ in range(3)]
        await wait_for_run(api, run_ids[0], {"running"})
        await asyncio.wait_for(peer.received.wait(), 20)

        other = await wait_for_run(api, await start_run(api, free))
        assert other["status"] == "completed"  # the global limit still has room
        for queued in run_ids[1:]:
            assert (await get_run(api, queued))["status"] == "queued"

        resp = await api.client.post(f"{RUNS}/{run_ids[0]}/cancel", headers=api.headers)
        assert resp.status_code == 200
        runs = [await wait_for_run(api, r) for r in run_ids[1:]]
    assert [r["status"] for r in runs] == ["completed", "completed"]
    assert_fifo(runs)


async def test_a_cancelled_queued_run_never_starts(
    database_url: str, tmp_path: Path, store: Store
) -> None:
    settings = settings_for(database_url, tmp_path, max_concurrent_runs=1)
    async with http_peer() as (peer, book), serve(settings, store) as api:
        book.then("/work", Reply(body="slow", delay=30), Reply(body="fast"))
        wf = await create_workflow(api, {"name": "Q", "steps": [http_get("s", peer.url("/work"))]})
        blocker, queued, last = [await start_run(api, wf) for _ in range(3)]
        await wait_for_run(api, blocker, {"running"})
        resp = await api.client.post(f"{RUNS}/{queued}/cancel", headers=api.headers)
        assert resp.status_code == 200
        await api.client.post(f"{RUNS}/{blocker}/cancel", headers=api.headers)
        assert (await wait_for_run(api, last))["status"] == "completed"
        cancelled = await get_run(api, queued)
        assert cancelled["status"] == "cancelled"
        assert cancelled["started_at"] is None and cancelled["step_runs"] == []

        async def two_calls() -> bool:
            return book.calls.get("/work") == 2

        await wait_until(two_calls)


async def test_many_queued_runs_start_in_creation_order(
    database_url: str, tmp_path: Path, store: Store
) -> None:
    settings = settings_for(database_url, tmp_path, max_concurrent_runs=1)
    async with http_peer() as (peer, book), serve(settings, store) as api:
        book.then("/work", Reply(body="slow", delay=30), Reply(body="fast"))
        blocker_wf = await create_workflow(
            api, {"name": "Blocker", "steps": [http_get("s", peer.url("/work"))]}
        )
        wf = await create_workflow(api, {"name": "Quick", "steps": [transform("t", 1)]})
        blocker = await start_run(api, blocker_wf)
        await wait_for_run(api, blocker, {"running"})
        queued = [await start_run(api, wf) for _ in range(30)]
        await api.client.post(f"{RUNS}/{blocker}/cancel", headers=api.headers)
        runs = [await wait_for_run(api, r) for r in queued]
    assert [r["status"] for r in runs] == ["completed"] * len(runs)
    assert_fifo(runs)


async def test_a_paused_queued_run_waits_for_resume(
    database_url: str, tmp_path: Path, store: Store
) -> None:
    settings = settings_for(database_url, tmp_path, max_concurrent_runs=1)
    async with http_peer() as (peer, book), serve(settings, store) as api:
        book.then("/work", Reply(body="slow", delay=30), Reply(body="fast"))
        blocker_wf = await create_workflow(
            api, {"name": "Blocker", "steps": [http_get("s", peer.url("/work"))]}
        )
        wf = await create_workflow(api, {"name": "Later", "steps": [transform("t", 1)]})
        blocker = await start_run(api, blocker_wf)
        await wait_for_run(api, blocker, {"running"})
        held, other = await start_run(api, wf), await start_run(api, wf)
        resp = await api.client.post(f"{RUNS}/{held}/pause", headers=api.headers)
        assert resp.json()["run"]["status"] == "paused"
        await api.client.post(f"{RUNS}/{blocker}/cancel", headers=api.headers)
        assert (await wait_for_run(api, other))["status"] == "completed"
        assert (await get_run(api, held))["status"] == "paused"  # skipped, not started
        resp = await api.client.post(f"{RUNS}/{held}/resume", headers=api.headers)
        assert resp.status_code == 200, resp.text
        run = await wait_for_run(api, held)
    assert run["status"] == "completed", run
    assert [(s["step_id"], s["attempt"]) for s in run["step_runs"]] == [("t", 1)]


async def test_a_run_woken_from_waiting_queues_for_a_slot(
    database_url: str, tmp_path: Path, store: Store
) -> None:
    # A waiting run holds no slot; when its timer fires it must not overrun the limit.
    settings = settings_for(database_url, tmp_path, max_concurrent_runs=1)
    async with http_peer() as (peer, book), serve(settings, store) as api:
        book["/work"] = Reply(body="done", delay=0.2)
        wf = await create_workflow(
            api,
            {
                "name": "Nap then work",
                "steps": [wait("nap", 0.1), http_get("s", peer.url("/work"), depends_on=["nap"])],
            },
        )
        async with RunningSampler(api, wf) as sampler:
            run_ids = [await start_run(api, wf) for _ in range(3)]
            runs = [await wait_for_run(api, r) for r in run_ids]
        assert [r["status"] for r in runs] == ["completed"] * 3
        assert sampler.max_running == 1
        assert [len(r["step_runs"]) for r in runs] == [2, 2, 2]
