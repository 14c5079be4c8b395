"""SIGKILL `flowdeck serve` with runs in flight, restart it on the same data: every run
finishes, no completed step executes again, in-flight steps are retried, timers survive."""

from __future__ import annotations

import collections
import signal
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import Target, http_diamond, start_server

pytestmark = pytest.mark.e2e

FAST_LEASES = {
    "FLOWDECK_LEASE_SECONDS": "2",
    "FLOWDECK_HEARTBEAT_SECONDS": "0.5",
    "FLOWDECK_POLL_SECONDS": "0.2",
}


def _definition(url: str) -> dict[str, Any]:
    return http_diamond(url, "Crash test")


WAIT = {
    "name": "Durable wait",
    "steps": [
        {"id": "nap", "type": "wait", "config": {"seconds": 2.5}},
        {"id": "after", "type": "transform", "config": {"value": 1}, "depends_on": ["nap"]},
    ],
}


def _wait_until(predicate: Any, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError("condition not reached in time")


def test_sigkill_mid_run_then_restart(tmp_path: Path, database_url: str, target: Target) -> None:
    data = tmp_path / "data"
    first = start_server(data, database_url, env=FAST_LEASES)
    key = (data / "admin.key").read_text().strip()
    h = {"Authorization": f"Bearer {key}"}
    c = httpx.Client(base_url=first.url, headers=h, timeout=10)
    wf = c.post("/api/workflows", json={"definition": _definition(target.url)}).json()["id"]
    waiter = c.post("/api/workflows", json={"definition": WAIT}).json()["id"]
    run_ids = [c.post(f"/api/workflows/{wf}/run", json={}).json()["run_id"] for _ in range(4)]
    wait_run = c.post(f"/api/workflows/{waiter}/run", json={}).json()["run_id"]

    def in_flight() -> bool:
        for rid in run_ids:
            steps = c.get(f"/api/workflows/runs/{rid}").json()["run"]["step_runs"]
            status = {s["step_id"]: s["status"] for s in steps}
            if status.get("a") != "completed" or "running" not in status.values():
                return False
        return True

    _wait_until(in_flight)
    first.stop(signal.SIGKILL)
    c.close()

    second = start_server(data, database_url, env=FAST_LEASES)
    try:
        c = httpx.Client(base_url=second.url, headers=h, timeout=10)

        def finished() -> bool:
            statuses = [
                c.get(f"/api/workflows/runs/{rid}").json()["run"]["status"]
                for rid in [*run_ids, wait_run]
            ]
            return all(s in ("completed", "failed", "cancelled") for s in statuses)

        _wait_until(finished, timeout=60)
        retried = 0
        for rid in run_ids:
            run = c.get(f"/api/workflows/runs/{rid}").json()["run"]
            assert run["status"] == "completed", run
            by_step: dict[str, list[dict[str, Any]]] = collections.defaultdict(list)
            for s in run["step_runs"]:
                by_step[s["step_id"]].append(s)
            for step_id, attempts in by_step.items():
                hits = target.count(f"{rid}:{step_id}")
                first_attempt = min(attempts, key=lambda s: s["attempt"])
                if first_attempt["status"] == "completed":
                    assert hits == 1, (rid, step_id, hits)  # never executed again
                else:
                    retried += 1
                    assert "lease expired" in (first_attempt["error"] or "")
                    assert attempts[-1]["status"] == "completed"
                    assert hits >= 1
        assert retried > 0  # the kill did catch steps in flight
        waited = c.get(f"/api/workflows/runs/{wait_run}").json()["run"]
        assert waited["status"] == "completed"
        nap = [s for s in waited["step_runs"] if s["step_id"] == "nap"]
        assert len(nap) == 1 and nap[0]["output"]["waited_seconds"] >= 2.5
        c.close()
    finally:
        second.stop()
