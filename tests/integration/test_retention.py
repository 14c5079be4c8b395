"""Run retention: exactly the old finished runs go, with their step runs and events; active runs
never; analytics answer the same afterwards; `flowdeck db purge` reports what it did."""

from __future__ import annotations

import asyncio
import re
from datetime import timedelta
from typing import Any

from typer.testing import CliRunner

from flowdeck.cli.main import app
from flowdeck.config import Settings
from flowdeck.domain.clock import FakeClock
from flowdeck.domain.retention import PurgeCounts
from flowdeck.services.retention import RetentionService
from tests.integration.conftest import Api
from tests.integration.runs_helpers import (
    RUNS,
    create_workflow,
    failing,
    start_run,
    transform,
    wait_for_run,
)
from tests.integration.test_analytics_api import NOW, analytics, seed
from tests.integration.test_analytics_api import frozen as frozen  # the fixture

QUERIES = (
    "",
    "?days=1",
    "?days=3",
    "?days=90",
    "?days=90&granularity=weekly",
    "?days=366&granularity=monthly",
)


async def _run_ids(api: Api, wf: str) -> set[str]:
    resp = await api.client.get(f"/api/workflows/{wf}/runs?limit=100", headers=api.headers)
    assert resp.status_code == 200, resp.text
    return {r["id"] for r in resp.json()["runs"]}


async def test_old_finished_runs_go_and_analytics_stay(frozen: Api) -> None:
    wf = await seed(frozen)
    before = {q: await analytics(frozen, wf, q) for q in QUERIES}
    kept_before = await _run_ids(frozen, wf)
    retention = RetentionService(frozen.store, FakeClock(NOW), 0)

    # Everything that finished more than a day before NOW: r2–r6 and r8 (r1 and the other
    # workflow's r9 finished today, r7 is still running).
    dry = await retention.purge(timedelta(days=1), dry_run=True)
    assert dry.runs == 6 and dry.step_runs == 24
    done = await retention.purge(timedelta(days=1))
    assert done == dry
    assert await retention.purge(timedelta(days=1)) == PurgeCounts()

    kept = await _run_ids(frozen, wf)
    assert len(kept_before) == 8 and len(kept) == 2
    statuses = {
        (await frozen.client.get(f"{RUNS}/{r}", headers=frozen.headers)).json()["run"]["status"]
        for r in kept
    }
    assert statuses == {"completed", "running"}
    assert before["?days=90"]["kpis"]["p95_duration_seconds"] is not None
    for q in QUERIES:
        after = await analytics(frozen, wf, q)
        assert after == before[q], q


async def test_a_second_purge_of_the_same_runs_adds_nothing(frozen: Api) -> None:
    wf = await seed(frozen)
    before = await analytics(frozen, wf, "?days=90")
    retention = RetentionService(frozen.store, FakeClock(NOW), 0)
    # Two servers at once: each batch is claimed, so each run is counted once.
    first, second = await asyncio.gather(
        retention.purge(timedelta(days=1)), retention.purge(timedelta(days=1))
    )
    assert first.runs + second.runs == 6
    after = await analytics(frozen, wf, "?days=90")
    assert after["kpis"]["total_runs"] == before["kpis"]["total_runs"] == 8
    assert after["runs_over_time"] == before["runs_over_time"]


async def test_active_runs_are_never_purged(api: Api) -> None:
    gate = {"id": "gate", "type": "approval", "config": {"message": "go?"}}
    ok = await create_workflow(api, {"name": "Ok", "steps": [transform("a", 1)]})
    bad = await create_workflow(api, {"name": "Bad", "steps": [failing("b")]})
    gated = await create_workflow(api, {"name": "Gated", "steps": [gate]})
    finished = [await start_run(api, wf) for wf in (ok, bad)]
    for run_id in finished:
        await wait_for_run(api, run_id)
    waiting = await start_run(api, gated)
    paused = await start_run(api, gated)
    cancelled = await start_run(api, gated)
    for run_id in (waiting, paused, cancelled):
        await wait_for_run(api, run_id, {"waiting"})
    resp = await api.client.post(f"{RUNS}/{paused}/pause", headers=api.headers)
    assert resp.status_code == 200, resp.text
    resp = await api.client.post(f"{RUNS}/{cancelled}/cancel", headers=api.headers)
    assert resp.status_code == 200, resp.text

    retention = RetentionService(api.store, FakeClock(NOW + timedelta(days=3650)), 30)
    assert await retention.purge_expired() == 3
    for run_id in (*finished, cancelled):
        resp = await api.client.get(f"{RUNS}/{run_id}", headers=api.headers)
        assert resp.status_code == 404
        stream = await api.client.get(f"{RUNS}/{run_id}/stream", headers=api.headers)
        assert stream.status_code == 404
    for run_id, status in ((waiting, "waiting"), (paused, "paused")):
        resp = await api.client.get(f"{RUNS}/{run_id}", headers=api.headers)
        assert resp.status_code == 200 and resp.json()["run"]["status"] == status
        assert len(resp.json()["run"]["step_runs"]) == 1
    # 0 days keeps everything.
    assert await RetentionService(api.store, FakeClock(NOW), 0).purge_expired() == 0


async def _purge_cli(settings: Settings, *args: str) -> Any:
    argv = ["db", "purge", *args, "--database-url", settings.resolved_database_url]
    argv += ["--data-dir", str(settings.data_dir)]
    return await asyncio.to_thread(CliRunner().invoke, app, argv)


async def test_db_purge_reports_counts_and_a_dry_run_deletes_nothing(
    api: Api, settings: Settings
) -> None:
    ok = await create_workflow(
        api, {"name": "Two", "steps": [transform("a", 1), transform("b", 2, depends_on=["a"])]}
    )
    runs = [await start_run(api, ok) for _ in range(3)]
    for run_id in runs:
        await wait_for_run(api, run_id)
    kept = await _purge_cli(settings, "--runs-older-than", "7d")
    assert kept.exit_code == 0, kept.output
    assert kept.stdout.startswith("Purged 0 runs (0 step runs, 0 events)")

    dry = await _purge_cli(settings, "--runs-older-than", "0s", "--dry-run")
    assert dry.exit_code == 0, dry.output
    found = re.match(r"Would purge 3 runs \(6 step runs, (\d+) events\)", dry.stdout)
    assert found is not None, dry.stdout
    assert len(await _run_ids(api, ok)) == 3

    done = await _purge_cli(settings, "--runs-older-than", "0s")
    assert done.exit_code == 0, done.output
    assert done.stdout.startswith(f"Purged 3 runs (6 step runs, {found.group(1)} events)")
    assert await _run_ids(api, ok) == set()

    bad = await _purge_cli(settings, "--runs-older-than", "a week")
    assert bad.exit_code == 2
    assert "not an age like 7d" in bad.output
