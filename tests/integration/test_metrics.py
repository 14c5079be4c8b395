"""GET /metrics: process metrics plus cluster gauges read from the database, and the worker
registry behind the per-worker gauges."""

from __future__ import annotations

import asyncio
import os
import socket
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
from alembic import command
from prometheus_client.parser import text_string_to_metric_families

from flowdeck.api.app import create_app
from flowdeck.config import Settings
from flowdeck.domain.clock import SystemClock
from flowdeck.domain.cluster import WorkerRecord
from flowdeck.store.dialect import create_sync_engine
from flowdeck.store.migrate import alembic_config, upgrade
from flowdeck.store.store import Store
from tests.integration.conftest import Api
from tests.integration.runs_helpers import (
    RUNS,
    create_workflow,
    failing,
    serve,
    settings_for,
    start_run,
    transform,
    wait_for_run,
    wait_until,
)

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


async def scrape(api: Api, headers: dict[str, str] | None = None) -> Samples:
    """Every sample of GET /metrics, keyed by (name, sorted labels)."""
    resp = await api.client.get("/metrics", headers=headers or {})
    assert resp.status_code == 200, resp.text
    assert resp.headers["content-type"].startswith("text/plain; version=")
    found: Samples = {}
    for family in text_string_to_metric_families(resp.text):
        for s in family.samples:
            found[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return found


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples[(name, tuple(sorted(labels.items())))]


def by_label(samples: Samples, name: str, label: str) -> dict[str, float]:
    return {dict(k)[label]: v for (n, k), v in samples.items() if n == name}


def _gate(step_id: str) -> dict[str, Any]:
    return {"id": step_id, "type": "approval", "config": {"message": "ok?"}}


async def test_runs_and_steps_by_status_follow_real_runs(api: Api) -> None:
    ok = await create_workflow(api, {"name": "Ok", "steps": [transform("a", 1)]})
    bad = await create_workflow(api, {"name": "Bad", "steps": [failing("boom")]})
    gated = await create_workflow(
        api,
        {"name": "Gated", "steps": [_gate("review"), transform("after", 1, depends_on=["review"])]},
    )
    done = [await start_run(api, ok) for _ in range(2)]
    failed = await start_run(api, bad)
    waiting = await start_run(api, gated)
    cancelled = await start_run(api, gated)
    for run_id in (*done, failed):
        await wait_for_run(api, run_id)
    for run_id in (waiting, cancelled):
        await wait_for_run(api, run_id, {"waiting"})
    resp = await api.client.post(f"{RUNS}/{cancelled}/cancel", headers=api.headers)
    assert resp.status_code == 200, resp.text

    samples = await scrape(api)
    active = by_label(samples, "flowdeck_runs_active", "status")
    assert active == {"queued": 0, "running": 0, "waiting": 1, "paused": 0}
    finished = by_label(samples, "flowdeck_runs_finished_recorded", "status")
    assert finished == {"completed": 2, "failed": 1, "cancelled": 1}
    steps = by_label(samples, "flowdeck_steps", "status")
    # Only the waiting run is unfinished: its gate waits, the step after it is pending.
    assert steps["waiting"] == 1 and steps["pending"] == 1
    assert steps["running"] == 0 and steps["ready"] == 0
    assert value(samples, "flowdeck_queue_claimable_steps") == 0
    assert value(samples, "flowdeck_queue_queued_runs") == 0
    assert value(samples, "flowdeck_queue_oldest_claimable_age_seconds") == 0
    # Process metrics of the in-process worker are there too.
    executed = value(
        samples, "flowdeck_steps_executed_total", type="transform", outcome="completed"
    )
    assert executed >= 2
    assert (
        value(samples, "flowdeck_step_duration_seconds_count", type="transform", outcome="failed")
        >= 1
    )
    assert value(samples, "flowdeck_claim_latency_seconds_count") >= 4

    # Deleting and resuming finished runs moves the totals, which are kept, not recounted.
    resp = await api.client.delete(f"{RUNS}/{done[0]}", headers=api.headers)
    assert resp.status_code in (200, 204), resp.text
    resp = await api.client.post(f"{RUNS}/{cancelled}/resume", json={}, headers=api.headers)
    assert resp.status_code == 200, resp.text
    await wait_for_run(api, cancelled, {"waiting"})
    samples = await scrape(api)
    runs = by_label(samples, "flowdeck_runs_finished_recorded", "status")
    waiting = value(samples, "flowdeck_runs_active", status="waiting")
    assert (runs["completed"], runs["failed"], runs["cancelled"], waiting) == (1, 1, 0, 2)


async def test_labels_are_instance_level_only(api: Api) -> None:
    wf = await create_workflow(api, {"name": "Labels", "steps": [transform("a", 1)]})
    await wait_for_run(api, await start_run(api, wf))
    resp = await api.client.get("/metrics")
    names: set[str] = set()
    for family in text_string_to_metric_families(resp.text):
        if family.name.startswith("flowdeck_"):
            for s in family.samples:
                names.update(s.labels)
                assert not any(v.startswith(("ws_", "wf_", "run_")) for v in s.labels.values())
    assert names <= {
        "status",
        "type",
        "outcome",
        "worker",
        "le",
        "route",
        "method",
        "version",
        "python",
    }


async def test_running_workers_report_their_heartbeat(
    database_url: str, tmp_path: Path, store: Store
) -> None:
    settings = settings_for(database_url, tmp_path, heartbeat_seconds=0.05)
    async with serve(settings, store) as api:
        async with store.read() as tx:
            [row] = await tx.list_workers()
        assert (row.hostname, row.pid) == (socket.gethostname(), os.getpid())
        assert row.id.startswith(f"{row.hostname}:{row.pid}:") and row.stopped_at is None
        assert row.capacity == settings.max_parallel_steps

        async def refreshed() -> Any:
            async with store.read() as tx:
                [now] = await tx.list_workers()
            return now if now.heartbeat_at > row.heartbeat_at else None

        later = await wait_until(refreshed)
        samples = await scrape(api)
        beat = value(samples, "flowdeck_worker_heartbeat_timestamp_seconds", worker=row.id)
        assert beat >= later.heartbeat_at.timestamp()
        assert value(samples, "flowdeck_worker_inflight_steps", worker=row.id) == 0
        assert value(samples, "flowdeck_workers_live") == 1
    async with store.read() as tx:
        assert await tx.list_workers() == []
        [stopped] = await tx.list_workers(include_stopped=True)
    assert stopped.id == row.id and stopped.stopped_at is not None


async def test_long_gone_workers_are_forgotten_and_silent_ones_are_not_live(
    database_url: str, tmp_path: Path, store: Store
) -> None:
    now = SystemClock().now()
    gone = WorkerRecord(
        id="old-host:1:gone",
        hostname="old-host",
        pid=1,
        started_at=now - timedelta(days=3),
        heartbeat_at=now - timedelta(days=2),
    )
    silent = WorkerRecord(
        id="old-host:2:silent",
        hostname="old-host",
        pid=2,
        started_at=now - timedelta(hours=1),
        heartbeat_at=now - timedelta(minutes=10),
        inflight=3,
    )
    async with store.write() as tx:
        await tx.register_worker(gone)
        await tx.register_worker(silent)
    settings = settings_for(database_url, tmp_path, heartbeat_seconds=0.05)
    async with serve(settings, store) as api:

        async def pruned() -> bool:
            async with store.read() as tx:
                return gone.id not in {w.id for w in await tx.list_workers()}

        await wait_until(pruned)
        samples = await scrape(api)
        assert value(samples, "flowdeck_worker_inflight_steps", worker=silent.id) == 3
        assert len(by_label(samples, "flowdeck_worker_heartbeat_timestamp_seconds", "worker")) == 2
        assert value(samples, "flowdeck_workers_live") == 1


async def test_metrics_token_when_set(database_url: str, tmp_path: Path, store: Store) -> None:
    settings = settings_for(database_url, tmp_path, metrics_token="scrape-me")
    async with serve(settings, store) as api:
        for headers in ({}, {"Authorization": "Bearer wrong"}, api.headers):
            resp = await api.client.get("/metrics", headers=headers)
            assert resp.status_code == 401
            assert resp.headers["content-type"] == "application/problem+json"
            assert resp.json()["status"] == 401
        samples = await scrape(api, {"Authorization": "Bearer scrape-me"})
        assert ("flowdeck_workers_live", ()) in samples


async def test_metrics_answer_only_loopback_without_a_token(
    api: Api, settings: Settings, store: Store
) -> None:
    resp = await api.client.get("/metrics")  # httpx's ASGI client comes from 127.0.0.1
    assert resp.status_code == 200
    assert "flowdeck_runs_active" in resp.text
    app = create_app(settings, store=store)
    async with app.router.lifespan_context(app):
        remote = httpx.ASGITransport(app=app, client=("203.0.113.9", 40000))
        async with httpx.AsyncClient(transport=remote, base_url="http://flowdeck.test") as c:
            resp = await c.get("/metrics")
    assert resp.status_code == 403
    assert resp.headers["content-type"] == "application/problem+json"
    assert "FLOWDECK_METRICS_TOKEN" in resp.json()["detail"]


async def test_a_worker_forgotten_while_silent_registers_again(
    database_url: str, tmp_path: Path, store: Store
) -> None:
    settings = settings_for(database_url, tmp_path, heartbeat_seconds=0.05)
    async with serve(settings, store):
        async with store.write() as tx:
            [row] = await tx.list_workers()
            assert await tx.prune_workers(SystemClock().now() + timedelta(days=1)) == 1

        async def back() -> Any:
            async with store.read() as tx:
                return await tx.list_workers()

        [again] = await wait_until(back)
    assert (again.id, again.started_at) == (row.id, row.started_at)


async def test_finished_run_totals_follow_deletes_and_are_backfilled(
    database_url: str, tmp_path: Path, store: Store
) -> None:
    settings = settings_for(database_url, tmp_path)
    async with serve(settings, store) as api:
        keep = await create_workflow(api, {"name": "Keep", "steps": [transform("a", 1)]})
        drop = await create_workflow(api, {"name": "Drop", "steps": [failing("a")]})
        for wf in (keep, keep, drop):
            await wait_for_run(api, await start_run(api, wf))
        resp = await api.client.delete(
            f"/api/workflows/{drop}",
            params={"permanent": "true", "cascade": "true"},
            headers=api.headers,
        )
        assert resp.status_code == 200, resp.text
        before = by_label(await scrape(api), "flowdeck_runs_finished_recorded", "status")
        key = api.key
    assert (before["completed"], before["failed"]) == (2, 0)
    # Migration 0006 builds the totals from the runs already there.
    await asyncio.to_thread(_migrate_down_and_up, database_url, "0005")
    async with serve(settings, store, key) as api:
        after = by_label(await scrape(api), "flowdeck_runs_finished_recorded", "status")
        assert after == before


def _migrate_down_and_up(url: str, revision: str) -> None:
    engine = create_sync_engine(url)
    try:
        with engine.begin() as connection:
            cfg = alembic_config(url)
            cfg.attributes["connection"] = connection
            command.downgrade(cfg, revision)
    finally:
        engine.dispose()
    upgrade(url)
