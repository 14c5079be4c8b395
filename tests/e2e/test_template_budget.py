"""A real `flowdeck serve` keeps answering while a template loops (SPEC §9, templates)."""

from __future__ import annotations

import statistics
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import start_server

pytestmark = pytest.mark.e2e

NESTED_LOOPS = "{% for i in range(20000) %}{% for j in range(2000) %}{% endfor %}{% endfor %}"
PROBES = 20


def _step(client: httpx.Client, run_id: str, step_id: str) -> dict[str, Any]:
    run = client.get(f"/api/workflows/runs/{run_id}").json()["run"]
    found = [s for s in run["step_runs"] if s["step_id"] == step_id and s["current"]]
    return {"run": run["status"], **(found[0] if found else {"status": None})}


def _wait_for(client: httpx.Client, run_id: str, step_id: str, statuses: set[str]) -> Any:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        step = _step(client, run_id, step_id)
        if step["status"] in statuses:
            return step
        time.sleep(0.05)
    raise AssertionError(f"step {step_id} never reached {statuses}: {step}")


def test_healthz_answers_while_the_nested_loop_transform_runs(
    tmp_path: Path, database_url: str
) -> None:
    # Budget raised so that the reviewer's 40-million-iteration loop runs for seconds.
    env = {
        "FLOWDECK_TEMPLATE_MAX_ITERATIONS": "100000000",
        "FLOWDECK_TEMPLATE_TIMEOUT_SECONDS": "60",
    }
    server = start_server(tmp_path / "data", database_url, env=env)
    try:
        key = (server.data_dir / "admin.key").read_text().strip()
        headers = {"Authorization": f"Bearer {key}"}
        with httpx.Client(base_url=server.url, headers=headers, timeout=30) as client:
            definition = {
                "name": "Loops",
                "steps": [{"id": "loops", "type": "transform", "config": {"value": NESTED_LOOPS}}],
            }
            created = client.post("/api/workflows", json={"definition": definition})
            assert created.status_code == 201, created.text
            started = client.post(f"/api/workflows/{created.json()['id']}/run", json={})
            assert started.status_code == 202, started.text
            run_id = started.json()["run_id"]
            _wait_for(client, run_id, "loops", {"running"})
            time.sleep(0.3)  # past the inline slice: the render is on its thread now

            latencies = []
            for _ in range(PROBES):
                began = time.perf_counter()
                assert client.get("/healthz", timeout=10).status_code == 200
                latencies.append(time.perf_counter() - began)
                time.sleep(0.05)
            # The template was rendering the whole time.
            assert _step(client, run_id, "loops")["status"] == "running"

            cancelled = client.post(f"/api/workflows/runs/{run_id}/cancel")
            assert cancelled.status_code == 200, cancelled.text
            _wait_for(client, run_id, "loops", {"cancelled", "failed"})
    finally:
        server.stop()
    worst = max(latencies)  # nearest-rank p99 of 20 probes
    assert worst < 0.1, (
        f"/healthz p99 {worst * 1000:.0f} ms, median {statistics.median(latencies) * 1000:.0f} ms"
    )
