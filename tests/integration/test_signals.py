"""LISTEN/NOTIFY between processes on one PostgreSQL database: a server with no worker and a
worker elsewhere. Every poll is set to a minute, so only a signal can make these runs move in
time: a run started on one server is picked up by the other's worker, SSE on one server follows
a run executed elsewhere, and a cancel on one server interrupts a step running elsewhere."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import httpx
import pytest

from flowdeck.engine.signals import MAX_PAYLOAD, Signal, decode, encode
from flowdeck.services.container import Services
from flowdeck.store.store import Store
from tests.integration.conftest import Api
from tests.integration.runs_helpers import (
    RUNS,
    StreamingASGITransport,
    create_workflow,
    get_run,
    http_get,
    read_sse,
    serve,
    settings_for,
    start_run,
    transform,
    wait,
    wait_for_run,
    wait_for_step,
    wait_until,
)
from tests.support.peer import Reply, running_peer

# Polls, heartbeats (which also admit) and cancel checks all far beyond the test's deadlines.
SLOW = {"poll_seconds": 60.0, "heartbeat_seconds": 60.0, "lease_seconds": 180.0}
DEADLINE = 10.0


async def until(condition: Callable[[], bool]) -> None:
    async def check() -> bool:
        return condition()

    await wait_until(check, timeout=DEADLINE)


def test_signals_split_into_payloads_postgres_accepts_and_decode_back() -> None:
    runs = {f"run_{i:026d}" for i in range(1000)}
    signal = Signal(work=True, runs=runs, cancelled={"run_x"}, secrets={"ws_1"})
    payloads = encode("p_me", signal)
    assert len(payloads) > 1
    assert all(len(p.encode()) < MAX_PAYLOAD for p in payloads)
    merged = Signal()
    for payload in payloads:
        decoded = decode(payload)
        assert decoded is not None
        origin, part = decoded
        assert origin == "p_me"
        merged.merge(part)
    assert merged == Signal(work=True, runs=runs, cancelled={"run_x"}, secrets={"ws_1"})
    assert decode("not json") is None
    assert decode('{"w": 1}') is None  # no origin


@contextlib.asynccontextmanager
async def two_processes(
    database_url: str, tmp_path: Path
) -> AsyncIterator[tuple[Api, Api, Services]]:
    """Server A (no worker) and server B (with a worker), each with its own pool."""
    stores = [Store.from_url(database_url, pool_size=4) for _ in range(2)]
    try:
        a_settings = settings_for(database_url, tmp_path, run_worker=False, **SLOW)
        b_settings = settings_for(database_url, tmp_path, run_worker=True, **SLOW)
        async with serve(a_settings, stores[0]) as a, serve(b_settings, stores[1], a.key) as b:
            b_services: Services = b.client._transport.app.state.services  # type: ignore[attr-defined]
            a_services: Services = a.client._transport.app.state.services  # type: ignore[attr-defined]
            for services in (a_services, b_services):
                assert services.runtime.signals is not None
                signals = services.runtime.signals
                await until(lambda s=signals: s.connected)
            yield a, b, b_services
    finally:
        for store in stores:
            await store.close()


@pytest.fixture
def postgres_only(is_postgres: bool) -> None:
    if not is_postgres:
        pytest.skip("signals connect processes on PostgreSQL; SQLite is one process")


@pytest.mark.usefixtures("postgres_only")
async def test_a_run_started_on_one_server_runs_on_another_servers_worker(
    database_url: str, tmp_path: Path
) -> None:
    async with two_processes(database_url, tmp_path) as (a, _b, _):
        definition = {
            "name": "Across",
            "steps": [transform("one", 1), transform("two", 2, depends_on=["one"])],
        }
        run_id = await start_run(a, await create_workflow(a, definition))
        run = await wait_for_run(a, run_id, timeout=DEADLINE)
        assert run["status"] == "completed"


@pytest.mark.usefixtures("postgres_only")
async def test_sse_on_one_server_follows_a_run_executed_by_another(
    database_url: str, tmp_path: Path
) -> None:
    async with two_processes(database_url, tmp_path) as (a, _b, _):
        definition = {
            "name": "Followed",
            "steps": [transform("one", 1), wait("pause", 0.3, depends_on=["one"])],
        }
        wf = await create_workflow(a, definition)
        app = a.client._transport.app  # type: ignore[attr-defined]
        async with httpx.AsyncClient(
            transport=StreamingASGITransport(app), base_url="http://flowdeck.test"
        ) as live:
            run_id = await start_run(a, wf)
            async with asyncio.timeout(DEADLINE):
                events = await read_sse(live, run_id, a.headers)
        assert events[-1].event == "run_completed"
        assert [e.event for e in events].count("step_completed") == 2


@pytest.mark.usefixtures("postgres_only")
async def test_a_cancel_on_one_server_interrupts_a_step_running_elsewhere(
    database_url: str, tmp_path: Path
) -> None:
    async with running_peer() as peer, two_processes(database_url, tmp_path) as (a, _, b):
        peer.replies["/slow"] = Reply(body={"ok": True}, delay=30.0)
        definition = {"name": "Long call", "steps": [http_get("call", peer.url("/slow"))]}
        run_id = await start_run(a, await create_workflow(a, definition))
        await wait_for_step(a, run_id, "call", ["running"], timeout=DEADLINE)
        worker = b.runtime.worker
        assert worker is not None
        await until(lambda: worker.capacity < worker.settings.max_parallel_steps)
        resp = await a.client.post(f"{RUNS}/{run_id}/cancel", headers=a.headers)
        assert resp.status_code == 200, resp.text
        # Only the signal tells worker B: its own cancel check waits a minute.
        await until(lambda: worker.capacity == worker.settings.max_parallel_steps)
        run = await get_run(a, run_id)
        assert run["status"] == "cancelled"
