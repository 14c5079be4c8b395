"""`flowdeck serve --log-format json` logs JSON lines only, /metrics answers with its token, and
`flowdeck worker --metrics-port` serves the worker's own metrics."""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from flowdeck.domain.clock import SystemClock
from flowdeck.services.auth import AuthService
from flowdeck.store.store import Store
from tests.e2e.conftest import flowdeck_command, start_server, start_worker
from tests.support.peer import free_port

pytestmark = pytest.mark.e2e

KEY = "fdk_observability_test_key_0123456789abcdefghijkl"
TOKEN = "metrics-token-for-the-test"


async def _bootstrap(database_url: str) -> None:
    store = Store.from_url(database_url, pool_size=1)
    try:
        await AuthService(store, SystemClock()).bootstrap(KEY)
    finally:
        await store.close()


def _json_lines(output: str) -> list[dict[str, Any]]:
    lines = [line for line in output.splitlines() if line.strip()]
    assert lines
    return [json.loads(line) for line in lines]  # every line, or this raises


def test_serve_logs_json_and_guards_metrics(tmp_path: Path, database_url: str) -> None:
    asyncio.run(_bootstrap(database_url))  # so no first-start key banner is printed
    env = {"FLOWDECK_LOG_FORMAT": "json", "FLOWDECK_METRICS_TOKEN": TOKEN}
    server = start_server(tmp_path / "data", database_url, env=env)
    try:
        with httpx.Client(
            base_url=server.url, headers={"Authorization": f"Bearer {KEY}"}, timeout=10
        ) as c:
            steps = [{"id": "a", "type": "transform", "config": {"value": 1}}]
            wf = c.post("/api/workflows", json={"definition": {"name": "J", "steps": steps}})
            run_id = c.post(f"/api/workflows/{wf.json()['id']}/run", json={}).json()["run_id"]
            deadline = time.monotonic() + 20
            while c.get(f"/api/workflows/runs/{run_id}").json()["run"]["status"] != "completed":
                assert time.monotonic() < deadline
                time.sleep(0.05)
            assert c.get("/metrics").status_code == 401  # the API key is not the token
            scraped = c.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
        assert scraped.status_code == 200
        families = {f.name: f for f in text_string_to_metric_families(scraped.text)}
        finished = families["flowdeck_runs_finished_recorded"].samples
        runs = {s.labels["status"]: s.value for s in finished}
        assert runs["completed"] == 1
        # The run ended in serve's worker process: its counters are added to the server's.
        finished = {
            (x.name, x.labels.get("status")): x.value
            for x in families["flowdeck_runs_finished"].samples
        }
        assert finished[("flowdeck_runs_finished_total", "completed")] == 1
        steps_done = {
            (x.labels.get("type"), x.labels.get("status")): x.value
            for x in families["flowdeck_steps_finished"].samples
            if x.name.endswith("_total")
        }
        assert steps_done[("transform", "completed")] == 1
        [info] = families["flowdeck_build_info"].samples
        assert info.value == 1  # a gauge: the server's own, not summed with the worker's
        [beat] = families["flowdeck_worker_heartbeat_timestamp_seconds"].samples
        assert beat.labels["worker"]
    finally:
        server.stop()
    records = _json_lines(server.output())
    messages = [r["message"] for r in records]
    assert f"Flowdeck listening on {server.url}" in messages
    assert any(r["logger"].startswith("uvicorn") for r in records)  # uvicorn's lines too
    access = [r for r in records if r["logger"] == "flowdeck.access"]
    assert any(r["route"] == "/api/workflows/runs/{run_id}" and r["status"] == 200 for r in access)
    assert all(len(r["request_id"]) == 32 for r in access) and KEY not in server.output()
    [finished] = [r for r in records if r.get("run_id") == run_id and "status" in r]
    assert (finished["level"], finished["status"]) == ("INFO", "completed")
    for event in ("started", "stopped"):
        assert any(m.startswith("worker ") and m.endswith(f" {event}") for m in messages)


def test_worker_serves_its_own_metrics(tmp_path: Path, database_url: str) -> None:
    port = free_port()
    env = {"FLOWDECK_METRICS_PORT": str(port), "FLOWDECK_LOG_FORMAT": "json"}
    worker = start_worker(tmp_path / "data", database_url, env=env)
    try:
        body = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
        names = {f.name for f in text_string_to_metric_families(body)}
        assert {"flowdeck_step_duration_seconds", "flowdeck_claim_latency_seconds"} <= names
    finally:
        worker.stop()
    assert worker.proc.returncode == 0
    records = _json_lines(worker.output())
    assert any(r["message"] == "Worker stopped." for r in records)


def test_bad_log_format_is_refused() -> None:
    done = subprocess.run(
        [*flowdeck_command(), "worker", "--log-format", "yaml"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 2
    assert "log_format" in done.stderr


def test_a_worker_whose_metrics_port_is_taken_still_runs(tmp_path: Path, database_url: str) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        worker = start_worker(
            tmp_path / "data", database_url, env={"FLOWDECK_METRICS_PORT": str(port)}
        )
        try:
            assert worker.alive()
        finally:
            worker.stop()
    assert worker.proc.returncode == 0
    assert f"cannot serve metrics on 127.0.0.1:{port}" in worker.output()
