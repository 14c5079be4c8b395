"""A real `flowdeck serve` runs scripts sandboxed: they cannot reach the server, and when the
server is SIGKILLed mid-script nothing the script started survives it."""

from __future__ import annotations

import signal
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from flowdeck.engine.sandbox.policy import TEMP_PREFIX, temp_parent
from tests.e2e.conftest import Server, start_server
from tests.sandbox_probes import ESCAPE_PROBES, ESCAPEES, landlock_env, unix_sockets
from tests.unit.step_helpers import processes_with, unique_sleep_seconds

pytestmark = pytest.mark.e2e

FAST_LEASES = {
    "FLOWDECK_LEASE_SECONDS": "2",
    "FLOWDECK_HEARTBEAT_SECONDS": "0.5",
    "FLOWDECK_POLL_SECONDS": "0.2",
}


def _sandbox_env(backend: str) -> dict[str, str]:
    if backend == "bwrap":
        return {"FLOWDECK_SCRIPT_SANDBOX": "bwrap"}
    return {f"FLOWDECK_{key.upper()}": str(value) for key, value in landlock_env().items()}


def _definition(data_dir: Path, server_pid: int, port: int, markers: dict[str, str]) -> Any:
    probe_env = {
        "DATA_DIR": str(data_dir),
        "SERVER_PID": str(server_pid),
        "PORTS": f"{port},5432",
        "UNIX_SOCKETS": unix_sockets(),
    }
    linger = ESCAPEES.format(**markers) + f"sleep {markers['main_marker']}\n"
    return {
        "name": "Hostile script",
        "steps": [
            {
                "id": "probe",
                "type": "script",
                "config": {"language": "python", "code": ESCAPE_PROBES, "env": probe_env},
            },
            {
                "id": "linger",
                "type": "script",
                "config": {"language": "bash", "code": linger, "timeout_seconds": 120},
                "depends_on": ["probe"],
            },
        ],
    }


def _wait_until(predicate: Any, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError("condition not reached in time")


def _workdirs() -> set[Path]:
    return set(temp_parent().glob(f"{TEMP_PREFIX}*"))


@pytest.mark.parametrize("backend", ["bwrap", "landlock"])
def test_sigkilled_server_leaves_no_script_behind(
    tmp_path: Path, database_url: str, backend: str
) -> None:
    data = tmp_path / "data"
    env = {**FAST_LEASES, **_sandbox_env(backend)}
    server = start_server(data, database_url, env=env)
    markers = {
        name: unique_sleep_seconds() for name in ("setsid_marker", "daemon_marker", "main_marker")
    }
    before = _workdirs()
    try:
        assert httpx.get(f"{server.url}/readyz").json()["sandbox"] == backend
        assert f"Script sandbox: {backend} (" in server.output()
        key = (data / "admin.key").read_text().strip()
        headers = {"Authorization": f"Bearer {key}"}
        with httpx.Client(base_url=server.url, headers=headers, timeout=10) as client:
            _run_and_kill(client, server, data, markers)
    finally:
        server.stop(signal.SIGKILL)
    if backend == "landlock":
        # The killed server's worker could not remove the script's temp dir; the next start
        # does (the worker runs in a process of its own: its pid names the dir).
        left = _workdirs() - before
        assert left
        again = start_server(data, database_url, env=env)
        try:
            _wait_until(lambda: not left & _workdirs(), timeout=15)
        finally:
            again.stop(signal.SIGKILL)
        _wait_until(lambda: not processes_with(markers["main_marker"]), timeout=5)


def _run_and_kill(
    client: httpx.Client, server: Server, data: Path, markers: dict[str, str]
) -> None:
    """Run the hostile workflow; once its script lingers, SIGKILL the server."""
    port = int(server.url.rsplit(":", 1)[1])
    definition = _definition(data, server.pid, port, markers)
    wf = client.post("/api/workflows", json={"definition": definition}).json()["id"]
    run_id = client.post(f"/api/workflows/{wf}/run", json={}).json()["run_id"]
    _wait_until(lambda: all(processes_with(m) for m in markers.values()))
    steps = client.get(f"/api/workflows/runs/{run_id}").json()["run"]["step_runs"]
    probe = next(s for s in steps if s["step_id"] == "probe")
    reached = [name for name, how in probe["output"]["result"].items() if how == "allowed"]
    assert reached == [], probe["output"]
    assert len(probe["output"]["result"]) >= 10
    server.stop(signal.SIGKILL)
    for marker in markers.values():
        _wait_until(lambda marker=marker: not processes_with(marker), timeout=5)
